"""One cell of a study: a pure function from a typed record (TaskCell or CppnCell) to rows.

    result = run_cell(cell)   # records.CellResult(metrics={name: float}, examples=[row, ...], notes={...})

A task cell trains one model (fracturelab.train.train_run into a temporary run folder), reads its per-example results,
and runs the spec's probes through fracturelab.probes.probe_trained_and_init, on the trained model and (as "init.<probe>.<name>")
on the same network at initialization, the control every fracture measure is read against (names.py declares the
metric names). A CPPN cell measures a reference network, one SGD replica of it, or an untrained net (cppn_part). The
numbers depend only on the record: seeds come from its seed, torch runs on its threads with deterministic algorithms,
and no wall-clock limit is ever set (timings live in the store's cells table, never among the metrics, so two runs of
a study compare equal).
The store keeps a cell as its params dict (`params()`); `cell_from_params` types it back.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .names import GAP, ID_ACC, INIT, OOD_ACC, TRAIN, TRAIN_FIELDS, WIDTH
from .records import CellResult, Outcome

EXAMPLE_COLUMNS = ("nn_dist", "seen_frac", "depth", "width", "length")
"""Per-example metadata kept as columns for the regressions (NULL where a task has no such field)."""
NOT_TESTS = ("train", "val")
"""results.csv rows of these splits are not test examples; every other split is kept (test_id, test_ood and a
task's extra sets such as ood_hard, which is where some tasks vary complexity)."""
TEXT_COLUMNS = ("error",)
"""results.csv text columns kept in an example's meta_json (every other meta field is kept only as a number): the
binding task's answer type (train.evaluate)."""


def cell_key(params: dict) -> str:
    """Stable identity of a cell: a hash of its params (the "key" entry itself excluded)."""
    body = {k: v for k, v in params.items() if k != "key"}
    return hashlib.sha1(json.dumps(body, sort_keys=True, default=list).encode()).hexdigest()[:16]


class _Cell:
    def params(self) -> dict:
        """The JSON-able dict the store keeps, with "kind" and "key"."""
        d = {"kind": self.kind, **dataclasses.asdict(self)}
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d | {"key": cell_key(d)}

    @property
    def key(self) -> str:
        return self.params()["key"]


@dataclass(frozen=True)
class TaskCell(_Cell):
    """One training run of a task model, then its probes."""

    task: str
    """Task name (fracturelab.tasks.TASKS)."""
    split: str | None
    """Split (None: the task's default)."""
    model: str | None
    """Model (None: the task's default)."""
    regime: str
    """Training regime (fracturelab.train.REGIMES)."""
    scale: str
    """The spec's scale label."""
    seed: int
    """Training seed (init and data order)."""
    model_options: dict = field(default_factory=dict)
    """Model settings of the scale."""
    options: dict = field(default_factory=dict)
    """train_run options of the task entry."""
    probes: tuple = ()
    """Probes to run on the trained model (and those whose ProbeSpec.at_init is set on the initial one)."""
    checkpoints: tuple = ()
    """Training steps to checkpoint for the probes."""
    threads: int = 1
    """torch threads."""
    probe_options: dict = field(default_factory=dict)
    """{probe: {setting: value}} where not the probe's defaults (probes.probe_settings)."""
    kind = "task"


@dataclass(frozen=True)
class CppnCell(_Cell):
    """A reference CPPN, or one net made from it by `regime` (sgd, init, sgd_arch)."""

    reference: str
    """Built-in name, genome file or net folder."""
    regime: str
    """reference, sgd, init or sgd_arch (spec.CPPN_REGIMES)."""
    seed: int
    """Seed of the replica's initialization."""
    res: int
    """Training and measuring resolution."""
    steps: int
    """SGD steps."""
    lr: float
    """Adam learning rate."""
    costs: bool
    """Also measure extrapolation, completion and adaptation."""
    adapt_steps: int
    """Adaptation budget."""
    wide: float
    """Extrapolation window half-width."""
    alt_arch: str | None = None
    """Architecture of an sgd_arch replica."""
    threads: int = 1
    """torch threads."""
    kind = "cppn"


def cell_from_params(p: dict) -> TaskCell | CppnCell:
    """A stored params dict -> its typed record (lists back to tuples)."""
    cls = {"task": TaskCell, "cppn": CppnCell}[p["kind"]]
    names = {f.name for f in dataclasses.fields(cls)}
    kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in p.items() if k in names}
    return cls(**kw)


THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
"""Environment variables that fix a BLAS/OpenMP library's thread count when the library loads. They must be in a
worker's environment before it starts: numpy reads them when it is imported, which in a spawned worker happens while
the pickled task is unpickled, before any initializer runs (executors.worker_env)."""


def thread_env(threads: int) -> dict:
    """{variable: threads} for every THREAD_VARS entry."""
    return {v: str(threads) for v in THREAD_VARS}


def setup_worker(threads: int = 1) -> None:
    """Pin a worker's threads (so workers x threads never exceeds the cores) and make torch deterministic.

    The environment covers libraries loaded from now on; threadpoolctl limits those already loaded (a worker started
    without executors.worker_env, or numpy imported before this call)."""
    os.environ.update(thread_env(threads))
    from threadpoolctl import threadpool_limits
    import torch

    threadpool_limits(limits=threads)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)


def worker_threads() -> dict:
    """{"torch": torch's intra-op threads, "<api>:<library file>": threads, ...} for every library threadpoolctl
    finds loaded in this process: what a worker really runs on (kept in each cell's notes)."""
    from threadpoolctl import threadpool_info
    import torch

    out = {"torch": torch.get_num_threads()}
    for lib in threadpool_info():
        out[f"{lib['internal_api']}:{Path(lib['filepath']).name}"] = int(lib["num_threads"])
    return out


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
        extra = {k: (v or None) if k in TEXT_COLUMNS else _float(v) for k, v in r.items()
                 if k not in ("split", "index", "correct", "prediction", "target", "src", *EXAMPLE_COLUMNS)}
        row["meta_json"] = json.dumps({k: v for k, v in extra.items() if v is not None}, sort_keys=True)
        rows.append(row)
    return rows


