"""Claim 3 (Faith and Fate): inside one test split at one depth, examples whose computation subgraphs were more fully
seen in training are more often right. Per learned run, the information-weighted mean over its (split, depth) cells
of the Firth logit slope of correct on seen_frac (per_example.coverage_slopes defines it); the runs' mean over
configurations, its interval over task x seed clusters."""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..measures import _mean_over_runs, _missing, learned
from ..per_example import _test_examples, coverage_slopes
from ..stats import Estimate
from .drawing import COLOURS, b64, empty, new_figure
from .base import Claim

BIN = 0.1
"""Width of the seen_frac bins the figure pools examples in."""


def claim3(rows, examples, s) -> Estimate:
    rs, caveats = learned(rows, s)
    values = coverage_slopes([examples.get(r["key"], []) for r in rs])
    pairs = [(r, v) for r, v in zip(rs, values) if v is not None]
    if len(pairs) < len(rs):
        caveats.append(f"{len(rs) - len(pairs)} of {len(rs)} learned runs left out: no split holds 2+ coverage "
                       "levels at one depth (coverage that differs only between splits restates the split)")
    if len(pairs) < 2:
        return _missing(caveats, "fewer than 2 learned runs whose test examples differ in subgraph coverage inside "
                        "one split at one depth")
    est = _mean_over_runs([p[0] for p in pairs], [p[1] for p in pairs], s, caveats)
    est.caveats.append("effect: log-odds of a correct answer per unit seen_frac, inside (split, depth) cells")
    return est


def coverage_accuracy(rows: list[dict], examples: dict, s) -> dict:
    """{task: {split: [(seen_frac bin centre, accuracy, examples)]}} over learned runs' test examples with a
    seen_frac, pooled in bins of width BIN."""
    rs, _ = learned(rows, s)
    cnt: dict = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for r in rs:
        for e in _test_examples(examples.get(r["key"], [])):
            if e.get("seen_frac") is not None:
                c = cnt[(r["task"], e["split"])][min(int(e["seen_frac"] / BIN), round(1 / BIN) - 1)]
                c[0] += int(e["correct"])
                c[1] += 1
    out: dict = {}
    for (t, split), bins in sorted(cnt.items()):
        out.setdefault(t, {})[split] = [((b + 0.5) * BIN, k / n, n) for b, (k, n) in sorted(bins.items())]
    return out


def draw(res, entry: dict) -> str:
    """Per task, accuracy against seen_frac in each test split (learned runs pooled)."""
    acc = coverage_accuracy(res.rows, res.examples, res.spec.analysis)
    if not acc:
        return empty("claim 3: no learned run's test examples carry seen_frac")
    names = sorted({split for splits in acc.values() for split in splits})  # one colour per split in every panel
    fig = new_figure((3.4 * len(acc), 3.0))
    axes = np.atleast_1d(fig.subplots(1, len(acc)))
    for ax, (t, splits) in zip(axes, acc.items()):
        for split, pts in splits.items():
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", c=COLOURS[names.index(split) % 7], label=split)
        ax.set(title=t, xlabel="seen_frac", ylabel="accuracy", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
        ax.legend(fontsize=7)
    fig.tight_layout()
    return b64(fig)


CLAIM = Claim(
    3, "within a test split at one depth, examples whose computation subgraphs were more fully seen in "
    "training are more often right",
    "Faith and Fate (Dziri et al. 2023)",
    "per run, in each (split, depth) cell with 2+ seen_frac values, the Firth logit slope of correct on "
    "seen_frac, cells weighted by the slope's information at no effect (logit per unit seen_frac)",
    "task x seed (every run of one task and seed shares its data)",
    "coverage is compared only inside one split at one depth, so coverage that differs between splits or depths "
    "never counts (placebo: coverage that follows the split with no effect inside it gives no verdict)",
    "a model whose success does not depend on seen sub-computations gives slope 0 at any accuracy, at ceiling "
    "or floor",
    1.0, claim3, "fig-coverage", draw,
    "accuracy against the share of the example's sub-computations seen in training (seen_frac), per test split, "
    "learned runs pooled (depths pooled: the claim compares inside one depth)",
    "Are examples whose sub-computations were seen more often right?",
    reworded="the source contrasts seen and unseen computation graphs; measured as graded coverage inside a split, "
    "since across splits coverage restates the split label")
