"""The fused CPU engine: forward and backward of many CPPNs in one call, a block of pixels at a time through every
layer (`_fused.cpp`). `module.forward` and `replicate.fit` use it when it is available; the torch code in module.py
stays the reference, and tests/test_fused.py checks this engine against it (forward and gradients).

The C++ file is compiled once per machine on first use (`c++ -O3 -march=native`, about 2 s of CPU) into a cache
folder ($FRACTURELAB_CACHE, else $XDG_CACHE_HOME/fracturelab, else ~/.cache/fracturelab), named by a hash of the
source, the flags and the CPU, and loaded with ctypes; it links nothing but libc, so no torch headers are needed.
Without a C++ compiler (or with FRACTURELAB_FUSED=0) `available()` is False and callers use the torch path.
Float32 only, one thread per call.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from .arch import Arch

SOURCE = Path(__file__).with_name("_fused.cpp")
FLAGS = ["-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-fno-math-errno"]
KINDS = {"cache": 0, "identity": 0, "sin": 1, "cos": 2, "tanh": 3, "sigmoid": 4, "gaussian": 5, "relu": 6}
FORWARD_BLOCK = 256     # pixels per block without gradients (two layers of activations in cache)
BACKWARD_BYTES = 2**20  # cache budget (L2 here: 1.25 MB) for one block's stored layers when differentiating ...
BACKWARD_MAX_BLOCK = 256  # ... and at most this many pixels (the weight-gradient sums need L2 too); measured best


def _cache_dir() -> Path:
    if os.environ.get("FRACTURELAB_CACHE"):
        return Path(os.environ["FRACTURELAB_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fracturelab"


def _cpu_id() -> str:
    """What -march=native depends on: the CPU's feature flags (a cache folder may be shared between machines)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return next((ln for ln in lines if ln.startswith(("flags", "Features"))), platform.processor())
    except OSError:
        return platform.machine() + platform.processor()


@functools.cache
def _library():
    if os.environ.get("FRACTURELAB_FUSED", "1") == "0":
        return None
    compiler = shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++") or shutil.which("clang++")
    if compiler is None:
        warnings.warn("fracturelab: no C++ compiler found; the CPPN engine falls back to torch (slower)")
        return None
    key = hashlib.sha256(SOURCE.read_bytes() + " ".join(FLAGS).encode() + _cpu_id().encode()).hexdigest()[:16]
    path = _cache_dir() / f"fused-{key}.so"
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=path.parent) as tmp:  # build aside, then rename: workers may race
                tmp_so = Path(tmp) / path.name
                subprocess.run([compiler, *FLAGS, "-o", str(tmp_so), str(SOURCE)], check=True, capture_output=True)
                os.replace(tmp_so, path)
        except (OSError, subprocess.CalledProcessError) as e:
            detail = e.stderr.decode(errors="replace")[-500:] if isinstance(e, subprocess.CalledProcessError) else e
            warnings.warn(f"fracturelab: building the fused CPPN engine failed, falling back to torch: {detail}")
            return None
    lib = ctypes.CDLL(str(path))
    i, lp, p = ctypes.c_int, ctypes.c_long, ctypes.c_void_p
    lib.fl_forward.argtypes = [i, i, p, i, p, i, p, lp, p, lp, i, i, p]
    lib.fl_forward.restype = None
    lib.fl_backward.argtypes = [i, i, p, i, p, i, p, lp, p, lp, i, p, p, lp, p, p, p]
    lib.fl_backward.restype = None
    f = ctypes.c_float
    lib.fl_adam.argtypes = [i, lp, p, p, p, p, p, p, f, f, f, p, f, f]
    lib.fl_adam.restype = None
    lib.fl_act.argtypes = [lp, i, i, p, p, p, p]
    lib.fl_act.restype = None
    return lib


_enabled = [True]


def available() -> bool:
    """True when the compiled engine can be used (builds it on the first call)."""
    return _library() is not None


def active() -> bool:
    """True when callers should use the engine: available and not switched off by `disabled()`."""
    return _enabled[-1] and available()


@contextmanager
def disabled():
    """Inside this block `active()` is False, so module.forward and replicate.fit run the torch reference."""
    _enabled.append(False)
    try:
        yield
    finally:
        _enabled.pop()


