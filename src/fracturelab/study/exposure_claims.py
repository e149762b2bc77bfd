"""Claims 6 and 7 (Jin et al. 2026) on a user's own model's checkpoints (probes/exposure.py reads them; `probe-model
--checkpoint` hands this module's `claims` in as its `decide`), with the study's own statistics (study.stats: the
jackknife, Holm's correction over the two claims, the claims' smallest effects of interest, AnalysisSettings' alpha),
each prompt an independent unit, the prompts stratified by split:
- claim 6 (sparser on less familiar inputs, beyond what the untrained network does): the Hoyer gap of the last
  checkpoint minus that of the first (step 0 = initialization where given; otherwise a caveat says the first
  checkpoint stands in for it);
- claim 7 (the gap grows with exposure): the Hoyer gap of the last checkpoint minus that of the first checkpoint
  after step 0 and before the last (missing with fewer than that).
The effect is positive when the claim holds; verdicts as study.stats.verdict.
"""
from __future__ import annotations

import math

import numpy as np

from .claims.claim6_sparsity import CLAIM as C6
from .claims.claim7_exposure import CLAIM as C7
from .stats import estimate, holm, missing, verdict


def _gap(h: np.ndarray, is_ood: np.ndarray) -> float:
    return float(h[is_ood].mean() - h[~is_ood].mean()) if is_ood.any() and (~is_ood).any() else math.nan


def claims(steps: list[int], H: np.ndarray, is_ood: np.ndarray, alpha: float = 0.05) -> dict:
    """Claims 6 and 7 from per-checkpoint per-prompt Hoyer values H (checkpoints in step order x prompts)."""
    def effect(a: int, b: int):
        def stat(idx):
            return _gap(H[b, idx], is_ood[idx]) - _gap(H[a, idx], is_ood[idx])
        return estimate(stat, np.arange(H.shape[1]), np.where(is_ood, "test_ood", "test_id"), unit="prompt")

    last = len(steps) - 1
    ests = {6: effect(0, last)}
    stand_in = f"no step 0: the first checkpoint (step {steps[0]}) stands in for the initialization"
    caveats = {6: [] if steps[0] == 0 else [stand_in], 7: []}
    mid = [i for i, st in enumerate(steps) if 0 < st and i < last]
    ests[7] = effect(mid[0], last) if mid else missing("no checkpoint after step 0 before the last one", "prompt")
    adj = holm({k: e.p() for k, e in ests.items()})
    order = sorted(adj, key=adj.get)
    out = {}
    for k, e in ests.items():
        claim = C6 if k == 6 else C7
        level = 1 - alpha / (len(ests) - order.index(k)) if k in adj else 1 - alpha / len(ests)
        v, reason = verdict(e, adj.get(k, math.nan), alpha, level, claim.sesoi)
        compared = [steps[0], steps[last]] if k == 6 else ([steps[mid[0]], steps[last]] if mid else [])
        out[str(k)] = {"claim": claim.text, "measure": "Hoyer OOD - ID gap at the summary layer, last checkpoint "
                       "minus " + ("the first" if k == 6 else "the first after step 0"), "steps": compared,
                       "verdict": v, "reason": reason, "effect": e.effect, "ci": e.ci(level), "level": level,
                       "p_holm": adj.get(k, math.nan), "se": e.se, "df": e.df, "n": e.n, "unit": "prompt",
                       "sesoi": claim.sesoi, "caveats": caveats[k] + list(e.caveats)}
    return out
