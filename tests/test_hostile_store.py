"""A results store whose rows were edited outside fracturelab (hostile-input sweep, report cases 312-318 and 322):
`fracturelab report` refuses it with one line naming the table and row, before anything is written (no report
folder made), and a store written by fracturelab itself still reports."""
from __future__ import annotations

import sqlite3

import pytest
from study_helpers import synthetic_store
from test_hostile import refused

DEEP = "[" * 100_000 + "]" * 100_000
"""Nested past the JSON parser's recursion limit."""

TAMPERED = {
    "metric value text": ("UPDATE metrics SET value = 'abc'", "metrics row", "is not a number"),
    "metric value blob": ("UPDATE metrics SET value = x'00ff'", "metrics row", "is not a number"),
    "spec_json not JSON": ("UPDATE studies SET spec_json = '{'", "studies row 1 spec_json", "not a JSON object"),
    "spec_json a list": ("UPDATE studies SET spec_json = '[]'", "studies row 1 spec_json", "not a JSON object"),
    "options_json keys missing": ("UPDATE studies SET options_json = '{}'", "studies row 1 options_json", "'keys'"),
    "second studies row renamed": (("INSERT INTO studies SELECT id+1, name||'2', digest, spec_json, options_json, "
                                    "created FROM studies"), "studies row 2", "is not its spec's name"),
    "cell status unknown": ("UPDATE cells SET status = 'frobbed'", "cells row", "status 'frobbed'"),
    "cell params deeply nested": (f"UPDATE cells SET params_json = '{DEEP}'", "cells row", "not a JSON object"),
    "cell params unknown kind": ("UPDATE cells SET params_json = '{\"kind\": \"x\"}'", "cells row", "kind 'x'"),
    "cell params missing fields": ("UPDATE cells SET params_json = '{\"kind\": \"task\"}' WHERE kind = 'task'",
                                   "cells row",
                                   "not a cell's params"),
    "done CPPN cell without reference": (("DELETE FROM metrics WHERE cell_key IN (SELECT key FROM cells WHERE "
                                          "params_json LIKE '%\"kind\": \"cppn\"%'); UPDATE cells SET params_json "
                                          "= '{\"kind\": \"cppn\"}' WHERE params_json LIKE '%\"kind\": \"cppn\"%'"),
                                         "cells row", "without its reference"),
    "cell notes not JSON": ("UPDATE cells SET notes_json = 'nope'", "cells row", "notes_json"),
    "cell seconds text": ("UPDATE cells SET seconds = 'soon'", "cells row", "seconds 'soon'"),
    "example correct 7": ("UPDATE examples SET correct = 7", "examples row", "correct 7 is neither 0 nor 1"),
    "example depth text": ("UPDATE examples SET depth = 'deep'", "examples row", "depth 'deep'"),
    "example meta_json a list": ("UPDATE examples SET meta_json = '[1]'", "examples row", "meta_json"),
}


@pytest.fixture
def study_dir(tmp_path):
    """A finished study's folder (synthetic, through the real store, CPPN cells included)."""
    out = tmp_path / "study"
    synthetic_store(out, seeds=3)
    return out


def _tamper(study_dir, stmt: str) -> None:
    con = sqlite3.connect(study_dir / "results.sqlite")
    con.executescript(stmt)
    con.close()


@pytest.mark.parametrize("case", list(TAMPERED))
def test_tampered_row_refused(tmp_path, capsys, study_dir, case):
    stmt, *words = TAMPERED[case]
    _tamper(study_dir, stmt)
    err = refused(capsys, ["report", study_dir, "-q", "-o", tmp_path / "o"], "changed outside fracturelab", *words,
                  watch=[tmp_path])
    assert "internal error" not in err


def test_untampered_store_reports(tmp_path, capsys, study_dir):
    """The guards refuse edits only: the store as written and a resumed study's second (same-name) studies row still
    report. (An infinite metric is an edit since the writer leaves non-finite metrics out: test_hostile6.)"""
    _tamper(study_dir, "INSERT INTO studies SELECT id+1, name, digest, spec_json, options_json, created FROM studies")
    from fracturelab.cli import main

    assert main(["report", str(study_dir), "-q", "-o", str(tmp_path / "o")]) == 0, capsys.readouterr().err
    assert (tmp_path / "o" / "report.html").is_file()