def applies(params: torch.Tensor, inputs: torch.Tensor) -> bool:
    """Whether module.forward can hand this call to the engine: float32 CPU inputs that need no gradient."""
    wrapped = getattr(torch._C._functorch, "is_functorch_wrapped_tensor", lambda t: False)  # vmap/grad transforms
    return (inputs.dtype == torch.float32 and inputs.device.type == "cpu" and params.device.type == "cpu"
            and not inputs.requires_grad and not wrapped(params) and not wrapped(inputs) and active())


@functools.lru_cache(maxsize=64)
def _arch_arrays(arch: Arch) -> tuple[np.ndarray, np.ndarray]:
    off = np.asarray(arch.offsets, dtype=np.int64)
    groups = np.asarray([(KINDS[a], lo, hi) for a, lo, hi in arch.group_slices()], dtype=np.int32).reshape(-1)
    return off, groups


def _ptr(t) -> int | None:
    return None if t is None else t.data_ptr() if isinstance(t, torch.Tensor) else t.ctypes.data


def _pad(n: int, block: int) -> int:
    return -(-n // block) * block


def _inputs(inputs: torch.Tensor, n_pad: int) -> torch.Tensor:
    """(N, 4) -> (4, n_pad) units-first, zero-padded (padded pixels are computed and dropped)."""
    x = torch.zeros(4, n_pad, dtype=torch.float32)
    x[:, :len(inputs)] = inputs.T
    return x


def _backward_block(arch: Arch, n: int) -> int:
    """Pixels per block when differentiating: a multiple of 64 whose stored activations fit BACKWARD_BYTES, the
    largest of those that pad n the least."""
    nonlinear = sum(n for a, n in arch.groups if KINDS[a])
    per_pixel = 4 * (arch.n_hidden * (arch.width + nonlinear) + 2 * arch.width + 6)  # activations, derivatives, dh
    top = min(max(64, BACKWARD_BYTES // per_pixel // 64 * 64), BACKWARD_MAX_BLOCK, _pad(n, 64))
    return min(range(64, top + 1, 64), key=lambda b: (_pad(n, b), -b))


def forward(arch: Arch, params: torch.Tensor, inputs: torch.Tensor, rgb: bool = False) -> torch.Tensor:
    """Raw (h, s, v) of B nets without autograd, or their RGB (color.to_rgb) when rgb: params (B, P), inputs (N, 4),
    float32 -> (B, 3, N)."""
    lib, (off, groups) = _library(), _arch_arrays(arch)
    params = params.detach().contiguous()
    N, B = len(inputs), len(params)
    block = min(FORWARD_BLOCK, _pad(N, 16))
    n_pad = _pad(N, block)
    x = _inputs(inputs.detach(), n_pad)
    out = torch.empty(B, 3, n_pad, dtype=torch.float32)
    lib.fl_forward(arch.n_hidden, arch.width, _ptr(off), len(groups) // 3, _ptr(groups), B, _ptr(params),
                   arch.n_params, _ptr(x), n_pad, block, int(rgb), _ptr(out))
    return out[:, :, :N]


def _padded(t: torch.Tensor, n_pad: int) -> torch.Tensor:
    """(..., N) -> (..., n_pad) contiguous float32, zero-padded."""
    out = torch.zeros(*t.shape[:-1], n_pad, dtype=torch.float32)
    out[..., :t.shape[-1]] = t
    return out


def _call_backward(arch, params, x, block, gout=None, target=None, tstride=0, weights=None, want_loss=False):
    """fl_backward on laid-out arrays: x (4, n_pad); gout (B, 3, n_pad), or target (3, n_pad) and weights (n_pad,)."""
    lib, (off, groups) = _library(), _arch_arrays(arch)
    params = params.detach().to(torch.float32).contiguous()
    grad = torch.empty(len(params), arch.n_params, dtype=torch.float32)
    loss = torch.empty(len(params), dtype=torch.float32) if want_loss else None
    lib.fl_backward(arch.n_hidden, arch.width, _ptr(off), len(groups) // 3, _ptr(groups), len(params),
                    _ptr(params), arch.n_params, _ptr(x), x.shape[1], block, _ptr(gout), _ptr(target), tstride,
                    _ptr(weights), _ptr(loss), _ptr(grad))
    return loss, grad


def backward(arch: Arch, params: torch.Tensor, inputs: torch.Tensor, grad_out: torch.Tensor) -> torch.Tensor:
    """Gradient of sum(grad_out * raw) over params: grad_out (B, 3, N) -> (B, P). Recomputes the forward pass."""
    block = _backward_block(arch, len(inputs))
    n_pad = _pad(len(inputs), block)
    return _call_backward(arch, params, _inputs(inputs.detach(), n_pad), block,
                          gout=_padded(grad_out.detach(), n_pad))[1]


def rgb_mse(arch: Arch, params: torch.Tensor, inputs: torch.Tensor, target: torch.Tensor,
            weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """FER's SGD loss and its gradient in one pass: loss[b] = sum_px weights[px] * sum_c (rgb_c - target_c)^2 with
    rgb = color.to_rgb(raw). params (B, P), target (N, 3) shared or (B, N, 3), weights (N,) -> (loss (B,), grad (B, P)).
    """
    return rgb_mse_fn(arch, inputs, target, weights)(params)


def rgb_mse_fn(arch: Arch, inputs: torch.Tensor, target: torch.Tensor, weights: torch.Tensor):
    """rgb_mse with the inputs, target and weights laid out once: a function params (B, P) -> (loss, grad), for
    training loops."""
    block = _backward_block(arch, len(inputs))
    n_pad = _pad(len(inputs), block)
    x = _inputs(inputs.detach(), n_pad)
    t = _padded(target.detach().transpose(-1, -2), n_pad)  # (3, n_pad) or (B, 3, n_pad)
    w = _padded(weights.detach().reshape(-1), n_pad)
    tstride = 3 * n_pad if t.dim() == 3 else 0
    return lambda params: _call_backward(arch, params, x, block, target=t, tstride=tstride, weights=w, want_loss=True)


def adam_step(params: torch.Tensor, grad: torch.Tensor, m: torch.Tensor, v: torch.Tensor, step: int,
              lr: np.ndarray, normalize: np.ndarray | None = None, betas=(0.9, 0.999), eps: float = 1e-8,
              weight_decay: np.ndarray | None = None) -> None:
    """In place on contiguous float32 (R, P) tensors: row r's gradient scaled to unit norm (where normalize[r]), then
    torch.optim.AdamW's update with learning rate lr[r] and weight decay weight_decay[r] (None: Adam; step counts
    from 1) of params and its moments m, v. lr, weight_decay (R,) float64, normalize (R,) bool (numpy or CPU tensors:
    this runs once per training step, and torch's small ops cost more)."""
    b1, b2 = betas
    lr = np.asarray(lr, dtype=np.float64)
    step_size = (lr / (1 - b1 ** step)).astype(np.float32)  # formed in float64, rounded once, as torch's Python floats
    flags = None if normalize is None else np.ascontiguousarray(normalize, dtype=np.int32)
    decay = None if weight_decay is None else (1 - lr * np.asarray(weight_decay, dtype=np.float64)).astype(np.float32)
    _library().fl_adam(len(params), params.shape[-1], _ptr(params), _ptr(grad), _ptr(m), _ptr(v), _ptr(flags),
                       _ptr(decay), 1 - b1, b2, 1 - b2, _ptr(step_size), (1 - b2 ** step) ** 0.5, eps)


def activation(arch: Arch, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each activation group of arch applied to its columns of row-major z (..., W) float32, with the derivative:
    (a, d), each shaped like z. The engine's vector functions (as in forward and backward), one pass over z."""
    z = z.detach().contiguous()
    a, d = torch.empty_like(z), torch.empty_like(z)
    groups = _arch_arrays(arch)[1]
    _library().fl_act(z.numel() // arch.width, arch.width, len(groups) // 3, _ptr(groups), _ptr(z), _ptr(a), _ptr(d))
    return a, d


class FusedForward(torch.autograd.Function):
    """forward() through the engine with a fused backward (which recomputes the forward pass block by block, so
    nothing of size pixels x units is kept between the two). params (B, P) -> raw (B, 3, N)."""

    @staticmethod
    def forward(ctx, params: torch.Tensor, inputs: torch.Tensor, arch: Arch) -> torch.Tensor:
        ctx.arch = arch
        ctx.save_for_backward(params, inputs)
        return forward(arch, params, inputs)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        params, inputs = ctx.saved_tensors
        return backward(ctx.arch, params, inputs, grad_out).to(params.dtype), None, None
