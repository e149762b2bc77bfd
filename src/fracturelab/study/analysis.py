"""A study's rows and the descriptive tables its report shows beside the verdicts.

- rows_of: one flat row per finished cell (its typed record's fields plus its metrics);
- variance: each fracture component's learned part (final - init) split over regime, architecture, scale and task
  as unique R^2 shares (what claim 8 reads, pooled over tasks for the figure);
- accuracy_grid: per task, accuracy by (novelty the split manipulates, depth) over learned runs (claims 3 and 4);
- per_layer_sparsity: Hoyer OOD - ID gap per layer, trained and at initialization (claims 6 and 7).
Everything returns plain data; the verdicts are decided in verdicts.py, never here.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict

import numpy as np

from ..errors import FracturelabError
from .cell import TaskCell, cell_from_params
from .measures import TASK_COMPOSITE, dummies, init_value, learned, r2
from .names import SPARSITY_LAYER
from .per_example import novelty
from .records import FAILED, StoredCell
from .stats import codes

FACTORS = ("regime", "model", "scale", "task")


def rows_of(cells: list[StoredCell], metrics: dict) -> list[dict]:
    """Flat rows: the cell's fields (kind, task, model, regime, scale, seed, ... or reference) plus its metrics,
    done cells only."""
    out = []
    for c in cells:
        if not c.done or c.key not in metrics:
            continue
        try:
            cell = cell_from_params(c.params)
        except (KeyError, TypeError, ValueError) as e:  # a params_json edited by hand: a field missing or unknown
            raise FracturelabError(f"cells row {c.key!r} params_json: not a cell's params ({type(e).__name__}: "
                                   f"{str(e)[:80]}); the store was changed outside fracturelab") from None
        row = {"key": c.key, "kind": cell.kind, "seed": cell.seed, "regime": cell.regime}
        if isinstance(cell, TaskCell):
            row |= {"task": cell.task, "model": c.notes.get("model") or cell.model, "scale": cell.scale}
        else:
            ref = c.notes.get("reference", cell.reference)
            row |= {"task": cell.kind, "model": ref, "scale": "-", "reference": ref}
        out.append(row | metrics[c.key])
    return out


def _design(rows, factors) -> np.ndarray:
    """Intercept and the dummies of every factor's levels (the first level dropped)."""
    return np.hstack([np.ones((len(rows), 1))] + [dummies(codes([r[f] for r in rows])) for f in factors])


def variance(rows: list[dict], s) -> dict:
    """{component: {factor: unique R^2 share, "residual", "n"}} of each composite component's learned part."""
    rs, _ = learned(rows, s)
    out = {}
    for name, _, _ in TASK_COMPOSITE:
        have = [r for r in rs if r.get(name) is not None and init_value(r, name) is not None]
        if len(have) < 4:
            continue
        y = np.array([r[name] - init_value(r, name) for r in have])
        varying = [f for f in FACTORS if len({str(r[f]) for r in have}) > 1]
        full = r2(y, _design(have, varying))
        if not math.isfinite(full):
            continue
        shares = {f: (max(0.0, full - r2(y, _design(have, [g for g in varying if g != f]))) if f in varying
                      else 0.0) for f in FACTORS}
        out[name] = shares | {"residual": 1 - full, "n": len(have)}
    return out


def accuracy_grid(rows: list[dict], examples: dict, s) -> dict:
    """{task: [[novel (0/1), depth, accuracy, examples]]} pooled over learned runs' test examples."""
    rs, _ = learned(rows, s)
    out = {}
    for task in sorted({r["task"] for r in rs}):
        cnt = defaultdict(lambda: [0, 0])
        for r in rs:
            if r["task"] != task:
                continue
            for e in examples.get(r["key"], []):
                nv = novelty(e)
                if nv is None or e["depth"] is None:
                    continue
                c = cnt[(nv, e["depth"])]
                c[0] += e["correct"]
                c[1] += 1
        if cnt:
            out[task] = [[k[0], k[1], v[0] / v[1], v[1]] for k, v in sorted(cnt.items())]
    return out


def per_layer_sparsity(rows: list[dict], s) -> dict:
    """{task: {layer: [trained OOD - ID Hoyer gap (mean over learned runs), runs]}}."""
    rs, _ = learned(rows, s)
    out: dict = {}
    for r in rs:
        for k, v in r.items():
            if k.startswith(SPARSITY_LAYER) and k.endswith(".hoyer_ood") and "@all" not in k:
                layer = k[len(SPARSITY_LAYER):-len(".hoyer_ood")]
                idv = r.get(f"{SPARSITY_LAYER}{layer}.hoyer_id")
                if idv is not None:
                    out.setdefault(r["task"], {}).setdefault(layer, []).append(v - idv)
    return {t: {ly: [float(np.mean(v)), len(v)] for ly, v in d.items()} for t, d in out.items()}


def failed(cells: list[StoredCell]) -> list[dict]:
    """{key, error, params (JSON)} of every failed cell: the report's table of failures."""
    return [{"key": c.key, "error": c.error, "params": json.dumps(c.params, sort_keys=True)}
            for c in cells if c.status == FAILED]
