"""Claim 1: networks with identical outputs can differ in fracture (FER). Per reference network, its SGD replicas
whose render matches it (render MSE <= match_mse) against the reference itself, on the CPPN fracture composite
(measures.CPPN_COMPOSITE: each metric in units of its sd over the study's CPPNs, signed so that + = more fractured);
the unit is the reference network (its matched replicas averaged)."""
from __future__ import annotations

import numpy as np

from ..measures import CPPN_COMPOSITE, _missing
from ..names import CPPN, FIT_MSE, NOVEL_MAPS
from ..stats import Estimate, estimate
from .drawing import b64, empty, new_figure
from .base import Claim

UNIT = "reference network"
"""The independent unit: one reference, with its replicas and controls."""


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
        matched = [r for r in mine if r["regime"] == "sgd" and r.get(FIT_MSE, 1.0) <= s.match_mse]
        n_unmatched += sum(r["regime"] == "sgd" for r in mine) - len(matched)
        d = _cppn_delta(matched, ref, sd)
        if d is None:
            continue
        units.append(d)
        per[name] = {"effect": d, "n": len(matched)}
        c = _cppn_delta([r for r in mine if r["regime"] == "init"], ref, sd)
        if c is not None:
            control.append(c)
        a = _cppn_delta([r for r in mine if r["regime"] == "sgd_arch" and r.get(FIT_MSE, 1.0) <= s.match_mse],
                        ref, sd)
        if a is not None:
            alt.append(a)
    left = [f"{n_unmatched} replicas left out: render MSE above {s.match_mse:g}"] if n_unmatched else []
    if len(units) < 2:
        return _missing(left, f"{len(units)} reference network(s) with an SGD replica matching its output "
                        f"(render MSE <= {s.match_mse:g})", UNIT)
    names = sorted(per)
    est = estimate(lambda idx: float(np.asarray(units)[idx].mean()), names, None, unit=UNIT)
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


def draw(res, entry: dict) -> str:
    """Per metric of the composite (and FER's novel-map count), each reference (star) against its replicas."""
    cp = [r for r in res.rows if r["kind"] == "cppn"]
    if not cp:
        return empty("no CPPN cells finished")
    names = [n for n in [m for m, _, _ in CPPN_COMPOSITE] + [NOVEL_MAPS] if any(n in r for r in cp)]
    refs = sorted({r["reference"] for r in cp})
    fig = new_figure((2.6 * max(1, len(names)), 2.8))
    axes = np.atleast_1d(fig.subplots(1, max(1, len(names))))
    for ax, n in zip(axes, names):
        for i, ref in enumerate(refs):
            own = [r for r in cp if r["reference"] == ref]
            reps = [r[n] for r in own if r["regime"] != "reference" and n in r]
            base = [r[n] for r in own if r["regime"] == "reference" and n in r]
            ax.scatter([i] * len(reps), reps, c="tab:orange", s=18, label="SGD replica" if i == 0 else None)
            ax.scatter([i] * len(base), base, c="tab:blue", marker="*", s=90, label="reference" if i == 0 else None)
        ax.set_xticks(range(len(refs)), refs, rotation=30, fontsize=7)
        ax.set_title(n.removeprefix(CPPN), fontsize=9)
    if axes[0].get_legend_handles_labels()[0]:  # nothing to label when the study has no CPPN rows
        axes[0].legend(fontsize=7)
    fig.tight_layout()
    return b64(fig)


CLAIM = Claim(
    1, "networks with identical outputs can differ in fracture: SGD replicas of an evolved CPPN are more "
    "fractured than the CPPN they reproduce",
    "FER (Kumar, Clune, Lehman, Stanley 2025)",
    "mean over reference networks of (replica - reference) on a composite of effective-dimension ratio, "
    "symmetric fraction (negated) and roughness, each in units of its sd over the study's CPPNs; every metric "
    "reads only the units the render depends on (a path of nonzero weights to the output and a non-constant "
    "map), so layerization padding never counts",
    "reference network (its output-matched replicas averaged)",
    "untrained networks of the same architecture and SGD replicas of another architecture, on the same scale "
    "(summary: control); replicas whose render is not within match_mse of the reference never count",
    "the metrics are ratios and fractions over the units the render depends on, not unit counts, so a replica "
    "that reproduced the reference's factored maps would score 0, and so does the reference itself with its "
    "unread padding given random weights (tests/test_placebo_cppn.py); an untrained net cannot enter because "
    "it does not match the output",
    0.5, claim1, "fig-cppn", draw, "map metrics, reference (star) vs replicas",
    "Same image, different insides: are the replicas more fractured than the reference?",
    reworded="FER's count of novel maps is reported but not used: it is the unit count for any generic net")
