"""The metric names a study stores and reads, declared once. A metric name is "<source>.<name>": "train." for what
training reports, "<probe>." for what a probe measures (fracturelab.probes), "cppn." for a CPPN cell's measures
(fer.maps, fer.costs); INIT marks a probe's value on the same network at initialization ("init.<probe>.<name>").
The fracture metrics' names (DCI_C, INFO_M, ...) are declared with their signs in fracture.py, imported here.

    from .names import DCI_C, ID_ACC, OOD_ACC, init_name
    r[ID_ACC] - r[OOD_ACC], r.get(init_name(DCI_C))
"""
from __future__ import annotations

from ..fracture import (  # noqa: F401 (declared there with their signs; the study reads them here)
    CROSSTALK_SPREAD,
    CROSSTALK_SPREAD_DIRECTION,
    CROSSTALK_SPREAD_WEIGHT,
    DCI_C,
    DCI_D,
    EFF_RANK_RATIO,
    INFO_C,
    INFO_M,
    NCUT_REL,
    NCUT_Z,
    PARTICIPATION_RATIO,
)

TRAIN = "train."
"""Prefix of what training reports about a task cell's run (train.train_run's metrics)."""
TRAIN_FIELDS = ("train_acc", "val_acc", "id_acc", "ood_acc", "steps", "best_step", "n_params")
"""train_run's metrics a task cell stores, each as TRAIN + field."""
TRAIN_ACC, VAL_ACC, ID_ACC, OOD_ACC, STEPS, BEST_STEP, N_PARAMS = (TRAIN + f for f in TRAIN_FIELDS)
"""Accuracy on the training set, the validation set, the in-distribution and out-of-distribution test sets (0..1,
exact match); training steps run, the step whose weights were kept, and the model's parameter count."""
GAP = TRAIN + "gap"
"""ID_ACC - OOD_ACC: how much accuracy the model loses on novel combinations."""

INIT = "init."
"""Prefix of a probe's value measured on the network at initialization (probes.ProbeSpec.at_init), the control every fracture
measure is read against."""


def init_name(name: str) -> str:
    """The metric name of `name` measured at initialization."""
    return INIT + name


WIDTH = TRAIN + "width"
"""The trained model's width: the mlp's widest hidden layer, the transformer's d_model, the CPPN's widest layer (the
scale claim's x, on a log scale)."""

BINDING = "binding."
"""Prefix of a binding-task cell's answer taxonomy (tasks.binding.classify_errors) on its novel conjunctions: the
test examples whose queried entity carries an attribute pair never seen together in training."""
BINDING_NOVEL_ACC = BINDING + "novel_acc"
"""Exact-match accuracy on the novel conjunctions."""
BINDING_WRONG = BINDING + "wrong"
"""How many novel-conjunction answers were wrong (the denominator of BINDING_SHARE)."""
BINDING_SHARE = BINDING + "share"
"""Binding errors (an attribute of another entity of the same input) over wrong answers on novel conjunctions."""
BINDING_CHANCE = BINDING + "chance_share"
"""The share BINDING_SHARE would have if wrong answers were uniform over the asked attribute's other values: the
mean over wrong answers of (in-context distractor values) / (values of the attribute - 1)."""
BINDING_RATE = BINDING + "error_rate"
"""Binding errors over all novel-conjunction examples."""

REUSE_IOU = "reuse.iou"
"""Overlap of the units that serve different output parts (reuse probe)."""
HOYER_GAP_INIT, HOYER_GAP_FINAL = "sparsity.hoyer_gap_init", "sparsity.hoyer_gap_final"
"""Hoyer sparsity OOD - ID gap of the hidden activations at initialization and after training (sparsity probe)."""
SPARSITY_LAYER = "sparsity.layer."
"""Prefix of per-layer sparsity values: SPARSITY_LAYER + "<layer>.hoyer_id" / ".hoyer_ood"."""
SPARSITY_CKPT = "sparsity.ckpt."
"""Prefix of per-checkpoint sparsity values: SPARSITY_CKPT + "<step>.hoyer_gap"."""

CPPN = "cppn."
"""Prefix of a CPPN cell's measures (fer.maps' map metrics under their own names, and those below)."""
FIT_MSE = CPPN + "fit_mse"
"""Mean squared error of the cell's net's render to the reference's (0 for the reference itself)."""
CPPN_N_PARAMS = CPPN + "n_params"
"""The CPPN's weight count."""
NOVEL_MAPS = CPPN + "novel_maps"
"""Distinct per-neuron feature maps, the 4 inputs included (FER's "novel representations"; fer.maps)."""
EFFECTIVE_DIM_RATIO_MEAN = CPPN + "effective_dim_ratio_mean"
"""Mean over hidden layers of exp(entropy of the normalised singular values of the centred pixels x units maps)
divided by the layer's width (fer.maps)."""
SYMMETRIC_FRACTION = CPPN + "symmetric_fraction"
"""Fraction of non-constant hidden maps whose left-right asymmetry is under the symmetry threshold (fer.maps)."""
ROUGHNESS = CPPN + "roughness"
"""Mean |finite difference| of the standardised non-constant hidden maps, rows and columns (fer.maps)."""
IN_WINDOW_MSE, EXTRAPOLATION_MSE = CPPN + "in_window_mse", CPPN + "extrapolation_mse"
"""Error to the reference inside the training window and beyond it (fer.costs.extrapolation)."""
COMPLETION_MSE = CPPN + "completion_mse"
"""Error on the hidden right half after a fit to the left half (fer.costs.completion)."""
ADAPT_STEPS, ADAPT_FINAL_MSE, ADAPT_WID = CPPN + "adapt_steps", CPPN + "adapt_final_mse", CPPN + "adapt_wid"
"""Adaptation toward the reference's most effective one-weight change: steps to the bar (the budget when never
reached), the error after the budget, and the changed weight's ID (fer.costs.adaptation)."""
