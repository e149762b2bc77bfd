"""Structural compositionality (Lepori, Serre, Pavlick 2023, "Break It Down: Evidence for Structural
Compositionality in Neural Networks", NeurIPS, arXiv 2301.10884).

A task "A and B" is structurally compositional when each subroutine lives in a subnetwork that can be isolated,
and ablating it leaves the other intact. Here the subroutines are two output parts of the task (for the factors
task, the split's held-out factor pair, e.g. shape and colour; otherwise the first two answer positions). For each
subroutine X (the other is Y), a continuous-sparsification mask (probes.masks) is trained on training examples to
perform X and ignore Y; on held-out test_id examples, with acc' = accuracy floored at chance and rescaled to [0, 1]
(masks.normalized_acc):
- SUB_X = acc'_sub(X) - acc'_sub(Y): the subnetwork does X, not Y (expect > 0);
- ABL_X = acc'_abl(X) - acc'_abl(Y): the model without the subnetwork loses X and keeps Y (expect < 0).
Reported: sub, abl (means over the two subroutines), sub.<X>, abl.<X>, mask_frac (mean fraction of masked weights
kept), full.<X> (the unmasked model's acc'), and random_sub, random_abl, random_mask_frac: the same on a randomly
initialized copy of the model (the control; Break It Down found ablation has about no effect there).
Not done here (time budget): the paper's grid search over s0, learning rate and masked layers, and its selection of
masks reaching 0.9 on their subroutine; one fixed setting (MaskSettings) is used for every model.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .common import Parts, cap, output_parts, reinit
from .masks import MaskSettings, hard_params, mask_fraction, normalized_acc, part_accuracy, train_mask
from ..settings import bounded


@dataclass
class SubnetworkSettings:
    """Settings of the subnetwork probe."""

    mask: MaskSettings = field(default_factory=MaskSettings)
    """Mask training."""
    max_train: int = bounded(2000, 1)
    """Training examples the masks are trained on (seeded subset)."""
    max_test: int = bounded(1000, 1)
    """test_id examples they are scored on."""
    control: bool = True
    """Also train masks on a randomly initialized copy (random_sub, random_abl)."""


def subroutine_pair(parts: Parts, data, config: dict | None) -> tuple[int, int]:
    """Indices (into parts) of subroutines A and B: the split's factor pair where the split names two parts
    (factors: shape_colour -> shape, colour), else the first two parts."""
    split = (config or {}).get("split") or getattr(data, "split", "")
    names = split.split("_")
    if len(names) == 2 and all(n in parts.names for n in names):
        return parts.names.index(names[0]), parts.names.index(names[1])
    return 0, 1


def break_it_down(model, train_batch: dict, test_batch: dict, parts: Parts, a: int, b: int, seed: int = 0,
                  settings: MaskSettings | None = None) -> dict[str, float]:
    """SUB, ABL and mask sizes of subroutines parts a and b (indices into parts) of one model."""
    s = settings or MaskSettings()
    out: dict[str, float] = {}
    full = part_accuracy(model, test_batch)
    subs, abls, fracs = [], [], []
    for x, y in ((a, b), (b, a)):
        jx, jy = parts.index[x], parts.index[y]
        cx, cy = parts.chance[x], parts.chance[y]
        m = train_mask(model, train_batch, [jx], [jy], seed + x, s)
        acc_sub = part_accuracy(model, test_batch, hard_params(model, m))
        acc_abl = part_accuracy(model, test_batch, hard_params(model, m, complement=True))
        sub = normalized_acc(acc_sub[jx], cx) - normalized_acc(acc_sub[jy], cy)
        abl = normalized_acc(acc_abl[jx], cx) - normalized_acc(acc_abl[jy], cy)
        name = parts.names[x]
        out[f"sub.{name}"], out[f"abl.{name}"], out[f"mask_frac.{name}"] = sub, abl, mask_fraction(m)
        out[f"full.{name}"] = normalized_acc(full[jx], cx)
        subs.append(sub), abls.append(abl), fracs.append(mask_fraction(m))
    out["sub"], out["abl"], out["mask_frac"] = float(np.mean(subs)), float(np.mean(abls)), float(np.mean(fracs))
    return out


def subnetworks_probe(model, data, config=None, seed: int = 0, checkpoints=None,
                      settings: SubnetworkSettings | None = None) -> dict[str, float]:
    s = settings or SubnetworkSettings()
    parts = output_parts(data, config)
    a, b = subroutine_pair(parts, data, config)
    train_b = model.encode(cap(data.train, s.max_train, seed, 20))
    test_b = model.encode(cap(data.test_id, s.max_test, seed, 21))
    out = break_it_down(model, train_b, test_b, parts, a, b, seed, s.mask)
    if s.control:
        rnd = break_it_down(reinit(model, seed + 1), train_b, test_b, parts, a, b, seed, s.mask)
        out.update(random_sub=rnd["sub"], random_abl=rnd["abl"], random_mask_frac=rnd["mask_frac"])
    return out
