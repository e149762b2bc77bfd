"""Training: bad names, run folders (atomic, complete, reloadable), determinism, early stopping on validation only,
regimes and their data, and a tiny run of every task with its default model. The runs to >= 0.98 test_id are slow
tests (marked) or live in examples/tasks_results.py (see docs/testbed.md)."""
import csv
import json

import numpy as np
import pytest
import torch

import fracturelab.train.run as run_mod
from fracturelab.errors import FracturelabError
from fracturelab.tasks import TASKS, Example, make_task
from fracturelab.train import REGIMES, RUN_FILES, TrainSettings, load_run, pretrain_set, score_sets, train_run
from fracturelab.train.loop import Context, fit, shuffled_batches

TINY = {name: spec.tiny for name, spec in TASKS.items()}  # task options that make a run take seconds
FAST = {"max_steps": 60, "eval_every": 20, "warmup": 10}


def _run(task, tmp_path=None, name="run", **kw):
    opts = {**FAST, **kw}
    task_options = {**TINY[task], **opts.pop("task_options", {})}
    out = None if tmp_path is None else tmp_path / name
    return train_run(task, seed=opts.pop("seed", 0), outdir=out, task_options=task_options, **opts)


@pytest.mark.parametrize("kw, words", [
    ({"task": "nope"}, "unknown task"),
    ({"task": "lookup", "split": "nope"}, "unknown split"),
    ({"task": "lookup", "model": "rnn"}, "unknown model"),
    ({"task": "lookup", "regime": "nope"}, "unknown regime"),
    ({"task": "lookup", "bogus": 3}, "unknown option"),
    ({"task": "lookup", "lr": -1.0}, "bad train settings"),
    ({"task": "leave_square_out", "regime": "curriculum"}, "no simple-to-composed order"),
    ({"task": "lookup", "model": "cppn"}, "does not apply"),
    ({"task": "lookup", "task_options": {"n_bits": 3, "bogus": 1}}, "unknown option"),
    ({"task": "lookup", "hidden": 0, "model": "mlp"}, "bad mlp settings"),
    ({"task": "lookup", "seed": 1.5}, "seed must be an integer"),
])
def test_bad_requests_raise_one_line(kw, words, tmp_path):
    with pytest.raises(FracturelabError, match=words) as err:
        train_run(**{"task_options": TINY.get(kw.get("task"), {}), **FAST, **kw}, outdir=tmp_path / "never")
    assert not (tmp_path / "never").exists() and list(tmp_path.iterdir()) == []
    assert "\n" not in str(err.value)


def test_run_folder_contents_and_reload(tmp_path):
    m = _run("knowledge_graph", tmp_path, checkpoints=(20, 40))
    out = tmp_path / "run"
    files = {p.name for p in out.iterdir()}
    assert set(RUN_FILES) | {"ckpt_20.pt", "ckpt_40.pt"} <= files
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary folder left beside it
    metrics = json.loads((out / "metrics.json").read_text())
    for k in ("train_acc", "id_acc", "ood_acc", "ood_hard_acc", "steps", "seconds", "val_acc"):
        assert k in metrics and k in m
    assert metrics["steps"] == 60
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    sizes = metrics["sizes"]
    assert len(rows) == sizes["test_id"] + sizes["test_ood"] + sizes["ood_hard"]
    assert {"split", "correct", "prediction", "target", "src", "hops", "familiarity", "seen_frac"} <= set(rows[0])
    assert {r["split"] for r in rows} == {"test_id", "test_ood", "ood_hard"}
    for r in rows:  # the prediction column is what the model wrote: equal to the target exactly when correct
        assert (r["prediction"] == r["target"]) == (r["correct"] == "1")
    ood = [r for r in rows if r["split"] == "test_ood"]
    assert np.mean([r["correct"] == "1" for r in ood]) == pytest.approx(metrics["ood_acc"])
    curve = list(csv.DictReader(open(out / "curve.csv")))
    assert [int(r["step"]) for r in curve] == [20, 40, 60]
    assert {"train_loss", "val_loss", "val_acc", "train_acc"} <= set(curve[0])
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "knowledge_graph" and config["model"] == TASKS["knowledge_graph"].default_model

    model, data, cfg = load_run(out)
    scores = score_sets(model, {"test_id": data.test_id, "test_ood": data.test_ood}, with_outputs=())
    assert scores["test_id"]["acc"] == pytest.approx(metrics["id_acc"])
    assert scores["test_ood"]["acc"] == pytest.approx(metrics["ood_acc"])
    early, _, _ = load_run(out, checkpoint=20)
    assert any(not torch.equal(a, b) for a, b in zip(early.state_dict().values(), model.state_dict().values()))
    with pytest.raises(FracturelabError, match="exists"):
        _run("knowledge_graph", tmp_path)
    with pytest.raises(FracturelabError, match="no ckpt_99.pt"):
        load_run(out, checkpoint=99)


