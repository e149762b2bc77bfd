"""Interventions meant to lower fracture (issue 27): BIMT's neuron swaps (train/intervene.py) and the block-diagonal
mlp (models/mlp.py blocks, the modular regime). Oracles: a swap preserves the function and never raises the cost,
and the fast greedy equals a slow one that tries every swap on the full cost; the modular mlp's off-block weights
stay exactly zero in training and its forward is the dense mlp's with those weights masked."""
import copy

import pytest
import torch
import torch.nn.functional as F

from fracturelab.errors import FracturelabError
from fracturelab.models import make_model
from fracturelab.models.data import DataSpec
from fracturelab.tasks import make_task
from fracturelab.train.intervene import ConnectionCost
from fracturelab.train.population import train_population
from fracturelab.train.run import load_run, train_run

TINY = {"p": 23, "side": 5}


@pytest.fixture(scope="module")
def lso():
    data = make_task("leave_square_out", seed=0, **TINY)
    return data, DataSpec.of(data.name, data.sets().values(), data.info["settings"])


def _mlp(spec, **options):
    torch.manual_seed(1)
    net = make_model("mlp", spec, seed=0, **{"hidden": 12, "depth": 2, **options})
    with torch.no_grad():  # weights spread like a trained net's, biases too (a fresh init's are small)
        for p in net.parameters():
            p.normal_()
    return net


@torch.no_grad()
def _cost(pen, net) -> float:
    return float(pen.cost(dict(net.named_parameters())))


@torch.no_grad()
def test_swap_keeps_outputs_and_never_raises_cost(lso):
    data, spec = lso
    net = _mlp(spec).double()  # float64: an exact permutation leaves only rounding far below 1e-6
    pen = ConnectionCost.of(net, "locality=1,swap_every=1")
    batch = net.encode(data.train[:64])
    before_out, before = net(batch), _cost(pen, net)
    perms = pen.swaps(dict(net.named_parameters()))
    after = _cost(pen, net)
    assert any(bool((p != torch.arange(len(p))).any()) for p in perms)  # something moved: not vacuous
    assert (net(batch) - before_out).abs().max() <= 1e-6
    assert after < before
    pen.swaps(dict(net.named_parameters()))  # a second pass may still move units, never up
    assert _cost(pen, net) <= after


def _slow_swaps(pen, net):
    """The greedy swaps by brute force: for each hidden layer in order and each position i, swap i with every j on
    a copy, evaluate the whole connection cost, keep the best if it is lower."""
    net = copy.deepcopy(net)
    for w_in, b_in, w_out in pen.layout:
        n = dict(net.named_parameters())[w_in].shape[0]
        for i in range(n):
            best, best_j = _cost(pen, net), None
            for j in range(n):
                trial = copy.deepcopy(net)
                perm = torch.arange(n)
                perm[[i, j]] = perm[[j, i]]
                pen.permute(dict(trial.named_parameters()), [perm], [(w_in, b_in, w_out)])
                c = _cost(pen, trial)
                if c < best - 1e-4:
                    best, best_j = c, j
            if best_j is not None:
                perm = torch.arange(n)
                perm[[i, best_j]] = perm[[best_j, i]]
                pen.permute(dict(net.named_parameters()), [perm], [(w_in, b_in, w_out)])
    return net


def test_swaps_equal_slow_greedy(lso):
    _, spec = lso
    net = _mlp(spec, hidden=6)
    pen = ConnectionCost.of(net, "locality=2,swap_every=1")
    slow = _slow_swaps(pen, net)
    pen.swaps(dict(net.named_parameters()))
    for (name, fast), slow_p in zip(net.named_parameters(), slow.parameters()):
        assert torch.equal(fast, slow_p), name


def test_after_step_moves_adam_moments_with_the_units(lso):
    """Training on after a swap equals training the unswapped net and permuting it: the moments moved too."""
    data, spec = lso
    a = _mlp(spec)
    b = copy.deepcopy(a)
    pen = ConnectionCost.of(a, "locality=1,swap_every=3")
    opts = [torch.optim.AdamW(n.parameters(), lr=1e-2) for n in (a, b)]
    batch = a.encode(data.train[:64])
    for k in range(1, 5):
        for net, opt in zip((a, b), opts):
            opt.zero_grad()
            net.loss(batch)[0].backward()
            opt.step()
        if k == 3:  # a and b are still equal: the swaps a is about to make
            perms = pen.swaps({n: p.detach().clone() for n, p in b.named_parameters()})
        pen.after_step(a, opts[0], k)  # swaps at step 3 only
    moved = dict(b.named_parameters())
    pen.permute(moved, perms)
    for name, p in a.named_parameters():
        assert torch.allclose(p, moved[name], atol=1e-6), name


def test_no_swaps_at_zero_locality_or_off(lso):
    _, spec = lso
    net = _mlp(spec)
    flat = ConnectionCost.of(net, "locality=0,swap_every=1")
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    flat.swaps(dict(net.named_parameters()))
    assert all(torch.equal(p, before[n]) for n, p in net.named_parameters())
    assert ConnectionCost.of(net, "swap_every=0").layout is None


def _masked_dense(spec, net, batch):
    """The modular net's forward computed by hand: a dense mlp's layers with the weights times the masks."""
    h = net.tok_emb(batch["x"]).flatten(1)
    for i, layer in enumerate(net.layers):
        mask = layer.mask if i in net.masks else 1.0  # the modular regime's last layer is dense
        h = torch.relu(F.linear(h, layer.weight * mask, layer.bias))
    return net.head(h).view(-1, net.n_pos, net.n_out)


