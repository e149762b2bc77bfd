"""Statistics of a study, read generically from the store.

- correlations: each fracture metric (a spec name "probe.metric", "-name" when higher means LESS fractured) against
  OOD accuracy and against the ID-OOD gap, also partial on ID accuracy; Spearman, with a bootstrap over seeds
  (within each task x model x regime x scale group the seeds are resampled with replacement).
- variance: each fracture metric's variance split over regime, model (architecture), scale and task: the unique R^2
  share of each factor (R^2 of all main effects minus R^2 without that factor), the rest residual (mostly seeds).
- examples: per task, a logistic regression of per-example correctness on standardized novelty and complexity,
  with a bootstrap over cells.
- sparsity against novelty, and the CPPN part: each CPPN fracture metric against extrapolation, completion and
  adaptation across replicas.
Everything returns plain dicts; missing data gives n = 0, never an exception.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict

import numpy as np

FACTORS = ("regime", "model", "scale", "task")
NOVELTY = ("nn_dist", "seen_frac")       # seen_frac enters as 1 - seen_frac: less seen = more novel
COMPLEXITY = ("depth", "length", "width")


def signed(name: str) -> tuple[str, float]:
    return (name[1:], -1.0) if name.startswith("-") else (name, 1.0)


def rows_of(cells: list[dict], metrics: dict) -> list[dict]:
    """Flat rows: the cell's params (task, model, regime, scale, seed, ...) plus its metrics, done cells only."""
    out = []
    for c in cells:
        if c["status"] != "done" or c["key"] not in metrics:
            continue
        p = c["params"]
        row = {"key": c["key"], "kind": p["kind"], "seed": p["seed"], "regime": p["regime"]}
        if p["kind"] == "task":
            row |= {"task": p["task"], "model": c["notes"].get("model") or p["model"], "scale": p["scale"]}
        else:
            row |= {"task": "cppn", "model": c["notes"].get("reference", p["reference"]), "scale": "-",
                    "reference": c["notes"].get("reference", p["reference"])}
        out.append(row | metrics[c["key"]])
    return out


def rankdata(a) -> np.ndarray:
    """Ranks 1..n, ties given their average rank (as scipy.stats.rankdata; scipy.stats is slow to import)."""
    a = np.asarray(a, float)
    r = np.empty(len(a))
    r[a.argsort(kind="mergesort")] = np.arange(1, len(a) + 1)
    _, inv, counts = np.unique(a, return_inverse=True, return_counts=True)
    return (np.bincount(inv, r) / counts)[inv]


def _logit_fit(X: np.ndarray, y: np.ndarray, ridge: float = 1e-4, iters: int = 50) -> np.ndarray:
    """Logistic regression coefficients (intercept first) by Newton's method with a tiny ridge (keeps separable data
    finite); a few small predictors, so this is exact and fast."""
    A = np.c_[np.ones(len(y)), X]
    b = np.zeros(A.shape[1])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(A @ b, -30, 30)))
        g = A.T @ (y - p) - ridge * np.r_[0, b[1:]]
        H = (A * (p * (1 - p))[:, None]).T @ A + ridge * np.diag(np.r_[0, np.ones(len(b) - 1)])
        step = np.linalg.solve(H + 1e-9 * np.eye(len(b)), g)
        b += step
        if np.abs(step).max() < 1e-8:
            break
    return b


def value(row: dict, name: str):
    base, sign = signed(name)
    v = row.get(base)
    return None if v is None else sign * v


