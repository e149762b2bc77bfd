"""The typed records a study passes between its parts: plain frozen data, no behaviour beyond reading itself.

    CellResult   what one cell computes (cell.run_cell, in a worker): its metrics, test examples, notes and blobs;
    Outcome      what an executor yields for one cell (cell.execute): its result, or the error line that failed it;
    StoredCell   what the store holds about one cell (Store.cells): its params, status, timing, notes or error.

Records cross process boundaries (a local pool, Ray), so they hold only picklable plain data. Metric names are in
names.py; the store's schema is in store.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
STATUSES = (DONE, FAILED, PENDING, RUNNING)
"""A stored cell's status: registered and not yet claimed, claimed by a live (or dead) process, finished with its
rows, or finished with an error. summary.json counts the cells of each, in this order."""

RENDER_PNG, ARCH_TXT, PARAMS_NPY = "render.png", "arch.txt", "params.npy"
"""Blob names of a CPPN cell: a small PNG of its net's render (the report's gallery), and its net's arch string and
flat float32 weights as a .npy file (the report's explorer rebuilds the net from them)."""


@dataclass(frozen=True)
class CellResult:
    """What one cell computed: rows for the store, never timings (the store times cells), so two runs compare equal."""

    metrics: dict[str, float]
    """{metric name (names.py): finite value}."""
    examples: list[dict] = field(default_factory=list)
    """One row per test example of a task cell: split, idx, correct, cell.EXAMPLE_COLUMNS and meta_json."""
    notes: dict = field(default_factory=dict)
    """Free-form JSON facts about the run (the resolved model, the probes skipped, threads, CPU seconds, Ray node)."""
    blobs: dict[str, bytes] = field(default_factory=dict)
    """{blob name: bytes} (RENDER_PNG, ARCH_TXT, PARAMS_NPY for a CPPN cell; none for a task cell)."""


@dataclass(frozen=True)
class Outcome:
    """One cell's outcome as an executor yields it: `result` when ok, else the one-line `error`."""

    key: str
    """The cell's key (cell.cell_key)."""
    ok: bool
    """Whether the cell ran to the end."""
    seconds: float
    """Wall-clock seconds the cell took in its worker (0 when the worker died)."""
    result: CellResult | None = None
    """What it computed (None when not ok)."""
    error: str | None = None
    """Why it failed, one line (None when ok)."""


@dataclass(frozen=True)
class StoredCell:
    """One row of the store's cells table, as read back."""

    key: str
    """The cell's key."""
    params: dict
    """The cell's params (cell.params(); cell.cell_from_params types them back)."""
    status: str
    """One of STATUSES."""
    seconds: float | None = None
    """Wall-clock seconds of its last run (None: never finished)."""
    error: str | None = None
    """Why its last run failed (None unless FAILED)."""
    notes: dict = field(default_factory=dict)
    """The notes of its last finished run (CellResult.notes)."""

    @property
    def kind(self) -> str:
        """The cell's kind, "task" or "cppn" (cell.TaskCell.kind, cell.CppnCell.kind)."""
        return self.params["kind"]

    @property
    def done(self) -> bool:
        """Whether the cell finished with its rows (status DONE)."""
        return self.status == DONE