def _probe_metrics(found: dict, prefix: str, metrics: dict, skipped: dict) -> None:
    for probe, values in found.items():
        if "skipped" in values:
            skipped[probe] = str(values["skipped"])
            continue
        for k, v in values.items():
            f = _float(v)
            if f is not None and not isinstance(v, bool):
                metrics[f"{prefix}{probe}.{k}"] = f


def _task_cell(p: TaskCell) -> CellResult:
    import time

    from ..train import train_run

    with tempfile.TemporaryDirectory(prefix="fracturelab-cell-") as d:
        out = Path(d) / "run"
        c0 = time.process_time()
        m = train_run(p.task, p.split, p.model, p.regime, p.seed, out,
                      model_options=p.model_options or None, threads=p.threads, **train_options(p))
        return measured(p, out, m, time.process_time() - c0)


def train_options(p: TaskCell) -> dict:
    """The flat train_run options of a task cell: its task entry's, and its checkpoints; no curve.png (the run
    folder is temporary)."""
    options = {"plot": False, **p.options}
    if p.checkpoints:
        options["checkpoints"] = tuple(p.checkpoints)
    return options


CPU_NOTE = "cpu_parts"
"""A task cell's note: its CPU seconds by part, {"training": s (data, training, scoring and the run folder; a
population's shared equally by its members), "probe.<name>": s (on the trained net and at initialization), ...}."""


def model_width(model: str, settings: dict) -> int | None:
    """names.WIDTH of a run's model from its config.json model_settings: the mlp's hidden width (every hidden layer
    has it), the transformer's d_model, the CPPN's widest layer, each after `scale`; None for another model."""
    from ..models.cppn import CPPNSettings
    from ..models.transformer import TransformerSettings

    if model == "mlp":
        return max(1, round(settings["hidden"] * settings.get("scale", 1.0)))
    if model == "transformer":
        return TransformerSettings(**settings).width()
    if model == "cppn":
        return CPPNSettings(**settings).scaled_arch().width
    return None


def measured(p: TaskCell, out: Path, m: dict, train_cpu: float) -> CellResult:
    """A trained task cell's rows: its training metrics (m, train_run's), its model's width, the binding metrics of
    a binding run (per_example.binding_metrics), the test examples of its run folder `out`, and its probes on the
    trained network and at initialization; train_cpu: the CPU seconds its training took."""
    from .per_example import binding_metrics

    metrics = {TRAIN + k: float(m[k]) for k in TRAIN_FIELDS}
    metrics[GAP] = metrics[ID_ACC] - metrics[OOD_ACC]
    config = json.loads((out / "config.json").read_text())
    width = model_width(config["model"], config["model_settings"])
    if width is not None:
        metrics[WIDTH] = float(width)
    notes = {"model": m["model"], "split": m["split"], "sizes": m["sizes"]}
    examples = _example_rows(out / "results.csv")
    metrics |= binding_metrics([e | {"meta": json.loads(e["meta_json"])} for e in examples])
    spent: dict = {}
    if p.probes:
        from ..probes import probe_trained_and_init

        trained, at_init = probe_trained_and_init(out, list(p.probes), p.seed, p.probe_options, spent)
        notes["skipped"] = {}
        _probe_metrics(trained, "", metrics, notes["skipped"])
        _probe_metrics(at_init, INIT, metrics, {})
    notes[CPU_NOTE] = {"training": round(train_cpu, 2)} | {f"probe.{k}": round(v, 2) for k, v in spent.items()}
    return CellResult(metrics, examples, notes)


def run_cell(cell: TaskCell | CppnCell) -> CellResult:
    """Run one cell in this process (threads pinned first)."""
    setup_worker(cell.threads)
    if isinstance(cell, TaskCell):
        return _task_cell(cell)
    from .cppn_part import cppn_cell

    return cppn_cell(cell)


def execute(cell: TaskCell | CppnCell) -> Outcome:
    """run_cell for an executor: never raises, so one bad cell cannot stop the study; the error travels as a line."""
    import time

    t0, c0 = time.perf_counter(), time.process_time()
    try:
        out = run_cell(cell)
    except Exception as e:  # noqa: BLE001 - any failure of a cell is data, recorded in the store
        return failed(cell, e, time.perf_counter() - t0)
    return finished(cell, out, time.perf_counter() - t0, time.process_time() - c0)


def finished(cell, out: CellResult, seconds: float, cpu_seconds: float) -> Outcome:
    """A cell's outcome with the notes every cell keeps: its CPU seconds (this process only: what it costs on an idle
    core, however busy the machine is), the threads it really ran on and the code that computed it (a Ray node may
    run other code)."""
    from ..provenance import NOTE as SOURCE, source_id

    notes = out.notes | {"cpu_seconds": round(cpu_seconds, 2), "threads": worker_threads(), SOURCE: source_id()}
    return Outcome(cell.key, True, seconds, result=dataclasses.replace(out, notes=notes))


def failed(cell, e: Exception, seconds: float) -> Outcome:
    """A cell's outcome when it raised: the error's kind, first line and where it was raised, as one line."""
    import traceback

    last = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
    where = f" (at {Path(last.filename).name}:{last.lineno})" if last else ""
    msg = f"{type(e).__name__}: {e}".splitlines()[0] + where
    return Outcome(cell.key, False, seconds, error=msg)
