"""Claim 2: fracture predicts failure on novel compositions beyond in-distribution accuracy. Over learned runs with
OOD accuracy and fracture probes: Fisher's z of the partial Spearman correlation, within configurations (task x model
x scale), of the fracture composite (measures.composite) with OOD error given test_id accuracy, the composite at
initialization and regime; per task, and each fracture component of measures.COMPONENTS alone that the study measured,
those out of the composite too (breakdown "component")."""
from __future__ import annotations

import math

import numpy as np

from ..measures import COMPONENTS, TASK_COMPOSITE, _missing, cluster, composite, config, learned
from ..names import ID_ACC, OOD_ACC
from ..stats import Estimate, codes, estimate, partial_rank_corr
from .drawing import interval_bars
from .base import Claim

MIN_RUNS = 6
"""Fewest learned runs with fracture probes (in all, and per component) that a correlation is computed on."""


def claim2(rows, examples, s) -> Estimate:
    rs, caveats = learned(rows, s)
    rs = [r for r in rs if OOD_ACC in r]
    f, f0 = composite(rs), composite(rs, at_init=True)
    keep = [i for i in range(len(rs)) if f[i] is not None]
    rs = [rs[i] for i in keep]
    f, f0 = [f[i] for i in keep], [f0[i] for i in keep]
    if len(rs) < MIN_RUNS:
        return _missing(caveats, f"{len(rs)} learned runs with fracture probes (claim 2 needs {MIN_RUNS} at least)")
    strata = [config(r) for r in rs]
    cfg, regimes = codes(strata), codes([r["regime"] for r in rs])
    err = np.array([1 - r[OOD_ACC] for r in rs])
    covs = [np.array([r[ID_ACC] for r in rs])]
    if all(v is not None for v in f0):
        covs.append(np.array(f0))
    else:
        caveats.append("fracture at initialization not measured on every run: not partialled out")

    def stat(idx, f=np.array(f)):  # Fisher's z: the jackknife of a correlation is far closer to normal on this scale
        return float(np.arctanh(np.clip(partial_rank_corr(f[idx], err[idx], [c[idx] for c in covs], cfg[idx],
                                                          regimes[idx]), -0.999999, 0.999999)))
    est = estimate(stat, [cluster(r) for r in rs], [r["task"] for r in rs])
    per_task = {}
    for t in sorted({r["task"] for r in rs}):
        i = [k for k, r in enumerate(rs) if r["task"] == t]
        per_task[t] = {"effect": stat(np.array(i)), "n": len(i)}
    comps = {}
    for name, sign, _ in COMPONENTS:  # every component alone, in the composite or not (fracture.py)
        i = [k for k, r in enumerate(rs) if r.get(name) is not None]
        if len(i) >= MIN_RUNS:
            v = np.array([sign * rs[k][name] if rs[k].get(name) is not None else np.nan for k in range(len(rs))])
            comps[name] = {"effect": stat(np.array(i), f=v), "n": len(i)}
    est.breakdown = {"task": per_task, "component": comps}
    est.caveats = caveats + est.caveats + [f"{len(set(map(str, strata)))} configurations; OOD error is ranked "
                                           "within each, given test_id accuracy, fracture at initialization and "
                                           "regime"]
    return est


def draw(res, entry: dict) -> str:
    """Each fracture component alone: its Fisher z with OOD error (the claim's breakdown "component"); those in the
    composite marked "(in composite)"."""
    comp = entry["breakdown"].get("component", {})
    inside = {m for m, _, _ in TASK_COMPOSITE}
    return interval_bars([{"effect": v["effect"] if v["effect"] is not None else math.nan,
                           "ci": [math.nan, math.nan], "name": k + (" (in composite)" if k in inside else "")}
                          for k, v in comp.items()],
                         lambda i: i["name"], "claim 2 by component (partial Spearman with OOD error)", "r")


CLAIM = Claim(
    2, "fracture predicts failure on novel compositions beyond what in-distribution accuracy predicts",
    "the open question (Greff et al. 2020; FER)",
    "Fisher z of the partial Spearman correlation, within configurations, of a fixed fracture composite (dead "
    "units out of every component) with OOD error given test_id accuracy, the composite at initialization, and "
    "regime",
    "task x seed (every run of one task and seed shares its data)",
    "the same networks at initialization (partialled out), and each component reported alone",
    "a network whose learned fracture is unrelated to its OOD failure gives 0 whatever its architecture, "
    "since the architecture's own contribution is removed with the value at initialization",
    0.1, claim2, "fig-corr", draw,
    "each fracture component alone, partial Spearman with OOD error (within configurations, given ID accuracy, "
    "init and regime)",
    "Does fracture predict failure on novel compositions, component by component?")
