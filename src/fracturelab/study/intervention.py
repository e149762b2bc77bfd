"""The seed pairs behind claim 9 (study/claims/claim9_intervention.py): an intervention regime made to lower fracture
(the spec's analysis.intervention, bimt by default) against scratch, paired by seed, pooled over configurations and
per task.

A *seed pair* is the scratch and the intervention run of one task, model, scale and seed, both learned (test_id
accuracy >= learned_id_acc) and both with OOD accuracy; it is *matched* when their test_id accuracies differ by at most
match_id_acc (only matched pairs enter the check and the effect). Per pair:

- the manipulation check's unit: fracture composite (measures.composite, z-scored within task over the learned runs)
  of scratch minus intervention (+ = the intervention lowered fracture);
- the effect's unit: OOD accuracy of intervention minus scratch, read at an unchanged test_id accuracy: the pairs'
  OOD changes are regressed on their test_id changes (one slope, an intercept per configuration) and the effect is
  the mean intercept, so an intervention that only costs ID accuracy (and OOD with it) cannot pass for an OOD effect.

The check is the mean over configurations of their mean (every configuration weighs the same). Both take the
stats.estimate interval over (task, seed) clusters nested in tasks (the two leave_square_out models of one seed share
its data). The check passes when its effect is > 0 at p <= alpha; the pooled claim is inconclusive when it does not.
Per task, `breakdown["task"][task]` holds the check, the effect (interval at 1 - alpha, not corrected across tasks: a
description, not a verdict), the pairs left out and the pairs themselves (the report draws them: fig-intervention).
"""
from __future__ import annotations

import math

import numpy as np

from .measures import cluster, composite, config, learned
from .names import ID_ACC, OOD_ACC
from .stats import codes, config_mean, estimate


def seed_pairs(rows: list[dict], s) -> tuple[list[dict], list[str]]:
    """Every seed pair (matched or not) as plain data, sorted by configuration and seed, and the caveats of `learned`.

    A pair: {"task", "model", "scale", "seed", "matched", "fracture": [scratch, intervention] (None where no
    component was measured), "ood_acc": [scratch, intervention], "id_acc": [scratch, intervention]}."""
    rs, caveats = learned(rows, s)
    rs = [r for r in rs if OOD_ACC in r]
    by = {(config(r), r["seed"], r["regime"]): (r, f) for r, f in zip(rs, composite(rs))}
    out = []
    for k in sorted(by, key=str):
        cfg, seed, regime = k
        if regime != s.intervention or (cfg, seed, "scratch") not in by:
            continue
        (a, fa), (b, fb) = by[(cfg, seed, "scratch")], by[k]
        out.append({"task": cfg[0], "model": cfg[1], "scale": cfg[2], "seed": seed,
                    "matched": abs(b[ID_ACC] - a[ID_ACC]) <= s.match_id_acc,
                    "fracture": [fa, fb], "ood_acc": [a[OOD_ACC], b[OOD_ACC]],
                    "id_acc": [a[ID_ACC], b[ID_ACC]]})
    return out, caveats


def lowered(p: dict) -> float:
    """How much the intervention lowered the pair's fracture composite (nan where either side has none)."""
    a, b = p["fracture"]
    return a - b if a is not None and b is not None else math.nan


def gained(p: dict) -> float:
    """The pair's OOD accuracy, intervention minus scratch."""
    return p["ood_acc"][1] - p["ood_acc"][0]


def pair_rows(pairs: list[dict]) -> list[dict]:
    """The pairs as the rows measures._mean_over_runs reads (task, model, scale, seed)."""
    return [{"task": p["task"], "model": p["model"], "scale": p["scale"], "seed": p["seed"]} for p in pairs]


def at_matched_id(pairs: list[dict]):
    """A statistic of the pairs idx: the OOD change at zero test_id change (mean over configurations of the
    intercepts of one regression of OOD change on ID change with a dummy per configuration); where no pair's ID
    changed, the mean over configurations of the OOD changes. nan when ID changes do not vary inside configurations
    (the intercept would be an extrapolation the data cannot check)."""
    g = np.array([gained(p) for p in pairs])
    d = np.array([p["id_acc"][1] - p["id_acc"][0] for p in pairs])
    c = codes([config(p) for p in pairs])
    plain = config_mean(g, [config(p) for p in pairs])

    def stat(idx):
        idx = np.asarray(idx)
        if np.abs(d[idx]).max() < 1e-9:
            return plain(idx)
        levels = np.unique(c[idx])
        A = np.column_stack([(c[idx] == lv).astype(float) for lv in levels] + [d[idx]])
        if np.linalg.matrix_rank(A) < A.shape[1]:
            return math.nan
        return float(np.linalg.lstsq(A, g[idx], rcond=None)[0][:-1].mean())
    return stat


def described(values: list[float], pairs: list, s, at_id: bool = False) -> dict:
    """{"effect", "ci" (at 1 - alpha), "p", "n" (clusters)}: the mean over configurations of these pairs' values, or
    with at_id the OOD change at zero ID change (at_matched_id)."""
    keep = [i for i, v in enumerate(values) if math.isfinite(v)]
    values, pairs = [values[i] for i in keep], [pairs[i] for i in keep]
    if len(values) < 2:
        return {"effect": values[0] if values else None, "ci": [None, None], "p": None, "n": len(values)}
    stat = at_matched_id(pairs) if at_id else config_mean(values, [config(p) for p in pairs])
    est = estimate(stat, [cluster(p) for p in pairs], [p["task"] for p in pairs])
    effect = stat(np.arange(len(pairs)))  # described even where too few clusters give no interval
    return {"effect": effect if math.isfinite(effect) else None, "ci": est.ci(1 - s.alpha), "p": est.p(),
            "n": len({cluster(p) for p in pairs})}


def passes(check: dict, alpha: float) -> bool:
    """The manipulation check's rule: fracture lowered (> 0) at p <= alpha."""
    p = check["p"]
    return bool(check["effect"] is not None and check["effect"] > 0 and p is not None and math.isfinite(p)
                and p <= alpha)


def per_task(pairs: list[dict], s) -> dict:
    """{task: the manipulation check and the effect on its matched pairs, what was left out, and every pair}."""
    out = {}
    for t in sorted({p["task"] for p in pairs}):
        mine = [p for p in pairs if p["task"] == t]
        m = [p for p in mine if p["matched"]]
        out[t] = {**described([gained(p) for p in m], m, s, at_id=True), "level": 1 - s.alpha,
                  "left_out": len(mine) - len(m), "manipulation": _check(m, s),
                  "id_acc_change": float(np.mean([p["id_acc"][1] - p["id_acc"][0] for p in m])) if m else None,
                  "configurations": sorted({f"{p['model']}/{p['scale']}" for p in mine}), "pairs": mine}
    return out


def _check(pairs, s) -> dict:
    d = described([lowered(p) for p in pairs], pairs, s)
    return {"fracture_lowered_by": d["effect"], "ci": d["ci"], "p": d["p"], "n": d["n"],
            "passed": passes(d, s.alpha)}
