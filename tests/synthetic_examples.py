"""One synthetic run's per-example test outcomes, shaped as the store gives them (study/per_example.parse_meta), for the
placebo, null and calibration checks of claims 3 and 4 (study/per_example.py).

Each example is right with probability sigmoid(logit),
    logit = BASE_LOGIT + skill + coverage_effect (seen_frac - m) - novelty_cost novel - depth_cost (depth - 2),
m = the mean of seen_frac's distribution in the example's (split, depth) cell, so a coverage effect acts only inside a
cell and never moves a split's accuracy. The planted claim-4 effect is novelty_cost - depth_cost (logit; exact with
coverage_effect = 0, slightly attenuated otherwise, since a logit averaged over coverage is not the logit of the
average); the planted claim-3 effect is coverage_effect (logit per unit seen_frac).

Designs (task, design):
- ("knowledge_graph", "crossed"): test_id = familiar questions, test_ood = novel ones (meta heldout_pairs 1), each at
  depths 2, 3, 4; seen_frac = 1 - u / W with W = d (d + 1) / 2 sub-questions and u unseen ones drawn uniformly from
  {0, 1, 2} (familiar) or {d - 1, d, d + 1} (novel): graded inside each split at each depth, lower when novel.
- ("knowledge_graph", "composition"): today's composition split: test_id familiar 2-hop, test_ood novel 2-hop,
  ood_hard novel 3-hop (novelty and depth never crossed).
- ("factors", "graded"): test_id (seen_frac 1), new_triple (familiar pairs, seen_frac 2/3 or 1) and test_ood (novel,
  meta heldout_pair 1, seen_frac 1/3 or 2/3); no depth. Coverage is lower in test_ood and graded inside each split.
- ("factors", "constant"): the real factors task: seen_frac 1 on test_id and new_triple, 2/3 on test_ood.

    ex = run_examples(np.random.default_rng(0), "knowledge_graph", novelty_cost=1.0, depth_cost=1.0)
"""
from __future__ import annotations

import numpy as np

BASE_LOGIT = 2.2
"""Log-odds of a familiar 2-hop (or factors ID) example at skill 0: about 0.9 right, the learned range."""
N_PER_CELL = 40
"""Default examples per (split, depth) cell."""
DESIGNS = {"knowledge_graph": ("crossed", "composition"), "factors": ("graded", "constant")}


def _kg_coverage(rng, depth: int, novel: int, n: int) -> tuple[np.ndarray, float]:
    w = depth * (depth + 1) / 2
    u = np.arange(3) + (depth - 1) * novel
    return 1 - rng.choice(u, n) / w, float(1 - u.mean() / w)


def _cells(rng, task: str, design: str, n: int):
    """(split, novel, depth, seen_frac array, design mean of seen_frac) per cell."""
    if task == "knowledge_graph":
        plan = ([("test_id", 0, d) for d in (2, 3, 4)] + [("test_ood", 1, d) for d in (2, 3, 4)]
                if design == "crossed" else [("test_id", 0, 2), ("test_ood", 1, 2), ("ood_hard", 1, 3)])
        return [(split, nv, d, *_kg_coverage(rng, d, nv, n)) for split, nv, d in plan]
    levels = {"test_id": [1.0], "new_triple": [1.0], "test_ood": [2 / 3]} if design == "constant" else \
        {"test_id": [1.0], "new_triple": [2 / 3, 1.0], "test_ood": [1 / 3, 2 / 3]}
    return [(split, int(split == "test_ood"), None, rng.choice(lv, n), float(np.mean(lv)))
            for split, lv in levels.items()]


def run_examples(rng, task: str, coverage_effect: float = 0.0, novelty_cost: float = 0.0, depth_cost: float = 0.0,
                 skill: float = 0.0, n: int | None = None, design: str | None = None) -> list[dict]:
    """One run's example rows (fields split, correct, depth, seen_frac, nn_dist, meta) under the module's logit
    model; n = examples per (split, depth) cell (default N_PER_CELL); design = one of DESIGNS[task] (default the
    first)."""
    if task not in DESIGNS or (design is not None and design not in DESIGNS[task]):
        raise ValueError(f"unknown synthetic design {task!r}/{design!r}: expected one of {DESIGNS}")
    design = design or DESIGNS[task][0]
    n = n or N_PER_CELL
    flag = "heldout_pairs" if task == "knowledge_graph" else "heldout_pair"
    out = []
    for split, nv, depth, sf, mean in _cells(rng, task, design, n):
        logit = (BASE_LOGIT + skill + coverage_effect * (sf - mean) - novelty_cost * nv
                 - depth_cost * ((depth or 2) - 2))
        correct = rng.random(n) < 1 / (1 + np.exp(-logit))
        nn = rng.uniform(0.0, 0.3, n) + 0.3 * nv  # nearest-training distance: not read by claims 3 and 4
        out += [{"split": split, "correct": int(c), "depth": depth, "seen_frac": round(float(x), 6),
                 "nn_dist": round(float(d), 6), "meta": {flag: nv}} for c, x, d in zip(correct, sf, nn)]
    return out