def test_a_crash_leaves_nothing(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("crash mid-run")
    monkeypatch.setitem(REGIMES, "scratch", boom)
    with pytest.raises(RuntimeError):
        _run("leave_square_out", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_same_seed_same_run(tmp_path):
    a = _run("knowledge_graph", tmp_path, "a", seed=3)
    b = _run("knowledge_graph", tmp_path, "b", seed=3)
    c = _run("knowledge_graph", tmp_path, "c", seed=4)
    drop = ("seconds", "total_seconds", "train_examples_per_second", "phases", "curve")
    assert {k: v for k, v in a.items() if k not in drop} == {k: v for k, v in b.items() if k not in drop}
    untimed = [[{k: v for k, v in r.items() if k != "seconds"} for r in m["curve"]] for m in (a, b)]
    assert untimed[0] == untimed[1]
    wa, wb = torch.load(tmp_path / "a" / "model.pt"), torch.load(tmp_path / "b" / "model.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert (tmp_path / "a" / "results.csv").read_text() == (tmp_path / "b" / "results.csv").read_text()
    wc = torch.load(tmp_path / "c" / "model.pt")
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)


def test_test_sets_never_influence_training(tmp_path, monkeypatch):
    """Scrambling the test targets changes nothing about training: the same steps, stopping point and weights."""
    real = run_mod.make_task

    def scrambled(*a, **k):
        d = real(*a, **k)
        for exs in (d.test_id, d.test_ood):
            tgts = [e.tgt for e in exs][::-1]
            exs[:] = [Example(e.src, t, e.meta) for e, t in zip(exs, tgts)]
        return d
    kw = {"max_steps": 200, "patience": 2, "eval_every": 20}
    a = _run("leave_square_out", tmp_path, "a", **kw)
    monkeypatch.setattr(run_mod, "make_task", scrambled)
    b = _run("leave_square_out", tmp_path, "b", **kw)
    assert (a["steps"], a["best_step"], a["val_acc"]) == (b["steps"], b["best_step"], b["val_acc"])
    wa, wb = torch.load(tmp_path / "a" / "model.pt"), torch.load(tmp_path / "b" / "model.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    ta = [r["target"] for r in csv.DictReader(open(tmp_path / "a" / "results.csv"))]
    tb = [r["target"] for r in csv.DictReader(open(tmp_path / "b" / "results.csv"))]
    assert ta != tb  # the scrambling did reach the test sets


def test_validation_split_is_carved_from_train():
    s = TrainSettings()
    fit_idx, val_idx = run_mod.carve_val(500, s, seed=1)
    assert len(val_idx) == 50 and not set(fit_idx) & set(val_idx) and len(fit_idx) + len(val_idx) == 500
    assert np.array_equal(val_idx, run_mod.carve_val(500, s, seed=1)[1])
    assert not np.array_equal(val_idx, run_mod.carve_val(500, s, seed=2)[1])


class _Scripted(torch.nn.Module):
    """A stand-in model whose validation accuracy follows a script, to check the stopping rule alone."""

    def __init__(self, accs):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.accs, self.evals = list(accs), 0

    def encode(self, examples):
        return {"n": len(examples)}

    def loss(self, batch):
        if not self.training:  # an evaluation: exact-match rate from the script
            acc = self.accs[min(self.evals, len(self.accs) - 1)]
            self.evals += 1
            k = round(acc * batch["n"])
            return self.w.sum() + 1.0, torch.arange(batch["n"]) < k
        return (self.w ** 2).sum() + 1.0, torch.zeros(batch["n"], dtype=torch.bool)


@pytest.mark.parametrize("accs, steps, best, why", [
    ([0.1, 0.5, 0.4, 0.4, 0.3, 0.2], 50, 20, "patience"),
    ([0.1, 0.5, 1.0, 0.2], 30, 30, "stop_val_acc"),
    ([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], 80, 80, "max_steps"),
])
def test_early_stopping_rule(accs, steps, best, why):
    s = TrainSettings(eval_every=10, patience=3, max_steps=80, eval_batch=1000)
    val = [Example(("x",), ("y",))] * 10
    phase = fit(_Scripted(accs), Context(s, 0), "train", val, val, 80,
                shuffled_batches(np.ones(10), 5, np.random.default_rng(0), False))
    assert (phase.steps, phase.best_step, phase.stopped) == (steps, best, why)


@pytest.mark.parametrize("task", list(TASKS))
def test_pretraining_sets_hold_no_test_input(task):
    d = make_task(task, **TINY[task])
    pre = pretrain_set(d)
    tests = {e.src for k, v in d.sets().items() if k != "train" for e in v}
    assert pre and not any(e.src in tests for e in pre)


def test_pretrain_and_curriculum_regimes(tmp_path):
    m = _run("lookup", tmp_path, "pre", regime="pretrain", pretrain_steps=30)
    assert [p["name"] for p in m["phases"]] == ["pretrain", "train"]
    assert m["steps"] == m["pretrain_steps"] + m["phases"][1]["steps"] and 0 < m["sizes"]["pretrain"] <= 64
    curve = list(csv.DictReader(open(tmp_path / "pre" / "curve.csv")))
    assert {r["phase"] for r in curve} == {"pretrain", "train"}
    c = _run("knowledge_graph", tmp_path, "cur", regime="curriculum", curriculum_steps=40)
    assert c["phases"][0]["name"] == "curriculum" and c["steps"] >= 40


@pytest.mark.parametrize("task", list(TASKS))
def test_tiny_run_of_every_task_learns_something(task):
    """A short run of the default model (seconds): the training loss falls well below where it began and the
    validation accuracy is above its chance level."""
    steps = {"scan": 120, "multiplication": 80}.get(task, 150)
    m = _run(task, max_steps=steps, eval_every=steps // 3, patience=10, max_val=200, score_train=500)
    assert m["model"] == TASKS[task].default_model and m["steps"] == steps
    curve = m["curve"]
    assert curve[-1]["train_loss"] < 0.7 * curve[0]["train_loss"]


def test_breakdowns_from_a_run_folder(tmp_path):
    from fracturelab.train import accuracy_by, error_type_table, multiplication_nodes, read_results
    m = _run("multiplication", tmp_path, max_steps=40)
    rows = read_results(tmp_path / "run")
    by_split = dict((g, a) for g, _, a in accuracy_by(rows, "split"))
    assert by_split["test_id"] == pytest.approx(m["id_acc"]) and by_split["test_ood"] == pytest.approx(m["ood_acc"])
    nodes = multiplication_nodes(tmp_path / "run")
    right = {(r["split"], r["index"]) for r in rows if r["correct"] == 1}
    assert all(n["type"] == "correct" for n in nodes if (n["split"], n["index"]) in right)
    table = error_type_table(nodes)
    assert set(table) == {"test_id", "test_ood"}
    assert all(sum(v for k, v in t.items() if k != "n") == pytest.approx(1.0) for t in table.values())
    with pytest.raises(FracturelabError, match="not multiplication"):
        _run("leave_square_out", tmp_path, "lso")
        multiplication_nodes(tmp_path / "lso")
