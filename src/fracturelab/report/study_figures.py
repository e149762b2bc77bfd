"""The study report's figures that belong to no single claim (each claim draws its own: study/claims/), as base64
PNG strings, and the view of a study that every figure draws from (drawable)."""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..study import names as N
from ..study.claims.drawing import COLOURS, b64, empty, interval_bars, new_figure

PLOT_MAX = 1e300
"""The largest magnitude a figure draws. A store's REAL column holds finite values up to 1.8e308, but matplotlib's axis
arithmetic (its margins, its tick steps) overflows near there ("arange: cannot compute length"), and sums and
differences of such values are infinite: a value beyond it is left out of the figures (the tables show it)."""


def _huge(v) -> bool:
    return isinstance(v, float) and abs(v) > PLOT_MAX


def _nan_huge(v, n: list):
    """v with every float beyond PLOT_MAX in its dicts, lists and tuples replaced by NaN (drawn as no point, no
    bar), each counted in n."""
    if _huge(v):
        n.append(v)
        return math.nan
    if isinstance(v, dict):
        return {k: _nan_huge(x, n) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_nan_huge(x, n) for x in v]
    return v


def drawable(res, claims: list[dict]) -> tuple[object, list[dict], int]:
    """What the figures draw from: `res` (study.results.StudyResults) and the summary's `claims` with each value
    beyond PLOT_MAX (a metric, or an estimate derived from one) made NaN, and how many were (0: the figures show
    everything the tables do)."""
    n: list = []
    return dataclasses.replace(res, rows=_nan_huge(res.rows, n)), _nan_huge(claims, n), len(n)


def task_accuracy(rows: list[dict]) -> str:
    """Per task, each trained model's OOD against ID accuracy (colour: regime, marker: model)."""
    tasks = sorted({r["task"] for r in rows if r["kind"] == "task"})
    if not tasks:
        return empty("no task cells finished")
    regimes = sorted({r["regime"] for r in rows if r["kind"] == "task"})
    fig = new_figure((3.4 * len(tasks), 3.2))
    axes = np.atleast_1d(fig.subplots(1, len(tasks)))
    markers = "os^Dvx"
    for ax, task in zip(axes, tasks):
        rs = [r for r in rows if r["task"] == task]
        models = sorted({r["model"] for r in rs})
        for r in rs:
            ax.scatter(r[N.ID_ACC], r[N.OOD_ACC], c=COLOURS[regimes.index(r["regime"]) % 7],
                       marker=markers[models.index(r["model"]) % 6], s=30, alpha=0.8)
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set(title=task, xlabel="ID accuracy", ylabel="OOD accuracy", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
        for i, m in enumerate(models):
            ax.scatter([], [], c="grey", marker=markers[i % 6], label=m)
    for i, g in enumerate(regimes):
        axes[0].scatter([], [], c=COLOURS[i % 7], label=g)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return b64(fig)


def cppn_costs(rows: list[dict]) -> str:
    """Per cost a CPPN cell measured (extrapolation, completion, adaptation), each replica's cost against its
    effective-dimension ratio, one colour per reference."""
    reps = [r for r in rows if r["kind"] == "cppn" and r["regime"] != "reference"]
    costs = [c for c in (N.EXTRAPOLATION_MSE, N.COMPLETION_MSE, N.ADAPT_STEPS)
             if any(c in r for r in reps)]
    if not reps or not costs:
        return empty("CPPN costs: none measured")
    fig = new_figure((3.2 * len(costs), 3))
    axes = np.atleast_1d(fig.subplots(1, len(costs)))
    refs = sorted({r["reference"] for r in reps})
    for ax, c in zip(axes, costs):
        for i, ref in enumerate(refs):
            rs = [r for r in reps if r["reference"] == ref and c in r and N.EFFECTIVE_DIM_RATIO_MEAN in r]
            ax.scatter([r[N.EFFECTIVE_DIM_RATIO_MEAN] for r in rs], [r[c] for r in rs], s=20,
                       c=COLOURS[i % 7], label=ref)
        ax.set(xlabel="effective-dim ratio (mean)", ylabel=c.removeprefix(N.CPPN))
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return b64(fig)


def claim_effects(claims: list[dict]) -> str:
    """Each claim's effect and interval at its corrected level (summary.json's claims), labelled with its SESOI."""
    return interval_bars(
        [{"effect": c["effect"] if c["effect"] is not None else math.nan, "id": c["id"],
          "ci": [x if x is not None else math.nan for x in c["ci"]], "sesoi": c["sesoi"]} for c in claims],
        lambda i: f"claim {i['id']} (±{i['sesoi']:g})", "effects at the corrected level", "effect")
