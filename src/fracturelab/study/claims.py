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
from . import per_example as E
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
    """The independent unit the interval leaves out in turn (stats.estimate)."""
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
          "symmetric fraction (negated) and roughness, each in units of its sd over the study's CPPNs; every metric "
          "reads only the units the render depends on (a path of nonzero weights to the output and a non-constant "
          "map), so layerization padding never counts",
          "reference network (its output-matched replicas averaged)",
          "untrained networks of the same architecture and SGD replicas of another architecture, on the same scale "
          "(summary: control); replicas whose render is not within match_mse of the reference never count",
          "the metrics are ratios and fractions over the units the render depends on, not unit counts, so a replica "
          "that reproduced the reference's factored maps would score 0, and so does the reference itself with its "
          "unread padding given random weights (tests/test_placebo_cppn.py); an untrained net cannot enter because "
          "it does not match the output",
          0.5, "fig-cppn", M.claim1,
          "FER's count of novel maps is reported but not used: it is the unit count for any generic net"),
    Claim(2, "fracture predicts failure on novel compositions beyond what in-distribution accuracy predicts",
          "the open question (Greff et al. 2020; FER)",
          "Fisher z of the partial Spearman correlation, within configurations, of a fixed fracture composite (dead "
          "units out of every component) with OOD error given test_id accuracy, the composite at initialization, and "
          "regime",
          "task x seed (every run of one task and seed shares its data)",
          "the same networks at initialization (partialled out), and each component reported alone",
          "a network whose learned fracture is unrelated to its OOD failure gives 0 whatever its architecture, "
          "since the architecture's own contribution is removed with the value at initialization",
          0.1, "fig-corr", M.claim2),
    Claim(3, "within a test split at one depth, examples whose computation subgraphs were more fully seen in "
          "training are more often right",
          "Faith and Fate (Dziri et al. 2023)",
          "per run, in each (split, depth) cell with 2+ seen_frac values, the Firth logit slope of correct on "
          "seen_frac, "
          "cells weighted by the slope's information at no effect (logit per unit seen_frac)",
          "task x seed (every run of one task and seed shares its data)",
          "coverage is compared only inside one split at one depth, so coverage that differs between splits or depths "
          "never counts (placebo: coverage that follows the split with no effect inside it gives no verdict)",
          "a model whose success does not depend on seen sub-computations gives slope 0 at any accuracy, at ceiling "
          "or floor",
          1.0, "fig-examples", E.claim3,
          "the source contrasts seen and unseen computation graphs; measured as graded coverage inside a split, since "
          "across splits coverage restates the split label"),
    Claim(4, "failure follows the novelty the split manipulates more than complexity: a held-out relation pair "
          "costs more log-odds than one more hop",
          "Faith and Fate (Dziri et al. 2023)",
          "per run, a Firth logit of correct on novelty (+-1/2) x depth (centred) over the depths where familiar and "
          "novel questions both occur: novelty cost - per-hop cost at the design's centre (logit)",
          "task x seed (every run of one task and seed shares its data)",
          "novelty and depth are crossed inside each run, at depths the model trained on (knowledge_graph's crossed "
          "split); runs where they are not crossed do not enter; control: the mean novelty and hop costs",
          "a model whose errors grow with depth alone scores < 0; equal log-odds costs score 0 (placebo: "
          "tests/test_placebo_examples.py)",
          0.5, "fig-examples", E.claim4),
    Claim(5, "pretraining makes the subnetworks of different output parts more separable (less shared weight)",
          "Break It Down (Lepori et al. 2023)",
          "reuse IoU between output parts' masks, scratch minus pretrain, same task, model, scale and seed",
          "task x seed (its scratch-pretrain pairs: both leave_square_out models of a seed share its data)",
          "both regimes start from the same weights, so the difference at initialization is 0 by construction",
          "a pretraining that does not change how output parts share weights gives 0",
          0.05, "fig-regimes", M.claim5,
          "the source's 'more consistent' would compare masks across seeds, whose hidden units are permuted: "
          "not measured; the claim is reworded to separability, which reuse IoU measures"),
    Claim(6, "activations get sparser on less familiar inputs, beyond what the untrained network does",
          "Jin et al. 2026",
          "Hoyer sparsity of the last hidden layer (transformers: after the final norm, as Jin et al.), OOD minus ID, "
          "after training minus at initialization",
          "task x seed (every run of one task and seed shares its data)",
          "the same gap at initialization (the inputs alone can differ in sparsity)",
          "a network that does not sparsify unfamiliar inputs keeps its initial gap: 0",
          0.01, "fig-sparsity", M.claim6),
    Claim(7, "that sparsity gap grows with exposure during training",
          "Jin et al. 2026",
          "Hoyer OOD - ID gap of the trained model minus at the first checkpoint during training",
          "task x seed (every run of one task and seed shares its data)",
          "the early checkpoint of the same run",
          "a gap fixed early (or present at initialization) gives 0",
          0.01, "fig-sparsity", M.claim7,
          "exposure is varied by training steps only (the spec's checkpoints), not by data size"),
    Claim(8, "fracture depends more on training regime than on architecture",
          "the open bet of this project",
          "chance-adjusted unique variance share of regime minus that of architecture in an ANCOVA of each fracture "
          "component after training on its value at initialization plus regime and architecture, on tasks where "
          "both are crossed, mean over tasks and components",
          "task x seed (every run of one task and seed shares its data)",
          "the value at initialization is a covariate, never subtracted: final - init regresses toward the mean when "
          "architectures start apart, which would hand architecture an effect (placebo: final fracture that ignores "
          "architecture gives no verdict)",
          "if architecture decided fracture, its share would exceed regime's: < 0",
          0.1, "fig-variance", M.claim8,
          "'and exposure' dropped: the study varies regime and architecture; exposure enters claim 7"),
    Claim(9, "lowering fracture by training raises accuracy on novel compositions at matched in-distribution accuracy",
          "the causal test of the open question (intervention: BIMT's connection cost, Liu, Gan, Tegmark 2023)",
          "OOD accuracy, intervention regime minus scratch, same task, model, scale and seed, pairs whose test_id "
          "accuracies are within match_id_acc, read at zero test_id change (OOD change regressed on ID change within "
          "configurations)",
          "task x seed (its scratch-intervention pairs)",
          "a manipulation check: the intervention must lower the fracture composite (above 0 at two-sided p <= alpha), "
          "else the claim is inconclusive with that reason",
          "if fracture did not cause failure, lowering it would leave OOD accuracy where it was: 0",
          0.03, "fig-intervention", claim9),
)}


def claim_ids() -> list[int]:
    return sorted(CLAIMS)


__all__ = ["CLAIMS", "Claim", "claim_ids"]
