"""Claim 5 (Break It Down): pretraining makes the subnetworks of different output parts more separable. Per seed pair
(the scratch and the pretrain run of one task, model, scale and seed, both learned, both with reuse.iou): reuse IoU
between output parts' masks, scratch minus pretrain; the pairs' mean over configurations, its interval over task x
seed clusters."""
from __future__ import annotations

from ..measures import _mean_over_runs, _missing, config, learned
from ..names import REUSE_IOU
from ..stats import Estimate
from .drawing import COLOURS, b64, empty, fmt, new_figure
from .base import Claim

METRIC = REUSE_IOU
"""The probe value compared: weight sharing between output parts' subnetwork masks (probes/reuse)."""
REGIMES = ("scratch", "pretrain")
"""The pair's two regimes, in the order the effect subtracts them."""


def paired_regimes(rows, metric, s, a=REGIMES[0], b=REGIMES[1]) -> tuple[list[tuple[dict, float, float]], list]:
    """Per (task, model, scale, seed) where both regimes learned: (its task, model, scale and seed, metric(a),
    metric(b)), sorted by configuration and seed; and the caveats of `learned`."""
    rs, caveats = learned(rows, s)
    by = {(config(r), r["seed"], r["regime"]): r[metric] for r in rs if r.get(metric) is not None}
    pairs = [({"task": k[0][0], "model": k[0][1], "scale": k[0][2], "seed": k[1]}, v, by[(k[0], k[1], b)])
             for k, v in sorted(by.items(), key=str) if k[2] == a and (k[0], k[1], b) in by]
    return pairs, caveats


def claim5(rows, examples, s) -> Estimate:
    pairs, caveats = paired_regimes(rows, METRIC, s)
    if len(pairs) < 2:
        return _missing(caveats, "fewer than 2 seeds that learned under both scratch and pretrain, with reuse.iou")
    caveats.append("both regimes start from the same weights for a seed, so the difference at initialization is 0")
    return _mean_over_runs([p[0] for p in pairs], [p[1] - p[2] for p in pairs], s, caveats, runs_per_row=2)


def draw(res, entry: dict) -> str:
    """Per seed pair, reuse IoU under scratch (x) against under pretrain (y), one colour per task: below the
    diagonal, pretraining left the output parts' subnetworks more separable."""
    pairs, _ = paired_regimes(res.rows, METRIC, res.spec.analysis)
    if not pairs:
        return empty(f"claim 5: no seed that learned under both {REGIMES[0]} and {REGIMES[1]}, with {METRIC}")
    fig = new_figure((4, 3.6))
    ax = fig.subplots()
    for i, t in enumerate(sorted({p[0]["task"] for p in pairs})):
        own = [p for p in pairs if p[0]["task"] == t]
        ax.scatter([p[1] for p in own], [p[2] for p in own], s=20, c=COLOURS[i % 7], label=t)
    v = [p[1] for p in pairs] + [p[2] for p in pairs]
    ax.plot([min(v), max(v)], [min(v), max(v)], "k:", lw=0.8)
    ax.set(xlabel=f"{METRIC}, {REGIMES[0]}", ylabel=REGIMES[1],
           title=f"scratch - pretrain: {fmt(entry['effect'])} (n {entry['n']})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return b64(fig)


CLAIM = Claim(
    5, "pretraining makes the subnetworks of different output parts more separable (less shared weight)",
    "Break It Down (Lepori et al. 2023)",
    "reuse IoU between output parts' masks, scratch minus pretrain, same task, model, scale and seed",
    "task x seed (its scratch-pretrain pairs: both leave_square_out models of a seed share its data)",
    "both regimes start from the same weights, so the difference at initialization is 0 by construction",
    "a pretraining that does not change how output parts share weights gives 0",
    0.05, claim5, "fig-reuse", draw,
    "reuse IoU per seed pair, scratch (x) against pretrain (y); below the diagonal, pretraining separated the "
    "output parts' subnetworks",
    "Does pretraining leave output parts sharing fewer weights?",
    reworded="the source's 'more consistent' would compare masks across seeds, whose hidden units are permuted: "
    "not measured; the claim is reworded to separability, which reuse IoU measures")
