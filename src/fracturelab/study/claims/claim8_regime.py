"""Claim 8 (the open bet of this project): fracture depends more on training regime than on architecture. On tasks
where 2+ architectures and 2+ regimes learned (claim 9's intervention regimes left out: they are made to change
fracture), per task and fracture component of the composite (measures.TASK_COMPOSITE): an ANCOVA of the component
after training on its value at initialization plus regime and architecture; the effect is the chance-adjusted unique
variance share of regime minus that of architecture, mean over tasks (at each scale where both are crossed: a scale
trained in one regime or one architecture only stays out) and components, its interval over task x seed clusters."""
from __future__ import annotations

import math

import numpy as np

from .. import analysis as A
from ..measures import TASK_COMPOSITE, _missing, cluster, dummies, init_value, learned, r2
from ..names import N_PARAMS
from ..stats import Estimate, codes, estimate
from .drawing import COLOURS, b64, empty, new_figure
from .base import Claim

PARTS = ("regime", "model", "scale", "task", "residual")
"""The figure's variance shares, in stacking order (analysis.variance's factors and the residual)."""


def _adjusted_share(y: np.ndarray, full: np.ndarray, without: np.ndarray) -> float:
    """A factor's unique R^2 (full fit minus the fit without its columns) less what chance gives it: its columns'
    count times the full fit's residual R^2 per residual df (so under no effect its expected share is ~0 whatever
    the number of levels)."""
    n, p, q = len(y), np.linalg.matrix_rank(full), np.linalg.matrix_rank(without)
    if n - p < 1:
        return math.nan
    r_full = r2(y, full)
    return (r_full - r2(y, without)) - (p - q) * (1 - r_full) / (n - p)


def _shares(y: np.ndarray, y0: np.ndarray, regime: np.ndarray, model: np.ndarray) -> float:
    """ANCOVA of final fracture y on its value at initialization y0 (same seed, same network) plus regime and
    model: the chance-adjusted unique R^2 of regime minus that of model. The initial value is a covariate, never
    subtracted: final - init regresses toward the mean when architectures start apart (Lord's paradox; Senn 2006),
    which would hand architecture an effect it does not have."""
    one, dr, dm = np.ones((len(y), 1)), dummies(regime), dummies(model)
    base = np.hstack([one, y0[:, None]])
    full = np.hstack([base, dr, dm])
    return _adjusted_share(y, full, np.hstack([base, dm])) - _adjusted_share(y, full, np.hstack([base, dr]))


def claim8(rows, examples, s) -> Estimate:
    rs, caveats = learned(rows, s)
    rs = [r for r in rs if r["regime"] not in s.interventions]  # a regime made to change fracture would decide it
    def levels(ts, f):  # a (task, scale)'s levels of f: architecture and regime are crossed at one scale only
        return len({r[f] for r in rs if (r["task"], r["scale"]) == ts})
    crossed = {ts for ts in {(r["task"], r["scale"]) for r in rs}
               if levels(ts, "model") > 1 and levels(ts, "regime") > 1}
    rs = [r for r in rs if (r["task"], r["scale"]) in crossed]
    tasks = sorted({t for t, _ in crossed})
    names = [m for m, _, _ in TASK_COMPOSITE if any(r.get(m) is not None and init_value(r, m) is not None for r in rs)]
    if not tasks or not names:
        return _missing(caveats, "no task on which 2+ architectures and 2+ regimes learned, with fracture probes at "
                       "initialization and after training")
    def values(at_init):  # (runs, components), nan where either value is missing
        return np.array([[(init_value(r, m) if at_init else r[m])
                          if r.get(m) is not None and init_value(r, m) is not None else np.nan for m in names]
                         for r in rs], float)
    final, init = values(False), values(True)
    task, regime, model = (codes([r[f] for r in rs]) for f in ("task", "regime", "model"))
    group = codes([f"{r['task']}/{r['scale']}" for r in rs])
    task_names = sorted(tasks)

    def stat(idx):
        idx = np.asarray(idx)
        d = []
        for g in np.unique(group):
            sel = idx[group[idx] == g]
            for j in range(len(names)):
                i = sel[np.isfinite(final[sel, j])]
                if len(i) >= 6 and len(np.unique(regime[i])) > 1 and len(np.unique(model[i])) > 1:
                    v = _shares(final[i, j], init[i, j], regime[i], model[i])
                    if math.isfinite(v):
                        d.append(v)
        return float(np.mean(d)) if d else math.nan
    est = estimate(stat, [cluster(r) for r in rs], [r["task"] for r in rs])
    est.breakdown = {"task": {t: {"effect": stat(np.flatnonzero(task == k)), "n": int((task == k).sum())}
                              for k, t in enumerate(task_names)}}
    sizes = {r["model"]: r.get(N_PARAMS) for r in rs}
    if sizes and all(sizes.values()) and max(sizes.values()) / min(sizes.values()) > 2:
        caveats.append(f"architectures differ in size by more than 2x ({sizes})")
    est.caveats = caveats + est.caveats + [
        "fracture after training with its value at initialization as a covariate (ANCOVA), never the difference",
        "tasks (and scales) where architecture and regime are crossed: "
        + ", ".join(f"{t} ({sc})" for t, sc in sorted(crossed))]
    return est


def draw(res, entry: dict) -> str:
    """Per component, the unique R^2 share of each factor in its learned part (analysis.variance), stacked."""
    items = [(m, v) for m, v in A.variance(res.rows, res.spec.analysis).items() if "residual" in v]
    if not items:
        return empty("variance decomposition: no fracture metrics on task models")
    fig = new_figure((6.5, 0.4 * len(items) + 1.2))
    ax = fig.subplots()
    left = np.zeros(len(items))
    for i, p in enumerate(PARTS):
        w = np.array([v.get(p, 0.0) for _, v in items])
        ax.barh(range(len(items)), w, left=left, label=p, color=COLOURS[i] if p != "residual" else "lightgrey")
        left += w
    ax.set_yticks(range(len(items)), [m for m, _ in items], fontsize=7)
    ax.set(xlabel="share of variance (unique R^2)", xlim=(0, max(1.0, left.max())))
    ax.legend(fontsize=7, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    fig.tight_layout()
    return b64(fig)


CLAIM = Claim(
    8, "fracture depends more on training regime than on architecture",
    "the open bet of this project",
    "chance-adjusted unique variance share of regime minus that of architecture in an ANCOVA of each fracture "
    "component after training on its value at initialization plus regime and architecture, on tasks where "
    "both are crossed, mean over tasks and components",
    "task x seed (every run of one task and seed shares its data)",
    "the value at initialization is a covariate, never subtracted: final - init regresses toward the mean when "
    "architectures start apart, which would hand architecture an effect (placebo: final fracture that ignores "
    "architecture gives no verdict)",
    "if architecture decided fracture, its share would exceed regime's: < 0",
    0.1, claim8, "fig-variance", draw,
    "unique R² share of regime, architecture, scale, task in each component's learned part (after training − at "
    "initialization)",
    "Where does the variance of learned fracture lie: regime or architecture?",
    reworded="'and exposure' dropped: the study varies regime and architecture; exposure enters claim 7")
