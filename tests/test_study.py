"""The study machinery: spec parsing, the store's refusals, CLI errors (one line, exit 2, files untouched), a failed
cell that does not stop the study, and resuming."""
from __future__ import annotations

import hashlib
import os
import sqlite3

import pytest
from study_helpers import TINY, cli, write_spec

from fracturelab.errors import FracturelabError
from fracturelab.study.records import FAILED, CellResult, Outcome
from fracturelab.study.spec import PROFILES, parse_spec, profile
from fracturelab.study.store import Store, check_store


def _digest(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", PROFILES)
def test_profiles_parse_and_plan(name):
    spec = profile(name)
    cells = spec.cells(available_probes=())
    keys = [c.key for c in cells]
    assert len(keys) == len(set(keys)) > 0
    assert {c.kind for c in cells} == {"task", "cppn"}
    assert spec.cells(available_probes=()) == cells  # stable: the same keys every time


def test_cells_are_typed_records_that_round_trip():
    from fracturelab.study.cell import CppnCell, TaskCell, cell_from_params

    cells = profile("quick").cells(available_probes=())
    assert all(isinstance(c, (TaskCell, CppnCell)) for c in cells)
    assert [cell_from_params(c.params()) for c in cells] == cells
    assert {c.regime for c in cells if c.kind == "cppn"} == {"reference", "sgd", "init"}


def test_probe_options_reach_the_probe_on_trained_and_initial_nets(monkeypatch):
    """A spec's probe_options become the probe's settings dataclass, for the trained net and the one at init."""
    import dataclasses

    from fracturelab import probes
    from fracturelab.probes.geometry import GeometrySettings
    from fracturelab.study.cell import run_cell

    seen = []

    def spy(model, data, config, seed=0, checkpoints=None, settings=None):
        seen.append(settings)
        return {"n": 1.0}

    monkeypatch.setitem(probes.PROBES, "geometry", dataclasses.replace(probes.PROBES["geometry"], fn=spy))
    spec = parse_spec(TINY.replace("probes = []", 'probes = ["geometry"]\nprobe_options = { geometry = '
                                   '{ max_examples = 7 } }'))
    cell = next(c for c in spec.cells() if c.kind == "task")
    out = run_cell(cell)
    assert seen == [GeometrySettings(max_examples=7)] * 2  # trained, then at initialization
    assert out.metrics["geometry.n"] == out.metrics["init.geometry.n"] == 1.0
    assert parse_spec(TINY).cells()[0].key != cell.key  # the options are part of the cell's identity


def test_task_entries_may_name_their_own_regimes_and_seeds():
    text = TINY + '\n[[tasks]]\nname = "factors"\nmodels = ["mlp"]\nregimes = ["bimt"]\nseeds = [5, 6, 7]\n'
    cells = [c for c in parse_spec(text).cells() if c.kind == "task"]
    assert {(c.task, c.regime, c.seed) for c in cells} == (
        {("leave_square_out", "scratch", s) for s in (0, 1)} | {("factors", "bimt", s) for s in (5, 6, 7)})
    with pytest.raises(FracturelabError, match=r"tasks\[factors\]\.regimes: unknown regime 'nope'"):
        parse_spec(text.replace('["bimt"]', '["nope"]'))


def test_task_entries_may_name_their_own_scales():
    scales = '\n[[scales]]\nname = "base"\n\n[[scales]]\nname = "small"\nmodel_options = { mlp = { hidden = 16 } }\n'
    text = TINY.replace("[cppn]", '[[tasks]]\nname = "factors"\nmodels = ["mlp"]\nscales = ["small"]\n\n[cppn]') + scales
    cells = [c for c in parse_spec(text).cells() if c.kind == "task"]
    assert sorted({(c.task, c.scale, c.model_options.get("hidden")) for c in cells}) == [
        ("factors", "small", 16), ("leave_square_out", "base", None), ("leave_square_out", "small", 16)]
    with pytest.raises(FracturelabError, match=r"tasks\[factors\]\.scales: unknown scale 'large'"):
        parse_spec(text.replace('scales = ["small"]', 'scales = ["large"]'))


def test_analysis_settings_checked():
    with pytest.raises(FracturelabError, match="sesoi"):
        parse_spec(TINY + '\n[analysis]\nsesoi = { "99" = 0.1 }\n')
    with pytest.raises(FracturelabError, match="alpha"):
        parse_spec(TINY + '\n[analysis]\nalpha = 0.7\n')
    assert parse_spec(TINY + '\n[analysis]\nsesoi = { "2" = 0.2 }\n').analysis.sesoi == {"2": 0.2}


def test_spec_errors_name_the_key():
    with pytest.raises(FracturelabError, match="unknown key 'colour'"):
        parse_spec(TINY + "\ncolour = 1\n")
    with pytest.raises(FracturelabError, match=r"tasks\[0\]: unknown key 'modles'"):
        parse_spec('[[tasks]]\nname = "lookup"\nmodles = ["mlp"]\n')
    with pytest.raises(FracturelabError, match="unknown regime"):
        parse_spec('regimes = ["nope"]\n[[tasks]]\nname = "lookup"\n')
    with pytest.raises(FracturelabError, match=r"seeds=\['a'\]: expected tuple\[int, \.\.\.\]"):
        parse_spec('seeds = ["a"]\n[[tasks]]\nname = "lookup"\n')
    with pytest.raises(FracturelabError, match="not valid TOML"):
        parse_spec("seeds = [")


def test_cli_unknown_spec_key_exits_2(tmp_path):
    spec = write_spec(tmp_path, TINY.replace("probes = []", "probes = []\nbogus = 1"))
    r = cli("study", spec, "-o", tmp_path / "out")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "unknown key 'bogus'" in r.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["not_sqlite", "foreign", "corrupt"])
