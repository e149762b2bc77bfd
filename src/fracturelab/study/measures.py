"""Each claim's measure: study rows (one per training run or CPPN) -> stats.Estimate over independent units.

The rules every measure follows (claims.py states each claim's measure, unit, control and reason in words):
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

import json
import math
from collections import defaultdict

import numpy as np

from .stats import Estimate, codes, config_mean, estimate, missing, partial_rank_corr

CPPN_COMPOSITE = (
    ("cppn.effective_dim_ratio_mean", 1.0, "FER: a fractured net spreads the image over many unaligned maps, so its "
     "layers span more dimensions per unit than a unified net's"),
    ("cppn.symmetric_fraction", -1.0, "FER: the evolved nets' maps keep the image's left-right symmetry inside the "
     "net; a fractured net draws a symmetric image from maps that are not"),
    ("cppn.roughness", 1.0, "FER: fractured maps change abruptly where a unified net's vary smoothly"),
)
"""Claim 1's fracture metrics on CPPNs, each (store name, sign so that + = more fractured, reason). None of them
counts units, so none saturates at an architecture's unit count (FER's novel-map count does: every unit of a
generic net draws a novel map)."""

TASK_COMPOSITE = (
    ("factorization.dci_c", -1.0, "DCI completeness: a factor read from few units is factored; spread over many, "
     "entangled (Eastwood & Williams 2018)"),
    ("crosstalk.spread", 1.0, "a weight change that moves many answer parts at once is entangled (after FER)"),
    ("clusterability.ncut_rel", 1.0, "n-cut relative to the same layers' shuffled weights, dead units out (Filan et "
     "al. 2021): 1 = no more clusterable than chance, < 1 = modular, so higher = less modular; bounded below by 0 and "
     "comparable across architectures (the old z over a few nearly identical shuffles ran to -149)"),
    ("geometry.eff_rank_ratio", 1.0, "effective rank per unit: fractured representations spread over more "
     "dimensions (FER); divided by width so wider models do not score higher by size alone"),
)
"""Claim 2's and claim 8's fracture components on task models (sign: + = more fractured). reuse.iou is left out: more
sharing between output parts can be entanglement or a reused subroutine, so it has no sign a reason fixes."""

AT_INIT = {"clusterability.ncut_rel": 1.0}
"""Components whose value at initialization is known without measuring it (see cell.INIT_PROBES)."""


def init_value(r: dict, name: str):
    """A component's value at initialization: measured ("init.<name>") or known (AT_INIT)."""
    v = r.get("init." + name)
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
    tasks = [r for r in rows if r["kind"] == "task" and "train.id_acc" in r]
    ok = [r for r in tasks if r["train.id_acc"] >= s.learned_id_acc]
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


# -- claim 1: CPPNs with identical outputs ------------------------------------------------------------------------

def _cppn_delta(cands, ref, sd) -> float | None:
    """Mean over nets of the composite difference net - reference (each metric in units of its sd)."""
    vals = []
    for c in cands:
        d = [sign * (c[m] - ref[m]) / sd[m] for m, sign, _ in CPPN_COMPOSITE if m in c and m in ref and sd[m] > 0]
        if d:
            vals.append(float(np.mean(d)))
    return float(np.mean(vals)) if vals else None


