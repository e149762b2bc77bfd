"""Contract tests generated from the probe registry (scikit-learn's parametrize_with_checks as the model): every
PROBES entry, with its tiny settings, runs on a model trained for a few steps on a task it applies to and returns
floats (skipping, with a reason, the tasks it does not apply to), and each capability its entry declares holds:
an on_prompts probe runs through probe-model on a prompt set (any other is refused there in one line), an at_init
probe runs on the network at initialization, and its layer_metrics appear per layer in its output and its figure.
A new probe gets every check here by being registered; nothing is listed by hand."""
import copy
import functools
import math

import pytest

from fracturelab.errors import FracturelabError
from fracturelab.probes import PROBES, probe_settings, run_checkpoints, run_probes
from fracturelab.probes.figures import write_figures
from fracturelab.probes.probe_model import probe_model
from fracturelab.probes.prompts import export_rows, write_jsonl
from fracturelab.tasks import TASKS, make_task
from fracturelab.train import load_run, train_run

NAMES = list(PROBES)
# cheapest first: a probe is tried on the tasks in this order until one it applies to
TASK_ORDER = sorted(TASKS, key=lambda t: len(make_task(t, seed=0, **TASKS[t].tiny).train))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """task -> (run folder, model, data, config) of a tiny run (trained on first use)."""
    folder = tmp_path_factory.mktemp("contract_runs")

    @functools.lru_cache(maxsize=None)
    def get(task):
        out = folder / task
        train_run(task, seed=0, outdir=out, task_options=TASKS[task].tiny, max_steps=10, eval_every=5, warmup=2,
                  checkpoints=(5,), max_val=50, score_train=50)
        return (out, *load_run(out))
    return get


@pytest.fixture(scope="module")
def applied(runs):
    """probe -> (task, results on the first task it applies to, {task tried before: skip reason})."""
    @functools.lru_cache(maxsize=None)
    def get(name):
        settings = probe_settings({name: PROBES[name].tiny})
        skips = {}
        for task in TASK_ORDER:
            out, model, data, config = runs(task)
            res = run_probes(model, data, config, [name], seed=0, checkpoints=run_checkpoints(out, config) or None,
                             settings=settings)[name]
            if "skipped" not in res:
                return task, res, skips
            skips[task] = res["skipped"]
        pytest.fail(f"probe {name!r} applies to no registered task ({skips})")
    return get


def _floats(res: dict) -> None:
    assert res and all(type(v) is float for v in res.values()), {k: type(v) for k, v in res.items()}


@pytest.mark.parametrize("name", NAMES)
def test_probe_returns_floats_on_a_task_it_applies_to(name, applied):
    task, res, skips = applied(name)
    _floats(res)
    assert any(math.isfinite(v) for v in res.values()), res
    assert all(isinstance(why, str) and why.strip() for why in skips.values()), skips


@pytest.mark.parametrize("name", [n for n, spec in PROBES.items() if spec.at_init])
def test_at_init_probes_run_on_the_initial_network(name, applied, runs):
    task = applied(name)[0]
    out, model, data, config = runs(task)
    init = copy.deepcopy(model)
    init.load_state_dict(run_checkpoints(out, config, init=True)[0])
    res = run_probes(init, data, config, [name], seed=0, settings=probe_settings({name: PROBES[name].tiny}))[name]
    _floats(res)


@pytest.mark.parametrize("name", [n for n, spec in PROBES.items() if spec.layer_metrics])
def test_layer_metrics_appear_per_layer_and_are_drawn(name, applied, tmp_path):
    res = applied(name)[1]
    for metric in PROBES[name].layer_metrics:
        assert any(k.startswith("layer.") and k.endswith(f".{metric}") for k in res), (metric, sorted(res)[:8])
    assert tmp_path / f"{name}_layers.png" in write_figures({name: res}, tmp_path, {name: PROBES[name].layer_metrics})


@pytest.fixture(scope="module")
def prompt_set(runs, tmp_path_factory):
    """(run folder of the cheapest text task, a prompt file of its test sets)."""
    task = next(t for t in TASK_ORDER if TASKS[t].text)
    out, _, data, _ = runs(task)
    rows = export_rows(data, ["test_id", "test_ood"])
    return out, write_jsonl(rows, tmp_path_factory.mktemp("prompts") / f"{task}.jsonl")


@pytest.mark.parametrize("name", NAMES)
def test_prompt_capability_holds_in_probe_model(name, prompt_set, tmp_path):
    rundir, prompts = prompt_set
    if not PROBES[name].on_prompts:
        with pytest.raises(FracturelabError, match="needs the testbed's own training run") as err:
            probe_model(str(rundir), prompts, tmp_path / "out", probes=[name], device="cpu", progress=False)
        assert "\n" not in str(err.value) and not (tmp_path / "out").exists()
        return
    res = probe_model(str(rundir), prompts, tmp_path / "out", probes=[name], device="cpu", progress=False)
    assert list(res) == [name] and (tmp_path / "out" / "probes.json").is_file()
    if "skipped" in res[name]:
        assert res[name]["skipped"].strip()
    else:
        _floats(res[name])
