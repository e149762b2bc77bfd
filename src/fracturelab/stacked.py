"""Stacked weights: row k of every tensor belongs to network k. `linear` runs K linear layers at once; Adam / AdamW
gives each network its own learning rate, weight decay and gradient-norm clip, one set of elementwise ops updating the
whole population.

    y = linear(x, w)                                   # x (K, B, in), w (K, out, in) as nn.Linear's -> (K, B, out)

    opt = StackedAdam([w1, w2], betas=(0.9, 0.98))   # each tensor (K, ...)
    opt.step(grads, lr=lr_k, weight_decay=[wd_k, zeros], clip=clip_k)   # lr_k etc.: (K,) tensors
    opt.keep(rows)                                     # drop the networks that stopped

The arithmetic is torch.optim.Adam(W)'s single-tensor path, op for op (decoupled decay p *= 1 - lr * wd; moments by
lerp and addcmul; step size lr / (1 - b1^t); denominator sqrt(v) / sqrt(1 - b2^t) + eps), so a member follows a run
of torch's optimizer to float rounding; clipping is torch.nn.utils.clip_grad_norm_'s (coefficient
max / (norm + 1e-6), clamped at 1) over the member's whole gradient. tests/test_population.py checks both, and a
kernel (the same update in one compiled pass) against these ops.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch


_CHUNK = 2 ** 16  # elements per tensor updated at once (p, g, m, v and two temporaries stay in a 2 MB cache)


def _rows(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(K,) -> (K, 1, 1, ...) broadcastable against like (K, ...)."""
    return x.reshape(-1, *([1] * (like.dim() - 1)))


class _Linear(torch.autograd.Function):
    """x @ w^T per network, with w's gradient row-major like w. Autograd of x @ w.mT gives w's gradient as a
    transposed view, which the optimizer then copies (clipping norms, the one-pass Adam), and runs its matmuls against
    transposed views (docs/speed.md, population speed)."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return torch.bmm(x, w.mT.contiguous())  # (K, B, in) @ (K, in, out)

    @staticmethod
    def backward(ctx, g):  # g (K, B, out)
        x, w = ctx.saved_tensors
        gx = torch.bmm(g, w) if ctx.needs_input_grad[0] else None  # (K, B, out) @ (K, out, in)
        gw = torch.bmm(g.mT, x) if ctx.needs_input_grad[1] else None  # (K, out, B) @ (K, B, in)
        return gx, gw


def linear(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """K linear layers without bias: x (K, B, in), w (K, out, in) -> (K, B, out), F.linear per network."""
    return _Linear.apply(x, w)


def member_norms(grads: Sequence[torch.Tensor]) -> torch.Tensor:
    """L2 norm of each member's whole gradient: (K,) (as clip_grad_norm_: the norm of the per-tensor norms)."""
    per = torch.stack([torch.linalg.vector_norm(g.reshape(len(g), -1), 2, dim=1) for g in grads])  # (tensors, K)
    return torch.linalg.vector_norm(per, 2, dim=0)


class StackedAdam:
    """Adam (weight decay 0) or AdamW for K networks at once; the step count is shared (members start together).
    kernel: None = the torch ops below; or a function doing the same update in one pass over contiguous float32 (K, n)
    rows, called as kernel(p, g, m, v, step, lr, betas=, eps=, weight_decay=) with lr and weight_decay (K,) float64
    (None: no decay) — cppn.fused.adam_step, the compiled engine's loop (many passes of torch's elementwise ops over
    a small population's weights cost several times the one pass)."""

    def __init__(self, params: Sequence[torch.Tensor], betas=(0.9, 0.999), eps: float = 1e-8, kernel=None):
        self.params, self.betas, self.eps, self.t, self.kernel = list(params), betas, eps, 0, kernel
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], lr: torch.Tensor, weight_decay: Sequence[torch.Tensor] | None = None,
             clip: torch.Tensor | None = None) -> None:
        """One update. lr (K,); weight_decay: one (K,) tensor per parameter (None: no decay); clip (K,) gradient-norm
        limits, 0 = no clipping for that member (None: none at all). Gradients are scaled in place when clipped.
        Scalars are formed in float64 and rounded once, as torch's Python-float hyperparameters are."""
        b1, b2 = self.betas
        if clip is not None and bool((clip > 0).any()):
            coef = (clip / (member_norms(grads) + 1e-6)).clamp(max=1.0)
            coef = torch.where(clip > 0, coef, torch.ones_like(coef))
            for g in grads:
                g.mul_(_rows(coef, g))
        self.t += 1
        lr = lr.to(torch.float64)
        if self.kernel is not None:
            for i, (p, g, m, v) in enumerate(zip(self.params, grads, self.m, self.v)):
                rows = (len(p), -1)
                self.kernel(p.detach().view(rows), g.reshape(rows).contiguous(), m.view(rows), v.view(rows), self.t,
                            lr, betas=self.betas, eps=self.eps,
                            weight_decay=None if weight_decay is None else weight_decay[i].to(torch.float64))
            return
        bc1, bc2_sqrt = 1 - b1 ** self.t, math.sqrt(1 - b2 ** self.t)
        step_size = (-lr / bc1).to(self.params[0].dtype)
        for i, (p, g, m, v) in enumerate(zip(self.params, grads, self.m, self.v)):
            decay = None if weight_decay is None else (1 - lr * weight_decay[i].to(torch.float64)).to(p.dtype)
            # a few members at a time, so the ~10 passes over p, g, m, v run in cache (2x faster for big nets)
            rows = max(1, _CHUNK // max(1, p[0].numel()))
            for a in range(0, len(p), rows):
                b = slice(a, a + rows)
                if decay is not None:
                    p[b].mul_(_rows(decay[b], p))
                m[b].lerp_(g[b], 1 - b1)
                v[b].mul_(b2).addcmul_(g[b], g[b], value=1 - b2)
                denom = (v[b].sqrt() / bc2_sqrt).add_(self.eps)
                p[b].add_(_rows(step_size[b], p) * m[b] / denom)  # addcdiv_(m, denom, value=-lr/bc1): (value*m)/denom

    def keep(self, rows: torch.Tensor) -> list[torch.Tensor]:
        """Keep only these members (indices into the current rows); returns the new parameter tensors, which replace
        the old ones (leaves that require grad if the old ones did)."""
        self.params = [p.detach()[rows].clone().requires_grad_(p.requires_grad) for p in self.params]
        self.m = [m[rows].clone() for m in self.m]
        self.v = [v[rows].clone() for v in self.v]
        return self.params
