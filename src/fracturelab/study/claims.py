"""The eight claims and their verdicts, from analysis.analyze's output.

A verdict is "supported" when the effect's interval lies wholly on the claim's side of 0, "contradicted" when wholly
on the other side, "inconclusive" otherwise: when the interval spans 0, when fewer than min_n observations exist, or
when the data the claim needs are missing (the reason says which). Each effect is signed so that positive supports
the claim; each claim names the figure behind it.
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from .analysis import bootstrap, partial_spearman, spearman, value, variance_shares

CLAIMS = {
    1: "identical outputs can hide fractured, entangled internals",
    2: "fracture predicts failure on novel compositions, beyond what in-distribution accuracy predicts",
    3: "models succeed where the test instance's computation subgraphs were seen in training and fail where not",
    4: "failure follows instance novelty more than complexity",
    5: "pretraining makes modular, reusable subnetworks more consistent",
    6: "activations get sparser as inputs get less familiar",
    7: "that sparsity pattern is learned through exposure during training",
    8: "fracture depends more on training regime and exposure than on architecture",
}
MATCH_MSE = 5e-3  # a replica whose render is within this MSE of the reference's counts as the same output


def verdict(est: dict, min_n: int, reason: str = "") -> tuple[str, str]:
    lo, hi = est["ci"]
    if est["n"] < min_n:
        return "inconclusive", reason or f"n = {est['n']} < {min_n}"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "inconclusive", reason or "no interval (too little variation)"
    if lo > 0:
        return "supported", reason
    if hi < 0:
        return "contradicted", reason
    return "inconclusive", reason or "the interval spans 0"


def _missing(what: str) -> dict:
    return {"effect": math.nan, "ci": [math.nan, math.nan], "n": 0, "missing": what}


def _composite(rows, names):
    """Per row: mean of the z-scored signed metrics (rows lacking one are dropped), as "fracture"."""
    rs = [r for r in rows if all(value(r, n) is not None for n in names)]
    if len(rs) < 2 or not names:
        return []
    cols = np.array([[value(r, n) for n in names] for r in rs], float)
    sd = cols.std(0)
    z = (cols - cols.mean(0)) / np.where(sd > 0, sd, 1.0)
    return [r | {"fracture": float(v)} for r, v in zip(rs, z.mean(1))]


def _claim1(a, s):
    rows = a["rows"]
    refs = {r["reference"]: r for r in rows if r["kind"] == "cppn" and r["regime"] == "reference"}
    reps = [r | {"ref_maps": refs[r["reference"]]["cppn.novel_maps"]} for r in rows
            if r["kind"] == "cppn" and r["regime"] != "reference" and r["reference"] in refs
            and r.get("cppn.fit_mse", 1) <= MATCH_MSE and "cppn.novel_maps" in r]
    if not reps:
        return _missing("no SGD replica of a reference CPPN matching its output (MSE <= 5e-3)"), \
            "log(novel maps of a same-output SGD replica / the reference's)", "fig-cppn"
    # replicas of one reference share its architecture and often its count exactly: the independent units are the
    # references, so the interval resamples references (one row each: its replicas' mean log ratio)
    per_ref = defaultdict(list)
    for r in reps:
        per_ref[r["reference"]].append(math.log(r["cppn.novel_maps"] / r["ref_maps"]))
    refs = [{"kind": "cppn", "log_ratio": float(np.mean(v))} for v in per_ref.values()]
    est = bootstrap(refs, lambda rr: float(np.mean([r["log_ratio"] for r in rr])), s.n_boot, s.ci, s.seed)
    est["n"] = len(reps)
    return est, "mean log(novel maps of a same-output SGD replica / the reference's), FER's count", "fig-cppn"


def _claim2(a, s):
    tasks = [r for r in a["rows"] if r["kind"] == "task" and "train.ood_acc" in r]
    comp = _composite(tasks, a["fracture_present"])
    what = "partial Spearman of a composite fracture index with OOD error (1 - ood_acc), given ID accuracy"
    if not comp:
        return _missing("no fracture metrics on task models (probes not run or not installed)"), what, "fig-corr"
    est = bootstrap(comp, lambda rr: -partial_spearman([r["fracture"] for r in rr], [r["train.ood_acc"] for r in rr],
                                                       [r["train.id_acc"] for r in rr]), s.n_boot, s.ci, s.seed)
    return est, what, "fig-corr"


def _claim3(a, s):
    what = "accuracy on test examples whose sub-computations were all seen minus on the rest (per model)"
    rows = [r | {"acc_seen": r["coverage.acc_seen"], "acc_unseen": r["coverage.acc_unseen"]} for r in a["rows"]
            if "coverage.acc_seen" in r and "coverage.acc_unseen" in r] or a["seen"]
    if not rows:
        return _missing("no task with per-example seen_frac or coverage probe"), what, "fig-examples"
    return bootstrap(rows, lambda rr: float(np.mean([r["acc_seen"] - r["acc_unseen"] for r in rr])),
                     s.n_boot, s.ci, s.seed), what, "fig-examples"


def _claim4(a, s):
    what = "|standardized logistic coefficient of novelty| - |that of complexity| on per-example correctness"
    fits = [f for f in a["examples"].values() if "contrast" in f]
    if not fits:
        return _missing("no task whose test examples vary in both novelty and complexity"), what, "fig-examples"
    best = max(fits, key=lambda f: f["n"])  # the task with most examples; the others are in the table
    return dict(best["contrast"], n=best["cells"]), what + f" (task with most examples; novelty = " \
        f"{best['novelty']}, complexity = {best['complexity']})", "fig-examples"


def _paired(rows, metric, s):
    """Mean over task x model x scale x seed of metric(pretrain) - metric(scratch)."""
    by = {}
    for r in rows:
        if r["kind"] == "task" and value(r, metric) is not None:
            by[(r["task"], r["model"], r["scale"], r["seed"], r["regime"])] = value(r, metric)
    pairs = [{"task": k[0], "model": k[1], "scale": k[2], "seed": k[3], "kind": "pair", "regime": "-",
              "d": v - by[k[:4] + ("scratch",)]} for k, v in by.items()
             if k[4] == "pretrain" and k[:4] + ("scratch",) in by]
    return bootstrap(pairs, lambda rr: float(np.mean([r["d"] for r in rr])), s.n_boot, s.ci, s.seed)


def _claim5(a, s):
    what = "reuse IoU of sub-task masks, pretrain minus scratch (same task, model, scale and seed)"
    if not any("reuse.iou" in r for r in a["rows"]):
        return _missing("no reuse probe results (reuse.iou)"), what, "fig-regimes"
    return _paired(a["rows"], "reuse.iou", s), what, "fig-regimes"


def _mean_metric(rows, metric, s, what, fig):
    rs = [r for r in rows if r["kind"] == "task" and metric in r]
    if not rs:
        return _missing(f"no {metric} in the store (sparsity probe{' with checkpoints' if 'init' in what else ''})"), \
            what, fig
    return bootstrap(rs, lambda rr: float(np.mean([r[metric] for r in rr])), s.n_boot, s.ci, s.seed), what, fig


def _claim6(a, s):
    return _mean_metric(a["rows"], "sparsity.hoyer_gap", s,
                        "Hoyer sparsity of OOD minus ID activations (mean over models)", "fig-sparsity")


def _claim7(a, s):
    rows = [r | {"learned": r["sparsity.hoyer_gap_final"] - r["sparsity.hoyer_gap_init"]} for r in a["rows"]
            if "sparsity.hoyer_gap_final" in r and "sparsity.hoyer_gap_init" in r]
    what = "Hoyer OOD-ID gap after training minus at the first checkpoint (init)"
    if not rows:
        return _missing("no sparsity.hoyer_gap_init/final (sparsity probe with checkpoints)"), what, "fig-sparsity"
    return bootstrap(rows, lambda rr: float(np.mean([r["learned"] for r in rr])), s.n_boot, s.ci, s.seed), what, \
        "fig-sparsity"


def _claim8(a, s):
    what = "variance share of regime minus that of architecture, mean over fracture metrics"
    present = a["fracture_present"]
    rows = [r for r in a["rows"] if r["kind"] == "task"]
    if not present:
        return _missing("no fracture metrics on task models (probes not run or not installed)"), what, "fig-variance"
    if len({r["regime"] for r in rows}) < 2 or len({r["model"] for r in rows}) < 2:
        return _missing("the study varies regime or architecture only at one level"), what, "fig-variance"

    def stat(rr):
        d = [v["regime"] - v["model"] for v in (variance_shares(rr, m) for m in present) if "regime" in v]
        return float(np.mean(d)) if d else math.nan
    return bootstrap(rows, stat, min(s.n_boot, 300), s.ci, s.seed), what, "fig-variance"


def claims(a: dict, spec) -> list[dict]:
    s = spec.analysis
    out = []
    for cid, fn in zip(CLAIMS, (_claim1, _claim2, _claim3, _claim4, _claim5, _claim6, _claim7, _claim8)):
        est, what, fig = fn(a, s)
        v, reason = verdict(est, s.min_n, est.get("missing", ""))
        out.append({"id": cid, "claim": CLAIMS[cid], "verdict": v, "effect": _num(est["effect"]),
                    "ci": [_num(x) for x in est["ci"]], "n": int(est["n"]), "measure": what, "figure": fig,
                    "reason": reason})
    return out


def cppn_analogue(a: dict) -> dict | None:
    """Claim 2's CPPN analogue, reported beside it: fracture vs extrapolation error given in-window error."""
    reps = [r for r in a["rows"] if r["kind"] == "cppn" and r["regime"] != "reference"]
    names = [n for n in ("cppn.effective_dim_ratio_mean", "cppn.roughness") if all(n in r for r in reps)]
    rs = [r for r in reps if "cppn.extrapolation_mse" in r and "cppn.in_window_mse" in r]
    if len(rs) < 4 or not names:
        return None
    f = [float(np.mean([value(r, n) for n in names])) for r in rs]
    return {"r": partial_spearman(f, [r["cppn.extrapolation_mse"] for r in rs], [r["cppn.in_window_mse"] for r in rs]),
            "n": len(rs), "plain_r": spearman(f, [r["cppn.extrapolation_mse"] for r in rs])}


def _num(x):
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


__all__ = ["CLAIMS", "claims", "cppn_analogue", "verdict"]
