"""Hostile input, round two (issue 28): kinds 2 (non-finite numbers written with exit 0), 3 (sizes no limit checked)
and 4 (spec faults found only inside a cell). Each case fails on the code before the fix; none allocates much or
trains for long, since every refusal comes before the work. The CLI runs in this process, as in test_hostile.py,
whose `refused` (exit 2, one line, nothing under `watch` changed) these tests share. The fast paths the limits
needed (a model's weights counted from its settings, a layerized arch's widths from counts, leave_square_out's
distances by a growing search) are checked against the obvious computation they replace.
"""
from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
from study_helpers import TINY, write_spec

from fracturelab.errors import FracturelabError
from test_hostile import refused

# -- kind 2: a run whose loss or weights stop being finite ends with one line, and writes nothing --------------------

DIVERGED = ("diverged at step", "lower the learning rate")


def test_training_that_diverges_writes_no_run(tmp_path, capsys):
    refused(capsys, ["train", "--task", "leave_square_out", "-q", "-o", tmp_path / "run", "--set", "p=11",
                     "--set", "side=3", "--set", "hidden=8", "--set", "max_steps=20", "--set", "lr=1e30"],
            *DIVERGED, watch=[tmp_path])


def test_population_that_diverges_writes_no_run(tmp_path):
    """A vectorised population (several seeds in one run) stops as a single run does."""
    from fracturelab.train.population import train_population

    with pytest.raises(FracturelabError, match="diverged at step") as err:
        train_population("leave_square_out", model="mlp", members=[{"seed": s, "outdir": tmp_path / f"m{s}"}
                                                                   for s in (0, 1)],
                         task_options={"p": 11, "side": 3}, model_options={"hidden": 8}, max_steps=20, lr=1e30,
                         vectorise=True)
    assert "\n" not in str(err.value) and not any(tmp_path.iterdir())


def test_replica_that_diverges_writes_no_params(tmp_path, capsys):
    refused(capsys, ["replicate", "face", "-o", tmp_path / "rep", "--lr", "1e30", "--steps", "5", "--res", "16"],
            *DIVERGED, watch=[tmp_path])


def test_weights_that_overflow_float32_are_refused_at_load(tmp_path, capsys):
    from fracturelab.cppn.builtins import builtin_net
    from fracturelab.cppn.nets import save_netdir

    net = save_netdir(tmp_path / "net", builtin_net("face"))
    params = np.load(net / "params.npy").astype(np.float64)
    params[3] = 1e300  # finite in float64, infinite once rendered in float32
    np.save(net / "params.npy", params)
    refused(capsys, ["render", net, "-o", tmp_path / "x.png", "--res", "8"], "overflows float32", watch=[tmp_path])


# -- kind 3: every size a user sets is checked against a limit before anything is allocated -------------------------

SIZES = {
    "replicate_res": (["replicate", "face", "-o", "{t}/r", "--res", "100000"], "max_pixels"),
    "evolve_res": (["evolve", "face", "-o", "{t}/e", "--res", "100000"], "max_pixels"),
    "labels_res": (["labels", "cppnx", "-o", "{t}/l", "--res", "100000"], "max_pixels"),
    "neat_population": (["evolve", "face", "-o", "{t}/e", "--population", "1000000000"], "max_runs"),
    "es_population": (["evolve", "face", "-o", "{t}/e", "--method", "cmaes", "--population", "1000000000"],
                      "max_runs"),
    "es_restarts": (["evolve", "face", "-o", "{t}/e", "--method", "cmaes", "--population", "100", "--set",
                     "restarts=10"], "max_runs"),  # IPOP doubles the population at each restart
    "mlp_hidden": (["train", "--task", "leave_square_out", "--set", "hidden=10000000"], "max_params"),
    "transformer_d_model": (["train", "--task", "scan", "--set", "d_model=100000"], "max_params"),
    "lookup_n_train": (["train", "--task", "lookup", "--set", "n_train=100000000"], "max_task_items"),
    "lookup_lengths": (["train", "--task", "lookup", "--set", "train_lengths=[2,100000]"], "max_task_items"),
    "leave_square_out_p": (["train", "--task", "leave_square_out", "--set", "p=100000"], "max_task_items"),
    "factors_grid": (["train", "--task", "factors", "--set", "grid=1000"], "max_task_items"),
    "knowledge_graph_n_entities": (["train", "--task", "knowledge_graph", "--set", "n_entities=100000000"],
                                   "max_task_items"),
    "scan_prim_repeats": (["train", "--task", "scan", "--set", "prim_repeats=100000000"], "max_task_items"),
    "multiplication_train_sizes": (["train", "--task", "multiplication", "--set", "train_sizes=[[200,200]]"],
                                   "max_task_items"),
}


