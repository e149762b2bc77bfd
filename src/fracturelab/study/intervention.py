"""Claim 9's measure: an intervention regime made to lower fracture (the spec's analysis.intervention, bimt by
default) against scratch, paired by seed, pooled over configurations and per task.

A *seed pair* is the scratch and the intervention run of one task, model, scale and seed, both learned (test_id
accuracy >= learned_id_acc) and both with OOD accuracy; it is *matched* when their test_id accuracies differ by at most
match_id_acc (only matched pairs enter the check and the effect). Per pair:

- the manipulation check's unit: fracture composite (measures.composite, z-scored within task over the learned runs)
  of scratch minus intervention (+ = the intervention lowered fracture);
- the effect's unit: OOD accuracy of intervention minus scratch.

Pooled or per task, each is the mean over configurations of their mean (every configuration weighs the same), with
the stats.estimate interval (pairs resampled inside their configuration). The check passes when its effect is > 0 at
p <= alpha; the pooled claim is inconclusive when it does not. Per task, `breakdown["task"][task]` holds the check, the
effect (interval at 1 - alpha, not corrected across tasks: a description, not a verdict), the pairs left out and the
pairs themselves (the report draws them: fig-intervention).
"""
from __future__ import annotations

import math

import numpy as np

from .measures import _mean_over_runs, _missing, composite, config, learned
from .stats import Estimate, estimate, stratum_mean

UNIT = "seed pair"


def seed_pairs(rows: list[dict], s) -> tuple[list[dict], list[str]]:
    """Every seed pair (matched or not) as plain data, sorted by configuration and seed, and the caveats of `learned`.

    A pair: {"task", "model", "scale", "seed", "matched", "fracture": [scratch, intervention] (None where no
    component was measured), "ood_acc": [scratch, intervention], "id_acc": [scratch, intervention]}."""
    rs, caveats = learned(rows, s)
    rs = [r for r in rs if "train.ood_acc" in r]
    by = {(config(r), r["seed"], r["regime"]): (r, f) for r, f in zip(rs, composite(rs))}
    out = []
    for k in sorted(by, key=str):
        cfg, seed, regime = k
        if regime != s.intervention or (cfg, seed, "scratch") not in by:
            continue
        (a, fa), (b, fb) = by[(cfg, seed, "scratch")], by[k]
        out.append({"task": cfg[0], "model": cfg[1], "scale": cfg[2], "seed": seed,
                    "matched": abs(b["train.id_acc"] - a["train.id_acc"]) <= s.match_id_acc,
                    "fracture": [fa, fb], "ood_acc": [a["train.ood_acc"], b["train.ood_acc"]],
                    "id_acc": [a["train.id_acc"], b["train.id_acc"]]})
    return out, caveats


def lowered(p: dict) -> float:
    """How much the intervention lowered the pair's fracture composite (nan where either side has none)."""
    a, b = p["fracture"]
    return a - b if a is not None and b is not None else math.nan


def gained(p: dict) -> float:
    """The pair's OOD accuracy, intervention minus scratch."""
    return p["ood_acc"][1] - p["ood_acc"][0]


def _strata(pairs):
    return [{"task": p["task"], "model": p["model"], "scale": p["scale"]} for p in pairs]


def described(values: list[float], strata: list, s) -> dict:
    """{"effect", "ci" (at 1 - alpha), "p", "n"} of a mean over configurations of these pairs' values."""
    keep = [i for i, v in enumerate(values) if math.isfinite(v)]
    values, strata = [values[i] for i in keep], [strata[i] for i in keep]
    if len(values) < 2:
        return {"effect": values[0] if values else None, "ci": [None, None], "p": None, "n": len(values)}
    est = estimate(len(values), stratum_mean(values, strata), strata, s.n_boot, s.seed, vectorized=True, unit=UNIT)
    return {"effect": est.effect, "ci": est.ci(1 - s.alpha), "p": est.p(), "n": est.n}


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
        out[t] = {**described([gained(p) for p in m], _strata(m), s), "level": 1 - s.alpha,
                  "left_out": len(mine) - len(m), "manipulation": _check(m, s),
                  "id_acc_change": float(np.mean([p["id_acc"][1] - p["id_acc"][0] for p in m])) if m else None,
                  "configurations": sorted({f"{p['model']}/{p['scale']}" for p in mine}), "pairs": mine}
    return out


def _check(pairs, s) -> dict:
    d = described([lowered(p) for p in pairs], _strata(pairs), s)
    return {"fracture_lowered_by": d["effect"], "ci": d["ci"], "p": d["p"], "n": d["n"],
            "passed": passes(d, s.alpha)}


def claim9(rows, examples, s) -> Estimate:
    pairs, caveats = seed_pairs(rows, s)
    tasks = per_task(pairs, s)

    def missing(why: str) -> Estimate:
        est = _missing(caveats, why, UNIT)
        est.breakdown = {"task": tasks} if tasks else {}
        return est
    if len(pairs) < 2:
        return missing(f"fewer than 2 seeds that learned under both scratch and {s.intervention}")
    far = [p for p in pairs if not p["matched"]]
    pairs = [p for p in pairs if p["matched"]]
    if far:
        caveats.append(f"{len(far)} seed pairs left out: test_id accuracy differs by more than {s.match_id_acc:g}")
    if len(pairs) < 2:
        return missing("fewer than 2 seed pairs at matched test_id accuracy")
    ok = [p for p in pairs if math.isfinite(lowered(p))]
    check = _mean_over_runs(_strata(ok), [lowered(p) for p in ok], s, [], UNIT)
    manip = {"fracture_lowered_by": check.effect, "p": check.p(), "n": check.n}
    if check.missing or not (check.effect > 0 and check.p() <= s.alpha):
        est = missing(f"manipulation check failed: {s.intervention} did not lower the fracture composite "
                      f"(lowered by {check.effect:.3g}, p = {check.p():.3g})")
        est.n, est.control = len(pairs), manip  # the pairs were there; the manipulation was not
        return est
    est = _mean_over_runs(_strata(pairs), [gained(p) for p in pairs], s, caveats, UNIT)
    est.control = manip | {"id_acc_change": float(np.mean([p["id_acc"][1] - p["id_acc"][0] for p in pairs]))}
    est.breakdown = {"task": tasks}
    return est
