"""Module reuse (Csordás, van Steenkiste, Schmidhuber 2021, "Are Neural Nets Modular? Inspecting Functional
Modularity Through Differentiable Weight Masks", ICLR).

One mask per output part (for the factors task: shape, colour, position), each trained to perform its part alone
(probes.masks; continuous sparsification instead of the paper's hard Gumbel-sigmoid with a straight-through
estimator, so both mask probes share one method). Parts that all read the same input should share weights. Reported
on held-out test_id examples (acc' = accuracy floored at chance, rescaled to [0, 1]):
- iou: mean over pairs of parts of |m_i & m_j| / |m_i | m_j| over masked weights (1 = the same weights, 0 = disjoint);
  iou.<a>.<b> per pair;
- drop: mean over parts k of acc'(k) of k's subnetwork minus acc'(k) of that subnetwork without k's exclusive
  weights (in m_k and in no other part's mask): near 1 = the part runs on weights of its own, near 0 = on weights
  it shares (reuse); drop.<k> each;
- drop_full: the same removal from the whole model (a trained network is redundant, so this is often about 0);
  drop_others: that removal's mean drop on the other parts (small when the exclusive weights are really
  exclusive); exclusive_frac.<k>: share of k's mask that is exclusive; mask_frac: mean mask size.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import torch

from .common import Parts, cap, output_parts
from .masks import MaskSettings, hard_params, mask_fraction, normalized_acc, part_accuracy, train_mask
from ..settings import bounded


@dataclass
class ReuseSettings:
    """Settings of the module-reuse probe."""

    mask: MaskSettings = field(default_factory=lambda: MaskSettings(steps=150))
    """Mask training (one mask per part)."""
    max_train: int = bounded(2000, 1)
    """Training examples the masks are trained on (seeded subset)."""
    max_test: int = bounded(1000, 1)
    """test_id examples they are scored on."""


def reuse_scores(model, train_batch: dict, test_batch: dict, parts: Parts, seed: int = 0,
                 settings: MaskSettings | None = None) -> dict[str, float]:
    s = settings or MaskSettings(steps=150)
    masks = [train_mask(model, train_batch, [j], [], seed + i, s) for i, j in enumerate(parts.index)]
    hard = [{k: v > 0 for k, v in m.items()} for m in masks]
    out: dict[str, float] = {"mask_frac": float(np.mean([mask_fraction(m) for m in masks]))}
    ious = []
    for i, j in itertools.combinations(range(len(parts.index)), 2):
        inter = sum(int((hard[i][k] & hard[j][k]).sum()) for k in hard[i])
        union = sum(int((hard[i][k] | hard[j][k]).sum()) for k in hard[i])
        ious.append(inter / union if union else 0.0)
        out[f"iou.{parts.names[i]}.{parts.names[j]}"] = ious[-1]
    out["iou"] = float(np.mean(ious))
    full = part_accuracy(model, test_batch)
    norm = lambda acc, q: normalized_acc(acc[parts.index[q]], parts.chance[q])  # noqa: E731
    own, others, in_full = [], [], []
    for i in range(len(parts.index)):
        excl = {k: hard[i][k] & ~torch.stack([hard[j][k] for j in range(len(hard)) if j != i]).any(0)
                for k in hard[i]}
        n_excl, n_mask = sum(int(v.sum()) for v in excl.values()), sum(int(v.sum()) for v in hard[i].values())
        out[f"exclusive_frac.{parts.names[i]}"] = n_excl / max(1, n_mask)
        # part i's subnetwork with and without its exclusive weights (the shared ones stay)
        sub = part_accuracy(model, test_batch, hard_params(model, masks[i]))
        cut = part_accuracy(model, test_batch, hard_params(model, masks[i], drop=excl))
        own.append(norm(sub, i) - norm(cut, i))
        # the whole model without part i's exclusive weights: its own and the other parts' drop
        acc = part_accuracy(model, test_batch, hard_params(model, {}, drop=excl))
        in_full.append(norm(full, i) - norm(acc, i))
        others.append(np.mean([norm(full, j) - norm(acc, j) for j in range(len(parts.index)) if j != i]))
        out[f"drop.{parts.names[i]}"] = own[-1]
    out["drop_full"] = float(np.mean(in_full))
    out["drop"], out["drop_others"] = float(np.mean(own)), float(np.mean(others))
    return out


def reuse_probe(model, data, config=None, seed: int = 0, checkpoints=None,
                settings: ReuseSettings | None = None) -> dict[str, float]:
    s = settings or ReuseSettings()
    parts = output_parts(data, config)
    train_b = model.encode(cap(data.train, s.max_train, seed, 30))
    test_b = model.encode(cap(data.test_id, s.max_test, seed, 31))
    return reuse_scores(model, train_b, test_b, parts, seed, s.mask)
