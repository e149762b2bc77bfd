"""What the claims' measures share: the fracture composites (the task models', TASK_COMPOSITE, and the fracture
components each reported alone, COMPONENTS, are declared in fracture.py with their planted-structure rule),
the independent unit, which runs count, and the mean over configurations with its interval. Each claim's own measure
is in its module of study/claims/.

The rules every measure follows (each claim's module states its measure, unit, control and reason in words):
- claims about trained task models use only runs that *learned*: test_id accuracy >= `learned_id_acc`. A run that
  did not learn its task says nothing about what learning does (the caveats count those left out);
- fracture on task models is read relative to the same network at initialization (the metric's *learned* part,
  final - init, same seed and architecture), so what the architecture alone produces never counts as an effect;
- a configuration is task x model x scale; a claim's effect weighs configurations equally;
- the independent unit is the *cluster* (`cluster`): every run of one task and seed shares that seed's task data
  (and, per regime, its initial weights), so those runs are one unit; the interval deletes whole clusters, nested in
  their task (stats.estimate).
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from ..fracture import COMPONENTS, TASK_COMPOSITE  # noqa: F401 (the claims read them from here)
from . import names as N
from .stats import Estimate, config_mean, estimate, missing

CPPN_COMPOSITE = (
    (N.EFFECTIVE_DIM_RATIO_MEAN, 1.0, "FER: a fractured net spreads the image over many unaligned maps, so its "
     "layers span more dimensions per unit than a unified net's"),
    (N.SYMMETRIC_FRACTION, -1.0, "FER: the evolved nets' maps keep the image's left-right symmetry inside the "
     "net; a fractured net draws a symmetric image from maps that are not"),
    (N.ROUGHNESS, 1.0, "FER: fractured maps change abruptly where a unified net's vary smoothly"),
)
"""The fracture metrics on CPPNs (claim 1), each (store name, sign so that + = more fractured, reason). None of them
counts units, so none saturates at an architecture's unit count (FER's novel-map count does: every unit of a
generic net draws a novel map)."""

AT_INIT = {N.NCUT_REL: 1.0}
"""Fracture metrics whose value at initialization is known without measuring it (see probes.ProbeSpec.at_init)."""


def init_value(r: dict, name: str):
    """A component's value at initialization: measured ("init.<name>") or known (AT_INIT)."""
    v = r.get(N.init_name(name))
    return AT_INIT.get(name) if v is None and r.get(name) is not None else v


CLUSTER = "task x seed"
"""The independent unit of claims on task models: one task's seed, with every run that shares its data."""


def config(r: dict) -> tuple:
    return (r["task"], r["model"], r["scale"])


def cluster(r: dict) -> tuple:
    """The independent unit a row belongs to: (task, seed) for task runs and pairs of them (a seed's task data, and
    per regime its initial weights, are shared by all its runs), the reference for CPPNs."""
    return ("cppn", r["reference"]) if r.get("kind") == "cppn" else (r["task"], r["seed"])


def learned(rows: list[dict], s) -> tuple[list[dict], list[str]]:
    """Task rows whose run learned its task in distribution, and a caveat naming how many did not."""
    tasks = [r for r in rows if r["kind"] == "task" and N.ID_ACC in r]
    ok = [r for r in tasks if r[N.ID_ACC] >= s.learned_id_acc]
    left = len(tasks) - len(ok)
    return ok, ([f"{left} of {len(tasks)} runs left out: test_id accuracy below {s.learned_id_acc:g} "
                 "(they did not learn the task)"] if left else [])


def _missing(caveats: list, why: str, unit: str = CLUSTER) -> Estimate:
    est = missing(why, unit)
    est.caveats = list(caveats)
    return est


def _by_task(rows, values) -> dict:
    per = defaultdict(list)
    for r, v in zip(rows, values):
        per[r["task"]].append(v)
    return {t: {"effect": float(np.mean(v)), "n": len(v)} for t, v in sorted(per.items())}


def _mean_over_runs(rows: list[dict], values: list[float], s, caveats, unit=CLUSTER,
                    runs_per_row: int = 1) -> Estimate:
    """The mean over configurations of the rows' values, its interval over (task, seed) clusters nested in tasks.
    rows: dicts with task, model, scale and seed (runs, or pairs of runs: runs_per_row = 2)."""
    if len(rows) < 2:
        return _missing(caveats, f"{len(rows)} row(s) with the data this claim needs", unit)
    est = estimate(config_mean(values, [config(r) for r in rows]), [cluster(r) for r in rows],
                   [r["task"] for r in rows], unit=unit)
    est.runs *= runs_per_row
    est.breakdown = {"task": _by_task(rows, values)}
    est.caveats = caveats + est.caveats
    return est


# -- shared by the claims on task models ---------------------------------------------------------------------------

def composite(rows: list[dict], at_init: bool = False) -> list[float | None]:
    """Per row: mean over TASK_COMPOSITE's components present of the signed value (after training, or at
    initialization), z-scored within the row's task (components are on different scales and apply to different
    tasks)."""
    z = [[] for _ in rows]
    for name, sign, _ in TASK_COMPOSITE:
        val = [init_value(r, name) if at_init else r.get(name) for r in rows]
        by_task = defaultdict(list)
        for i, r in enumerate(rows):
            if val[i] is not None:
                by_task[r["task"]].append(i)
        for idx in by_task.values():
            v = np.array([sign * val[i] for i in idx])
            sd = v.std()
            for i, x in zip(idx, v):
                z[i].append((x - v.mean()) / sd if sd > 0 else 0.0)
    return [float(np.mean(v)) if v else None for v in z]


def r2(y: np.ndarray, A: np.ndarray) -> float:
    res = y - A @ np.linalg.lstsq(A, y, rcond=None)[0]
    tot = ((y - y.mean()) ** 2).sum()
    return 1 - (res ** 2).sum() / tot if tot > 0 else math.nan


def dummies(c: np.ndarray) -> np.ndarray:
    levels = np.unique(c)
    return (c[:, None] == levels[None, 1:]).astype(float)