def claim1(rows, examples, s) -> Estimate:
    cppn = [r for r in rows if r["kind"] == "cppn"]
    refs = {r["reference"]: r for r in cppn if r["regime"] == "reference"}
    sd = {m: float(np.std([r[m] for r in cppn if m in r])) if any(m in r for r in cppn) else 0.0
          for m, _, _ in CPPN_COMPOSITE}
    units, per, control, alt = [], {}, [], []
    n_unmatched = 0
    for name, ref in sorted(refs.items()):
        mine = [r for r in cppn if r["reference"] == name]
        matched = [r for r in mine if r["regime"] == "sgd" and r.get("cppn.fit_mse", 1.0) <= s.match_mse]
        n_unmatched += sum(r["regime"] == "sgd" for r in mine) - len(matched)
        d = _cppn_delta(matched, ref, sd)
        if d is None:
            continue
        units.append(d)
        per[name] = {"effect": d, "n": len(matched)}
        c = _cppn_delta([r for r in mine if r["regime"] == "init"], ref, sd)
        if c is not None:
            control.append(c)
        a = _cppn_delta([r for r in mine if r["regime"] == "sgd_arch" and r.get("cppn.fit_mse", 1.0) <= s.match_mse],
                        ref, sd)
        if a is not None:
            alt.append(a)
    unit = "reference network"
    left = [f"{n_unmatched} replicas left out: render MSE above {s.match_mse:g}"] if n_unmatched else []
    if len(units) < 2:
        return _missing(left, f"{len(units)} reference network(s) with an SGD replica matching its output "
                        f"(render MSE <= {s.match_mse:g})", unit)
    names = sorted(per)
    est = estimate(lambda idx: float(np.asarray(units)[idx].mean()), names, None, unit=unit)
    est.runs = sum(p["n"] for p in per.values())
    est.breakdown = {"reference": per}
    est.control = {"untrained_same_arch": float(np.mean(control)) if control else None,
                   "replica_other_arch": float(np.mean(alt)) if alt else None}
    est.caveats += left
    if control:
        est.caveats.append(f"untrained nets of the same architectures score {np.mean(control):.2f} on the same "
                           "scale: the metrics separate the evolved reference from generic weights, and the replicas "
                           f"sit at {np.mean(units) / np.mean(control):.2f} of that distance" if np.mean(control)
                           else "untrained nets score 0 on this scale")
    if alt:
        est.caveats.append(f"replicas of another architecture score {np.mean(alt):.2f}")
    return est


# -- claim 2: fracture and failure -------------------------------------------------------------------------------

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


def claim2(rows, examples, s) -> Estimate:
    rs, caveats = learned(rows, s)
    rs = [r for r in rs if "train.ood_acc" in r]
    f, f0 = composite(rs), composite(rs, at_init=True)
    keep = [i for i in range(len(rs)) if f[i] is not None]
    rs = [rs[i] for i in keep]
    f, f0 = [f[i] for i in keep], [f0[i] for i in keep]
    if len(rs) < 6:
        return _missing(caveats, f"{len(rs)} learned runs with fracture probes (claim 2 needs 6 at least)")
    strata = [config(r) for r in rs]
    cfg, regimes = codes(strata), codes([r["regime"] for r in rs])
    err = np.array([1 - r["train.ood_acc"] for r in rs])
    covs = [np.array([r["train.id_acc"] for r in rs])]
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
    for name, sign, _ in TASK_COMPOSITE:
        i = [k for k, r in enumerate(rs) if r.get(name) is not None]
        if len(i) >= 6:
            v = np.array([sign * rs[k][name] if rs[k].get(name) is not None else np.nan for k in range(len(rs))])
            comps[name] = {"effect": stat(np.array(i), f=v), "n": len(i)}
    est.breakdown = {"task": per_task, "component": comps}
    est.caveats = caveats + est.caveats + [f"{len(set(map(str, strata)))} configurations; OOD error is ranked "
                                           "within each, "
                             "given test_id accuracy, fracture at initialization and regime"]
    return est


# (claims 3 and 4, which test examples fail, are in per_example.py)


# -- claim 5: pretraining and separable subnetworks ----------------------------------------------------------------

def paired_regimes(rows, metric, s, a="scratch", b="pretrain"):
    """Per (task, model, scale, seed) where both regimes learned: metric(a) - metric(b)."""
    rs, caveats = learned(rows, s)
    by = {(config(r), r["seed"], r["regime"]): r[metric] for r in rs if r.get(metric) is not None}
    pairs = [({"task": k[0][0], "model": k[0][1], "scale": k[0][2], "seed": k[1]}, v - by[(k[0], k[1], b)])
             for k, v in sorted(by.items(), key=str) if k[2] == a and (k[0], k[1], b) in by]
    return pairs, caveats


