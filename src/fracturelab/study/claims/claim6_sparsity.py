"""Claim 6 (Jin et al. 2026): activations get sparser on less familiar inputs, beyond what the untrained network
does. Per learned run, the Hoyer sparsity gap of the last hidden layer (OOD minus ID) after training minus at
initialization; the runs' mean over configurations, its interval over task x seed clusters."""
from __future__ import annotations

import numpy as np

from .. import analysis as A
from ..measures import _mean_over_runs, _missing, learned
from ..names import HOYER_GAP_FINAL, HOYER_GAP_INIT
from ..stats import Estimate
from .drawing import COLOURS, b64, empty, fmt, new_figure
from .base import Claim, Row, Table

FINAL, INIT = HOYER_GAP_FINAL, HOYER_GAP_INIT
"""The Hoyer OOD - ID gap of the last hidden layer after training, and at initialization (probes/sparsity)."""


def claim6(rows, examples, s) -> Estimate:
    rs, caveats = learned(rows, s)
    rs = [r for r in rs if FINAL in r and INIT in r]
    if len(rs) < 2:
        return _missing(caveats, "no learned run with the sparsity gap at initialization and after training")
    est = _mean_over_runs(rs, [r[FINAL] - r[INIT] for r in rs], s, caveats)
    est.control = {"gap_at_init": float(np.mean([r[INIT] for r in rs])),
                   "gap_trained": float(np.mean([r[FINAL] for r in rs]))}
    return est


def gap_scatter(rows: list[dict], x, y, xlabel: str, ylabel: str, what: str) -> str:
    """Per run, its Hoyer gap x(row) against y(row) (a run where either is None is left out), one colour per task,
    with the diagonal; `what` names the missing data when no run has both."""
    pts = [(r["task"], x(r), y(r)) for r in rows]
    pts = [p for p in pts if p[1] is not None and p[2] is not None]
    if not pts:
        return empty(f"sparsity: no {what} in the store")
    fig = new_figure((4, 3.6))
    ax = fig.subplots()
    for i, t in enumerate(sorted({p[0] for p in pts})):
        own = [p for p in pts if p[0] == t]
        ax.scatter([p[1] for p in own], [p[2] for p in own], s=20, c=COLOURS[i % 7], label=t)
    v = [p[1] for p in pts] + [p[2] for p in pts]
    ax.plot([min(v), max(v)], [min(v), max(v)], "k:", lw=0.8)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return b64(fig)


def draw(res, entry: dict) -> str:
    """Per run: the gap at initialization (x) against after training (y)."""
    return gap_scatter(res.rows, lambda r: r.get(INIT), lambda r: r.get(FINAL), "OOD - ID Hoyer gap, at initialization",
                       "after training", "sparsity gap at initialization and after training")


def table(res, entry: dict) -> Table:
    """The trained gap per layer (analysis.per_layer_sparsity)."""
    layers = A.per_layer_sparsity(res.rows, res.spec.analysis)
    rows = [Row([("", t), ("", ly), ("", fmt(v[0])), ("", fmt(v[1]))])
            for t, d in layers.items() for ly, v in d.items()]
    return Table("sparsity-table", "Sparsity and familiarity, per layer",
                 "Hoyer sparsity OOD − ID of each layer after training, mean over learned runs.",
                 ["task", "layer", "OOD − ID Hoyer gap (trained)", "runs"], rows, "no per-layer sparsity measured")


CLAIM = Claim(
    6, "activations get sparser on less familiar inputs, beyond what the untrained network does",
    "Jin et al. 2026",
    "Hoyer sparsity of the last hidden layer (transformers: after the final norm, as Jin et al.), OOD minus ID, "
    "after training minus at initialization",
    "task x seed (every run of one task and seed shares its data)",
    "the same gap at initialization (the inputs alone can differ in sparsity)",
    "a network that does not sparsify unfamiliar inputs keeps its initial gap: 0",
    0.01, claim6, "fig-sparsity", draw, "Hoyer OOD − ID gap, trained against at initialization, per run",
    "Do unfamiliar inputs get sparser activations than the untrained network gives them?", table=table)