@pytest.mark.parametrize("kind", SIZES)
def test_sizes_over_a_limit_refused(tmp_path, capsys, kind):
    argv, limit = SIZES[kind]
    argv = [a.format(t=tmp_path) for a in argv] + (["-o", tmp_path / "run"] if argv[0] == "train" else [])
    refused(capsys, argv, limit, f"FRACTURELAB_{limit.upper()}", watch=[tmp_path])


def test_task_estimates_are_registry_capabilities(monkeypatch):
    """Each shipped task's TaskSpec carries its size estimate; make_task refuses over the limit, at the limit runs."""
    from fracturelab.errors import FracturelabError
    from fracturelab.tasks import TASKS, make_task, register_task

    assert all(callable(spec.items) for spec in TASKS.values())
    tiny = TASKS["leave_square_out"].tiny
    n = TASKS["leave_square_out"].items(TASKS["leave_square_out"].settings_cls(**tiny))
    monkeypatch.setenv("FRACTURELAB_MAX_TASK_ITEMS", str(n - 1))
    with pytest.raises(FracturelabError, match="max_task_items"):
        make_task("leave_square_out", **tiny)
    monkeypatch.setenv("FRACTURELAB_MAX_TASK_ITEMS", str(n))
    assert len(make_task("leave_square_out", **tiny).train) > 0
    bad = dataclasses.replace(TASKS["lookup"], name="lookup_bad_items", items=5)
    with pytest.raises(FracturelabError, match="items must be a function or None"):
        register_task(bad)


def test_genome_derived_arch_is_held_to_max_params(monkeypatch, capsys, tmp_path):
    """A small genome whose layerized arch is large (D chained nodes, and W nodes at depth 1 that the last one reads,
    so W caches through D layers: about D W^2 weights) is refused before its units are listed."""
    from fracturelab.cppn.builtins import builtin_net
    from fracturelab.cppn.genome import Link, Node
    from fracturelab.cppn.layerize import net_from_genome
    from fracturelab.errors import FracturelabError

    face = builtin_net("face").genome
    D = W = 40
    nodes = dict(face.nodes)
    links = list(face.links)
    for i in range(D):
        nodes[f"c{i}"] = Node(f"c{i}", "hidden", "sin")
        links.append(Link("x" if i == 0 else f"c{i - 1}", f"c{i}", 1.0))
    for j in range(W):
        nodes[f"w{j}"] = Node(f"w{j}", "hidden", "gaussian")
        links += [Link("y", f"w{j}", 1.0), Link(f"w{j}", f"c{D - 1}", 1.0)]
    links.append(Link(f"c{D - 1}", "ink", 1.0))
    big = dataclasses.replace(face, name="wide_and_deep", nodes=nodes, links=links)
    monkeypatch.setenv("FRACTURELAB_MAX_PARAMS", "20000")  # the arch has about D W^2 = 64,000
    with pytest.raises(FracturelabError, match="layerized arch.*max_params"):
        net_from_genome(big)
    monkeypatch.setenv("FRACTURELAB_MAX_PARAMS", "400")  # face's own arch has 470 weights
    refused(capsys, ["render", "face", "-o", tmp_path / "x.png", "--res", "8"], "layerized arch", "max_params",
            watch=[tmp_path])


@pytest.mark.parametrize("task", ["lookup", "leave_square_out", "factors", "knowledge_graph", "multiplication"])
def test_task_estimate_bounds_the_examples_made(task):
    """TaskSpec.items is an upper estimate: at least the examples its settings make (the task's tiny settings)."""
    from fracturelab.tasks import TASKS, make_task

    spec = TASKS[task]
    made = sum(make_task(task, **spec.tiny).sizes().values())
    assert made <= spec.items(spec.settings_cls(**spec.tiny))


@pytest.fixture(scope="module")
def rundir(tmp_path_factory):
    from fracturelab.train import train_run

    out = tmp_path_factory.mktemp("run") / "run"
    train_run("leave_square_out", seed=0, outdir=out, max_steps=2, eval_every=2, p=11, side=3, hidden=8, progress=False)
    return out


@pytest.mark.parametrize("section, key, value, limit", [
    ("task_options", "p", 100000, "max_task_items"),
    ("model_settings", "hidden", 10_000_000, "max_params"),
])
def test_probe_on_a_run_asking_for_huge_sizes(tmp_path, capsys, rundir, section, key, value, limit):
    run = shutil.copytree(rundir, tmp_path / "run")
    config = json.loads((run / "config.json").read_text())
    config[section][key] = value
    (run / "config.json").write_text(json.dumps(config))
    refused(capsys, ["probe", run], limit, watch=[tmp_path])


# -- kind 4: a spec is checked whole at load ----------------------------------------------------------------------