def _check_blocks(net, k):
    units = net.layers[0].out_features
    assert net.masks
    for i, layer in enumerate(net.layers[: len(net.masks)]):
        mask = layer.mask
        assert torch.equal(layer.weight * (1 - mask), torch.zeros_like(layer.weight))  # exactly zero off the blocks
        assert int(mask.sum()) < mask.numel()
    # block b of layer 1 reads only its positions: leave_square_out (a, +, b, =), K = 2 -> a and + / b and =
    size = net.layers[0].in_features // net.spec.max_src
    first = net.layers[0].mask[: units // k]
    assert first[:, : 2 * size].all() and not first[:, 2 * size:].any()


def test_block_masks_follow_positions(lso):
    """A position's whole vector goes to one block, even when K does not divide the positions (3 blocks over
    leave_square_out's 4 positions: 0 1 | 2 | 3); unit blocks are contiguous and as even as possible."""
    _, spec = lso
    net = make_model("mlp", spec, 0, hidden=7, blocks=3)
    mask = net.layers[0].mask.view(7, spec.max_src, -1)
    assert torch.equal(mask, mask[:, :, :1].expand_as(mask))
    per_position = mask[:, :, 0]
    expected_units, expected_positions = torch.tensor([0, 0, 0, 1, 1, 2, 2]), torch.tensor([0, 0, 1, 2])
    assert torch.equal(per_position, (expected_units[:, None] == expected_positions[None, :]).float())
    assert torch.equal(net.layers[1].mask, (expected_units[:, None] == expected_units[None, :]).float())


def test_modular_regime_keeps_blocks_and_loads_as_dense(lso, tmp_path):
    data, spec = lso
    train_run("leave_square_out", model="mlp", regime="modular", seed=0, outdir=tmp_path / "m",
              task_options=TINY, model_options={"hidden": 16}, max_steps=60, eval_every=30, plot=False)
    net, data, config = load_run(tmp_path / "m")
    assert config["model_settings"]["blocks"] == 2  # one block per factor slot (a, b), all layers but the last
    assert net.masks == [0]
    _check_blocks(net, 2)
    batch = net.encode(data.test_id[:40])
    seen = []  # every layer is called as a module: the probes' forward hooks see the masked layer's output too
    hooks = [layer.register_forward_hook(lambda m, i, o: seen.append(o)) for layer in net.layers]
    net(batch)
    for h in hooks:
        h.remove()
    assert len(seen) == len(net.layers) and torch.equal(seen[0], F.linear(net.tok_emb(batch["x"]).flatten(1),
                                                                         net.layers[0].weight * net.layers[0].mask,
                                                                         net.layers[0].bias))
    assert torch.allclose(net(batch), _masked_dense(spec, net, batch), atol=1e-6)
    dense = make_model("mlp", DataSpec(**config["data_spec"]), 0, hidden=16)
    dense.load_state_dict(net.state_dict())  # the masks are not saved: the weights alone give the function
    assert torch.allclose(dense(batch), net(batch), atol=1e-6)


def test_modular_population_members_keep_their_blocks(tmp_path):
    train_population("leave_square_out", model="mlp", regime="modular", task_options=TINY,
                     model_options={"hidden": 16}, max_steps=40, eval_every=20, plot=False,
                     members=[{"seed": s, "outdir": tmp_path / f"m{s}"} for s in (0, 1)])
    for s in (0, 1):
        net, _, _ = load_run(tmp_path / f"m{s}")
        _check_blocks(net, 2)


def test_bad_settings_are_one_line(lso):
    _, spec = lso
    with pytest.raises(FracturelabError, match="blocks"):
        make_model("mlp", spec, 0, hidden=16, blocks=5)  # 4 input positions
    with pytest.raises(FracturelabError, match="swap_every"):
        ConnectionCost.of(_mlp(spec), "swap_every=-1")
    with pytest.raises(FracturelabError, match="mix the mlp's blocks"):
        ConnectionCost.of(_mlp(spec, blocks=2), "swap_every=10")
    with pytest.raises(FracturelabError, match="regime 'modular' trains the mlp"):
        train_run("leave_square_out", model="cppn", regime="modular", seed=0, task_options=TINY, max_steps=5)


def test_bimt_swaps_in_a_population_follow_separate_runs(monkeypatch):
    """The swaps happen in both training paths (loop.fit's after_step, population's swap_row), at the same steps,
    and a population of bimt members with swaps follows the members' separate runs."""
    import numpy as np

    from fracturelab.train import intervene
    from fracturelab.train.population import train_population
    from fracturelab.train.run import train_run

    rounds = []
    original = intervene.ConnectionCost.swaps

    def counted(self, w):
        perms = original(self, w)
        rounds.append(sum(int((p != torch.arange(len(p))).sum()) for p in perms))
        return perms

    monkeypatch.setattr(intervene.ConnectionCost, "swaps", counted)
    shared = dict(max_steps=40, eval_every=1, patience=10_000, max_val=16, hidden=24, depth=2,
                  task_options={"p": 23, "side": 5})
    members = [{"seed": s, "intervention": f"strength={x},swap_every=10"} for s, x in enumerate((1e-4, 1e-3))]
    population = train_population("leave_square_out", model="mlp", regime="bimt", members=members, **shared)
    in_population = len(rounds)
    assert in_population == 2 * 4 and sum(rounds) > 0  # each member every 10 of 40 steps, and units moved
    for m, p in zip(members, population):
        alone = train_run("leave_square_out", model="mlp", regime="bimt", **m, **shared)
        a = np.array([r["train_loss"] for r in alone["curve"]])
        b = np.array([r["train_loss"] for r in p["curve"]])
        assert len(a) == len(b) and np.max(np.abs(a - b) / a) < 1e-4
    assert len(rounds) == 2 * in_population
