"""Synthetic studies shaped like real ones, with a planted effect per claim (0 = none), for the calibration and power
checks. Rows and examples have the fields study/measures.py reads from a real store: four configurations
(leave_square_out mlp and cppn, factors mlp, knowledge_graph transformer) x scratch/pretrain/bimt x seeds, with offsets
between configurations (so a method that pools across them without care would be fooled), plus reference CPPNs with
replicas and untrained controls.

    rows, examples = synthetic(seeds=3, effect={2: 0.5}, rng=0)   # claim id -> planted effect
"""
from __future__ import annotations

import numpy as np

from fracturelab.study.measures import CPPN_COMPOSITE, TASK_COMPOSITE

CONFIGS = (("leave_square_out", "mlp"), ("leave_square_out", "cppn"), ("factors", "mlp"),
           ("knowledge_graph", "transformer"))
N_EX = 60  # examples per group of a run


def _bern(rng, p, n):
    return rng.random(n) < np.clip(p, 0.0, 1.0)


def _examples(rng, task, eff3, eff4):
    """Per-example rows: factors has new_triple (all pairs seen) vs test_ood; knowledge_graph has familiar and novel
    2-hop and novel 3-hop questions."""
    ex = []
    if task == "factors":
        p = rng.uniform(0.4, 0.8)
        for split, sf, acc in (("new_triple", 1.0, p + eff3 / 2), ("test_ood", 2 / 3, p - eff3 / 2)):
            ex += [{"split": split, "correct": int(c), "seen_frac": sf, "depth": None, "meta": {"heldout_pair": 0}}
                   for c in _bern(rng, acc, N_EX)]
    if task == "knowledge_graph":
        p, a = rng.uniform(0.6, 0.9), rng.uniform(0.05, 0.3)
        # novelty effect a at depth 2; complexity effect per hop a - eff4 among novel questions
        for split, nov, depth, acc in (("test_id", 0, 2, p), ("test_ood", 1, 2, p - a),
                                       ("ood_hard", 1, 3, p - a - (a - eff4))):
            ex += [{"split": split, "correct": int(c), "seen_frac": 1.0 if nov == 0 else 0.5, "depth": depth,
                    "meta": {"heldout_pairs": nov}} for c in _bern(rng, acc, N_EX)]
    return ex


def synthetic(seeds: int = 3, effect: dict | None = None, rng: int = 0, refs: int = 6, learned: bool = True,
              lower: dict | None = None):
    """`lower`: task -> how far bimt lowers the latent fracture on it (default 3, which the manipulation check finds;
    0 or below makes it fail on that task)."""
    eff = {k: 0.0 for k in range(1, 10)} | (effect or {})
    g = np.random.default_rng(rng)
    rows, examples = [], {}
    for t, m in CONFIGS:
        off = {n: g.normal(0, 2) for n, _, _ in TASK_COMPOSITE}      # configurations differ in every metric
        base_ood, base_iou, base_gap = g.uniform(0.2, 0.8), g.uniform(0.2, 0.6), g.normal(0, 0.05)
        for regime in ("scratch", "pretrain", "bimt"):
            for seed in range(seeds):
                key = f"{t}-{m}-{regime}-{seed}"
                r = {"key": key, "kind": "task", "task": t, "model": m, "scale": "base", "regime": regime,
                     "seed": seed, "train.id_acc": g.uniform(0.97, 1.0) if learned else g.uniform(0.0, 0.2),
                     "train.n_params": 1000.0}
                latent = g.normal()
                for n, sign, _ in TASK_COMPOSITE:
                    init = off[n] + g.normal()
                    # claim 8: the learned part moves with regime by eff[8] more than with architecture
                    learned_part = eff[8] * (regime == "pretrain") + g.normal(0, 1)
                    r["init." + n] = init
                    # claim 9's intervention lowers fracture clearly by default (its manipulation check passes)
                    r[n] = init + learned_part + sign * (latent - (lower or {}).get(t, 3.0) * (regime == "bimt"))
                ood_err = eff[2] * latent + np.sqrt(max(0.0, 1 - eff[2] ** 2)) * g.normal()
                r["train.ood_acc"] = float(np.clip(base_ood - 0.15 * ood_err + eff[9] * (regime == "bimt"), 0, 1))
                r["reuse.iou"] = base_iou + g.normal(0, 0.05) - eff[5] * (regime == "pretrain")
                init_gap = base_gap + g.normal(0, 0.02)
                r["sparsity.hoyer_gap_init"] = init_gap
                r["sparsity.hoyer_gap_final"] = init_gap + eff[6] + g.normal(0, 0.02)
                r["sparsity.ckpt.50.hoyer_gap"] = r["sparsity.hoyer_gap_final"] - eff[7] + g.normal(0, 0.02)
                rows.append(r)
                examples[key] = _examples(g, t, eff[3], eff[4])
    for i in range(refs):
        mu = {n: g.normal(0, 1) for n, _, _ in CPPN_COMPOSITE}
        for regime, reps in (("reference", 1), ("sgd", 3), ("init", 3)):
            for seed in range(reps):
                r = {"key": f"ref{i}-{regime}-{seed}", "kind": "cppn", "task": "cppn", "model": f"ref{i}",
                     "scale": "-", "reference": f"ref{i}", "regime": regime, "seed": seed,
                     "cppn.fit_mse": 0.0 if regime == "reference" else (1e-3 if regime == "sgd" else 0.2)}
                shift = {"reference": 0.0, "sgd": eff[1], "init": 3.0}[regime]
                for n, sign, _ in CPPN_COMPOSITE:
                    r[n] = mu[n] + sign * shift + g.normal(0, 1)
                rows.append(r)
    return rows, examples
