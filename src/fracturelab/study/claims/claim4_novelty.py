"""Claim 4 (Faith and Fate): failure follows the novelty the split manipulates more than complexity. Per learned run
whose familiar and novel test examples share 2+ depths, a Firth logit of correct on novelty x depth
(per_example.novelty_hop_costs defines it): novelty cost - per-hop cost (logit); the runs' mean over configurations,
its interval over task x seed clusters."""
from __future__ import annotations

import numpy as np

from .. import analysis as A
from ..measures import _mean_over_runs, _missing, learned
from ..per_example import novelty_hop_costs
from ..stats import Estimate
from .drawing import COLOURS, b64, empty, fmt, new_figure
from .base import Claim, Row, Table


def claim4(rows, examples, s) -> Estimate:
    rs, caveats = learned(rows, s)
    costs = novelty_hop_costs([examples.get(r["key"], []) for r in rs])
    found = [(r, c) for r, c in zip(rs, costs) if c is not None]
    if len(found) < len(rs):
        caveats.append(f"{len(rs) - len(found)} of {len(rs)} learned runs left out: their familiar and novel test "
                       "examples do not share 2+ depths (novelty and depth not crossed)")
    if len(found) < 2:
        return _missing(caveats, "fewer than 2 learned runs whose test examples cross novelty with 2+ depths")
    est = _mean_over_runs([r for r, _ in found], [a - b for _, (a, b) in found], s, caveats)
    est.control = {"novelty_cost": float(np.mean([a for _, (a, _) in found])),
                   "hop_cost": float(np.mean([b for _, (_, b) in found]))}
    est.caveats.append("effect: log-odds lost to a novel pair minus log-odds lost to one more hop, per run")
    return est


def draw(res, entry: dict) -> str:
    """Accuracy against depth, familiar (solid) and novel (dashed) combinations, one colour per task."""
    grid = A.accuracy_grid(res.rows, res.examples, res.spec.analysis)
    if not grid:
        return empty("per-example analysis: no task whose examples carry the split's novelty and a depth")
    fig = new_figure((6, 3.2))
    ax = fig.subplots()
    for i, (t, g) in enumerate(grid.items()):
        for nv, style in ((0, "o-"), (1, "s--")):
            pts = sorted((d, acc) for n, d, acc, _ in g if n == nv)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, c=COLOURS[i % 7],
                        label=f"{t}, {'novel' if nv else 'familiar'}")
    ax.set(xlabel="depth", ylabel="accuracy", ylim=(-0.02, 1.02))
    ax.legend(fontsize=7)
    fig.tight_layout()
    return b64(fig)


def table(res, entry: dict) -> Table:
    """The figure's numbers: accuracy per task, novelty and depth."""
    grid = A.accuracy_grid(res.rows, res.examples, res.spec.analysis)
    rows = [Row([("", t), ("", "yes" if nv else "no"), ("", fmt(d)), ("", fmt(acc)), ("", fmt(n))])
            for t, g in grid.items() for nv, d, acc, n in g]
    return Table("examples-table", "Accuracy by novelty and depth",
                 "Test examples of learned runs, pooled per task.",
                 ["task", "novel", "depth", "accuracy", "examples"], rows,
                 "no task whose examples carry the split's novelty and a depth")


CLAIM = Claim(
    4, "failure follows the novelty the split manipulates more than complexity: a held-out relation pair "
    "costs more log-odds than one more hop",
    "Faith and Fate (Dziri et al. 2023)",
    "per run, a Firth logit of correct on novelty (+-1/2) x depth (centred) over the depths where familiar and "
    "novel questions both occur: novelty cost - per-hop cost at the design's centre (logit)",
    "task x seed (every run of one task and seed shares its data)",
    "novelty and depth are crossed inside each run, at depths the model trained on (knowledge_graph's crossed "
    "split); runs where they are not crossed do not enter; control: the mean novelty and hop costs",
    "a model whose errors grow with depth alone scores < 0; equal log-odds costs score 0 (placebo: "
    "tests/test_placebo_examples.py)",
    0.5, claim4, "fig-examples", draw, "accuracy by novelty and depth, learned runs pooled",
    "Does a novel combination cost more than one more hop?", table=table)
