"""The claims a study decides, keyed by id: one plug-in module per claim, registered here, one line each.

A claim module states, as measured, what its claim says, its measure, its unit of analysis, its control (what could
make it fail) and why a network without the property would not produce the effect (base.Claim); it holds the measure
(study rows -> stats.Estimate) and the figure the report draws. Shared measure helpers are in study/measures.py,
per_example.py (logit fits on test examples) and intervention.py (seed pairs), the statistics in stats.py, the
verdicts in verdicts.py. To add a claim: write its module beside these, add its line below; the report, summary.json
and tests/test_contract_claims.py pick it up.

Where the literature's wording asks for more than the study measures, the claim is reworded to what is measured and
`reworded` says how.
"""
from __future__ import annotations

from . import (claim1_cppn_replicas, claim2_fracture_failure, claim3_coverage, claim4_novelty, claim5_pretrain_reuse,
               claim6_sparsity, claim7_exposure, claim8_regime, claim9_intervention)
from . import claim10_binding
from . import claim11_scale
from .base import UNIT_BREAKDOWNS, Claim, Row, Table

CLAIMS: dict[int, Claim] = {c.id: c for c in (
    claim1_cppn_replicas.CLAIM,
    claim2_fracture_failure.CLAIM,
    claim3_coverage.CLAIM,
    claim4_novelty.CLAIM,
    claim5_pretrain_reuse.CLAIM,
    claim6_sparsity.CLAIM,
    claim7_exposure.CLAIM,
    claim8_regime.CLAIM,
    claim9_intervention.CLAIM,
    claim10_binding.CLAIM,
    claim11_scale.CLAIM,
)}


__all__ = ["CLAIMS", "UNIT_BREAKDOWNS", "Claim", "Row", "Table"]
