"""The claims a study decides, keyed by id: each states, as measured, what it says, its measure, its unit of
analysis, its control (what could make it fail) and why a network without the property would not produce the
effect. The measures are in measures.py (claim 9's in intervention.py), the statistics in stats.py, the verdicts in verdicts.py.

Where the literature's wording asks for more than the study measures, the claim is reworded to what is measured and
`reworded` says how.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import measures as M
from .intervention import claim9


@dataclass(frozen=True)
class Claim:
    """One claim of the study."""

    id: int
    """Stable id (summary.json and the report key claims by it)."""
    text: str
    """The claim as measured (effect > 0 = what it says)."""
    source: str
    """Where the claim comes from."""
    measure: str
    """The effect, in words."""
    unit: str
    """The independent unit the interval resamples."""
    control: str
    """The control that could make the claim fail."""
    why: str
    """Why a network without the property would not produce the effect."""
    sesoi: float
    """Default smallest effect of interest (the spec's analysis.sesoi overrides it), in the effect's units."""
    figure: str
    """The report's figure behind it."""
    fn: Callable
    """fn(rows, examples_by_cell, analysis settings) -> stats.Estimate."""
    reworded: str = ""
    """How and why the wording differs from the source's, if it does."""


CLAIMS: dict[int, Claim] = {c.id: c for c in (
    Claim(1, "networks with identical outputs can differ in fracture: SGD replicas of an evolved CPPN are more "
          "fractured than the CPPN they reproduce",
          "FER (Kumar, Clune, Lehman, Stanley 2025)",
          "mean over reference networks of (replica - reference) on a composite of effective-dimension ratio, "
          "symmetric fraction (negated) and roughness, each in units of its sd over the study's CPPNs",
          "reference network (its output-matched replicas averaged)",
          "untrained networks of the same architecture and SGD replicas of another architecture, on the same scale "
          "(summary: control); replicas whose render is not within match_mse of the reference never count",
          "the metrics are ratios and fractions, not unit counts, so a replica that reproduced the reference's "
          "factored maps would score 0; an untrained net cannot enter because it does not match the output",
          0.5, "fig-cppn", M.claim1,
          "FER's count of novel maps is reported but not used: it is the unit count for any generic net"),
    Claim(2, "fracture predicts failure on novel compositions beyond what in-distribution accuracy predicts",
          "the open question (Greff et al. 2020; FER)",
          "partial Spearman, within configurations, of a fixed fracture composite with OOD error given test_id "
          "accuracy, the composite at initialization, and regime",
          "training run",
          "the same networks at initialization (partialled out), and each component reported alone",
          "a network whose learned fracture is unrelated to its OOD failure gives 0 whatever its architecture, "
          "since the architecture's own contribution is removed with the value at initialization",
          0.1, "fig-corr", M.claim2),
    Claim(3, "within a test split, models succeed where the instance's computation subgraphs were all seen in "
          "training and fail where not",
          "Faith and Fate (Dziri et al. 2023)",
          "per run, among non-ID test examples at the same depth: accuracy where seen_frac = 1 minus where < 1 "
          "(factors: new_triple against test_ood)",
          "training run",
          "test_id is excluded, so the contrast is never the ID-OOD split itself; depth is matched",
          "a model that composes systematically gets both groups right; one at chance gets both wrong",
          0.05, "fig-examples", M.claim3),
    Claim(4, "failure follows the novelty the split manipulates more than complexity",
          "Faith and Fate (Dziri et al. 2023)",
          "per run: accuracy drop from familiar to novel combinations at matched depth, minus the drop per extra "
          "step of depth at matched novelty (accuracy differences: finite under separation, sign kept)",
          "training run",
          "each effect is measured at a fixed level of the other; novelty is the held-out pair the split holds out",
          "a model whose errors grow with depth alone scores below 0; one with no errors scores 0",
          0.05, "fig-examples", M.claim4),
    Claim(5, "pretraining makes the subnetworks of different output parts more separable (less shared weight)",
          "Break It Down (Lepori et al. 2023)",
          "reuse IoU between output parts' masks, scratch minus pretrain, same task, model, scale and seed",
          "seed pair (scratch and pretrain runs of one seed)",
          "both regimes start from the same weights, so the difference at initialization is 0 by construction",
          "a pretraining that does not change how output parts share weights gives 0",
          0.05, "fig-regimes", M.claim5,
          "the source's 'more consistent' would compare masks across seeds, whose hidden units are permuted: "
          "not measured; the claim is reworded to separability, which reuse IoU measures"),
    Claim(6, "activations get sparser on less familiar inputs, beyond what the untrained network does",
          "Jin et al. 2026",
          "Hoyer sparsity of the last hidden layer (transformers: after the final norm, as Jin et al.), OOD minus ID, "
          "after training minus at initialization",
          "training run",
          "the same gap at initialization (the inputs alone can differ in sparsity)",
          "a network that does not sparsify unfamiliar inputs keeps its initial gap: 0",
          0.01, "fig-sparsity", M.claim6),
    Claim(7, "that sparsity gap grows with exposure during training",
          "Jin et al. 2026",
          "Hoyer OOD - ID gap of the trained model minus at the first checkpoint during training",
          "training run",
          "the early checkpoint of the same run",
          "a gap fixed early (or present at initialization) gives 0",
          0.01, "fig-sparsity", M.claim7,
          "exposure is varied by training steps only (the spec's checkpoints), not by data size"),
    Claim(8, "fracture depends more on training regime than on architecture",
          "the open bet of this project",
          "unique variance share of regime minus that of architecture in the learned part (final - init) of each "
          "fracture component, on tasks where both are crossed, mean over tasks and components",
          "training run (resampled within task x model x regime)",
          "the value at initialization is subtracted, so architecture's share at init cannot decide it",
          "if architecture decided fracture, its share would exceed regime's: < 0",
          0.1, "fig-variance", M.claim8,
          "'and exposure' dropped: the study varies regime and architecture; exposure enters claim 7"),
    Claim(9, "lowering fracture by training raises accuracy on novel compositions at matched in-distribution accuracy",
          "the causal test of the open question (intervention: BIMT's connection cost, Liu, Gan, Tegmark 2023)",
          "OOD accuracy, intervention regime minus scratch, same task, model, scale and seed, pairs whose test_id "
          "accuracies are within match_id_acc",
          "seed pair (scratch and intervention runs of one seed)",
          "a manipulation check: the intervention must lower the fracture composite (above 0 at two-sided p <= alpha), "
          "else the claim is inconclusive with that reason",
          "if fracture did not cause failure, lowering it would leave OOD accuracy where it was: 0",
          0.03, "fig-intervention", claim9),
)}


def claim_ids() -> list[int]:
    return sorted(CLAIMS)


__all__ = ["CLAIMS", "Claim", "claim_ids"]
