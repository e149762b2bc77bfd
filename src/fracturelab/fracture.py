"""The fracture metrics of task networks, declared once (here, below every folder, so that planted/ and study/ read
them without importing the probes and torch): each metric's store name, sign and reason, which of them
are scored on planted structure, and which enter the fracture composite that claims 2, 8 and 9 read.

    from fracturelab.fracture import METRICS, TASK_COMPOSITE, passes
    for name, sign, reason in TASK_COMPOSITE: ...          # sign: + = more fractured

A metric's store name is "<probe>.<summary key>" (the key a probe of fracturelab.probes reports). Every metric here is
scored on planted pairs (fracturelab.planted: a modular and an entangled network computing the same function); its
AUC is the probability that the entangled net scores more fractured than the modular one.
- COMPONENTS: the fracture components the study reports, each alone (claim 2's breakdown "component"), whether or
  not it enters the composite;
- CANDIDATES: other metrics the probes already report, scored on planted structure only;
- TASK_COMPOSITE: the components that enter the composite. The rule (issue 27): a metric enters only if it passes
  on planted structure (AUC >= PLANTED_BAR over >= PLANTED_MIN_PAIRS pairs), and of the passing metrics one per
  probe, the one with the highest AUC (ties: the one that was already a component), so no probe is weighed twice by
  near-copies of one measurement.
Chosen from `fracturelab planted` of 2026-12-07 (docs/planted.md, 59 pairs): crosstalk.spread (AUC 1.00; its
spread_weight and spread_direction, also 1.00, are the same perturbations read two ways, and spread is their mean),
geometry.eff_rank_ratio (0.99; participation_ratio 0.88 fails) and factorization.info_m (1.00 on every task; dci_d
0.93 and info_c 0.96 pass but score lower on the same probe; sign -1: entangled = low InfoM, REFERENCES.md). Two
former members no longer enter: factorization.dci_c (0.82; at chance, 0.50, on leave_square_out, where the probe
reads the dense last layer in which the operands meet) and clusterability.ncut_rel (0.66: it ranks factors'
planted blocks backwards, 0.00; ncut_z likewise), so clusterability has no member. `fracturelab planted` warns when a
run disagrees with this choice.
"""
from __future__ import annotations

from typing import NamedTuple

DCI_C = "factorization.dci_c"
"""DCI completeness of the factorization probe's last hidden layer (Eastwood & Williams 2018)."""
DCI_D = "factorization.dci_d"
"""DCI disentanglement of the same layer."""
INFO_M = "factorization.info_m"
"""InfoMEC modularity of the same layer (Hsu et al. 2023): how much each active unit's information is about one
factor only, 0 (every unit mixes the factors evenly) to 1."""
INFO_C = "factorization.info_c"
"""InfoMEC compactness of the same layer: how much each factor's information sits in one unit only."""
CROSSTALK_SPREAD = "crosstalk.spread"
"""How many answer parts one weight change moves (crosstalk probe): the mean of the two readings below."""
CROSSTALK_SPREAD_WEIGHT = "crosstalk.spread_weight"
"""The crosstalk spread of single-weight perturbations."""
CROSSTALK_SPREAD_DIRECTION = "crosstalk.spread_direction"
"""The crosstalk spread of random directions within one unit's incoming weights."""
NCUT_REL = "clusterability.ncut_rel"
"""n-cut relative to the same layers' shuffled weights (clusterability probe; 1 = chance)."""
NCUT_Z = "clusterability.ncut_z"
"""n-cut's z-score against the same layers' shuffled weights (clusterability probe; unbounded)."""
EFF_RANK_RATIO = "geometry.eff_rank_ratio"
"""Effective rank of the representations per alive unit, mean over hidden layers (geometry probe)."""
PARTICIPATION_RATIO = "geometry.participation_ratio"
"""Participation ratio of the representations' covariance, mean over hidden layers (geometry probe)."""


class Metric(NamedTuple):
    """One fracture metric (unpacks as name, sign, reason)."""

    name: str
    """Store name, "<probe>.<summary key>"."""
    sign: float
    """+1 or -1, so that sign x value is higher for a more fractured network."""
    reason: str
    """Why that sign: what a fractured network does to the metric."""

    @property
    def probe(self) -> str:
        """The probe that reports it."""
        return self.name.split(".", 1)[0]


COMPONENTS = (
    Metric(DCI_C, -1.0, "DCI completeness: a factor read from few units is factored; spread over many, "
           "entangled (Eastwood & Williams 2018)"),
    Metric(CROSSTALK_SPREAD, 1.0, "a weight change that moves many answer parts at once is entangled (after FER)"),
    Metric(NCUT_REL, 1.0, "n-cut relative to the same layers' shuffled weights, dead units out (Filan et "
           "al. 2021): 1 = no more clusterable than chance, < 1 = modular, so higher = less modular; bounded below by "
           "0 and comparable across architectures (the old z over a few nearly identical shuffles ran to -149)"),
    Metric(EFF_RANK_RATIO, 1.0, "effective rank per unit: fractured representations spread over more "
           "dimensions (FER); divided by width so wider models do not score higher by size alone"),
    Metric(INFO_M, -1.0, "InfoMEC modularity: a unit that carries one factor is modular; one that mixes "
           "factors, entangled (Hsu et al. 2023)"),
)
"""The fracture components the study reports, each alone (claim 2's breakdown), in or out of the composite."""

CANDIDATES = (
    Metric(DCI_D, -1.0, "DCI disentanglement: a unit important for one factor only is disentangled; one "
           "important for many, entangled"),
    Metric(INFO_C, -1.0, "InfoMEC compactness: a factor held by one unit is compact; spread over many, fractured"),
    Metric(CROSSTALK_SPREAD_WEIGHT, 1.0, "crosstalk spread of single-weight changes: more answer parts moved "
           "at once = more entangled"),
    Metric(CROSSTALK_SPREAD_DIRECTION, 1.0, "crosstalk spread of one unit's incoming-weight directions: more "
           "answer parts moved at once = more entangled"),
    Metric(NCUT_Z, 1.0, "n-cut z against shuffled weights: a net no more clusterable than its shuffles "
           "(z near 0 or above) is less modular"),
    Metric(PARTICIPATION_RATIO, 1.0, "participation ratio: fractured representations spread their variance over "
           "more dimensions"),
)
"""Other metrics the probes report, scored on planted structure only."""

METRICS = COMPONENTS + CANDIDATES
"""Every metric scored on planted structure."""

_ENTER = (CROSSTALK_SPREAD, EFF_RANK_RATIO, INFO_M)
TASK_COMPOSITE = tuple(m for m in COMPONENTS if m.name in _ENTER)
"""The fracture composite on task models, read by claims 2 and 8 and claim 9's manipulation check: the components
that pass on planted structure, one per probe (module docstring). reuse.iou stays out: more sharing between output
parts can be entanglement or a reused subroutine, so it has no sign a reason fixes."""

PLANTED_BAR = 0.9
"""The AUC on planted structure a metric needs to enter the composite (issue 27)."""
PLANTED_MIN_PAIRS = 20
"""The planted pairs (with the metric on both nets) that AUC must rest on."""


def passes(auc: float | None, n: int) -> bool:
    """Whether a metric passes on planted structure: AUC >= PLANTED_BAR over >= PLANTED_MIN_PAIRS pairs."""
    return auc is not None and auc >= PLANTED_BAR and n >= PLANTED_MIN_PAIRS
