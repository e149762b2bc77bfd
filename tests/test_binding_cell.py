"""A binding task cell's stored metrics (study/cell.py, study/per_example.binding_metrics) and results.csv's error
column (train/evaluate.py), against slow obvious counts over one short real run's results.csv; and names.WIDTH per
model."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fracturelab.study import names as N
from fracturelab.study.cell import TaskCell, measured, model_width
from fracturelab.train import read_csv, train_run

OPTIONS = {"task_options": {"n_train": 1500, "n_test": 120}, "model_options": {"hidden": 48}, "max_steps": 60,
           "plot": False}
"""A run short enough to answer many novel conjunctions wrong (so every error type can occur) in a few seconds."""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(results.csv rows, the cell's CellResult) of one short binding run."""
    out = tmp_path_factory.mktemp("binding") / "run"
    m = train_run("binding", None, "mlp", "scratch", 0, out, **OPTIONS)
    cell = TaskCell("binding", None, "mlp", "scratch", "base", 0)
    return read_csv(out / "results.csv"), measured(cell, out, m, 0.0)


def _slow_type(r: dict) -> str:
    """The answer's type, written out: exact target, another entity's value, a value not in the input, else other."""
    words = r["prediction"].split()
    if words == [r["target"]]:
        return "correct"
    if len(words) == 1 and words[0] in r["distractors"].split():
        return "binding"
    if len(words) == 1 and words[0] in r["absent"].split():
        return "absent"
    return "other"


def test_every_test_row_of_a_binding_run_carries_its_answer_type(run):
    rows, _ = run
    assert rows and all(r["error"] == _slow_type(r) for r in rows)
    assert all((r["error"] == "correct") == (r["correct"] == "1") for r in rows)
    novel = [r for r in rows if r["novel_conjunction"] == "1"]
    assert {r["error"] for r in novel} >= {"correct", "binding"}


def test_the_cell_binding_metrics_are_the_counts_over_its_novel_conjunctions(run):
    rows, res = run
    novel = [r for r in rows if r["novel_conjunction"] == "1"]
    wrong = [r for r in novel if r["correct"] == "0"]
    binding = [r for r in wrong if r["error"] == "binding"]
    assert len(wrong) >= 5
    m = res.metrics
    assert m[N.BINDING_NOVEL_ACC] == pytest.approx(1 - len(wrong) / len(novel))
    assert m[N.BINDING_WRONG] == len(wrong)
    assert m[N.BINDING_SHARE] == pytest.approx(len(binding) / len(wrong))
    assert m[N.BINDING_CHANCE] == pytest.approx(sum(float(r["chance_binding"]) for r in wrong) / len(wrong))
    assert m[N.BINDING_RATE] == pytest.approx(len(binding) / len(novel))
    # the stored per-example rows keep the type, so a reader can slice by n and position
    stored = {(e["split"], e["idx"]): json.loads(e["meta_json"]) for e in res.examples}
    assert all(stored[(r["split"], int(r["index"]))]["error"] == r["error"] for r in rows)


def test_the_cell_stores_its_model_width(run):
    assert run[1].metrics[N.WIDTH] == 48
    assert model_width("mlp", {"hidden": 48, "scale": 2.0}) == 96
    assert model_width("transformer", {"d_model": 64, "n_head": 4, "scale": 2.0}) == 128
    assert model_width("cppn", {"arch": "2;gaussian:8,sin:16", "scale": 1.0}) == 24
    assert model_width("plugin_model", {}) is None


def test_claim3_cells_hold_binding_examples_at_one_number_of_entities():
    """A placebo from the standard run: on binding's conjunction split seen_frac = 1 - 1/(3n), so across n coverage
    restates the number of entities, which sets the difficulty; cut only by (split, depth), binding 'contradicted'
    claim 3 at -13.7. Cells at one n hold one coverage level: no cell, no verdict from the design."""
    from fracturelab.study.per_example import coverage_cells

    rng = np.random.default_rng(0)
    ex = []
    for n in (2, 3, 4):
        for _ in range(60):
            ex.append({"split": "test_ood", "correct": int(rng.random() < 1.2 - 0.3 * n), "depth": None,
                       "length": n, "seen_frac": round(1 - 1 / (3 * n), 6)})
    assert coverage_cells(ex) == []
    ex.append({"split": "test_ood", "correct": 1, "depth": None, "length": 2, "seen_frac": 1.0})  # two levels at n 2
    assert len(coverage_cells(ex)) == 1
