"""Hostile input, round seven (issue 28, /tmp/hostile6/report.md): `fracturelab report` on stores changed outside
fracturelab, each with the guard that now holds it. Every test failed on the code before its fix. The CLI runs in this
process through test_hostile.refused: one line, exit 2, no traceback, nothing under `watch` changed.
"""
from __future__ import annotations

import pytest
from study_helpers import tampered_store
from test_hostile import refused

from fracturelab.cli import main
from fracturelab.errors import FracturelabError


def test_report_on_a_store_whose_metrics_are_huge_but_finite(tmp_path, capsys):
    """Case 544: a metric of 1e308 is a finite REAL, yet a claim's figure failed on it (matplotlib's ticks: "arange:
    cannot compute length") through the catch-all "internal error". The figures now leave such values out and the
    page says how many; the tables still show them."""
    d = tampered_store(tmp_path, "UPDATE metrics SET value = 1e308")
    assert main(["report", str(d), "-o", str(tmp_path / "r"), "-q"]) == 0
    err = capsys.readouterr().err
    assert "internal error" not in err and "Traceback" not in err, err
    page = (tmp_path / "r" / "report.html").read_text()
    assert 'id="undrawn"' in page and "left out of the figures" in page
    assert (tmp_path / "r" / "summary.json").is_file()


@pytest.mark.parametrize("dest", [None, "r", "new/deeper/r"])
def test_a_report_that_fails_midway_writes_nothing(tmp_path, capsys, monkeypatch, dest):
    """Case 544 again: the report wrote summary.json and explorer.html (and made -o) before a figure failed, leaving
    half a report. Every file is now built before any is written: a failure midway leaves nothing new, neither the
    files beside the store (no -o) nor -o's folder and the folders made for it."""
    d = tampered_store(tmp_path, "SELECT 1")

    def boom(*_):
        raise FracturelabError("a figure failed")

    monkeypatch.setattr("fracturelab.report.study_figures.claim_effects", boom)
    argv = ["report", d] + (["-o", tmp_path / dest] if dest else [])
    refused(capsys, argv, "a figure failed", watch=[tmp_path])


@pytest.mark.parametrize("sql, words", [
    ("UPDATE cells SET key = key || char(10) || '<img src=x>'", ("of the study's cells are missing",)),
    ("UPDATE cells SET key = 'renamed' WHERE rowid = (SELECT MIN(rowid) FROM cells)", ("1 of the study's cells",)),
])
def test_report_on_a_store_whose_cell_keys_were_changed(tmp_path, capsys, sql, words):
    """Case 554: cells whose keys were edited no longer matched the keys the study lists, and vanished from the
    report ("report of 0 cells written", exit 0). run_study registers every key it lists before running any, so a
    listed key without its row is an edit: one line naming the store and how many are missing."""
    d = tampered_store(tmp_path, sql)
    refused(capsys, ["report", d, "-o", tmp_path / "r"], "results.sqlite", "missing from the cells table",
            "changed outside fracturelab", *words, watch=[tmp_path])

