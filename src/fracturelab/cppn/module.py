"""The CPPN as a torch computation: grouped activations, any resolution and window, many weight vectors at once.

Shapes: N = pixels (res*res), B = weight vectors, W = hidden width, P = parameters.
`forward(arch, params (B, P), inputs (N, 4))` -> raw (h, s, v) of shape (B, N, 3); optional per-layer features
(B, N, W) for hidden layers 1..L. All B nets run as one batched matmul per layer, never a Python loop over nets.

Internally the hidden activations are kept units-first, (B, W, N): each activation group is then a few long contiguous
runs of memory rather than a short stride-W run per pixel, which makes the elementwise activations and the concatenation
2-3x faster on CPU. Without autograd (and without features) the pixels go through the net in cache-sized blocks with
in-place activations; see _forward_blocks. Outputs and features are transposed views (B, N, W) of that layout:
index, reshape or .contiguous() them, but not .view().

Where the compiled engine (fused.py) is available, float32 calls without features go through it instead, with or
without autograd (its backward is fused too); the torch code here is the reference it is tested against, and runs
whenever the engine is not available or is switched off (`with fracturelab.cppn.fused.disabled():`).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .fused import FusedForward
from .fused import active as fused_active, activation as fused_activation
from .fused import applies as fused_applies, forward as fused_forward
from .arch import Arch
from .color import to_rgb

DEFAULT_WINDOW = (-1.0, 1.0, -1.0, 1.0)  # x0, x1 (along image columns), y0, y1 (along image rows)
ACTIVATION_FNS = {
    "cache": lambda x: x,
    "identity": lambda x: x,
    "sin": torch.sin,
    "cos": torch.cos,
    "tanh": torch.tanh,
    "sigmoid": lambda x: 2.0 * torch.sigmoid(x) - 1.0,
    "gaussian": lambda x: 2.0 * torch.exp(-x * x) - 1.0,
    "relu": torch.relu,
}
# The same functions in place, for forward passes without autograd; the same ops in the same order, so the same bits.
_INPLACE_FNS = {
    "cache": None,
    "identity": None,
    "sin": torch.Tensor.sin_,
    "cos": torch.Tensor.cos_,
    "tanh": torch.Tensor.tanh_,
    "sigmoid": lambda x: x.sigmoid_().mul_(2.0).sub_(1.0),
    "gaussian": lambda x: x.mul_(x).neg_().exp_().mul_(2.0).sub_(1.0),
    "relu": torch.Tensor.relu_,
}


def coord_grid(res: int, window=DEFAULT_WINDOW, dtype=torch.float32) -> torch.Tensor:
    """Inputs per pixel (x, y, d, bias), row-major over a res x res grid: (res*res, 4).
    x runs along the image columns over [x0, x1], y down the rows over [y0, y1], d = 1.4 * sqrt(x^2 + y^2).
    This is the genome's x, y, d, bias order, which FER's nets keep (their README calls the first input "y" with
    meshgrid 'ij'; their img.png files show it varies along the columns, and tests check renders against them)."""
    x0, x1, y0, y1 = window
    y, x = torch.meshgrid(torch.linspace(y0, y1, res, dtype=torch.float64),
                          torch.linspace(x0, x1, res, dtype=torch.float64), indexing="ij")
    d = 1.4 * torch.sqrt(x * x + y * y)
    return torch.stack([x, y, d, torch.ones_like(x)], dim=-1).reshape(-1, 4).to(dtype)


def unflatten(arch: Arch, params: torch.Tensor) -> list[torch.Tensor]:
    """(B, P) flat vectors -> kernels [Dense_0 .. Dense_L], each (B, in, out)."""
    order = sorted(range(arch.n_hidden + 1), key=lambda i: arch.offsets[i])
    sizes = [arch.shape(i)[0] * arch.shape(i)[1] for i in order]
    chunks = dict(zip(order, torch.split(params, sizes, dim=-1)))  # one op, so one op back
    return [chunks[i].reshape(-1, *arch.shape(i)) for i in range(arch.n_hidden + 1)]


def activate(arch: Arch, z: torch.Tensor) -> torch.Tensor:
    """Apply each group's activation to its columns of z (..., W)."""
    if len(arch.groups) == 1:
        return ACTIVATION_FNS[arch.groups[0][0]](z)
    parts = torch.split(z, [n for _, n in arch.groups], dim=-1)
    # each group copied to contiguous memory first: an elementwise op on a narrow strided slice runs 2-3x slower
    # than on a copy (inner loops of one group's width), and the same values come out
    return torch.cat([ACTIVATION_FNS[a](part.contiguous()) for (a, _), part in zip(arch.groups, parts)], dim=-1)


