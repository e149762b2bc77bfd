"""Population training against the slow obvious path: each member of a population follows a separate train_run with
the same seed and settings (per-step losses, stopping, kept weights), writes a run folder that loads and probes like
any other; the stacked optimizer is torch's AdamW with clipping; the bimt regime does what it says."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fracturelab.cppn import fused
from fracturelab.errors import FracturelabError
from fracturelab import stacked
from fracturelab.stacked import StackedAdam
from fracturelab.train import RUN_FILES, load_run, train_run
from fracturelab.train.intervene import ConnectionCost
from fracturelab.train.population import parse_seeds, train_population

SMALL_MLP = dict(hidden=32, p=11, side=3)
SMALL_CPPN = dict(p=11, side=3, arch="2;gaussian:4,sin:4,tanh:4")


def _losses(m: dict) -> np.ndarray:
    return np.array([r["train_loss"] for r in m["curve"]])


def _follows(task, model, members, shared, tmp_path=None, rtol=1e-4, vectorise=True):
    """Train the population and every member alone; the per-step losses agree within rtol relative, and so do the
    steps taken, the kept step and why each stopped."""
    if tmp_path is not None:
        members = [{**m, "outdir": tmp_path / f"pop{i}"} for i, m in enumerate(members)]
    pop = train_population(task, model=model, members=members, vectorise=vectorise, **shared)
    for i, m in enumerate(members):
        alone = train_run(task, model=model, **{**shared, **{k: v for k, v in m.items() if k != "outdir"}})
        a, b = _losses(alone), _losses(pop[i])
        assert len(a) == len(b) and len(a) > 0, (i, len(a), len(b))
        assert np.max(np.abs(a - b) / np.abs(a)) < rtol, (i, np.max(np.abs(a - b) / np.abs(a)))
        for k in ("steps", "best_step", "stopped", "seed"):
            assert alone[k] == pop[i][k], (i, k, alone[k], pop[i][k])
    return pop


def test_stacked_linear_is_f_linear_per_network():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 4, generator=gen, requires_grad=True)
    w = torch.randn(3, 6, 4, generator=gen, requires_grad=True)
    g = torch.randn(3, 5, 6, generator=gen)
    y = stacked.linear(x, w)
    gx, gw = torch.autograd.grad(y, (x, w), g)
    assert gw.is_contiguous()  # row-major like w: what the optimizer reads without a copy
    for k in range(3):
        xk, wk = x[k].detach().requires_grad_(), w[k].detach().requires_grad_()
        yk = torch.nn.functional.linear(xk, wk)
        torch.testing.assert_close(y[k], yk)
        for a, b in zip((gx[k], gw[k]), torch.autograd.grad(yk, (xk, wk), g[k])):
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("engine", [False, True])  # torch's ops; the compiled engine's one-pass loop
def test_stacked_adam_is_torch_adamw_with_clipping(engine):
    if engine and not fused.available():
        pytest.skip("no C++ compiler: the fused engine is not built")
    gen = torch.Generator().manual_seed(0)
    K, shapes = 3, [(5, 4), (4,)]
    lr, wd, clip = [1e-2, 3e-3, 1e-3], [0.1, 0.0, 1.0], [0.5, 0.0, 10.0]
    start = [torch.randn(K, *s, generator=gen) for s in shapes]
    grads = [[torch.randn(K, *s, generator=gen) for s in shapes] for _ in range(4)]
    stacked = StackedAdam([p.clone() for p in start], betas=(0.9, 0.98), kernel=fused.adam_step if engine else None)
    for g in grads:
        stacked.step([x.clone() for x in g], torch.tensor(lr, dtype=torch.float64),
                     [torch.tensor(wd, dtype=torch.float64), torch.zeros(K, dtype=torch.float64)],
                     torch.tensor(clip))
    for k in range(K):
        ps = [torch.nn.Parameter(p[k].clone()) for p in start]
        opt = torch.optim.AdamW([{"params": ps[:1], "weight_decay": wd[k]}, {"params": ps[1:], "weight_decay": 0.0}],
                                lr=lr[k], betas=(0.9, 0.98))
        for g in grads:
            for p, x in zip(ps, g):
                p.grad = x[k].clone()
            if clip[k] > 0:
                torch.nn.utils.clip_grad_norm_(ps, clip[k])
            opt.step()
        for p, q in zip(ps, stacked.params):
            torch.testing.assert_close(p.detach(), q[k], rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_mlp_population_of_8_follows_separate_runs_and_its_folders_load_and_probe(tmp_path):
    # 8 members with their own seeds and settings; eval_every=1 puts every step's loss in the curve; member 5 stops
    # early on patience (and is frozen with its best weights while the others go on)
    shared = dict(max_steps=200, eval_every=1, patience=10_000, max_val=16, **SMALL_MLP)
    members = [{"seed": s} for s in range(8)]
    members[1] |= {"lr": 1e-3, "weight_decay": 0.1}
    members[2] |= {"init_scale": 0.5}
    members[3] |= {"train_frac": 0.6}
    members[4] |= {"grad_clip": 0.0, "warmup": 20}
    members[5] |= {"patience": 25}
    members[6] |= {"max_steps": 120, "min_lr_frac": 1.0}
    pop = _follows("leave_square_out", "mlp", members, shared, tmp_path)
    assert pop[5]["steps"] < 200 and pop[5]["stopped"] == "patience"
    assert pop[6]["steps"] == 120
    alone = tmp_path / "alone2"
    train_run("leave_square_out", model="mlp", outdir=alone, **{**shared, **members[2]})
    folder = tmp_path / "pop2"
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in alone.iterdir()) == sorted(RUN_FILES)
    a, b = json.loads((alone / "config.json").read_text()), json.loads((folder / "config.json").read_text())
    assert {k: v for k, v in a.items()} == b
    net, data, config = load_run(folder)
    ref, _, _ = load_run(alone)
    for (n, p), (_, q) in zip(net.named_parameters(), ref.named_parameters()):
        torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-4, msg=n)
    from fracturelab.probes import probe_run
    found = probe_run(folder, names=["geometry"])
    assert np.isfinite(found["geometry"]["eff_rank"]) and (folder / "probes.json").is_file()


@pytest.mark.slow
def test_cppn_classifier_population_follows_separate_runs():
    shared = dict(max_steps=100, eval_every=1, patience=10_000, max_val=16, **SMALL_CPPN)
    _follows("leave_square_out", "cppn", [{"seed": s, "lr": [3e-3, 1e-3][s % 2]} for s in range(8)], shared)


@pytest.mark.slow
def test_transformer_population_follows_separate_runs():
    # the stacked path (Transformer.stacked_loss), forced: VECTORISED also gates on batch x block size
    shared = dict(max_steps=40, eval_every=1, patience=10_000, max_val=16, d_model=16, n_layer=1, n_head=2,
                  n_bits=2, n_funcs=4, train_lengths=(1, 2), ood_lengths=(3,), n_heldout_pairs=2, n_train=300,
                  n_test=50, novelty=False)
    _follows("lookup", "transformer", [{"seed": s} for s in range(8)], shared)


def test_bimt_lowers_the_connection_cost_and_weight_l1_against_scratch():
    from fracturelab.train.regimes import REGIMES
    from fracturelab.train.run import prepare, resolve

    shared = dict(max_steps=150, eval_every=50, **SMALL_MLP)
    nets = {}
    for regime in ("scratch", "bimt"):  # the same seed: the same data, init and data order
        cfg = resolve("leave_square_out", None, "mlp", regime, intervention="strength=1e-3", **shared)
        run = prepare(cfg, 0)
        REGIMES[regime](run.net, run.ctx, run.data, run.train, run.val)
        nets[regime] = run.net
    cost = ConnectionCost.of(nets["scratch"])
    with torch.no_grad():
        c = {r: float(cost.cost(dict(n.named_parameters()))) for r, n in nets.items()}
        l1 = {r: sum(float(p.abs().sum()) for p in n.parameters() if p.dim() >= 2) for r, n in nets.items()}
    assert c["bimt"] < 0.7 * c["scratch"], c
    assert l1["bimt"] < 0.7 * l1["scratch"], l1


@pytest.mark.parametrize("model, sizes", [("mlp", SMALL_MLP), ("cppn", SMALL_CPPN)])  # vmap; the model's stacked_loss
def test_bimt_population_follows_separate_runs(model, sizes):
    shared = dict(max_steps=60, eval_every=1, patience=10_000, max_val=16, **sizes)
    members = [{"seed": s, "intervention": f"strength={x}"} for s, x in enumerate((1e-4, 1e-3, 0.0))]
    pop = train_population("leave_square_out", model=model, regime="bimt", members=members, **shared)
    for m, p in zip(members, pop):
        a = _losses(train_run("leave_square_out", model=model, regime="bimt", **m, **shared))
        assert np.max(np.abs(a - _losses(p)) / a) < 1e-4


@pytest.mark.parametrize("model, sizes", [("mlp", SMALL_MLP), ("cppn", SMALL_CPPN)])
def test_decay_population_follows_separate_runs(model, sizes):
    # members of different strengths: each member's decay is its plan's (PhasePlan.weight_decay), not the settings'
    shared = dict(max_steps=60, eval_every=1, patience=10_000, max_val=16, **sizes)
    members = [{"seed": s, "intervention": f"strength={x}"} for s, x in enumerate((30.0, 3.0))]
    _follows("leave_square_out", model, members, dict(shared, regime="decay"))


def test_population_without_the_engine_follows_separate_runs():
    # torch's AdamW ops and activations instead of the compiled engine's (what runs without a C++ compiler)
    shared = dict(max_steps=40, eval_every=1, patience=10_000, max_val=16, **SMALL_CPPN)
    with fused.disabled():
        _follows("leave_square_out", "cppn", [{"seed": s, "weight_decay": [1.0, 0.1][s % 2]} for s in range(3)], shared)


def test_population_refuses_bad_input(tmp_path):
    with pytest.raises(FracturelabError, match="SGD regimes"):
        train_population("leave_square_out", model="mlp", regime="es", members=[{"seed": 0}])
    with pytest.raises(FracturelabError, match="share a run folder"):
        train_population("leave_square_out", model="mlp", members=[{"seed": 0, "outdir": tmp_path / "a"},
                                                                   {"seed": 1, "outdir": tmp_path / "a"}])
    with pytest.raises(FracturelabError, match="no seed"):
        train_population("leave_square_out", model="mlp", members=[{"lr": 1e-3}])
    with pytest.raises(FracturelabError, match="unknown option"):
        train_population("leave_square_out", model="mlp", members=[{"seed": 0, "nope": 1}])
    with pytest.raises(FracturelabError, match="dropout"):
        train_population("lookup", model="transformer", members=[{"seed": 0, "dropout": 0.1}], vectorise=True)
    assert parse_seeds("0-2,5") == [0, 1, 2, 5]
    with pytest.raises(FracturelabError):
        parse_seeds("3,3")
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_cli_seeds_writes_one_run_folder_per_seed(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "pop"
    args = [sys.executable, "-m", "fracturelab", "train", "--task", "leave_square_out", "--model", "mlp", "-q",
            "--set", "max_steps=20", "--set", "eval_every=10", *sum((["--set", f"{k}={v}"] for k, v in
                                                                       SMALL_MLP.items()), [])]
    r = subprocess.run([*args, "--seeds", "0-1", "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["seed0", "seed1"]
    assert json.loads((out / "seed1" / "config.json").read_text())["seed"] == 1
    r = subprocess.run([*args, "--seeds", "1-x", "-o", str(tmp_path / "bad")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--seeds" in r.stderr
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_pretrain_and_curriculum_members_follow_separate_runs():
    # two phases (pretrain, then a fresh optimizer on train) and a curriculum's batches, vectorised
    shared = dict(max_steps=30, eval_every=5, patience=10_000, max_val=16, pretrain_steps=20, **SMALL_MLP)
    pop = train_population("leave_square_out", model="mlp", regime="pretrain", members=[{"seed": 0}, {"seed": 1}],
                           vectorise=True, **shared)
    for seed, p in enumerate(pop):
        a = _losses(train_run("leave_square_out", model="mlp", regime="pretrain", seed=seed, **shared))
        assert len(a) == len(_losses(p)) and np.max(np.abs(a - _losses(p)) / a) < 1e-4
        assert [ph["name"] for ph in p["phases"]] == ["pretrain", "train"]
    shared = dict(max_steps=30, eval_every=5, patience=10_000, max_val=16, curriculum_steps=15, d_model=16,
                  n_layer=1, n_head=2, n_bits=2, n_funcs=4, train_lengths=(1, 2), ood_lengths=(3,),
                  n_heldout_pairs=2, n_train=300, n_test=50, novelty=False)
    pop = train_population("lookup", model="transformer", regime="curriculum", members=[{"seed": 0}, {"seed": 1}],
                           vectorise=True, **shared)
    for seed, p in enumerate(pop):
        a = _losses(train_run("lookup", model="transformer", regime="curriculum", seed=seed, **shared))
        assert len(a) == len(_losses(p)) and np.max(np.abs(a - _losses(p)) / a) < 1e-4
