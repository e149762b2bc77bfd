"""Placebos for claims 8 and 9: synthetic studies where the property is absent by construction while every gate
passes (runs learned, the manipulation check passes), so the measure itself runs and must give no verdict — and the
measures they replaced, written out here, did give one.

- claim 8: final fracture ignores architecture (and initialization), while the values at initialization differ by
  architecture; final - init then "regresses toward the mean" and hands architecture an effect (Lord's paradox);
- claim 9: the intervention only costs test_id accuracy, and OOD accuracy follows test_id; OOD change averaged over
  pairs inside the 0.05 window is then an ID cost passing for an OOD effect."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fracturelab.study import intervention as I
from fracturelab.study import measures as M
from fracturelab.study.claims.claim8_regime import claim8
from fracturelab.study.claims.claim9_intervention import claim9
from fracturelab.study.spec import AnalysisSettings
from fracturelab.study.stats import codes, config_mean, estimate
from synthetic_study import Mess, synthetic

REPS = 200
BOUND = 0.05 + 2 * math.sqrt(0.05 * 0.95 / REPS)


def old_claim8(rows, s):
    """The replaced measure: unique R^2 of regime minus model in the learned part, final - init."""
    rs = [r for r in M.learned(rows, s)[0] if r["regime"] not in s.interventions and r["task"] == "leave_square_out"]
    names = [m for m, _, _ in M.TASK_COMPOSITE]
    part = np.array([[r[m] - M.init_value(r, m) for m in names] for r in rs])
    regime, model = codes([r["regime"] for r in rs]), codes([r["model"] for r in rs])

    def shares(y, idx):
        one, dr, dm = np.ones((len(y), 1)), M.dummies(regime[idx]), M.dummies(model[idx])
        full = M.r2(y, np.hstack([one, dr, dm]))
        return (full - M.r2(y, np.hstack([one, dm]))) - (full - M.r2(y, np.hstack([one, dr])))

    def stat(idx):
        return float(np.mean([shares(part[idx, j], idx) if len(np.unique(model[idx])) > 1 else math.nan
                              for j in range(len(names))]))
    return estimate(stat, [M.cluster(r) for r in rs], [r["task"] for r in rs])


def old_claim9(rows, s):
    """The replaced effect: mean over configurations of the matched pairs' OOD change."""
    pairs = [p for p in I.seed_pairs(rows, s)[0] if p["matched"]]
    return estimate(config_mean([I.gained(p) for p in pairs], [M.config(p) for p in pairs]),
                    [M.cluster(p) for p in pairs], [p["task"] for p in pairs])


def _rates(mess, claim, old, seeds=6):
    s = AnalysisSettings()
    new_p, old_p = [], []
    for rep in range(REPS):
        rows, ex = synthetic(seeds=seeds, rng=50_000 + rep, mess=mess)
        new_p.append(claim(rows, ex, s).p())
        old_p.append(old(rows, s).p())
    new_p, old_p = np.array(new_p), np.array(old_p)
    return float((new_p <= 0.05).mean()), float((old_p <= 0.05).mean()), float(np.isfinite(new_p).mean())


@pytest.mark.slow
def test_final_fracture_that_ignores_architecture_gives_claim8_no_verdict():
    new, old, finite = _rates(Mess(flat_final=True), claim8, old_claim8)
    assert finite > 0.9
    assert new <= BOUND, f"claim 8 decided {new:.2f} of placebo studies"
    assert old > 0.5, f"the final - init measure should fail this placebo (decided {old:.2f})"


@pytest.mark.slow
def test_an_intervention_that_only_costs_id_accuracy_gives_claim9_no_verdict():
    new, old, finite = _rates(Mess(id_cost=0.03), claim9, old_claim9, seeds=10)
    assert finite > 0.9
    assert new <= BOUND, f"claim 9 decided {new:.2f} of placebo studies"
    # the old measure decides far above alpha (0.2-0.35 over random streams; 2 x BOUND is 6 binomial SEs above 0.05)
    assert old > 2 * BOUND, f"the matched-window mean should fail this placebo (decided {old:.2f})"