def test_foreign_or_corrupt_store_refused_untouched(tmp_path, kind):
    out = tmp_path / "out"
    out.mkdir()
    db = out / "results.sqlite"
    if kind == "not_sqlite":
        db.write_bytes(b"hello, this is not a database\n" * 10)
    elif kind == "foreign":
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE cells(x)")
        con.execute("INSERT INTO cells VALUES (1)")
        con.commit()
        con.close()
    else:
        db.write_bytes(b"SQLite format 3\x00" + os.urandom(4000))
    before = _digest(db)
    with pytest.raises(FracturelabError):
        check_store(db)
    for args in (("study", write_spec(tmp_path), "-o", out), ("report", out)):
        r = cli(*args)
        assert r.returncode == 2, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "results.sqlite" in r.stderr
    assert _digest(db) == before
    assert sorted(p.name for p in out.iterdir()) == ["results.sqlite"]  # no WAL, no report written beside it


def test_unwritable_outdir_exits_2(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    r = cli("study", write_spec(tmp_path), "-o", blocker / "out")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    r = cli("study", write_spec(tmp_path), "-o", blocker)
    assert r.returncode == 2 and "not a folder" in r.stderr
    if os.geteuid() != 0:  # root writes anywhere: the permission case only means something for other users
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            r = cli("study", write_spec(tmp_path), "-o", ro / "out")
            assert r.returncode == 2 and "not writable" in r.stderr
        finally:
            ro.chmod(0o700)
    assert blocker.read_text() == "x"


def test_store_one_transaction_per_cell(tmp_path):
    spec = parse_spec(TINY)
    cells = spec.cells(available_probes=())
    with Store(tmp_path / "r.sqlite") as st:
        sid = st.add_study("t", "d", spec.to_dict(), {"keys": [c.key for c in cells]})
        st.register_cells(sid, [c.params() for c in cells])
        st.register_cells(sid, [c.params() for c in cells])  # idempotent
        key = cells[0].key
        outcome = Outcome(key, True, 1.0, CellResult({"a": 1.0, "b": 2.0}, [
            {"split": "test_id", "idx": 0, "correct": 1, "meta_json": "{}"}]))
        st.finish(outcome)
        st.finish(outcome)  # a cell finished twice never duplicates its rows
        assert st.counts()["metrics"] == 2 and st.counts()["examples"] == 1
        assert st.status()[key] == "done" and st.counts()["cells"] == len(cells)

        def boom(*a):
            raise RuntimeError("disk on fire")
        st.con.con.create_function("boom", 1, boom)
        with pytest.raises(FracturelabError, match="r.sqlite"):
            with st.tx():
                st.con.execute("INSERT INTO metrics VALUES (?, 'c', 3.0)", (cells[1].key,))
                st.con.execute("SELECT boom(1)")
        assert st.counts()["metrics"] == 2  # the half-written cell rolled back


@pytest.mark.slow
def test_failed_cell_recorded_and_study_goes_on(tmp_path):
    # a failure only the generated data shows (lookup's 1-bit tables hold too few in-distribution examples): the spec
    # check passes it, the cell fails
    bad = TINY.replace("[cppn]", '[[tasks]]\nname = "lookup"\nmodels = ["mlp"]\n'
                                 'options = { max_steps = 10, n_bits = 1, n_funcs = 2, train_lengths = [1, 2], '
                                 'n_heldout_pairs = 1, n_test = 100 }\n\n[cppn]')
    bad = bad.replace("replicas = 2", "replicas = 0")
    out = tmp_path / "out"
    r = cli("study", write_spec(tmp_path, bad), "-o", out, "--workers", "2")
    assert r.returncode == 0, r.stderr
    with Store(out / "results.sqlite", create=False) as st:
        cells = st.cells()
    failed = [c for c in cells if c.status == FAILED]
    assert len(failed) == 2 and all("in-distribution" in c.error for c in failed)
    assert sum(c.done for c in cells) == len(cells) - 2
    assert "in-distribution" in (out / "report.html").read_text()
    r = cli("study", write_spec(tmp_path, bad), "-o", out, "--workers", "1")  # resumes: only the failed ones again
    assert "2 run now, 2 failed" in r.stdout


def test_run_cli_errors_are_one_line(tmp_path):
    blocker = tmp_path / "f"
    blocker.write_text("x")
    for args in (("run", "-o", blocker), ("run", "--profile", "huge"), ("run", "--workers", "0", "-o", tmp_path / "o"),
                 ("run", "-o", tmp_path / "o", "--picbreeder", tmp_path / "nowhere"), ("report", tmp_path)):
        r = cli(*args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    assert not (tmp_path / "o").exists()
