"""Geometry of each layer's representation: effective rank (Roy & Vetterli 2007) and participation ratio.

For a layer's centred activation matrix A (N examples x d units) with singular values s_i:
- eff_rank = exp(H(p)), p_i = s_i / sum s (entropy in nats; 1 for rank-one data, d for isotropic data);
- participation_ratio = (sum lambda)^2 / sum lambda^2 with lambda_i = s_i^2 (the covariance's eigenvalues up to a
  factor): 1 for rank one, d for isotropic.
Reported: layer.<name>.eff_rank / .participation_ratio / .units for every hidden layer; eff_rank and
participation_ratio (summaries) = their means over the hidden layers (every named activation except the input
encoding and the logits); eff_rank_last / participation_ratio_last on the layer the other probes summarize
(common.last_hidden). Examples: test_id and test_ood pooled (capped).
eff_rank_ratio (the fracture composite's component) = the mean over hidden layers of layer.<name>.eff_rank_ratio =
eff_rank of the layer's alive units / the number of alive units (layer.<name>.alive_units: units that vary over the
training examples, common.alive_layers), in [0, 1]: dead units neither add rank nor count in the width, so a network
with more of them does not score lower. Layers with no alive unit are left out (NaN where every layer is dead).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import Skip, activations, alive, alive_layers, cap, last_hidden
from ..settings import bounded


@dataclass
class GeometrySettings:
    """Settings of the geometry probe."""

    max_examples: int = bounded(1000, 1)
    """Examples per test split (seeded subset)."""


def _spectrum(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return np.linalg.svd(a - a.mean(0), compute_uv=False)


def effective_rank(a: np.ndarray) -> float:
    """exp(entropy of the normalized singular values of the centred matrix); 0 for constant data."""
    return _effective_rank(_spectrum(a))


def participation_ratio(a: np.ndarray) -> float:
    """(sum lambda)^2 / sum lambda^2 of the covariance eigenvalues; 0 for constant data."""
    return _participation_ratio(_spectrum(a))


def _effective_rank(s: np.ndarray) -> float:
    if s.sum() <= 0:
        return 0.0
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def _participation_ratio(s: np.ndarray) -> float:
    lam = s ** 2
    return float(lam.sum() ** 2 / (lam**2).sum()) if lam.sum() > 0 else 0.0


def geometry_probe(model, data, config=None, seed: int = 0, checkpoints=None,
                   settings: GeometrySettings | None = None) -> dict[str, float]:
    s = settings or GeometrySettings()
    exs = cap(data.test_id, s.max_examples, seed, 1) + cap(data.test_ood, s.max_examples, seed, 2)
    acts = activations(model, exs)
    if not acts:
        raise Skip("the model names no hidden layers")
    live = alive_layers(model, data)
    out: dict[str, float] = {}
    ratios = []
    for name, a in acts.items():
        spec = _spectrum(a)  # one SVD per layer serves both measures
        out[f"layer.{name}.eff_rank"] = _effective_rank(spec)
        out[f"layer.{name}.participation_ratio"] = _participation_ratio(spec)
        out[f"layer.{name}.units"] = float(a.shape[1])
        keep = live.get(name, np.ones(a.shape[1], dtype=bool))
        out[f"layer.{name}.alive_units"] = float(keep.sum())
        if keep.any():  # per alive unit: comparable across widths and across how many units training left dead
            # a dropped unit constant here too is a zero column once centred: the spectrum stays, no second SVD
            alive_rank = _effective_rank(_spectrum(a[:, keep]) if (alive(a) & ~keep).any() else spec)
            ratios.append(alive_rank / float(keep.sum()))
        out[f"layer.{name}.eff_rank_ratio"] = ratios[-1] if keep.any() else float("nan")
    out["eff_rank"] = float(np.mean([out[f"layer.{n}.eff_rank"] for n in acts]))
    out["participation_ratio"] = float(np.mean([out[f"layer.{n}.participation_ratio"] for n in acts]))
    out["eff_rank_ratio"] = float(np.mean(ratios)) if ratios else float("nan")
    last = last_hidden(list(acts))
    out["eff_rank_last"] = out[f"layer.{last}.eff_rank"]
    out["participation_ratio_last"] = out[f"layer.{last}.participation_ratio"]
    return out
