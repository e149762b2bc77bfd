"""Resumability: a study killed with SIGKILL part-way and run again has every cell done once, no duplicate rows,
and the same numbers as an uninterrupted run. Also the CLI's `report` rebuilds from the store alone."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from study_helpers import ENV, cli, store_rows, write_spec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plain")
    out = tmp / "out"
    r = cli("study", write_spec(tmp), "-o", out, "--workers", "2")
    assert r.returncode == 0, r.stderr
    return out


def _done(db) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT COUNT(*) FROM cells WHERE status='done'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_sigkill_then_resume_matches_uninterrupted(tmp_path, uninterrupted):
    out = tmp_path / "out"
    spec = write_spec(tmp_path)
    # one worker: cells finish one after another, so there is a moment with some done and some not. The kill comes
    # after the first cell: the two task cells come first and take seconds each, while the CPPN cells after them finish
    # within milliseconds of each other (waiting for two done cells could find them all done)
    p = subprocess.Popen([sys.executable, "-m", "fracturelab", "study", str(spec), "-o", str(out), "--workers", "1",
                          "-q"], env=ENV, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = out / "results.sqlite"
    deadline = time.time() + 240
    while time.time() < deadline and p.poll() is None and _done(db) < 1:
        time.sleep(0.1)
    assert p.poll() is None, "the study finished before it could be killed: " + p.stderr.read().decode()[-500:]
    os.killpg(p.pid, signal.SIGKILL)  # the parent and its workers, mid-study
    p.wait()
    killed = store_rows(out)
    n_cells = killed["counts"]["cells"]
    done = [k for k, s in killed["status"].items() if s == "done"]
    assert 1 <= len(done) < n_cells
    # a cell in flight left no rows; a finished one has all of them
    assert set(killed["metrics"]) == set(done)
    assert not (out / "report.html").exists()

    r = cli("study", spec, "-o", out, "--workers", "2")
    assert r.returncode == 0, r.stderr
    assert f"{n_cells - len(done)} run now" in r.stdout
    resumed, plain = store_rows(out), store_rows(uninterrupted)
    assert set(resumed["status"].values()) == {"done"} and resumed["counts"]["cells"] == n_cells
    # every row once: the counts equal the distinct (cell, name) pairs, and the numbers are the uninterrupted run's
    assert resumed["counts"]["metrics"] == sum(len(m) for m in resumed["metrics"].values())
    assert resumed["metrics"] == plain["metrics"]
    assert resumed["examples"] == plain["examples"] and resumed["counts"] == plain["counts"]
    s1 = json.loads((out / "summary.json").read_text())
    s2 = json.loads((uninterrupted / "summary.json").read_text())
    assert s1["claims"] == s2["claims"]


def test_report_rebuilds_from_store(tmp_path, uninterrupted):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(uninterrupted, out)
    (out / "report.html").unlink()
    (out / "summary.json").unlink()
    r = cli("report", out)
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "summary.json").read_text()) == json.loads((uninterrupted / "summary.json").read_text())
    assert 'id="claims-table"' in (out / "report.html").read_text()
