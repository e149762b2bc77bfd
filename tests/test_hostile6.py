"""Hostile input, round six (issue 28): what round five left (docs/reliability.md), each with the guard that now
holds it. Every test failed on the code before its fix. The CLI runs in this process through test_hostile.refused:
one line, exit 2, no traceback, nothing under `watch` changed.
"""
from __future__ import annotations

import math

import pytest
from study_helpers import tampered_store
from test_hostile import netdir, refused  # noqa: F401 - netdir is a fixture

from fracturelab.cli import main


@pytest.mark.parametrize("sql, words", [
    ("UPDATE studies SET options_json = json_set(options_json, '$.provenance', 5)", ("'provenance'",)),
    ("UPDATE metrics SET value = 1e999 WHERE rowid = (SELECT MIN(rowid) FROM metrics)", ("not finite",)),
    ("UPDATE cells SET kind = 'weird' WHERE rowid = (SELECT MIN(rowid) FROM cells)", ("'weird'",)),
])
def test_report_on_a_store_whose_rows_were_changed(tmp_path, capsys, sql, words):
    """A provenance that is a number reached summary.json as the study's provenance; an infinite metric entered the
    analysis; a cell whose kind column disagrees with its params was read by its params alone. Each is a hand
    edit: one line naming the store."""
    d = tampered_store(tmp_path, sql)
    refused(capsys, ["report", d, "-o", tmp_path / "r"], "results.sqlite", "changed outside fracturelab", *words,
            watch=[tmp_path])


def test_a_metric_not_finite_is_not_stored(tmp_path):
    """The writer's side of the rule above: a cell's metric that is not finite measured nothing and is left out, so
    a store fracturelab wrote is never refused by its own reader."""
    from fracturelab.study.records import CellResult, Outcome
    from fracturelab.study.store import Store

    with Store(tmp_path / "results.sqlite") as s:
        sid = s.add_study("x", "d", {"name": "x"}, {"keys": ["k"]})
        s.register_cells(sid, [{"key": "k", "kind": "task"}])
        s.finish(Outcome("k", True, 0.1, CellResult({"a": 1.0, "b": math.inf, "c": -math.inf})))
        assert s.metrics() == {"k": {"a": 1.0}}


def test_decay_whose_step_would_flip_the_weights_refused(tmp_path, capsys):
    """AdamW multiplies each weight by 1 - lr * strength per step: `strength=1e4` at lr 1e-3 trained into a
    divergence found only in the cell ("diverged at step N"); now refused before any work."""
    refused(capsys, ["train", "--task", "factors", "--regime", "decay", "-o", tmp_path / "o", "--set",
                     "intervention=strength=1e4"], "1 - lr * strength", watch=[tmp_path])


def test_decay_at_a_strength_below_the_bound_accepted():
    """The other side: a strength just under 1 / lr is still a decay run."""
    from fracturelab.train.run import resolve

    r = resolve("factors", None, "mlp", "decay", None, None, intervention="strength=999")
    assert r["train"].lr * 999 < 1


@pytest.mark.parametrize("window", [["-1e30", "1e30", "-1", "1"], ["-2E-3", "1", "-1", "1"]])
def test_render_reads_a_negative_number_in_e_notation_as_a_value(tmp_path, capsys, netdir, window):  # noqa: F811
    """argparse's own pattern for negative numbers (-3, -.5) misses -1e30, which it took for a flag: "--window:
    expected 4 arguments"."""
    out = tmp_path / "r.png"
    assert main(["render", str(netdir), "--res", "8", "--window", *window, "-o", str(out)]) == 0, \
        capsys.readouterr().err
    assert out.stat().st_size > 0


def test_render_window_past_float32_refused_not_misread(tmp_path, capsys, netdir):  # noqa: F811
    """A value past float32 is refused by its own check, not by argparse's misreading."""
    refused(capsys, ["render", netdir, "--window", "-1e39", "1", "-1", "1", "-o", tmp_path / "r.png"],
            "overflows float32", watch=[tmp_path])
