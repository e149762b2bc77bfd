"""The statistics settings of a study spec (its [analysis] table, StudySpec.analysis): read by study/stats.py,
study/verdicts.py and the claims."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AnalysisSettings:
    """Settings of the statistics and the claims' verdicts (study/stats.py, study/verdicts.py)."""

    alpha: float = 0.05
    """Family-wise error rate over the claims (Holm's correction)."""
    sesoi: dict = field(default_factory=dict)
    """Claim id (as a string) -> smallest effect of interest, overriding the claim's default (claims.CLAIMS)."""
    learned_id_acc: float = 0.9
    """A task run counts as trained only at this test_id accuracy or above; the others enter no claim."""
    match_mse: float = 5e-3
    """A CPPN replica whose render is within this MSE of its reference's counts as having the same output."""
    interventions: tuple[str, ...] = ("bimt", "modular")
    """Claim 9's regimes made to lower fracture, each compared with scratch seed by seed (study/intervention.py):
    each one's manipulation check runs at alpha / k (k: those with matched seed pairs in the study) and the claim
    pools those whose check passes. A regime the study does not train has no pairs and is not counted."""
    match_id_acc: float = 0.05
    """Claim 9 compares OOD accuracy only in seed pairs whose test_id accuracies differ by at most this."""

    def __post_init__(self):
        if not self.interventions:
            raise ValueError("interventions is empty: claim 9 needs a regime to compare with scratch")
        if "scratch" in self.interventions:
            raise ValueError("interventions: scratch is what each intervention is compared with, not one of them")
        if len(set(self.interventions)) != len(self.interventions):
            raise ValueError(f"interventions: a regime is listed twice ({list(self.interventions)})")
