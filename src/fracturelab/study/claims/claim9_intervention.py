"""Claim 9 (the causal test of the open question): lowering fracture by training raises accuracy on novel
compositions at matched in-distribution accuracy. The seed pairs, the manipulation checks (one per intervention, at
alpha / k over the k interventions checked) and the effect read at zero test_id change are defined in
study/intervention.py. The verdict is the effect pooled over the matched pairs of every intervention whose check
passed, at alpha; the claim is inconclusive when no intervention lowered the fracture composite."""
from __future__ import annotations

import numpy as np

from ..intervention import at_matched_id, checked, described, gained, id_change, per_intervention, runs, seed_pairs
from ..measures import _missing, cluster
from ..stats import Estimate, estimate
from .base import Claim, Row, Table
from .drawing import COLOURS, b64, empty, fmt, new_figure


def claim9(rows, examples, s) -> Estimate:
    pairs, caveats = seed_pairs(rows, s)
    per, names = per_intervention(pairs, s), checked(pairs, s)
    pooled = [n for n in names if per[n]["manipulation"]["passed"]]
    breakdown = {"intervention": per, "checked": names, "pooled": pooled} if per else {}
    listed = ", ".join(s.interventions)

    def missing(why: str) -> Estimate:
        est = _missing(caveats, why)
        est.breakdown = breakdown
        return est
    if len(pairs) < 2:
        return missing(f"fewer than 2 seeds that learned under both scratch and an intervention ({listed})")
    far = [p for p in pairs if not p["matched"]]
    pairs = [p for p in pairs if p["matched"]]
    if far:
        caveats.append(f"{len(far)} seed pairs left out: test_id accuracy differs by more than {s.match_id_acc:g}")
    if len(pairs) < 2:
        return missing("fewer than 2 seed pairs at matched test_id accuracy")
    a = s.alpha / len(names)
    control = {f"{n} lowered fracture by": per[n]["manipulation"]["lowered_by"] for n in names}
    if not pooled:
        est = missing(f"manipulation check failed for every intervention (each at p <= {a:.3g}, alpha / {len(names)}"
                      " Bonferroni): " + "; ".join(_check_text(n, per[n]["manipulation"]) for n in names))
        est.n, est.runs, est.control = len({cluster(p) for p in pairs}), runs(pairs), control  # the pairs were there
        return est
    use = [p for p in pairs if p["intervention"] in pooled]
    est = estimate(at_matched_id(use), [cluster(p) for p in use], [p["task"] for p in use])
    est.runs = runs(use)
    left = "; ".join(_check_text(n, per[n]["manipulation"]) for n in names if n not in pooled)
    est.caveats = caveats + est.caveats + [
        f"pooled over {', '.join(pooled)}: their manipulation checks passed at p <= {a:.3g} (alpha / {len(names)}, "
        "Bonferroni over the interventions checked)" + (f"; left out: {left}" if left else ""),
        "OOD change read at zero test_id change (regressed on it within intervention x configuration)"]
    est.control = control | {"id_acc_change": id_change(use)}
    by_task = {t: [p for p in use if p["task"] == t] for t in sorted({p["task"] for p in use})}
    est.breakdown = breakdown | {"task": {t: described([gained(p) for p in ps], ps, s.alpha, at_id=True)
                                          for t, ps in by_task.items()}}
    return est


def _check_text(name: str, m: dict) -> str:
    return f"{name} lowered fracture by {fmt(m['lowered_by'])} (p = {fmt(m['p'])}, n {m['n']})"


def draw(res, entry: dict) -> str:
    """Per intervention (rows) and task (pairs of columns): each seed pair's fracture composite (left) and OOD
    accuracy (right), scratch against the intervention, joined by a line; pairs left out for unmatched test_id
    accuracy dotted and grey; colour: model/scale."""
    per = {n: {t: d for t, d in i["task"].items() if d.get("pairs")}
           for n, i in entry["breakdown"].get("intervention", {}).items()}
    per = {n: ts for n, ts in per.items() if ts}
    if not per:
        return empty("claim 9: no seed pair that learned under both scratch and an intervention "
                     f"({', '.join(res.spec.analysis.interventions)})")
    tasks = sorted({t for ts in per.values() for t in ts})
    fig = new_figure((2.6 * 2 * len(tasks), 2.5 * len(per)))
    axes = np.array(fig.subplots(len(per), 2 * len(tasks), squeeze=False))
    pooled = entry["breakdown"].get("pooled", [])
    for row, (name, ts) in zip(axes, per.items()):
        for j, t in enumerate(tasks):
            left, right = row[2 * j], row[2 * j + 1]
            if t not in ts:
                for ax in (left, right):
                    ax.axis("off")
                left.text(0.5, 0.5, f"{name} on {t}: no seed pair", ha="center", va="center", fontsize=8)
                continue
            _draw_task(left, right, name, t, ts[t], name in pooled)
    fig.tight_layout()
    return b64(fig)


