"""The verdict rule is calibrated: on synthetic studies shaped like real ones with no effect, each claim's test
rejects at the nominal rate (plus Monte Carlo error), and Holm's correction keeps the family-wise rate at alpha; with
a large planted effect each claim is found (so the null check cannot pass by never deciding anything)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fracturelab.study.claims import CLAIMS
from fracturelab.study.spec import AnalysisSettings
from fracturelab.study.stats import holm
from fracturelab.study.verdicts import decide
from synthetic_study import synthetic

REPS = 200
ALPHA = 0.05
# one-sided 99 % Monte Carlo bound on a binomial rate of ALPHA over REPS replicates
BOUND = ALPHA + 2.33 * math.sqrt(ALPHA * (1 - ALPHA) / REPS)
STRONG = {1: 2.0, 2: 0.8, 3: 0.4, 4: 0.4, 5: 0.15, 6: 0.05, 7: 0.05, 8: 2.0, 9: 0.2}


@pytest.fixture(scope="module")
def null_pvalues():
    s = AnalysisSettings(n_boot=100)
    p = {i: [] for i in CLAIMS}
    for rep in range(REPS):
        rows, ex = synthetic(seeds=3, rng=1000 + rep)
        for i, c in CLAIMS.items():
            p[i].append(c.fn(rows, ex, s).p())
    return {i: np.array(v) for i, v in p.items()}


@pytest.mark.slow
@pytest.mark.parametrize("cid", sorted(CLAIMS))
def test_false_verdict_rate_at_most_alpha(null_pvalues, cid):
    p = null_pvalues[cid]
    assert np.isfinite(p).mean() > 0.9, f"claim {cid}: the test gave no p-value in most null studies"
    rate = float((p[np.isfinite(p)] <= ALPHA).mean())
    assert rate <= BOUND, f"claim {cid}: {rate:.3f} of null studies rejected (nominal {ALPHA}, bound {BOUND:.3f})"


@pytest.mark.slow
def test_holm_family_wise_rate(null_pvalues):
    rejected = 0
    for rep in range(REPS):
        adj = holm({i: float(null_pvalues[i][rep]) for i in CLAIMS})
        rejected += any(v <= ALPHA for v in adj.values())
    assert rejected / REPS <= BOUND


@pytest.mark.slow
def test_planted_effects_are_found():
    s = AnalysisSettings(n_boot=200)
    found = {i: 0 for i in CLAIMS}
    reps = 20
    for rep in range(reps):
        rows, ex = synthetic(seeds=8, effect=STRONG, rng=rep)
        for c in decide(rows, ex, s):
            found[c["id"]] += c["verdict"] == "supported"
    weak = {i: n / reps for i, n in found.items() if n / reps < 0.8}
    assert not weak, f"claims rarely supported despite a large planted effect: {weak}"


def test_null_effects_give_no_effect_when_precise():
    """With many units and no effect, a precise interval inside the SESOI is called 'no effect', not inconclusive."""
    rows, ex = synthetic(seeds=30, rng=7)
    out = {c["id"]: c for c in decide(rows, ex, AnalysisSettings(n_boot=200), ids=[5, 6, 7])}
    assert {c["verdict"] for c in out.values()} <= {"no effect", "inconclusive"}
    assert sum(c["verdict"] == "no effect" for c in out.values()) >= 2, out


def test_untrained_runs_enter_no_claim():
    """Runs below the learned threshold are left out: every task claim is inconclusive with that reason."""
    rows, ex = synthetic(seeds=3, effect=STRONG, rng=3, learned=False)
    for c in decide(rows, ex, AnalysisSettings(n_boot=50), ids=[2, 3, 4, 5, 6, 7, 8, 9]):
        assert c["verdict"] == "inconclusive", c


def test_power_is_the_t_tests_rejection_rate_and_stays_finite():
    """stats.power against a simulation of the t test it describes, and finite where scipy's noncentral t is not
    (large noncentralities: precise claims)."""
    from fracturelab.study.stats import power
    from scipy import stats as st

    rng = np.random.default_rng(0)
    n, sd, alpha = 12, 1.0, 0.05
    for effect in (0.0, 0.4, 0.9):
        x = rng.normal(effect, sd, (20000, n))
        t = x.mean(1) / (x.std(1, ddof=1) / math.sqrt(n))
        sim = float((np.abs(t) > st.t.ppf(1 - alpha / 2, n - 1)).mean())
        assert abs(power(effect, sd, n, alpha) - sim) < 0.015, (effect, sim)
    big = [power(e, 0.005 * math.sqrt(n), n, 0.0167) for e in (0.05, 0.1, 0.5)]
    assert all(math.isfinite(p) and 0.999 < p <= 1.0 + 1e-12 for p in big), big
