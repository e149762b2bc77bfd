"""Run a study end to end: check the output folder and the store, register the cells, run those not done (progress
on stderr), record each as it finishes, then decide the verdicts (summary.json). The report is rendered by the
caller (cli), from the summary: study/ never imports report/.

    run_study(profile("quick"), "out", ExecSettings(workers=2))   # -> out/results.sqlite, out/summary.json
"""
from __future__ import annotations

import dataclasses
import importlib.util
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import FracturelabError
from ..io import prepare_output_dir
from ..provenance import NOTE, collect, source_id
from .executors import EXECUTORS, MAX_WORKERS, ExecSettings, connected, run_jobs, threads_per_worker
from .jobs import jobs
from .records import DONE
from .results import load_study, sources
from .spec import StudySpec
from .store import STORE, Store, check_store
from .verdicts import SUMMARY, write_summary


def plan(spec: StudySpec, picbreeder=None, warn=True) -> list:
    """The spec's cells, with probes that are not installed dropped (and said so once)."""
    avail: tuple[str, ...] = ()
    if spec.probes:
        from ..probes import PROBES

        avail = tuple(PROBES)
    missing = [p for p in spec.probes if p not in avail]
    if missing and warn:
        print(f"fracturelab: note: probes {', '.join(missing)} skipped (not registered in fracturelab.probes); "
              "claims needing them will be inconclusive", file=sys.stderr)
    return spec.cells(picbreeder, available_probes=avail)


def _source(picbreeder) -> str | None:
    """Where the study's Picbreeder networks came from, as stored and shown in the report (None: left out)."""
    if picbreeder is False:
        return None
    return "fracturelab's shipped copy" if picbreeder is None else str(picbreeder)


def check_executor(execution: ExecSettings) -> None:
    """Refuse, before anything is created, an executor that cannot run here: an unknown one, or ray when it is not
    installed (the executor itself finds out only when the first cells are sent, after the store was made)."""
    if execution.executor not in EXECUTORS:
        raise FracturelabError(f"unknown executor {execution.executor!r} (executors: {', '.join(EXECUTORS)})")
    if execution.executor == "ray" and importlib.util.find_spec("ray") is None:
        raise FracturelabError("--executor ray needs ray: pip install 'fracturelab[ray]'")
    if execution.workers > MAX_WORKERS:
        raise FracturelabError(f"--workers: at most {MAX_WORKERS} worker processes, got {execution.workers}")


def check_picbreeder(spec: StudySpec, picbreeder) -> None:
    """A --picbreeder DIR is a folder holding every network the spec's cppn.picbreeder names, each inside it (so a
    missing one fails here, not in its cell after the others ran)."""
    if picbreeder in (None, False):
        return
    if not Path(picbreeder).is_dir():
        raise FracturelabError(f"{picbreeder}: not a folder (--picbreeder takes the Picbreeder data folder)")
    root = Path(picbreeder).resolve()
    for rel in spec.cppn.picbreeder if spec.cppn is not None else ():
        p = Path(picbreeder) / rel
        if not p.resolve().is_relative_to(root):
            raise FracturelabError(f"spec.cppn.picbreeder: {rel!r} points outside the --picbreeder folder {picbreeder}")
        if not p.exists():
            raise FracturelabError(f"{p}: no such file or folder (spec.cppn.picbreeder {rel!r} in --picbreeder "
                                   f"{picbreeder})")


def _first_missing(path) -> Path | None:
    """The outermost folder of PATH that does not exist yet (what creating PATH creates), or None."""
    p, top = Path(path).absolute(), None
    while not p.exists() and p != p.parent:
        p, top = p.parent, p
    return top


@contextmanager
def _removed_on_failure(created: Path | None):
    """While a study starts: if starting fails, the folder it created (`created`, from _first_missing; None: it
    created none) is removed again, so a study that cannot start (a full disk) leaves no folder behind."""
    try:
        yield
    except BaseException:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise


def open_outdir(outdir) -> Path:
    """The output folder, created if needed; fails with one line if it cannot be written."""
    out = prepare_output_dir(outdir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FracturelabError(f"{out}: cannot create ({e.strerror})") from None
    return out


def _claimed(store: Store, cells: list, progress: bool, how: str = "", poll: float = 2.0):
    """Yield batches of cells this process has claimed (store.claim: no other process computes them), until every
    cell is done or failed: first every cell not done, then any whose claiming process died. While another live
    study in the same folder computes the rest, wait for it, so the report is written over every cell."""
    keys = [c.key for c in cells]
    by_key = {c.key: c for c in cells}
    retry_failed, told = True, False
    while True:
        mine = store.claim(keys, retry_failed=retry_failed)
        retry_failed = False  # a cell that failed in this run stays failed until the next run
        if progress and (mine or not told):
            done = sum(s == DONE for s in store.status(keys).values())
            print(f"fracturelab: study: {len(cells)} cells, {done} already done, {len(mine)} to run here on "
                  f"{how}", file=sys.stderr)
        if mine:
            yield [by_key[k] for k in mine]
            continue
        others = store.claimed_elsewhere(keys)
        if not others:
            return
        if progress and not told:
            pids = sorted({o.split(":")[1] for o in others.values()})
            print(f"fracturelab: waiting for {len(others)} cells that another study on this folder (pid "
                  f"{', '.join(pids)}) is computing", file=sys.stderr)
        told = True
        time.sleep(poll)


def _refuse_mixing(store: Store, keys: list[str], allow: bool) -> None:
    """Refuse (one line) to resume a study whose done cells were computed by another source identity than this
    process's (provenance.source_id), unless `allow` (--allow-mixed-versions; summary.json and the report flag it)."""
    done = sources(store.cells(keys))
    here = source_id()
    other = {s: n for s, n in done.items() if s != here}
    if other and not allow:
        which = ", ".join(f"{n} by {s}" for s, n in other.items())
        raise FracturelabError(f"{store.path}: {sum(other.values())} of its {sum(done.values())} done cells were "
                               f"computed by other fracturelab code ({which}; this is {here}): resuming would mix "
                               "versions; pass --allow-mixed-versions to mix them (flagged in the report) or choose "
                               "another output folder")


def _stamped(outcome):
    """The outcome with its cell's notes naming the source identity that computed it (provenance.NOTE): the
    worker's where it recorded one, else this process's, whose files the local workers import."""
    if not outcome.ok or NOTE in outcome.result.notes:
        return outcome
    return dataclasses.replace(outcome, result=dataclasses.replace(
        outcome.result, notes=outcome.result.notes | {NOTE: source_id()}))


def run_study(spec: StudySpec, outdir, execution: ExecSettings | None = None, picbreeder=None,
              progress: bool = True, force: bool = False, allow_mixed_versions: bool = False) -> dict:
    """Run (or resume) the study into outdir; returns {"cells", "ran", "failed", "summary", "claims"}. An outdir
    that holds files but no results store is someone else's: refused unless force. picbreeder: None = the shipped
    Picbreeder networks, a folder = that folder's, False = none (see StudySpec.cells). A resumed study whose done
    cells other code computed is refused before any work unless allow_mixed_versions (_refuse_mixing)."""
    execution = execution or ExecSettings()
    check_executor(execution)
    check_picbreeder(spec, picbreeder)
    store_path, kind = Path(outdir) / STORE, None
    if store_path.exists():
        kind = check_store(store_path)  # refuse a foreign store before touching anything else in the folder
    elif not force and Path(outdir).is_dir():  # another program's report.html or summary.json is not ours to replace
        theirs = sorted(p.name for p in Path(outdir).iterdir() if not p.name.startswith((STORE, f".{STORE}.")))
        if theirs:
            raise FracturelabError(f"{outdir}: holds {', '.join(theirs[:3])} but no {STORE}: not a study's folder; "
                                   "choose another or pass --force")
    workers = min(execution.resolved_workers(), MAX_WORKERS)
    # threads per worker: the spec's, but never so many that workers x threads oversubscribes the cores
    threads = min(spec.threads, threads_per_worker(workers))
    cells = plan(dataclasses.replace(spec, threads=threads), picbreeder, warn=progress)  # before the folder is made
    if kind == "ok":  # read-only (nothing created beside it), so a refused resume leaves the folder as it was
        with Store(store_path, create=False) as old:
            _refuse_mixing(old, [c.key for c in cells], allow_mixed_versions)
    with connected(execution, min(workers, max(1, len(cells))), threads):  # a cluster not reached: no folder made
        return _run(spec, outdir, execution, picbreeder, progress, cells, workers, threads)


def _run(spec, outdir, execution, picbreeder, progress, cells, workers, threads) -> dict:
    """run_study's work once everything was checked: make the folder and store, register and run the cells."""
    with _removed_on_failure(_first_missing(outdir)):
        out = open_outdir(outdir)
        store = Store(out / STORE)
    with store:
        sid = store.add_study(spec.name, spec.digest(), spec.to_dict(),
                              {"picbreeder": _source(picbreeder), "executor": execution.executor,
                               "workers": workers, "threads": threads, "keys": [c.key for c in cells],
                               "provenance": collect(threads, execution.executor, workers)})
        store.register_cells(sid, [c.params() for c in cells])
        failed, ran = 0, 0
        how = f"{execution.executor} with {workers} workers x {threads} thread(s)"
        for todo in _claimed(store, cells, progress, how):
            ran += len(todo)
            bar = tqdm(total=len(todo), desc="cells", disable=not progress, file=sys.stderr, smoothing=0)
            work = jobs(todo, cells, spec.population)
            for outcome in run_jobs(work, ExecSettings(execution.executor, workers, execution.address)):
                store.finish(_stamped(outcome))
                if not outcome.ok:
                    failed += 1
                    tqdm.write(f"fracturelab: cell {outcome.key} failed: {outcome.error}", file=sys.stderr)
                bar.update(1)
            bar.close()
    summary = write_summary(out, load_study(out))
    return {"cells": len(cells), "ran": ran, "failed": failed, "summary": out / SUMMARY,
            "store": out / STORE, "claims": summary["claims"], "summary_data": summary}
