"""The seed pairs behind claim 9 (study/claims/claim9_intervention.py): each regime made to lower fracture (the spec's
analysis.interventions: bimt and modular by default) against scratch, paired by seed, per intervention, per task and
pooled over the interventions whose manipulation check passes.

A *seed pair* of intervention X is the scratch and the X run of one task, model, scale and seed, both learned (test_id
accuracy >= learned_id_acc) and both with OOD accuracy; it is *matched* when their test_id accuracies differ by at most
match_id_acc (only matched pairs enter the check and the effect). Pairs of different interventions on one seed share
its scratch run and its data. Per pair:

- the manipulation check's unit: fracture composite (measures.composite, z-scored within task over the learned runs)
  of scratch minus intervention (+ = the intervention lowered fracture);
- the effect's unit: OOD accuracy of intervention minus scratch, read at an unchanged test_id accuracy: the pairs'
  OOD changes are regressed on their test_id changes (one slope, an intercept per *arm*: intervention x task x model
  x scale) and the effect is the mean intercept, so an intervention that only costs ID accuracy (and OOD with it)
  cannot pass for an OOD effect.

The check is the mean over arms of their mean (every arm weighs the same). Both take the stats.estimate interval over
(task, seed) clusters nested in tasks (the two leave_square_out models of one seed share its data, and so do the
pairs of every intervention on that seed). Multiplicity: k interventions are *checked* (those with matched pairs), so
each one's check, its effect and their per-task descriptions are read at alpha / k (Bonferroni): its check passes when
the composite is lowered (> 0) at p <= alpha / k. Per intervention, `breakdown["intervention"][name]` holds its check,
its effect (interval at 1 - alpha / k: a description, not a verdict), the pairs left out and, per task ("task"), the
same with the pairs themselves (the report draws them: fig-intervention).
"""
from __future__ import annotations

import math

import numpy as np

from .measures import cluster, composite, config, learned
from .names import ID_ACC, OOD_ACC
from .stats import codes, config_mean, estimate


def seed_pairs(rows: list[dict], s) -> tuple[list[dict], list[str]]:
    """Every seed pair (matched or not) of every intervention, as plain data, sorted by intervention (the spec's
    order), configuration and seed, and the caveats of `learned`.

    A pair: {"intervention", "task", "model", "scale", "seed", "matched", "fracture": [scratch, intervention] (None
    where no component was measured), "ood_acc": [scratch, intervention], "id_acc": [scratch, intervention]}."""
    rs, caveats = learned(rows, s)
    rs = [r for r in rs if OOD_ACC in r]
    by = {(config(r), r["seed"], r["regime"]): (r, f) for r, f in zip(rs, composite(rs))}
    out = []
    for name in s.interventions:
        for k in sorted((k for k in by if k[2] == name and (k[0], k[1], "scratch") in by), key=str):
            cfg, seed, _ = k
            (a, fa), (b, fb) = by[(cfg, seed, "scratch")], by[k]
            out.append({"intervention": name, "task": cfg[0], "model": cfg[1], "scale": cfg[2], "seed": seed,
                        "matched": abs(b[ID_ACC] - a[ID_ACC]) <= s.match_id_acc,
                        "fracture": [fa, fb], "ood_acc": [a[OOD_ACC], b[OOD_ACC]],
                        "id_acc": [a[ID_ACC], b[ID_ACC]]})
    return out, caveats


def arm(p: dict) -> tuple:
    """What a pair's statistics weigh equally and give an intercept of its own: intervention x configuration."""
    return (p["intervention"], *config(p))


def lowered(p: dict) -> float:
    """How much the intervention lowered the pair's fracture composite (nan where either side has none)."""
    a, b = p["fracture"]
    return a - b if a is not None and b is not None else math.nan


def gained(p: dict) -> float:
    """The pair's OOD accuracy, intervention minus scratch."""
    return p["ood_acc"][1] - p["ood_acc"][0]


def runs(pairs: list[dict]) -> int:
    """Training runs behind the pairs (a scratch run shared by pairs of several interventions counts once)."""
    return len({(*config(p), p["seed"], regime) for p in pairs for regime in ("scratch", p["intervention"])})


def checked(pairs: list[dict], s) -> list[str]:
    """The interventions whose manipulation check is run (those with matched pairs), in the spec's order: k of the
    Bonferroni correction is their number."""
    return [n for n in s.interventions if any(p["matched"] and p["intervention"] == n for p in pairs)]


