"""Run a study end to end: check the output folder and the store, register the cells, run those not done (progress
on stderr), record each as it finishes, then decide the verdicts (summary.json). The report is rendered by the
caller (cli), from the summary: study/ never imports report/.

    run_study(profile("quick"), "out", ExecSettings(workers=2))   # -> out/results.sqlite, out/summary.json
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import FracturelabError
from ..io import prepare_output_dir
from .executors import ExecSettings, run_cells, threads_per_worker
from .spec import StudySpec
from .store import Store
from .verdicts import STORE, write_summary


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


def open_outdir(outdir) -> Path:
    """The output folder, created if needed; fails with one line if it cannot be written."""
    out = prepare_output_dir(outdir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FracturelabError(f"{out}: cannot create ({e.strerror})") from None
    return out


def run_study(spec: StudySpec, outdir, execution: ExecSettings | None = None, picbreeder=None,
              progress: bool = True) -> dict:
    """Run (or resume) the study into outdir; returns {"cells", "ran", "failed", "summary", "claims"}."""
    execution = execution or ExecSettings()
    if picbreeder is not None and not Path(picbreeder).is_dir():
        raise FracturelabError(f"{picbreeder}: not a folder (--picbreeder takes the Picbreeder data folder)")
    store_path = Path(outdir) / STORE
    if store_path.exists():
        from .store import check_store
        check_store(store_path)  # refuse a foreign store before touching anything else in the folder
    out = open_outdir(outdir)
    workers = min(execution.resolved_workers(), 64)
    # threads per worker: the spec's, but never so many that workers x threads oversubscribes the cores
    threads = min(spec.threads, threads_per_worker(workers))
    cells = plan(dataclasses.replace(spec, threads=threads), picbreeder, warn=progress)
    with Store(out / STORE) as store:
        sid = store.add_study(spec.name, spec.digest(), spec.to_dict(),
                              {"picbreeder": str(picbreeder) if picbreeder else None, "executor": execution.executor,
                               "workers": workers, "threads": threads, "keys": [c.key for c in cells]})
        store.register_cells(sid, [c.params() for c in cells])
        status = store.status([c.key for c in cells])
        todo = [c for c in cells if status[c.key] != "done"]
        if progress:
            print(f"fracturelab: study {spec.name!r}: {len(cells)} cells, {len(cells) - len(todo)} already done, "
                  f"{len(todo)} to run on {execution.executor} with {min(workers, max(1, len(todo)))} workers x "
                  f"{threads} thread(s)", file=sys.stderr)
        failed = 0
        store.mark_running([c.key for c in todo])
        bar = tqdm(total=len(todo), desc="cells", disable=not progress, file=sys.stderr, smoothing=0)
        for outcome in run_cells(todo, ExecSettings(execution.executor, workers, execution.address)):
            store.finish(outcome["key"], outcome)
            if not outcome["ok"]:
                failed += 1
                tqdm.write(f"fracturelab: cell {outcome['key']} failed: {outcome['error']}", file=sys.stderr)
            bar.update(1)
        bar.close()
    summary = write_summary(out)
    return {"cells": len(cells), "ran": len(todo), "failed": failed, "summary": out / "summary.json",
            "store": out / STORE, "claims": summary["claims"], "summary_data": summary}
