"""Computation-subgraph coverage and instance novelty per example, joined to per-example correctness (Dziri et al.
2023, "Faith and Fate", arXiv 2305.18654: correct answers have far higher training coverage of their computation
subgraphs; and the novelty-versus-complexity question of the reference sheet).

Per test example (test_id, test_ood and any extra set, capped): correct = exact match; seen_frac = the fraction of
its sub-computations seen in training (tasks that have it); nn_dist = distance to the nearest training input;
depth = its computation graph's depth; for multiplication, min_node_coverage = the smallest Faith-and-Fate subgraph
coverage over its operation nodes. Reported (NaN where a task lacks the quantity or it does not vary):
- acc_id, acc_ood: accuracy per split (of the scored subset); n: examples scored;
- acc_seen / acc_unseen: accuracy where seen_frac == 1 / < 1;
- acc_by_coverage_slope: least-squares slope of correct on seen_frac (> 0: more coverage, more often right);
- novelty_auc: ROC AUC of nn_dist as a predictor of an error (0.5 = no information, 1 = errors are the novel ones);
- coverage_auc: ROC AUC of 1 - seen_frac as a predictor of an error;
- acc_by_depth_slope: slope of correct on depth (complexity);
- node_coverage_auc: ROC AUC of -log(1 + min_node_coverage) as a predictor of an error (multiplication).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from ..train.loop import evaluate
from .common import batch_size, cap
from ..settings import bounded


@dataclass
class CoverageSettings:
    """Settings of the coverage probe."""

    max_examples: int = bounded(2000, 1)
    """Examples per test set (seeded subset)."""


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    ok = ~np.isnan(x)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0:
        return float("nan")
    return float(np.polyfit(x[ok], y[ok], 1)[0])


def _auc(score: np.ndarray, wrong: np.ndarray) -> float:
    ok = ~np.isnan(score)
    if ok.sum() < 3 or len(np.unique(wrong[ok])) < 2 or np.ptp(score[ok]) == 0:
        return float("nan")
    return float(roc_auc_score(wrong[ok], score[ok]))


def _min_node_coverage(meta: dict) -> float:
    nodes = meta.get("graph", {}).get("nodes") if isinstance(meta.get("graph"), dict) else None
    covs = [n["coverage"] for n in nodes or [] if n.get("op") != "in" and "coverage" in n]
    return float(min(covs)) if covs else np.nan


def coverage_table(model, examples) -> dict[str, np.ndarray]:
    """Per-example correct, seen_frac, nn_dist, depth, min_node_coverage (NaN where absent)."""
    correct = evaluate(model, examples, batch_size(model))[0]

    def col(fn):
        return np.array([fn(e.meta) for e in examples], dtype=np.float64)

    return {"correct": correct.astype(np.float64),
            "seen_frac": col(lambda m: m.get("seen_frac", np.nan)),
            "nn_dist": col(lambda m: m.get("nn_dist", np.nan)),
            "depth": col(lambda m: m.get("depth", np.nan)),
            "min_node_coverage": col(_min_node_coverage)}


def coverage_scores(t: dict[str, np.ndarray]) -> dict[str, float]:
    c, wrong = t["correct"], 1 - t["correct"]
    sf = t["seen_frac"]
    has = ~np.isnan(sf)
    seen, unseen = has & (sf >= 1), has & (sf < 1)
    return {"n": float(len(c)),
            "acc_seen": float(c[seen].mean()) if seen.any() else float("nan"),
            "acc_unseen": float(c[unseen].mean()) if unseen.any() else float("nan"),
            "acc_by_coverage_slope": _slope(sf, c),
            "novelty_auc": _auc(t["nn_dist"], wrong),
            "coverage_auc": _auc(1 - sf, wrong),
            "acc_by_depth_slope": _slope(t["depth"], c),
            "node_coverage_auc": _auc(-np.log1p(t["min_node_coverage"]), wrong)}


def coverage_probe(model, data, config=None, seed: int = 0, checkpoints=None,
                   settings: CoverageSettings | None = None) -> dict[str, float]:
    s = settings or CoverageSettings()
    sets = {k: cap(v, s.max_examples, seed, 10 + i) for i, (k, v) in enumerate(data.sets().items()) if k != "train"}
    tables = {k: coverage_table(model, v) for k, v in sets.items()}
    pooled = {key: np.concatenate([t[key] for t in tables.values()]) for key in next(iter(tables.values()))}
    out = coverage_scores(pooled)
    out["acc_id"] = float(tables["test_id"]["correct"].mean())
    out["acc_ood"] = float(tables["test_ood"]["correct"].mean())
    return out