SPEC_FAULTS = {
    "negative_seed": (TINY.replace("seeds = [0, 1]", "seeds = [-1]"), "seeds"),
    "negative_checkpoint": (TINY.replace("probes = []", "probes = []\ncheckpoints = [-5]"), "checkpoints"),
    "reference_not_a_genome": (TINY.replace('references = ["face"]', 'references = ["{t}/junk.xml"]'), "junk.xml"),
    "fit_over_max_fit_cells": (TINY.replace("res = 16", "res = 4000"), "max_fit_cells"),
    "replicas_over_max_runs": (TINY.replace("replicas = 2", "replicas = 100000000"), "max_runs"),
    "model_over_max_params": (TINY.replace("hidden = 32", "hidden = 10000000"), "max_params"),
    "task_over_max_task_items": (TINY.replace("p = 11", "p = 100000"), "max_task_items"),
}


@pytest.mark.parametrize("kind", SPEC_FAULTS)
def test_spec_faults_found_at_load(tmp_path, capsys, kind):
    text, words = SPEC_FAULTS[kind]
    (tmp_path / "junk.xml").write_text("this is no genome")
    spec = write_spec(tmp_path, text.replace("{t}", str(tmp_path)))
    err = refused(capsys, ["study", spec, "-o", tmp_path / "out"], words, watch=[tmp_path])
    assert str(spec) in err and not (tmp_path / "out").exists()


# -- the fast paths the checks rest on, against the obvious computation ------------------------------------------

@pytest.mark.parametrize("task, model, options", [
    ("lookup", "transformer", {}),
    ("lookup", "transformer", {"pos": "learned", "n_head": 2, "scale": 0.7}),
    ("lookup", "mlp", {"input": "embed", "depth": 3}),
    ("leave_square_out", "mlp", {"scale": 1.5}),
    ("leave_square_out", "cppn", {}),
    ("factors", "mlp", {"input": "rgba"}),
])
def test_model_weights_counted_before_building(task, model, options):
    from fracturelab.models import MODELS, SMALLEST_DATA, make_model
    from fracturelab.models.data import DataSpec
    from fracturelab.settings import from_options
    from fracturelab.tasks import TASKS, make_task

    data = make_task(task, **TASKS[task].tiny)
    spec = DataSpec.of(data.name, data.sets().values(), data.info)
    settings = from_options(MODELS[model].settings_cls, options, model)
    built = sum(p.numel() for p in make_model(model, spec, **options).parameters())
    assert settings.n_params(spec) == built
    assert settings.n_params(SMALLEST_DATA) <= built  # the bound checked before the data exists


def test_layerized_widths_from_counts_match_the_listed_units(monkeypatch):
    """The arch layerize counts before listing any unit is each group's widest layer in the units it then lists."""
    import importlib

    from fracturelab.cppn.builtins import BUILTINS
    from fracturelab.cppn.nets import load_cppn

    lz = importlib.import_module("fracturelab.cppn.layerize")  # the package exports a function of that name
    listed = []
    monkeypatch.setattr(lz, "_units", lambda *a, _units=lz._units: listed.append(_units(*a)) or listed[-1])
    for name in [*BUILTINS, "skull", "butterfly", "apple"]:
        arch = lz.layerize(load_cppn(name).genome).arch
        groups = {a for layer in listed[-1] for a in layer}
        widths = [(a, max(len(layer.get(a, [])) for layer in listed[-1]))
                  for a in ["cache"] + sorted(groups - {"cache"}) if a in groups]
        assert arch == lz.Arch(arch.n_hidden, tuple(widths)), name


def test_chebyshev_distances_match_all_pairs():
    from fracturelab.tasks.leave_square_out import chebyshev_to_set

    rng = np.random.default_rng(0)
    for p in (3, 7, 16):
        a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
        q = np.stack([a.ravel(), b.ravel()], 1)
        for frac in (0.02, 0.5, 0.95):
            keep = rng.random(len(q)) < frac
            keep[rng.integers(len(q))] = True
            ref = q[keep]
            for torus in (False, True):
                d = np.abs(q[:, None, :] - ref[None, :, :])
                if torus:
                    d = np.minimum(d, p - d)
                assert (chebyshev_to_set(q, ref, p, torus) == d.max(2).min(1)).all(), (p, frac, torus)


def test_lead_side_guards():
    """The guards the lead wired beside this file's: multiplication operands that int64 cannot hold, a --seeds range
    over max_runs (refused before it is listed), an explorer sweep over max_pixels, and a device torch lacks."""
    from fracturelab.probes.probe_model import resolve_device
    from fracturelab.report.explorer import ExploreSettings
    from fracturelab.tasks import make_task
    from fracturelab.train.population import parse_seeds

    cases = [(lambda: make_task("multiplication", train_sizes=((30, 30),), ood_sizes=((1, 1),)), "at most 18 digits"),
             (lambda: parse_seeds("0-99999999999"), "max_runs"),
             (lambda: ExploreSettings(sweep_res=100000).check(), "max_pixels")]
    import torch
    if not torch.backends.mps.is_available():
        cases.append((lambda: resolve_device("mps"), "not available"))
    for fn, words in cases:
        with pytest.raises(FracturelabError, match=words) as err:
            fn()
        assert "\n" not in str(err.value)
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