def at_matched_id(pairs: list[dict]):
    """A statistic of the pairs idx: the OOD change at zero test_id change (mean over arms of the intercepts of one
    regression of OOD change on ID change with a dummy per arm); where no pair's ID changed, the mean over arms of
    the OOD changes. nan when ID changes do not vary inside arms (the intercept would be an extrapolation the data
    cannot check)."""
    g = np.array([gained(p) for p in pairs])
    d = np.array([p["id_acc"][1] - p["id_acc"][0] for p in pairs])
    c = codes([arm(p) for p in pairs])
    plain = config_mean(g, [arm(p) for p in pairs])

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


def described(values: list[float], pairs: list, alpha: float, at_id: bool = False) -> dict:
    """{"effect", "ci" (at 1 - alpha), "p", "n" (clusters)}: the mean over arms of these pairs' values, or with at_id
    the OOD change at zero ID change (at_matched_id)."""
    keep = [i for i, v in enumerate(values) if math.isfinite(v)]
    values, pairs = [values[i] for i in keep], [pairs[i] for i in keep]
    if len(values) < 2:
        return {"effect": values[0] if values else None, "ci": [None, None], "p": None, "n": len(values)}
    stat = at_matched_id(pairs) if at_id else config_mean(values, [arm(p) for p in pairs])
    est = estimate(stat, [cluster(p) for p in pairs], [p["task"] for p in pairs])
    effect = stat(np.arange(len(pairs)))  # described even where too few clusters give no interval
    return {"effect": effect if math.isfinite(effect) else None, "ci": est.ci(1 - alpha), "p": est.p(),
            "n": len({cluster(p) for p in pairs})}


def passes(check: dict, alpha: float) -> bool:
    """The manipulation check's rule: fracture lowered (> 0) at p <= alpha (the caller's alpha / k)."""
    p = check["p"]
    return bool(check["effect"] is not None and check["effect"] > 0 and p is not None and math.isfinite(p)
                and p <= alpha)


def manipulation(pairs: list[dict], alpha: float) -> dict:
    """The manipulation check on matched pairs at level alpha: {"lowered_by", "ci", "p", "n", "passed", "alpha"}."""
    d = described([lowered(p) for p in pairs], pairs, alpha)
    return {"lowered_by": d["effect"], "ci": d["ci"], "p": d["p"], "n": d["n"], "passed": passes(d, alpha),
            "alpha": alpha}


def id_change(pairs: list[dict]) -> float | None:
    """Mean test_id accuracy change, intervention minus scratch (None without pairs)."""
    return float(np.mean([p["id_acc"][1] - p["id_acc"][0] for p in pairs])) if pairs else None


def per_task(pairs: list[dict], alpha: float) -> dict:
    """{task: the manipulation check and the effect on its matched pairs (intervals at 1 - alpha), what was left
    out, and every pair}, for the pairs of one intervention."""
    out = {}
    for t in sorted({p["task"] for p in pairs}):
        mine = [p for p in pairs if p["task"] == t]
        m = [p for p in mine if p["matched"]]
        out[t] = {**described([gained(p) for p in m], m, alpha, at_id=True), "level": 1 - alpha,
                  "left_out": len(mine) - len(m), "manipulation": manipulation(m, alpha),
                  "id_acc_change": id_change(m), "configurations": sorted({f"{p['model']}/{p['scale']}" for p in mine}),
                  "pairs": mine}
    return out


def per_intervention(pairs: list[dict], s) -> dict:
    """{intervention with seed pairs: its manipulation check pooled over its tasks, its effect on its matched pairs,
    the pairs left out (unmatched test_id), and per task the same ("task")}, every interval at 1 - alpha / k and
    every check at alpha / k (k = len(checked(pairs, s)))."""
    a = s.alpha / max(1, len(checked(pairs, s)))
    out = {}
    for name in s.interventions:
        mine = [p for p in pairs if p["intervention"] == name]
        if not mine:
            continue
        m = [p for p in mine if p["matched"]]
        out[name] = {"manipulation": manipulation(m, a), **described([gained(p) for p in m], m, a, at_id=True),
                     "level": 1 - a, "left_out": len(mine) - len(m), "id_acc_change": id_change(m),
                     "task": per_task(mine, a)}
    return out