def _draw_task(left, right, name: str, task: str, d: dict, in_pool: bool) -> None:
    """One intervention on one task: its pairs' fracture composite (left) and OOD accuracy (right)."""
    cfgs = d["configurations"]
    for ax, field, what in ((left, "fracture", "fracture composite"), (right, "ood_acc", "OOD accuracy")):
        for p in d["pairs"]:
            if None in p[field]:
                continue
            colour = COLOURS[cfgs.index(f"{p['model']}/{p['scale']}") % 7] if p["matched"] else "grey"
            ax.plot([0, 1], p[field], "o-" if p["matched"] else "o:", c=colour, ms=3, lw=1, alpha=0.8)
        ax.set_xticks([0, 1], ["scratch", name], fontsize=7)
        ax.set_xlim(-0.3, 1.3)
        ax.set_ylabel(what, fontsize=7)
        ax.tick_params(labelsize=6)
    m = d["manipulation"]
    left.set_title(f"{name}, {task}: lowered {fmt(m['lowered_by'])} (check {'passed' if m['passed'] else 'failed'})",
                   fontsize=7)
    right.set_title(f"OOD {fmt(d['effect'])} (n {d['n']}, {d['left_out']} out{', in the verdict' if in_pool else ''})",
                    fontsize=7)
    for i, c in enumerate(cfgs):  # colours are per panel: each task has its own configurations
        right.plot([], [], "o-", c=COLOURS[i % 7], label=c)
    if d["left_out"]:
        right.plot([], [], "o:", c="grey", label="left out (test_id)")
    right.legend(fontsize=5)


def _row(name: str, task: str, d: dict, configurations: str, rid: str) -> Row:
    m = d["manipulation"]
    return Row([("", name), ("", task), ("", configurations), ("", fmt(m["lowered_by"])),
                ("", f"[{fmt(m['ci'][0])}, {fmt(m['ci'][1])}]"), ("", fmt(m["p"])),
                ("check", f"{'passed' if m['passed'] else 'failed'} ({m['n']})"), ("", fmt(d["effect"])),
                ("", f"[{fmt(d['ci'][0])}, {fmt(d['ci'][1])}]"), ("", fmt(d["p"])), ("", fmt(d["n"])),
                ("", fmt(d["left_out"])), ("", fmt(d["id_acc_change"]))],
               id=rid, cls="check-passed" if m["passed"] else "check-failed")


def table(res, entry: dict) -> Table:
    """Per intervention: a row over all its tasks (the one whose check decides whether it is pooled), then a row per
    task (the claim's breakdown "intervention")."""
    a = res.spec.analysis
    b = entry["breakdown"]
    names, pooled = b.get("checked", []), b.get("pooled", [])
    rows = []
    for name, d in b.get("intervention", {}).items():
        cfgs = sorted({c for t in d["task"].values() for c in t["configurations"]})
        rows.append(_row(name, "all tasks" + (" (in the verdict)" if name in pooled else ""), d, ", ".join(cfgs),
                         f"claim9-{name}"))
        rows += [_row(name, t, td, ", ".join(td["configurations"]), f"claim9-{name}-{t}")
                 for t, td in d["task"].items()]
    k = max(1, len(names))
    note = (f"Seed pairs: the scratch and the intervention run of one task, model, scale and seed, both learned; only "
            f"pairs whose test_id accuracies differ by at most {a.match_id_acc} enter (the others are counted as left "
            "out). Manipulation check: fracture composite, scratch − intervention (+ = lowered). Effect: OOD accuracy, "
            "intervention − scratch, read at zero test_id change (regressed on it within configurations). "
            f"Multiplicity: {k} intervention(s) checked ({', '.join(names) or 'none'}), so each check passes when "
            f"above 0 at two-sided p ≤ {a.alpha:g} / {k} = {a.alpha / k:.3g} (Bonferroni), and every interval here "
            f"is at {round((1 - a.alpha / k) * 100, 2)}%, per intervention and per task, not corrected across tasks: "
            "they describe. The verdict is the OOD effect pooled over the matched pairs of the interventions whose "
            f"check over all their tasks passed ({', '.join(pooled) or 'none'}), at alpha {a.alpha:g}. n counts "
            "task × seed clusters (pairs of several interventions on one seed share its scratch run and data). Each "
            "configuration of a task weighs the same.")
    return Table("claim9-table", "Per intervention and task: did it lower fracture, and what did it do to OOD "
                 "accuracy?", note,
                 ["intervention", "task", "configurations", "fracture lowered by", "interval", "p", "check (n)",
                  "OOD accuracy change", "interval", "p", "n", "left out (test_id)", "ID accuracy change"], rows,
                 f"no seed pair learned under both scratch and an intervention ({', '.join(a.interventions)})")


CLAIM = Claim(
    9, "lowering fracture by training raises accuracy on novel compositions at matched in-distribution accuracy",
    "the causal test of the open question (interventions: the spec's analysis.interventions, e.g. BIMT's connection "
    "cost, Liu, Gan, Tegmark 2023, and a modular architecture)",
    "OOD accuracy, intervention regime minus scratch, same task, model, scale and seed, pairs whose test_id "
    "accuracies are within match_id_acc, read at zero test_id change (OOD change regressed on ID change within "
    "intervention x configuration), pooled over the interventions whose manipulation check passed",
    "task x seed (its scratch-intervention pairs, of every intervention)",
    "a manipulation check per intervention: it must lower the fracture composite (above 0 at two-sided p <= "
    "alpha / k, k interventions checked); only those that pass are pooled, and the claim is inconclusive with that "
    "reason when none does",
    "if fracture did not cause failure, lowering it would leave OOD accuracy where it was: 0",
    0.03, claim9, "fig-intervention", draw,
    "per intervention (rows) and task, each seed pair's fracture composite (left) and OOD accuracy (right), scratch "
    "against the intervention; dotted grey: left out for unmatched test_id accuracy",
    "Does lowering fracture by training raise accuracy on novel compositions?", table=table)