def activate_rows(arch: Arch, z: torch.Tensor) -> torch.Tensor:
    """activate() for row-major z (..., W), through the fused engine where it applies (float32 on the CPU): one pass
    computes each group's activation and its derivative, and the backward is one product, instead of a split, a copy
    and an op per group, their gradients and a concatenation (a population's step spent most of its elementwise time
    there). Works under torch.vmap (populations); not twice differentiable through the engine."""
    if z.dtype == torch.float32 and z.device.type == "cpu" and len(arch.groups) > 1 and fused_active():
        return _GroupedActivation.apply(z, arch)[0]
    return activate(arch, z)


class _GroupedActivation(torch.autograd.Function):
    """fused.activation as an autograd op: (z, arch) -> (a, d), d not differentiable; dz = ga * d."""

    @staticmethod
    def forward(z, arch):
        return fused_activation(arch, z)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.mark_non_differentiable(output[1])
        ctx.set_materialize_grads(False)  # d's gradient is never used: do not fill a zero tensor for it
        ctx.save_for_backward(output[1])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, ga, gd):
        (d,) = ctx.saved_tensors
        return ga * d, None

    @staticmethod
    def vmap(info, in_dims, z, arch):  # elementwise per column: the batch dim goes to the front, one call for all
        return _GroupedActivation.apply(z.movedim(in_dims[0], 0), arch), (0, 0)


def _activate_units(arch: Arch, z: torch.Tensor, inplace: bool) -> torch.Tensor:
    """activate() for units-first z (B, W, N); in place (returning z) when autograd is not recording."""
    if inplace:
        for a, start, end in arch.group_slices():
            if _INPLACE_FNS[a] is not None:
                _INPLACE_FNS[a](z[:, start:end])
        return z
    if len(arch.groups) == 1:
        return ACTIVATION_FNS[arch.groups[0][0]](z)
    parts = torch.split(z, [n for _, n in arch.groups], dim=1)
    return torch.cat([ACTIVATION_FNS[a](part) for (a, _), part in zip(arch.groups, parts)], dim=1)


_BLOCK_ELEMS = 2 ** 20  # hidden activations per pixel block in _forward_blocks: its two buffers stay in cache


