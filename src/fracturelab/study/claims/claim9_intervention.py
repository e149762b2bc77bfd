"""Claim 9 (the causal test of the open question): lowering fracture by training raises accuracy on novel
compositions at matched in-distribution accuracy. The seed pairs, the manipulation check and the effect read at zero
test_id change are defined in study/intervention.py; the claim is inconclusive when the intervention did not lower
the fracture composite (its check: > 0 at p <= alpha)."""
from __future__ import annotations

import math

import numpy as np

from ..intervention import at_matched_id, lowered, pair_rows, per_task, seed_pairs
from ..measures import _mean_over_runs, _missing, cluster
from ..stats import Estimate, estimate
from .drawing import COLOURS, b64, empty, fmt, new_figure
from .base import Claim, Row, Table


def claim9(rows, examples, s) -> Estimate:
    pairs, caveats = seed_pairs(rows, s)
    tasks = per_task(pairs, s)

    def missing(why: str) -> Estimate:
        est = _missing(caveats, why)
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
    check = _mean_over_runs(pair_rows(ok), [lowered(p) for p in ok], s, [], runs_per_row=2)
    manip = {"fracture_lowered_by": check.effect, "p": check.p(), "n": check.n}
    if check.missing or not (check.effect > 0 and check.p() <= s.alpha):
        est = missing(f"manipulation check failed: {s.intervention} did not lower the fracture composite "
                      f"(lowered by {check.effect:.3g}, p = {check.p():.3g})")
        est.n, est.runs, est.control = check.n, check.runs, manip  # the pairs were there; the manipulation was not
        return est
    est = estimate(at_matched_id(pairs), [cluster(p) for p in pairs], [p["task"] for p in pairs])
    est.runs *= 2
    est.caveats = caveats + est.caveats + ["OOD change read at zero test_id change (regressed on it within "
                                           "configurations)"]
    est.control = manip | {"id_acc_change": float(np.mean([p["id_acc"][1] - p["id_acc"][0] for p in pairs]))}
    est.breakdown = {"task": tasks}
    return est


def draw(res, entry: dict) -> str:
    """Per task (the claim's breakdown "task"): each seed pair's fracture composite (left) and OOD accuracy (right),
    scratch against the intervention, joined by a line; pairs left out for unmatched test_id accuracy dotted and
    grey; colour: model/scale."""
    regime = res.spec.analysis.intervention
    tasks = {t: d for t, d in entry["breakdown"].get("task", {}).items() if d.get("pairs")}
    if not tasks:
        return empty(f"claim 9: no seed pair that learned under both scratch and {regime}")
    fig = new_figure((7, 2.8 * len(tasks)))
    axes = np.array(fig.subplots(len(tasks), 2, squeeze=False))
    for (t, d), (left, right) in zip(tasks.items(), axes):
        cfgs = d["configurations"]
        for ax, field, what in ((left, "fracture", "fracture composite"), (right, "ood_acc", "OOD accuracy")):
            for p in d["pairs"]:
                y = p[field]
                if None in y:
                    continue
                colour = COLOURS[cfgs.index(f"{p['model']}/{p['scale']}") % 7] if p["matched"] else "grey"
                ax.plot([0, 1], y, "o-" if p["matched"] else "o:", c=colour, ms=4, lw=1, alpha=0.8)
            ax.set_xticks([0, 1], ["scratch", regime])
            ax.set_xlim(-0.3, 1.3)
            ax.set_ylabel(what, fontsize=8)
        m, e = d["manipulation"], d["effect"]
        left.set_title(f"{t}: lowered by {fmt(m['fracture_lowered_by'])} "
                       f"({'check passed' if m['passed'] else 'check failed'})", fontsize=8)
        right.set_title(f"{t}: OOD change {fmt(e)} (n {d['n']}, {d['left_out']} left out)", fontsize=8)
        for i, c in enumerate(cfgs):  # colours are per row: each task has its own configurations
            right.plot([], [], "o-", c=COLOURS[i % 7], label=c)
        if d["left_out"]:
            right.plot([], [], "o:", c="grey", label="left out (test_id)")
        right.legend(fontsize=6)
    fig.tight_layout()
    return b64(fig)


def table(res, entry: dict) -> Table:
    """Per task: the manipulation check and the effect on its matched pairs (the claim's breakdown "task")."""
    a = res.spec.analysis
    regime = a.intervention
    rows = []
    for t, d in entry["breakdown"].get("task", {}).items():
        m = d["manipulation"]
        rows.append(Row([("", t), ("", ", ".join(d["configurations"])), ("", fmt(m["fracture_lowered_by"])),
                         ("", f"[{fmt(m['ci'][0])}, {fmt(m['ci'][1])}]"), ("", fmt(m["p"])),
                         ("check", f"{'passed' if m['passed'] else 'failed'} ({m['n']})"), ("", fmt(d["effect"])),
                         ("", f"[{fmt(d['ci'][0])}, {fmt(d['ci'][1])}]"), ("", fmt(d["p"])),
                         ("", fmt(d["n"])), ("", fmt(d["left_out"])), ("", fmt(d["id_acc_change"]))],
                        id=f"claim9-{t}", cls="check-passed" if m["passed"] else "check-failed"))
    note = (f"Seed pairs: the scratch and the {regime} run of one task, model, scale and seed, both learned; only "
            f"pairs whose test_id accuracies differ by at most {a.match_id_acc} enter (the others are counted as left "
            f"out). Manipulation check: fracture composite, scratch − {regime} (+ = lowered; it passes when above 0 "
            f"at two-sided p ≤ {a.alpha}). Effect: OOD accuracy, {regime} − scratch, read at zero test_id change "
            "(regressed on it within configurations). n counts task × seed clusters. Each configuration of a task "
            f"weighs the same; intervals at {round((1 - a.alpha) * 100, 2)}% per task, not corrected across tasks: "
            "they describe, the verdict decides.")
    return Table("claim9-table", f"Per task: did {regime} lower fracture, and what did it do to OOD accuracy?", note,
                 ["task", "configurations", "fracture lowered by", "interval", "p", "check (n)", "OOD accuracy change",
                  "interval", "p", "n", "left out (test_id)", "ID accuracy change"], rows,
                 f"no seed pair learned under both scratch and {regime}")


CLAIM = Claim(
    9, "lowering fracture by training raises accuracy on novel compositions at matched in-distribution accuracy",
    "the causal test of the open question (intervention: BIMT's connection cost, Liu, Gan, Tegmark 2023)",
    "OOD accuracy, intervention regime minus scratch, same task, model, scale and seed, pairs whose test_id "
    "accuracies are within match_id_acc, read at zero test_id change (OOD change regressed on ID change within "
    "configurations)",
    "task x seed (its scratch-intervention pairs)",
    "a manipulation check: the intervention must lower the fracture composite (above 0 at two-sided p <= alpha), "
    "else the claim is inconclusive with that reason",
    "if fracture did not cause failure, lowering it would leave OOD accuracy where it was: 0",
    0.03, claim9, "fig-intervention", draw,
    "per task, each seed pair's fracture composite (left) and OOD accuracy (right), scratch against the "
    "intervention regime; dotted grey: left out for unmatched test_id accuracy",
    "Does lowering fracture by training raise accuracy on novel compositions?", table=table)
