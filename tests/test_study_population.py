"""Population cells (spec `population`, study/jobs.py): task cells that differ only in seed train as one population,
each seed still its own cell. Oracle: a study of population cells gives every metric within 1e-5 of the same study
with every cell trained alone, and the same test examples; killed with SIGKILL and resumed, it gives the numbers of
an uninterrupted run; the populations are cut from the whole plan, so a resume trains each with the members it had."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from study_helpers import ENV, cli, store_rows, write_spec

from fracturelab.study.jobs import POPULATION_NOTE, jobs
from fracturelab.study.spec import parse_spec

POP = """
name = "pop"
seeds = [0, 1, 2, 3, 4, 5]
regimes = ["scratch", "bimt"]
probes = ["clusterability"]
population = {population}
probe_options = {{ clusterability = {{ n_shuffles = 2 }} }}

[[tasks]]
name = "leave_square_out"
models = ["mlp"]
options = {{ max_steps = 40, eval_every = 20, p = 11, side = 3, hidden = 32, batch_size = 64 }}
"""


def _cells(population=3, extra=""):
    spec = parse_spec(POP.format(population=population) + extra)
    return spec, spec.cells(available_probes=("clusterability",))


def test_jobs_cut_populations_from_the_plan():
    spec, cells = _cells(3, '[cppn]\nreferences = ["face"]\nreplicas = 1\nres = 16\nsteps = 10\n')
    found = jobs(cells, cells, spec.population)
    task = [j for j in found if j[0].kind == "task"]
    # per regime, seeds 0-5 in two populations of 3, sorted by seed; the CPPN cells alone
    assert sorted((j[0].regime, [c.seed for c in j]) for j in task) == [
        ("bimt", [0, 1, 2]), ("bimt", [3, 4, 5]), ("scratch", [0, 1, 2]), ("scratch", [3, 4, 5])]
    assert all(len(j) == 1 for j in found if j[0].kind == "cppn")
    assert sorted(c.key for j in found for c in j) == sorted(c.key for c in cells)
    # a resume: only the cells still to do, each in the population the whole plan put it in
    todo = [c for c in cells if c.kind == "task" and c.regime == "scratch" and c.seed in (1, 2, 4)]
    assert sorted([c.seed for c in j] for j in jobs(todo, cells, 3)) == [[1, 2], [4]]
    assert all(len(j) == 1 for j in jobs(cells, cells, 1))


def test_jobs_never_mix_configurations():
    spec, cells = _cells(10, '[[tasks]]\nname = "leave_square_out"\nmodels = ["mlp"]\nregimes = ["scratch"]\n'
                             'options = { max_steps = 20, p = 11, side = 3, hidden = 16 }\n')
    for job in jobs(cells, cells, spec.population):
        assert len({(c.regime, c.options["hidden"]) for c in job}) == 1
        assert len({c.seed for c in job}) == len(job)


def test_population_refused_below_one(tmp_path):
    r = cli("study", write_spec(tmp_path, POP.format(population=0)), "-o", tmp_path / "out")
    assert r.returncode == 2 and "population" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def _close(a: dict, b: dict, tol=1e-5):
    assert a.keys() == b.keys()
    worst = max(abs(a[k][n] - b[k][n]) for k in a for n in a[k])
    assert all(a[k].keys() == b[k].keys() for k in a) and worst <= tol, worst


def _notes(out) -> list:
    from fracturelab.study.store import Store

    with Store(out / "results.sqlite", create=False) as st:
        return [c.notes.get(POPULATION_NOTE) for c in st.cells()]


@pytest.fixture(scope="module")
def population_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pop")
    out = tmp / "out"
    r = cli("study", write_spec(tmp, POP.format(population=3)), "-o", out, "--workers", "2", "-q")
    assert r.returncode == 0, r.stderr
    return out


@pytest.mark.slow
def test_population_cells_equal_separate_cells(tmp_path, population_run):
    alone = tmp_path / "alone"
    r = cli("study", write_spec(tmp_path, POP.format(population=1)), "-o", alone, "--workers", "2", "-q")
    assert r.returncode == 0, r.stderr
    a, b = store_rows(population_run), store_rows(alone)
    assert len(a["metrics"]) == 12 and set(a["status"].values()) == {"done"}
    _close(a["metrics"], b["metrics"])
    assert a["examples"] == b["examples"]
    assert sorted(map(tuple, _notes(population_run))) == [(0, 1, 2)] * 6 + [(3, 4, 5)] * 6
    assert _notes(alone) == [None] * 12


@pytest.mark.slow
def test_population_study_resumes_after_sigkill(tmp_path, population_run):
    out = tmp_path / "out"
    spec = write_spec(tmp_path, POP.format(population=3))
    p = subprocess.Popen([sys.executable, "-m", "fracturelab", "study", str(spec), "-o", str(out), "--workers", "1",
                          "-q"], env=ENV, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and p.poll() is None and not _some_done(out):
        time.sleep(0.05)
    assert p.poll() is None, "the study finished before it could be killed: " + p.stderr.read().decode()[-500:]
    os.killpg(p.pid, signal.SIGKILL)  # the parent and its worker, mid-study
    p.wait()
    killed, when = store_rows(out), _finished(out)
    done = [k for k, s in killed["status"].items() if s == "done"]
    assert 1 <= len(done) < 12 and set(killed["metrics"]) == set(done)

    r = cli("study", spec, "-o", out, "--workers", "2", "-q")
    assert r.returncode == 0, r.stderr
    resumed, plain = store_rows(out), store_rows(population_run)
    assert set(resumed["status"].values()) == {"done"} and resumed["counts"] == plain["counts"]
    _close(resumed["metrics"], plain["metrics"])
    assert resumed["examples"] == plain["examples"]
    # the cells done before the kill were not computed again
    assert {k: _finished(out)[k] for k in done} == {k: when[k] for k in done}


def _finished(out) -> dict:
    import sqlite3

    con = sqlite3.connect(f"file:{out / 'results.sqlite'}?mode=ro", uri=True)
    try:
        return dict(con.execute("SELECT key, finished FROM cells"))
    finally:
        con.close()


def _some_done(out) -> bool:
    import sqlite3

    try:
        con = sqlite3.connect(f"file:{out / 'results.sqlite'}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT COUNT(*) FROM cells WHERE status='done'").fetchone()[0] > 0
        finally:
            con.close()
    except sqlite3.Error:
        return False