def spearman(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


def partial_spearman(x, y, z) -> float:
    """Spearman of x and y after removing a linear fit on z's ranks from both ranks."""
    x, y, z = (rankdata(np.asarray(v, float)) for v in (x, y, z))
    if len(x) < 4 or np.ptp(z) == 0:
        return spearman(x, y)
    A = np.c_[np.ones_like(z), z]
    rx = x - A @ np.linalg.lstsq(A, x, rcond=None)[0]
    ry = y - A @ np.linalg.lstsq(A, y, rcond=None)[0]
    if np.ptp(rx) < 1e-12 or np.ptp(ry) < 1e-12:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def group_of(row: dict) -> tuple:
    return tuple(row.get(f) for f in ("kind", "task", "model", "regime", "scale"))


def bootstrap(rows: list[dict], stat, n_boot: int, ci: float, seed: int, group=group_of) -> dict:
    """stat(rows) -> float; its value, a percentile interval from resampling rows (seeds) within groups, and n."""
    est = stat(rows) if rows else math.nan
    out = {"effect": est, "ci": [math.nan, math.nan], "n": len(rows)}
    if not rows or not math.isfinite(est):
        return out
    groups = defaultdict(list)
    for r in rows:
        groups[group(r)].append(r)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        sample = [g[i] for g in groups.values() for i in rng.integers(0, len(g), len(g))]
        b = stat(sample)
        if math.isfinite(b):
            boots.append(b)
    if len(boots) >= n_boot // 2:
        a = (1 - ci) / 2
        out["ci"] = [float(np.quantile(boots, a)), float(np.quantile(boots, 1 - a))]
    return out


def _complete(rows, *names):
    return [r for r in rows if all(value(r, n) is not None for n in names)]


def correlations(rows: list[dict], fracture: list[str], s) -> list[dict]:
    """Per fracture metric: Spearman with ood_acc, with the gap, and partial with ood_acc given id_acc."""
    out = []
    for m in fracture:
        rs = _complete([r for r in rows if r["kind"] == "task"], m, "train.ood_acc", "train.id_acc")
        for target, fn in (
                ("ood_acc", lambda rr: spearman([value(r, m) for r in rr], [r["train.ood_acc"] for r in rr])),
                ("gap", lambda rr: spearman([value(r, m) for r in rr], [r["train.gap"] for r in rr])),
                ("ood_acc | id_acc", lambda rr: partial_spearman([value(r, m) for r in rr],
                                                                 [r["train.ood_acc"] for r in rr],
                                                                 [r["train.id_acc"] for r in rr]))):
            out.append({"metric": m, "target": target, **bootstrap(rs, fn, s.n_boot, s.ci, s.seed)})
    return out


def _r2(y: np.ndarray, X: np.ndarray) -> float:
    if X.shape[1] == 0:
        return 0.0
    A = np.c_[np.ones(len(y)), X]
    res = y - A @ np.linalg.lstsq(A, y, rcond=None)[0]
    tot = ((y - y.mean()) ** 2).sum()
    return float(1 - (res ** 2).sum() / tot) if tot > 0 else math.nan


def _dummies(rows, factors):
    cols = []
    for f in factors:
        levels = sorted({str(r[f]) for r in rows})
        cols += [[float(str(r[f]) == lv) for r in rows] for lv in levels[1:]]
    return np.array(cols, float).T if cols else np.zeros((len(rows), 0))


def variance_shares(rows: list[dict], metric: str) -> dict:
    """{factor: unique R^2 share, "residual": 1 - R^2(all), "n"} over task cells with the metric."""
    rs = _complete([r for r in rows if r["kind"] == "task"], metric)
    if len(rs) < 4:
        return {"n": len(rs)}
    y = np.array([value(r, metric) for r in rs])
    varying = [f for f in FACTORS if len({str(r[f]) for r in rs}) > 1]
    full = _r2(y, _dummies(rs, varying))
    if not math.isfinite(full):
        return {"n": len(rs)}
    out = {f: (max(0.0, full - _r2(y, _dummies(rs, [g for g in varying if g != f]))) if f in varying else 0.0)
           for f in FACTORS}
    return out | {"residual": 1 - full, "n": len(rs)}


def _pick(examples: list[dict], names, flip=("seen_frac",)) -> tuple[str | None, np.ndarray | None]:
    for n in names:
        v = np.array([e[n] if e[n] is not None else np.nan for e in examples], float)
        if np.isfinite(v).all() and np.ptp(v) > 0:
            return n, (1 - v if n in flip else v)
    return None, None


def _z(v):
    return (v - v.mean()) / (v.std() or 1.0)


def logistic(examples: list[dict]) -> dict | None:
    """Standardized coefficients of novelty and complexity on correctness (None when either does not vary)."""
    nov_name, nov = _pick(examples, NOVELTY)
    cmp_name, cmp = _pick(examples, COMPLEXITY)
    y = np.array([e["correct"] for e in examples])
    if nov is None or cmp is None or len(set(y)) < 2:
        return {"novelty": nov_name, "complexity": cmp_name, "n": len(examples)} if examples else None
    b = _logit_fit(np.c_[_z(nov), _z(cmp)], y.astype(float))
    return {"novelty": nov_name, "complexity": cmp_name, "beta_novelty": float(b[1]), "beta_complexity": float(b[2]),
            "n": len(examples)}


def example_regressions(rows: list[dict], by_cell: dict, s) -> dict:
    """Per task: logistic(...) on all its cells' test examples (by_cell: cell key -> its example rows), and a
    bootstrap of |b_nov| - |b_cmp| over cells."""
    out = {}
    for task in sorted({r["task"] for r in rows if r["kind"] == "task"}):
        cells = [r for r in rows if r["task"] == task and r["kind"] == "task" and by_cell.get(r["key"])]
        fit = logistic([e for r in cells for e in by_cell[r["key"]]])
        if fit is None:
            continue
        if "beta_novelty" in fit:
            def stat(rr):
                f = logistic([e for r in rr for e in by_cell[r["key"]]])
                return abs(f["beta_novelty"]) - abs(f["beta_complexity"]) if f and "beta_novelty" in f else math.nan
            fit["contrast"] = bootstrap(cells, stat, min(s.n_boot, 200), s.ci, s.seed, group=lambda r: r["task"])
        fit["cells"] = len(cells)
        fit["by_novelty"] = _binned(cells, by_cell, fit["novelty"])
        out[task] = fit
    return out


def _binned(cells, by_cell, name, bins=5) -> list[list[float]]:
    """[(novelty bin centre, accuracy, count)] of the pooled examples, for the figure."""
    if name is None:
        return []
    ex = [e for r in cells for e in by_cell[r["key"]] if e[name] is not None]
    v = np.array([e[name] for e in ex], float)
    y = np.array([e["correct"] for e in ex], float)
    edges = np.unique(np.quantile(v, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:
        return []
    idx = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, len(edges) - 2)
    return [[float(v[idx == i].mean()), float(y[idx == i].mean()), int((idx == i).sum())]
            for i in range(len(edges) - 1) if (idx == i).any()]


def seen_contrast(examples_by_cell: dict, rows: list[dict]) -> list[dict]:
    """Per task cell with seen_frac: accuracy on fully seen examples (seen_frac = 1) minus the rest."""
    out = []
    for r in rows:
        ex = [e for e in examples_by_cell.get(r["key"], []) if e["seen_frac"] is not None]
        seen = [e["correct"] for e in ex if e["seen_frac"] >= 1]
        unseen = [e["correct"] for e in ex if e["seen_frac"] < 1]
        if seen and unseen:
            out.append(r | {"acc_seen": float(np.mean(seen)), "acc_unseen": float(np.mean(unseen))})
    return out


def cppn_costs(rows: list[dict], fracture: list[str], s) -> list[dict]:
    """Across SGD replicas: Spearman of each CPPN fracture metric with each cost."""
    reps = [r for r in rows if r["kind"] == "cppn" and r["regime"] != "reference"]
    out = []
    for m in fracture:
        for cost in ("cppn.extrapolation_mse", "cppn.completion_mse", "cppn.adapt_steps"):
            rs = _complete(reps, m, cost)
            out.append({"metric": m, "cost": cost, **bootstrap(
                rs, lambda rr: spearman([value(r, m) for r in rr], [r[cost] for r in rr]), s.n_boot, s.ci, s.seed,
                group=lambda r: r["regime"])})
    return out


def analyze(cells: list[dict], metrics: dict, examples: list[dict], spec) -> dict:
    s = spec.analysis
    rows = rows_of(cells, metrics)
    by_cell = defaultdict(list)
    for e in examples:
        by_cell[e["cell_key"]].append(e)
    fracture = list(s.fracture_metrics)
    present = [m for m in fracture if any(value(r, m) is not None for r in rows if r["kind"] == "task")]
    return {"rows": rows, "fracture": fracture, "fracture_present": present,
            "correlations": correlations(rows, present, s),
            "variance": {m: variance_shares(rows, m) for m in present},
            "examples": example_regressions(rows, by_cell, s),
            "seen": seen_contrast(by_cell, [r for r in rows if r["kind"] == "task"]),
            "cppn_costs": cppn_costs(rows, list(s.cppn_fracture_metrics), s),
            "failed": [{"key": c["key"], "error": c["error"], "params": json.dumps(c["params"], sort_keys=True)}
                       for c in cells if c["status"] == "failed"]}
