"""Typed results end to end: a cell's CellResult, an executor's Outcome and the store's StoredCell; the study read once
(results.load_study) and nothing after it opening the store; `fracturelab report OUT -o ELSEWHERE` writing the
explorer beside the report that links to it (issue 29: it used to reopen ELSEWHERE's store, found none, and left the
link out)."""
from __future__ import annotations

import dataclasses
import json
import pickle
import sqlite3

from study_helpers import synthetic_store

from fracturelab.cli import main
from fracturelab.report.explorer import STUDY_EXPLORER, write_study_explorer
from fracturelab.study.cell import CppnCell, run_cell
from fracturelab.study.measures import CPPN_COMPOSITE
from fracturelab.study.names import CPPN_N_PARAMS, FIT_MSE, NOVEL_MAPS
from fracturelab.study.records import ARCH_TXT, PARAMS_NPY, RENDER_PNG, STATUSES, CellResult, Outcome
from fracturelab.study.results import load_study
from fracturelab.study.store import STORE, Store
from fracturelab.study.verdicts import summarize


def _replica_blobs(outdir):
    """Store two face replicas' nets as cppn_part stores them (the synthetic store has metrics, not nets): the first
    whole, the second with damaged weights. Returns the first's key."""
    from fracturelab.cppn.builtins import builtin_net
    from fracturelab.cppn.nets import encoded

    face = builtin_net("face")
    con = sqlite3.connect(outdir / STORE)
    good, bad = [k for k, p in con.execute("SELECT key, params_json FROM cells")
                 if json.loads(p).get("reference") == "face" and json.loads(p).get("regime") == "sgd"][:2]
    con.executemany("INSERT INTO blobs VALUES (?, ?, ?)", [(k, ARCH_TXT, str(face.arch).encode()) for k in (good, bad)])
    con.execute("INSERT INTO blobs VALUES (?, ?, ?)", (good, PARAMS_NPY, encoded(dataclasses.replace(face, params=face.params * 0.5), face.render(8))[2]))
    con.execute("INSERT INTO blobs VALUES (?, ?, ?)", (bad, PARAMS_NPY, b"not a .npy file"))
    con.commit()
    con.close()
    return good


def test_report_elsewhere_writes_the_explorer_beside_it(tmp_path, capsys):
    study, elsewhere = tmp_path / "study", tmp_path / "elsewhere"
    synthetic_store(study)
    assert main(["report", str(study), "-o", str(elsewhere), "-q"]) == 0
    report = (elsewhere / "report.html").read_text()
    assert 'href="explorer.html"' in report[report.index('id="cppn"'):]
    assert (elsewhere / STUDY_EXPLORER).is_file() and not (study / STUDY_EXPLORER).exists()
    assert str(elsewhere / STUDY_EXPLORER) in capsys.readouterr().out


def test_the_explorer_never_opens_the_store(tmp_path):
    synthetic_store(tmp_path / "study")
    key = _replica_blobs(tmp_path / "study")
    res = load_study(tmp_path / "study")
    (tmp_path / "study" / STORE).unlink()  # everything the explorer shows was read at load
    page = write_study_explorer(res, tmp_path / "dest").read_text()
    data = json.loads(page[page.index('type="application/json">') + 24:page.index("</script>")])
    names = [n["name"] for n in data["nets"]]
    net = next(n for n in res.nets if n.key == key)
    assert f"{net.name} sgd seed {net.seed}" in names
    # the references, and the one replica with a whole net (the damaged one is left out, the page still written)
    assert len(names) == len({n.reference for n in res.nets}) + 1


def test_stored_cells_are_the_outcomes_finished(tmp_path):
    """Each outcome finished into the store reads back as the StoredCell it describes; summary.json's counts are the
    statuses counted straight from the cells table."""
    synthetic_store(tmp_path)
    with Store(tmp_path / STORE) as st:
        keys = [c.key for c in st.cells()]
        st.finish(Outcome(keys[0], False, 2.5, error="ValueError: boom"))
        notes = {"reference": "x", "threads": {"torch": 1}}
        st.finish(Outcome(keys[1], True, 1.5, CellResult({FIT_MSE: 0.25}, notes=notes, blobs={RENDER_PNG: b"png"})))
        st.finish(Outcome(keys[2], False, 0.0, error="worker died"))
        assert st.claim([keys[2]]) == [keys[2]]  # a failed cell claimed again: running
        cells = {c.key: c for c in st.cells()}
        assert st.metrics([keys[1]]) == {keys[1]: {FIT_MSE: 0.25}} and st.blob(keys[1], RENDER_PNG) == b"png"
    bad, good = cells[keys[0]], cells[keys[1]]
    assert (bad.status, bad.error, bad.seconds, bad.done) == ("failed", "ValueError: boom", 2.5, False)
    assert (good.status, good.error, good.seconds, good.notes, good.done) == ("done", None, 1.5, notes, True)
    counts = dict(sqlite3.connect(tmp_path / STORE).execute("SELECT status, COUNT(*) FROM cells GROUP BY status"))
    summary = summarize(load_study(tmp_path))
    assert summary["cells"] == {"total": sum(counts.values()), **{s: counts.get(s, 0) for s in STATUSES}}
    assert summary["cells"]["failed"] == summary["cells"]["running"] == 1 and counts["done"] == len(keys) - 2


def test_records_cross_processes_and_a_cppn_cell_uses_the_declared_names():
    """A CPPN cell's CellResult (and its Outcome) pickles whole, as executors send it back, and holds every metric
    the claims read by its declared name."""
    cell = CppnCell(reference="face", regime="reference", seed=0, res=16, steps=1, lr=1e-3, costs=False,
                    adapt_steps=1, wide=1.0)
    out = run_cell(cell)
    assert {m for m, _, _ in CPPN_COMPOSITE} | {FIT_MSE, CPPN_N_PARAMS, NOVEL_MAPS} <= set(out.metrics)
    assert set(out.blobs) == {RENDER_PNG, ARCH_TXT, PARAMS_NPY} and out.examples == []
    outcome = Outcome(cell.key, True, 0.5, out)
    assert pickle.loads(pickle.dumps(outcome)) == outcome
