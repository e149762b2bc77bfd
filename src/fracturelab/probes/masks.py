"""Weight masks over a frozen model by continuous sparsification (Savarese, Silva, Maire 2020, as used by Lepori,
Serre, Pavlick 2023, "Break It Down", arXiv 2301.10884), shared by the subnetwork and module-reuse probes.

Each masked tensor W (every parameter with 2+ dimensions: weights and embeddings, not biases) gets logits s of its
shape. Training uses W * sigmoid(beta * s); evaluation the hard mask W * 1[s > 0] (the subnetwork) or its complement
W * 1[s <= 0] (zero ablation: the model without the subnetwork). beta starts at 1 and is multiplied by
beta_max^(1/epochs) after each of `epochs` equal slices of the steps (so it ends at beta_max = 200). The base
weights are frozen; Adam on s, no weight decay; the last masks are kept.

Loss = the task cross-entropy on the parts the subnetwork must perform + `ignore_weight` x the cross-entropy of the
parts it must ignore against a uniform distribution over their classes (the mask-training data of Break It Down
makes the ignored sub-task irrelevant to the label; with shared inputs here, "ignore" is asked for directly)
+ lam x the mean of sigmoid(beta * s) over masked weights (the sparsity penalty; a mean, not the paper's sum with
lam = 1e-8, so one setting fits models of any size).

Speed (the same numbers up to float rounding; tests/test_reuse_fast.py checks them against the plain expression):
each masked tensor's W * sigmoid(beta * s) and penalty sum are one autograd function with a hand-written two-pass
backward (_SoftMask), Adam is torch's fused kernel, and soft-mask values too small to matter are exactly 0
(FLOOR_POWER), which keeps the arithmetic out of the CPU's slow subnormal range.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call

from .common import IGNORE, part_logits, weight_params
from ..settings import bounded


@dataclass
class MaskSettings:
    """Settings of mask training (capped so a probe fits its time budget)."""

    steps: int = bounded(200, 1)
    """Optimizer steps per mask."""
    epochs: int = bounded(10, 1)
    """beta schedule: the steps split in this many epochs, beta multiplied by beta_max^(1/epochs) after each."""
    beta_max: float = 200.0
    """Final temperature of the sigmoid (Break It Down: 200)."""
    s0: float = 0.05
    """Initial mask logit (every weight starts in the subnetwork; Break It Down searched 0.1, 0.05, 0, -0.05)."""
    lr: float = 0.02
    """Adam learning rate of the mask logits (Break It Down searched 1e-2 and 1e-4)."""
    lam: float = 1.0
    """Sparsity penalty on the mean soft mask."""
    ignore_weight: float = 1.0
    """Weight of the uniform-output loss on the parts to ignore."""
    batch_size: int = bounded(64, 1)
    """Examples per step."""


FLOOR_POWER = 0.4
"""A soft-mask value under tiny ** FLOOR_POWER (tiny: the dtype's smallest normal number; float32: 7e-16, float64:
1e-123; 16-bit dtypes: no floor) is set to exactly 0, and so is its gradient. Why: sigmoid(beta * s) of a weight
the mask drops, once beta is large, and the squares of such values' gradients in Adam reach the subnormal range,
where x86 CPUs compute tens of times slower (it tripled the time of mask training). At this floor a gradient (about
beta x value x lam / n_masked) still squares to a normal number. The change is under float rounding: such a weight
adds under 7e-16 x |W| to sums that float32 resolves to about 1e-7 of their size, and the gradient dropped is as
small, on logits below -35 / beta whose hard mask it cannot flip."""


def _floor_and_clamp(dtype: torch.dtype) -> tuple[float, float]:
    """(the soft-mask floor, z_max): beta * s is clamped to [-z_max, z_max] before the sigmoid, with z_max = 0.9 x
    ln(1 / tiny), so exp() in the sigmoid stays out of the subnormal range; it changes no value (sigmoid(z_max)
    rounds to 1, and sigmoid(-z_max) < tiny ** 0.9 is under the floor). 16-bit dtypes: neither."""
    info = torch.finfo(dtype)
    if info.bits < 32:
        return 0.0, math.inf
    return info.tiny ** FLOOR_POWER, 0.9 * math.log(1 / info.tiny)


class _SoftMask(torch.autograd.Function):
    """(W * m, sum of m) with m = sigmoid(beta * s) (0 under the floor, FLOOR_POWER), for mask logits s and a
    frozen W: the masked weight and the sparsity penalty's sum in six passes over the weights forward and two
    backward (autograd of the plain expression takes about twice as many)."""

    @staticmethod
    def forward(ctx, s: torch.Tensor, w: torch.Tensor, beta: float):
        floor, z_max = _floor_and_clamp(s.dtype)
        m = torch.sigmoid_((s * beta).clamp_(-z_max, z_max))
        F.threshold_(m, floor, 0.0)
        ctx.save_for_backward(m, w)
        ctx.beta = beta
        return w * m, m.sum()

    @staticmethod
    def backward(ctx, g_w: torch.Tensor, g_sum: torch.Tensor):
        m, w = ctx.saved_tensors
        # d/ds = beta m (1 - m) (dL/d(W m) * W + dL/d(sum m)); sigmoid_backward(g, m) = g * m * (1 - m)
        g = torch.addcmul(g_sum * ctx.beta, g_w, w, value=ctx.beta)
        return torch.ops.aten.sigmoid_backward(g, m), None, None


def _part_ce(lg: torch.Tensor, y: torch.Tensor, parts: list[int]) -> torch.Tensor:
    sel, tgt = lg[:, parts], y[:, parts]
    return F.cross_entropy(sel.reshape(-1, sel.shape[-1]), tgt.reshape(-1), ignore_index=IGNORE)


def _uniform_ce(lg: torch.Tensor, classes: list[torch.Tensor], parts: list[int]) -> torch.Tensor:
    loss = lg.new_zeros(())
    for j, cls in zip(parts, classes):
        logp = F.log_softmax(lg[:, j], -1)[:, cls]  # (B, n classes of part j)
        loss = loss - logp.mean()
    return loss / max(1, len(parts))


def _take(batch: dict, idx: torch.Tensor) -> dict:
    """Rows idx of every per-example tensor of a batch."""
    return {k: (v[idx] if torch.is_tensor(v) and v.dim() >= 1 else v) for k, v in batch.items()}


def train_mask(model, batch: dict, keep: list[int], ignore: list[int], seed: int = 0,
               settings: MaskSettings | None = None) -> dict[str, torch.Tensor]:
    """Mask logits {param name: s} so the masked model performs the `keep` parts and ignores the `ignore` parts
    (indices into the model's output parts, common.part_logits) on `batch`."""
    s = settings or MaskSettings()
    model.eval()
    base = {k: v.detach() for k, v in model.named_parameters()}
    masked = {k: v.detach() for k, v in weight_params(model).items()}
    logits_s = {k: torch.full_like(v, s.s0, requires_grad=True) for k, v in masked.items()}
    opt = torch.optim.Adam(list(logits_s.values()), lr=s.lr, fused=True)  # one pass per step, not seven
    with torch.no_grad():
        y = part_logits(model(batch), batch)[1] if ignore else None
    classes = [torch.unique(y[:, j][y[:, j] != IGNORE]) for j in ignore] if ignore else []
    n = len(batch["y"])
    gen = torch.Generator().manual_seed(int(seed))
    n_masked = sum(v.numel() for v in masked.values())
    per_epoch = max(1, s.steps // s.epochs)
    beta = 1.0
    for step in range(s.steps):
        if step and step % per_epoch == 0:
            beta = min(s.beta_max, beta * s.beta_max ** (1 / s.epochs))
        idx = torch.randperm(n, generator=gen)[: s.batch_size]
        b = _take(batch, idx)
        params, kept = dict(base), []
        for k, v in logits_s.items():
            params[k], total = _SoftMask.apply(v, masked[k], beta)
            kept.append(total)
        lg, yy = part_logits(functional_call(model, params, (b,)), b)
        loss = _part_ce(lg, yy, keep)
        if ignore and s.ignore_weight > 0:
            loss = loss + s.ignore_weight * _uniform_ce(lg, classes, ignore)
        loss = loss + s.lam * torch.stack(kept).sum() / n_masked
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return {k: v.detach() for k, v in logits_s.items()}


def hard_params(model, mask_logits: dict[str, torch.Tensor], complement: bool = False,
                drop: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Parameters of the subnetwork (W * 1[s > 0]), its complement (W * 1[s <= 0]), or, with `drop` (bool masks),
    the full model with the dropped weights set to zero."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    for k, s in (mask_logits or {}).items():
        params[k] = params[k] * ((s <= 0) if complement else (s > 0)).to(params[k].dtype)
    for k, d in (drop or {}).items():
        params[k] = params[k] * (~d).to(params[k].dtype)
    return params


def mask_fraction(mask_logits: dict[str, torch.Tensor]) -> float:
    """Fraction of masked weights kept by the hard mask."""
    kept = sum(int((s > 0).sum()) for s in mask_logits.values())
    return kept / max(1, sum(s.numel() for s in mask_logits.values()))


def normalized_acc(acc: float, chance: float) -> float:
    """Accuracy floored at chance and rescaled to [0, 1]: (max(acc, c) - c) / (1 - c); parts with different chance
    levels then compare (Break It Down floors at chance; its parts share one chance level)."""
    return float((max(acc, chance) - chance) / (1 - chance)) if chance < 1 else 0.0


def part_accuracy(model, batch: dict, params: dict | None = None) -> np.ndarray:
    """Accuracy per output part (J,) of the model, or of it with the given parameters."""
    from .common import part_correct

    return np.nanmean(part_correct(model, batch, params), axis=0)
