"""Planted pairs (fracturelab.planted): the two nets compute the same function on every input, the modular net's
blocks really are separate, and `fracturelab planted --quick` writes planted.json. Oracles: slow per-example and
per-entry loops against the library's batched checks."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fracturelab.planted.nets import (
    TASK_PLANS,
    TrainSettings,
    every_input,
    make_pair,
    max_tv,
)

FAST = TrainSettings()


@pytest.fixture(scope="module")
def lso_pair():
    torch.set_num_threads(1)
    return make_pair("leave_square_out", 0, 48, FAST)


@pytest.fixture(scope="module")
def lookup_pair():
    torch.set_num_threads(1)
    return make_pair("lookup", 1, 48, FAST)


def _slow_tv(a, b, examples) -> float:
    """The oracle: one example at a time, every scored position (answers and EOS), TV = half the L1 distance."""
    worst = 0.0
    for e in examples:
        batch = a.encode([e])
        with torch.no_grad():
            pa, pb = torch.softmax(a(batch)[0], -1), torch.softmax(b(batch)[0], -1)
        for j in range(len(e.tgt) + 1):  # the answer's positions, then EOS
            worst = max(worst, 0.5 * float((pa[j] - pb[j]).abs().sum()))
    return worst


@pytest.mark.parametrize("pair", ["lso_pair", "lookup_pair"])
def test_pair_computes_the_same_function_on_every_input(pair, request):
    data, modular, _, replica, facts = request.getfixturevalue(pair)
    exs = every_input(data)
    assert len(exs) == facts["inputs"] == sum(len(s) for s in data.sets().values())
    slow = _slow_tv(modular, replica, exs)
    assert slow <= FAST.tv_tol, f"the replica differs from the modular net by TV {slow:.3f} on some input"
    assert max_tv(modular, replica, exs) == pytest.approx(slow, abs=1e-5)
    assert facts["equal"] and facts["max_tv"] == pytest.approx(slow, abs=1e-5)
    # the two nets really are different networks: not a copy of the modular net's weights
    assert not torch.allclose(modular.layers[1].weight, replica.layers[1].weight)


def _blocks(width: int, n: int) -> list[int]:
    """The oracle's block of each unit: n contiguous blocks, the first width % n one unit larger."""
    sizes = [width // n + (i < width % n) for i in range(n)]
    return [b for b, size in enumerate(sizes) for _ in range(size)]


def test_modular_weights_are_block_diagonal(lookup_pair):
    """Every weight entry joining two different blocks is exactly 0 (hidden-hidden and hidden-head), block v1 reads
    only its input slots, and the replica's weights are dense (the contrast is real)."""
    data, net, _, replica, _ = lookup_pair
    plan = TASK_PLANS["lookup"][0]
    width = net.layers[0].out_features
    unit = _blocks(width, len(plan.blocks))
    W2 = net.layers[1].weight.detach()
    for i in range(width):
        for j in range(width):
            if unit[i] != unit[j]:
                assert W2[i, j] == 0, f"layer2 unit {i} (block {unit[i]}) reads unit {j} (block {unit[j]})"
    head = net.head.weight.detach().view(net.n_pos, net.n_out, width)
    for part in range(net.n_pos):
        for j in range(width):
            if part >= len(plan.blocks) or unit[j] != part:
                assert (head[part, :, j] == 0).all(), f"answer part {part} reads unit {j} of block {unit[j]}"
    per_slot = net.layers[0].in_features // net.spec.max_src
    W1 = net.layers[0].weight.detach()
    for i in range(width):
        if plan.blocks[unit[i]] in plan.reads:
            for col in range(W1.shape[1]):
                if col // per_slot not in plan.reads[plan.blocks[unit[i]]]:
                    assert W1[i, col] == 0, f"unit {i} reads input slot {col // per_slot}"
    # the blocks carry the function: each answer part's logits do not move when another block's units are zeroed
    batch = net.encode(every_input(data)[:64])
    acts = net.named_activations(batch)
    for b in range(len(plan.blocks)):
        h = acts["layer2"].clone()
        h[:, torch.tensor(unit) == b] = 0
        logits = net.head(h).view(-1, net.n_pos, net.n_out)
        others = [p for p in range(len(plan.blocks)) if p != b]
        assert torch.allclose(logits[:, others], acts["logits"][:, others], atol=1e-6)
        assert not torch.allclose(logits[:, b], acts["logits"][:, b], atol=1e-3)
    assert (replica.layers[1].weight.detach().abs() > 0).float().mean() > 0.99


def test_operand_blocks_read_only_their_operand(lso_pair):
    """leave_square_out: layer1's a-block reads only a's slot, its b-block only b's; layer2 is dense."""
    _, net, _, _, _ = lso_pair
    width = net.layers[0].out_features
    unit = np.array(_blocks(width, 2))
    per_slot = net.layers[0].in_features // net.spec.max_src
    W1 = net.layers[0].weight.detach().numpy()
    slot = np.arange(W1.shape[1]) // per_slot
    assert (W1[unit == 0][:, slot != 0] == 0).all() and (W1[unit == 1][:, slot != 2] == 0).all()
    assert (np.abs(W1[unit == 0][:, slot == 0]) > 0).any() and (np.abs(W1[unit == 1][:, slot == 2]) > 0).any()
    assert (net.layers[1].weight.detach().abs() > 0).float().mean() > 0.99


def test_cli_quick_writes_planted_json(tmp_path, capsys):
    from fracturelab.cli import main
    from fracturelab.fracture import CANDIDATES, COMPONENTS, TASK_COMPOSITE

    out = tmp_path / "planted"
    assert main(["planted", "-o", str(out), "--quick", "--workers", "1", "--tasks", "leave_square_out,lookup"]) == 0
    result = json.loads((out / "planted.json").read_text())
    table = (out / "planted.md").read_text()
    assert (out / "planted.png").stat().st_size > 0 and "| metric |" in table
    printed = capsys.readouterr()
    assert table in printed.out  # the command prints the table it wrote
    # 2 pairs cannot pass (>= 20 needed): one warning line naming every member of the composite
    warn = [line for line in printed.err.splitlines() if "warning" in line]
    assert len(warn) == 1 and all(m.name in warn[0] for m in TASK_COMPOSITE)
    assert result["composite_warning"] in warn[0]
    assert result["pairs"] + result["unequal"] == len(result["rows"]) == 2
    assert result["pairs"] >= 1
    assert set(result["components"]) == {m.name for m in COMPONENTS}
    assert set(result["candidates"]) == {m.name for m in CANDIDATES}
    for name, r in {**result["components"], **result["candidates"]}.items():
        assert {"auc", "ci", "n", "passes", "enters"} <= set(r), name
        assert r["enters"] == (name in {m.name for m in TASK_COMPOSITE}) and r["passes"] is False, name
        if r["n"]:
            assert r["ci"][0] <= r["auc"] <= r["ci"][1] and 0 <= r["auc"] <= 1, name
    # the pairs' values are the probes' own: ncut_rel from every pair, crosstalk from lookup's only
    assert result["components"]["clusterability.ncut_rel"]["n"] == result["pairs"]
    assert result["components"]["crosstalk.spread"]["n"] == result["tasks"]["lookup"]
    # bad input: one line, exit 2, nothing written
    capsys.readouterr()
    assert main(["planted", "-o", str(tmp_path / "x"), "--quick", "--tasks", "scan"]) == 2
    assert not (tmp_path / "x").exists()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "scan" in err
    assert main(["planted", "-o", str(out), "--quick"]) == 2  # not empty, no --force: refused before any work
    assert "not empty" in capsys.readouterr().err


def test_auc_against_pairwise_oracle():
    """mann_whitney_auc against the obvious double loop; the probe options read from the standard profile's file are
    the ones the study loads from it."""
    from fracturelab.planted.scores import mann_whitney_auc, standard_options
    from fracturelab.study.spec import profile

    rng = np.random.default_rng(0)
    e, m = rng.integers(0, 4, 9).astype(float), rng.integers(0, 4, 7).astype(float)
    slow = sum((x > y) + 0.5 * (x == y) for x in e for y in m) / (len(e) * len(m))
    assert mann_whitney_auc(e, m) == pytest.approx(slow)
    assert standard_options() == profile("standard").probe_options and standard_options()
    from fracturelab.cli.args import declared
    from fracturelab.planted.nets import PLANTED_TASKS

    assert declared("planted.nets", "PLANTED_TASKS") == PLANTED_TASKS == tuple(TASK_PLANS)


def test_auc_compares_within_task_and_width():
    """Entangled above its modular partner at each width, but the wide nets' values below the narrow ones' (as the
    effective rank per unit falls with width): the AUC compares within a configuration, so it is 1; pooled over widths
    it would not be."""
    from fracturelab.planted.scores import metric_auc

    rows = [{"task": "t", "width": w, "modular": {"x": base + i * 0.01}, "entangled": {"x": base + 0.1 + i * 0.01}}
            for w, base in ((48, 0.5), (96, 0.2)) for i in range(5)]
    r = metric_auc(rows, "x", 1.0, n_boot=50)
    assert r["auc"] == 1.0 and r["ci"] == [1.0, 1.0] and r["n"] == 10 and r["paired_frac"] == 1.0
    assert r["by_task"] == {"t": {"auc": 1.0, "n": 10}}
    assert metric_auc(rows, "x", -1.0, n_boot=50)["auc"] == 0.0