def claim5(rows, examples, s) -> Estimate:
    pairs, caveats = paired_regimes(rows, "reuse.iou", s)
    if len(pairs) < 2:
        return _missing(caveats, "fewer than 2 seeds that learned under both scratch and pretrain, with reuse.iou")
    caveats.append("both regimes start from the same weights for a seed, so the difference at initialization is 0")
    return _mean_over_runs([p[0] for p in pairs], [p[1] for p in pairs], s, caveats, runs_per_row=2)


# -- claims 6 and 7: sparsity and familiarity ----------------------------------------------------------------------

def _first_ckpt(r: dict) -> float | None:
    steps = sorted(int(k.split(".")[2]) for k in r if k.startswith("sparsity.ckpt.") and k.endswith(".hoyer_gap"))
    steps = [st for st in steps if st > 0]
    return r[f"sparsity.ckpt.{steps[0]}.hoyer_gap"] if steps else None


def claim6(rows, examples, s) -> Estimate:
    rs, caveats = learned(rows, s)
    rs = [r for r in rs if "sparsity.hoyer_gap_final" in r and "sparsity.hoyer_gap_init" in r]
    if len(rs) < 2:
        return _missing(caveats, "no learned run with the sparsity gap at initialization and after training")
    est = _mean_over_runs(rs, [r["sparsity.hoyer_gap_final"] - r["sparsity.hoyer_gap_init"] for r in rs], s, caveats)
    est.control = {"gap_at_init": float(np.mean([r["sparsity.hoyer_gap_init"] for r in rs])),
                   "gap_trained": float(np.mean([r["sparsity.hoyer_gap_final"] for r in rs]))}
    return est


def claim7(rows, examples, s) -> Estimate:
    rs, caveats = learned(rows, s)
    rs = [r for r in rs if "sparsity.hoyer_gap_final" in r and _first_ckpt(r) is not None]
    if len(rs) < 2:
        return _missing(caveats, "no learned run with a sparsity checkpoint during training (spec checkpoints)")
    return _mean_over_runs(rs, [r["sparsity.hoyer_gap_final"] - _first_ckpt(r) for r in rs], s, caveats)


# (claim 9, the intervention, is in intervention.py)


# -- claim 8: what decides fracture --------------------------------------------------------------------------------

def r2(y: np.ndarray, A: np.ndarray) -> float:
    res = y - A @ np.linalg.lstsq(A, y, rcond=None)[0]
    tot = ((y - y.mean()) ** 2).sum()
    return 1 - (res ** 2).sum() / tot if tot > 0 else math.nan


def dummies(c: np.ndarray) -> np.ndarray:
    levels = np.unique(c)
    return (c[:, None] == levels[None, 1:]).astype(float)


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
    rs = [r for r in rs if r["regime"] != s.intervention]  # a regime made to change fracture would decide it
    def levels(t, f):
        return len({r[f] for r in rs if r["task"] == t})
    tasks = [t for t in sorted({r["task"] for r in rs}) if levels(t, "model") > 1 and levels(t, "regime") > 1]
    rs = [r for r in rs if r["task"] in tasks]
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
    task_names = sorted(tasks)

    def stat(idx):
        idx = np.asarray(idx)
        d = []
        for t in range(len(task_names)):
            sel = idx[task[idx] == t]
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
    sizes = {r["model"]: r.get("train.n_params") for r in rs}
    if sizes and all(sizes.values()) and max(sizes.values()) / min(sizes.values()) > 2:
        caveats.append(f"architectures differ in size by more than 2x ({sizes})")
    est.caveats = caveats + est.caveats + [
        "fracture after training with its value at initialization as a covariate (ANCOVA), never the difference",
        f"tasks where architecture and regime are crossed: {', '.join(tasks)}"]
    return est


def parse_meta(examples: list[dict]) -> dict[str, list[dict]]:
    """Store example rows -> {cell key: rows with "meta" parsed from meta_json}."""
    out = defaultdict(list)
    for e in examples:
        out[e["cell_key"]].append(e | {"meta": json.loads(e.get("meta_json") or "{}")})
    return dict(out)
