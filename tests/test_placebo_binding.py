"""Placebos and positive controls for claim 10 (study/claims/claim10_binding.py), on synthetic binding studies built
without training (tests/synthetic_binding.py).

- (i) wrong answers uniform over the asked attribute's other values: the binding share sits at its chance share, so
  part (a) must rarely give "supported" or "contradicted";
- (ii) a planted link between fracture and the binding-error rate, then the fracture values permuted across runs
  within configurations: part (b) must rarely decide, although the configurations differ in both fracture and rate
  (a measure that pooled configurations would find that link);
- positive controls: wrong answers planted well above chance give (a) "supported"; the unpermuted link gives (b)
  "supported"; both give the claim "supported".
"""
from __future__ import annotations

import math

import numpy as np
from synthetic_binding import binding_study

from fracturelab.study.claims.claim10_binding import SESOI_A, SESOI_B, claim10, rate_fracture, share_excess
from fracturelab.study.spec import AnalysisSettings
from fracturelab.study.stats import verdict

REPS = 40
BOUND = 0.05 + 2 * math.sqrt(0.05 * 0.95 / REPS)
"""Largest share of placebo studies allowed a verdict: the level plus two binomial standard errors."""
S = AnalysisSettings()


def _verdict(est, sesoi: float) -> str:
    return verdict(est, est.p(), S.alpha, 1 - S.alpha, sesoi)[0]


def _decided(part, sesoi: float, **kw) -> tuple[float, float]:
    """(share of REPS studies where the part says supported or contradicted, share with an estimate)."""
    ests = [part(*binding_study(rng=1000 + rep, **kw), S) for rep in range(REPS)]
    vs = [_verdict(e, sesoi) for e in ests]
    return float(np.mean([v in ("supported", "contradicted") for v in vs])), float(np.mean([not e.missing
                                                                                          for e in ests]))


def test_wrong_answers_uniform_over_the_other_values_give_part_a_no_verdict():
    decided, have = _decided(share_excess, SESOI_A, bias=0.0)
    assert have == 1.0
    assert decided <= BOUND, f"part (a) decided {decided:.2f} of placebo studies"


def test_binding_errors_planted_above_chance_support_part_a():
    vs = [_verdict(share_excess(*binding_study(rng=2000 + rep, bias=0.3), S), SESOI_A) for rep in range(10)]
    assert vs.count("supported") >= 9, vs


def test_fracture_permuted_within_configurations_gives_part_b_no_verdict():
    decided, have = _decided(rate_fracture, SESOI_B, link=1.0, permute=True)
    assert have == 1.0
    assert decided <= BOUND, f"part (b) decided {decided:.2f} of placebo studies"


def test_a_planted_link_between_fracture_and_binding_rate_supports_part_b_and_with_a_the_claim():
    vb = [_verdict(rate_fracture(*binding_study(seeds=20, rng=3000 + rep, link=1.0), S), SESOI_B)
          for rep in range(10)]
    assert vb.count("supported") >= 9, vb
    est = claim10(*binding_study(seeds=20, rng=4000, link=1.0, bias=0.3), S)
    assert _verdict(est, 1.0) == "supported", est
    assert set(est.breakdown["part"]) == {"a share - chance", "b fracture ~ rate"}
    assert set(est.breakdown["n"]) == {2, 3}
    only_a = claim10(*binding_study(seeds=20, rng=4000, link=0.0, bias=0.3), S)
    assert _verdict(only_a, 1.0) != "supported", "the claim needs both parts"