def _forward_blocks(arch: Arch, kernels: list[torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
    """forward() without autograd or features: (B, 3, N). Pixels are independent, so they go through the whole net
    in blocks of about _BLOCK_ELEMS activations, ping-ponging between two buffers reused by every layer and block.
    That keeps the working set in cache, and avoids a fresh large tensor per layer (which comes from the OS, and whose
    page faults cost more than the matmul); 1.2-2x faster than whole-image layers, and the same numbers."""
    B, N, W = kernels[0].shape[0], len(inputs), arch.width
    n = min(N, max(256, _BLOCK_ELEMS // (B * W)))
    bufs = [torch.empty(B * W * n, dtype=inputs.dtype) for _ in range(2)]
    out = torch.empty(B, 3, N, dtype=inputs.dtype)
    x_t = inputs.T  # (4, N)
    for s in range(0, N, n):
        m = min(n, N - s)
        a, b = (buf[:B * W * m].view(B, W, m) for buf in bufs)
        h = _activate_units(arch, torch.matmul(kernels[0], x_t[:, s:s + m], out=a), True)
        for w in kernels[1:-1]:
            a, b = b, a
            h = _activate_units(arch, torch.bmm(w, h, out=a), True)
        out[:, :, s:s + m] = torch.bmm(kernels[-1], h)
    return out


# d activation / dz, from the pre-activation z and the activation a (whichever is cheaper); cache/identity: 1.
_DERIVS = {
    "sin": lambda z, a: torch.cos(z),
    "cos": lambda z, a: -torch.sin(z),
    "tanh": lambda z, a: 1.0 - a * a,
    "sigmoid": lambda z, a: 0.5 * (1.0 - a * a),   # a = 2s - 1, da/dz = 2s(1 - s)
    "gaussian": lambda z, a: -2.0 * z * (a + 1.0),  # a = 2e^{-z^2} - 1
    "relu": lambda z, a: (z > 0).to(z.dtype),
}


class _OneNet(torch.autograd.Function):
    """forward() of one net with a hand-written backward: the SGD hot path. Autograd's per-op bookkeeping (split,
    cat, each activation's elementwise ops) was a third of a small net's step; here each layer is one matmul and a few
    in-place slice ops each way. tests/test_module.py checks its gradient against autograd's."""

    @staticmethod
    def forward(ctx, params: torch.Tensor, inputs: torch.Tensor, arch: Arch) -> torch.Tensor:
        kernels = [k[0].T for k in unflatten(arch, params.unsqueeze(0))]  # each (out, in)
        hs, zs = [inputs.T.contiguous()], []                              # hs[l]: layer l, (W, N)
        for w in kernels[:-1]:
            z = w @ hs[-1]
            a = z.clone()
            for name, lo, hi in arch.group_slices():
                if _INPLACE_FNS[name] is not None:
                    _INPLACE_FNS[name](a[lo:hi])
            zs.append(z)
            hs.append(a)
        ctx.arch = arch
        ctx.save_for_backward(params, *hs, *zs)
        return (kernels[-1] @ hs[-1]).T  # (N, 3)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        arch, L = ctx.arch, ctx.arch.n_hidden
        params, *saved = ctx.saved_tensors
        hs, zs = saved[:L + 1], saved[L + 1:]
        kernels = [k[0] for k in unflatten(arch, params.unsqueeze(0))]  # each (in, out)
        g = grad_out.T                                                  # (3, N)
        grads = [None] * (L + 1)
        grads[L] = hs[L] @ g.T
        dh = kernels[L] @ g                                             # (W, N): d loss / d layer-L activations
        for layer in range(L - 1, -1, -1):
            for name, lo, hi in arch.group_slices():
                if name in _DERIVS:
                    dh[lo:hi] *= _DERIVS[name](zs[layer][lo:hi], hs[layer + 1][lo:hi])
            grads[layer] = hs[layer] @ dh.T                             # (in, out) of Dense_layer
            if layer:
                dh = kernels[layer] @ dh
        order = sorted(range(L + 1), key=lambda i: arch.offsets[i])
        return torch.cat([grads[i].reshape(-1) for i in order]), None, None


def forward(arch: Arch, params: torch.Tensor, inputs: torch.Tensor, features: bool = False):
    """params (B, P) or (P,), inputs (N, 4) -> raw hsv (B, N, 3) [, features: list of L tensors (B, N, W)]."""
    squeeze = params.dim() == 1
    if not features and fused_applies(params, inputs):
        p = (params.unsqueeze(0) if squeeze else params).to(torch.float32)
        if torch.is_grad_enabled() and p.requires_grad:
            out = FusedForward.apply(p, inputs, arch).transpose(1, 2)
        else:
            out = fused_forward(arch, p, inputs).transpose(1, 2)
        return out[0] if squeeze else out
    if squeeze and not features and torch.is_grad_enabled() and params.requires_grad and not inputs.requires_grad:
        return _OneNet.apply(params.to(inputs.dtype), inputs, arch)
    params = params.unsqueeze(0) if squeeze else params
    kernels = [k.transpose(1, 2) for k in unflatten(arch, params.to(inputs.dtype))]  # each (B, out, in)
    inplace = not (torch.is_grad_enabled() and (params.requires_grad or inputs.requires_grad))
    if inplace and not features:
        out = _forward_blocks(arch, kernels, inputs).transpose(1, 2)
        return out[0] if squeeze else out
    h = _activate_units(arch, torch.matmul(kernels[0], inputs.T), inplace)  # (B, W, 4) @ (4, N) -> (B, W, N)
    feats = [h] if features else None
    for w in kernels[1:-1]:
        h = _activate_units(arch, torch.bmm(w, h), inplace)
        if features:
            feats.append(h)
    out = torch.bmm(kernels[-1], h).transpose(1, 2)  # (B, 3, N) -> (B, N, 3)
    feats = [f.transpose(1, 2) for f in feats] if features else None
    if squeeze:
        out = out[0]
        feats = [f[0] for f in feats] if features else None
    return (out, feats) if features else out


def rgb(arch: Arch, params: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] without autograd: params (B, P) or (P,), inputs (N, 4) -> (B, N, 3) or (N, 3); to_rgb(forward())
    (the engine converts each block of pixels while it is in cache)."""
    squeeze = params.dim() == 1
    p = params.unsqueeze(0) if squeeze else params
    with torch.no_grad():
        if fused_applies(p, inputs):
            out = fused_forward(arch, p.to(torch.float32), inputs, rgb=True).transpose(1, 2)
        else:
            out = to_rgb(forward(arch, p, inputs))
    return out[0] if squeeze else out


def render(arch: Arch, params, res: int = 256, window=DEFAULT_WINDOW, chunk_elems: int = 2 ** 26) -> np.ndarray:
    """RGB image(s) in [0, 1]: params (P,) -> (res, res, 3); (B, P) -> (B, res, res, 3).
    Nets are evaluated in chunks of at most `chunk_elems` hidden activations to bound memory."""
    p = torch.as_tensor(np.asarray(params), dtype=torch.float32)
    single = p.dim() == 1
    p = p.unsqueeze(0) if single else p
    inputs = coord_grid(res, window)
    per_chunk = max(1, chunk_elems // (inputs.shape[0] * arch.width))
    out = torch.cat([rgb(arch, p[i:i + per_chunk], inputs) for i in range(0, len(p), per_chunk)])
    img = out.reshape(len(p), res, res, 3).numpy()
    return img[0] if single else img


def lecun_normal(arch: Arch, generator: torch.Generator) -> torch.Tensor:
    """LeCun-normal init of every kernel (std 1/sqrt(fan_in)), as FER's flax replicas: (P,)."""
    flat = torch.empty(arch.n_params)
    for i in range(arch.n_hidden + 1):
        n_in, n_out = arch.shape(i)
        start = arch.offsets[i]
        flat[start:start + n_in * n_out] = torch.randn(n_in * n_out, generator=generator) / math.sqrt(n_in)
    return flat


class CPPN(nn.Module):
    """A layerized CPPN as an nn.Module: one flat parameter vector in FER's order, forward over coordinates."""

    def __init__(self, arch: Arch | str, params=None, seed: int = 0):
        super().__init__()
        self.arch = Arch.parse(arch) if isinstance(arch, str) else arch
        init = (torch.as_tensor(np.asarray(params), dtype=torch.float32).clone() if params is not None
                else lecun_normal(self.arch, torch.Generator().manual_seed(seed)))
        self.params = nn.Parameter(init)

    def forward(self, inputs: torch.Tensor, features: bool = False):
        """inputs (N, 4) -> raw hsv (N, 3) [, per-layer features (N, W)]."""
        return forward(self.arch, self.params, inputs, features)

    def rgb(self, inputs: torch.Tensor) -> torch.Tensor:
        return to_rgb(self.forward(inputs))
