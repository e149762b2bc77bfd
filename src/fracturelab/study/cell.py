"""One cell of a study: a pure function from its params to rows.

    result = run_cell(params)   # {"metrics": {name: float}, "examples": [row, ...], "notes": {...}}

A task cell trains one model (fracturelab.train.train_run into a temporary run folder), reads its per-example results,
and runs the spec's probes through fracturelab.probes.run_probes. A CPPN cell measures a reference network or one
SGD replica of it (cppn_part). The numbers depend only on the params: seeds come from params["seed"], torch runs on
params["threads"] threads with deterministic algorithms, and no wall-clock limit is ever set (timings live in the
store's cells table, never among the metrics, so two runs of a study compare equal).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path

EXAMPLE_COLUMNS = ("nn_dist", "seen_frac", "depth", "width", "length")
"""Per-example metadata kept as columns for the regressions (NULL where a task has no such field)."""
NOT_TESTS = ("train", "val")
"""results.csv rows of these splits are not test examples; every other split is kept (test_id, test_ood and a
task's extra sets such as ood_hard, which is where some tasks vary complexity)."""


def cell_key(params: dict) -> str:
    """Stable identity of a cell: a hash of its params (the "key" entry itself excluded)."""
    body = {k: v for k, v in params.items() if k != "key"}
    return hashlib.sha1(json.dumps(body, sort_keys=True, default=list).encode()).hexdigest()[:16]


def setup_worker(threads: int = 1) -> None:
    """Pin a worker's threads (so workers x threads never exceeds the cores) and make torch deterministic."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)


def _float(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _example_rows(results_csv: Path) -> list[dict]:
    from ..train import read_csv

    rows = []
    for r in read_csv(results_csv):
        if r["split"] in NOT_TESTS:
            continue
        row = {"split": r["split"], "idx": int(r["index"]), "correct": int(r["correct"])}
        row |= {c: _float(r.get(c)) for c in EXAMPLE_COLUMNS}
        extra = {k: _float(v) for k, v in r.items()
                 if k not in ("split", "index", "correct", "prediction", "target", "src", *EXAMPLE_COLUMNS)}
        row["meta_json"] = json.dumps({k: v for k, v in extra.items() if v is not None}, sort_keys=True)
        rows.append(row)
    return rows


def _task_cell(p: dict) -> dict:
    from ..train import load_run, train_run

    with tempfile.TemporaryDirectory(prefix="fracturelab-cell-") as d:
        out = Path(d) / "run"
        options = dict(p["options"])
        if p["checkpoints"]:
            options["checkpoints"] = tuple(p["checkpoints"])
        m = train_run(p["task"], p["split"], p["model"], p["regime"], p["seed"], out,
                      model_options=p["model_options"] or None, threads=p["threads"], **options)
        metrics = {f"train.{k}": float(m[k]) for k in ("train_acc", "val_acc", "id_acc", "ood_acc", "steps",
                                                         "best_step", "n_params")}
        metrics["train.gap"] = metrics["train.id_acc"] - metrics["train.ood_acc"]
        notes = {"model": m["model"], "split": m["split"], "sizes": m["sizes"]}
        examples = _example_rows(out / "results.csv")
        if p["probes"]:
            from ..probes import run_checkpoints, run_probes

            model, data, config = load_run(out)
            ckpts = run_checkpoints(out, config)  # step 0 (the initialization) and every saved checkpoint
            found = run_probes(model, data, config, names=list(p["probes"]), seed=p["seed"],
                               checkpoints=ckpts or None)
            notes["skipped"] = {}
            for probe, values in found.items():
                if "skipped" in values:
                    notes["skipped"][probe] = str(values["skipped"])
                    continue
                for k, v in values.items():
                    f = _float(v)
                    if f is not None and not isinstance(v, bool):
                        metrics[f"{probe}.{k}"] = f
    return {"metrics": metrics, "examples": examples, "notes": notes}


def run_cell(params: dict) -> dict:
    """Run one cell in this process (threads pinned first)."""
    setup_worker(int(params.get("threads", 1)))
    if params["kind"] == "task":
        return _task_cell(params)
    if params["kind"] == "cppn":
        from .cppn_part import cppn_cell

        return cppn_cell(params)
    raise ValueError(f"unknown cell kind {params['kind']!r}")


def execute(params: dict) -> dict:
    """run_cell for an executor: never raises, so one bad cell cannot stop the study; the error travels as a line."""
    import time
    import traceback

    t0, c0 = time.perf_counter(), time.process_time()
    try:
        out = run_cell(params)
        # CPU seconds of the cell (this process only): what it costs on an idle core, however busy the machine is
        out["notes"]["cpu_seconds"] = round(time.process_time() - c0, 2)
        return {"key": params["key"], "ok": True, "result": out, "seconds": time.perf_counter() - t0}
    except Exception as e:  # noqa: BLE001 - any failure of a cell is data, recorded in the store
        last = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
        where = f" (at {Path(last.filename).name}:{last.lineno})" if last else ""
        msg = f"{type(e).__name__}: {e}".splitlines()[0] + where
        return {"key": params["key"], "ok": False, "error": msg, "seconds": time.perf_counter() - t0}
