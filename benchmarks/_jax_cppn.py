"""A small JAX implementation of fracturelab's CPPN (FER's own framework), for benchmarks.

Same flat weight layout as `fracturelab.cppn.arch.Arch` (kernels Dense_0..Dense_L stored in lexicographic name order,
each (in, out) row-major, no biases), same grouped activations and the same FER HSV->RGB rule as
`fracturelab.cppn.color.to_rgb`. Everything here is a pure function of (params, inputs), so it can be jitted, vmapped
over weight vectors and differentiated. Import needs `jax` (the `bench` extra: pip install 'jax[cpu]').
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from fracturelab.cppn.arch import Arch

ACTIVATIONS = {
    "cache": lambda x: x,
    "identity": lambda x: x,
    "sin": jnp.sin,
    "cos": jnp.cos,
    "tanh": jnp.tanh,
    "sigmoid": lambda x: 2.0 * jax.nn.sigmoid(x) - 1.0,
    "gaussian": lambda x: 2.0 * jnp.exp(-x * x) - 1.0,
    "relu": jax.nn.relu,
}


def kernels(arch: Arch, params: jnp.ndarray) -> list[jnp.ndarray]:
    """(P,) flat vector -> [Dense_0 .. Dense_L], each (in, out). Slices are static, so this is free under jit."""
    out = []
    for i in range(arch.n_hidden + 1):
        n_in, n_out = arch.shape(i)
        start = arch.offsets[i]
        out.append(params[start:start + n_in * n_out].reshape(n_in, n_out))
    return out


def activate(arch: Arch, z: jnp.ndarray) -> jnp.ndarray:
    parts, pos = [], 0
    for act, n in arch.groups:
        parts.append(ACTIVATIONS[act](z[..., pos:pos + n]))
        pos += n
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=-1)


def forward(arch: Arch, params: jnp.ndarray, inputs: jnp.ndarray) -> jnp.ndarray:
    """params (P,), inputs (N, 4) -> raw hsv (N, 3). vmap it over params for many nets."""
    ws = kernels(arch, params)
    h = inputs
    for w in ws[:-1]:
        h = activate(arch, h @ w)
    return h @ ws[-1]


def to_rgb(hsv: jnp.ndarray) -> jnp.ndarray:
    """FER: rgb = hsv2rgb((h+1) mod 1, clip(s, 0, 1), clip(|v|, 0, 1)); f(n) = v - v*s*clip(min(k, 4-k), 0, 1),
    k = (n + 6h) mod 6 for n = 5, 3, 1."""
    h = jnp.remainder(hsv[..., 0] + 1.0, 1.0)
    s = jnp.clip(hsv[..., 1], 0.0, 1.0)
    v = jnp.clip(jnp.abs(hsv[..., 2]), 0.0, 1.0)
    k = jnp.remainder(jnp.array([5.0, 3.0, 1.0], hsv.dtype) + 6.0 * h[..., None], 6.0)
    f = jnp.clip(jnp.minimum(k, 4.0 - k), 0.0, 1.0)
    return v[..., None] - (v * s)[..., None] * f


def coord_grid(res: int, window=(-1.0, 1.0, -1.0, 1.0)) -> jnp.ndarray:
    """(res*res, 4) inputs x, y, d, bias, row-major; equal to fracturelab.cppn.module.coord_grid."""
    x0, x1, y0, y1 = window
    y, x = jnp.meshgrid(jnp.linspace(y0, y1, res), jnp.linspace(x0, x1, res), indexing="ij")
    d = 1.4 * jnp.sqrt(x * x + y * y)
    return jnp.stack([x, y, d, jnp.ones_like(x)], axis=-1).reshape(-1, 4).astype(jnp.float32)


def make_render(arch: Arch):
    """jitted (params (P,), inputs (N, 4)) -> rgb (N, 3)."""
    return jax.jit(lambda p, x: to_rgb(forward(arch, p, x)))


def make_batched(arch: Arch):
    """jitted (params (B, P), inputs (N, 4)) -> raw hsv (B, N, 3): vmap over weight vectors."""
    return jax.jit(jax.vmap(lambda p, x: forward(arch, p, x), in_axes=(0, None)))


def adam_init(params: jnp.ndarray):
    """Adam state of params (P,), or of R replicas (R, P) for a replicas step."""
    return params, jnp.zeros_like(params), jnp.zeros_like(params), jnp.zeros(params.shape[:-1], jnp.int32)


def make_train_step(arch: Arch, lr: float = 3e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                    replicas: bool = False):
    """jitted FER step: state (params, m, v, t), inputs (N, 4), target (N, 3) -> (new state, MSE before the step).
    MSE on RGB, gradient scaled to unit L2 norm, then Adam (torch.optim.Adam's defaults and bias correction).
    replicas: the step vmapped over a leading axis of the state (R replicas, one target), each normalized alone."""

    def loss_fn(p, x, y):
        return jnp.mean((to_rgb(forward(arch, p, x)) - y) ** 2)

    def step(state, x, y):
        p, m, v, t = state
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        g = g / (jnp.linalg.norm(g) + 1e-12)
        t = t + 1
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1 ** t)
        v_hat = v / (1 - b2 ** t)
        p = p - lr * m_hat / (jnp.sqrt(v_hat) + eps)
        return (p, m, v, t), loss

    return jax.jit(jax.vmap(step, in_axes=(0, None, None)) if replicas else step)
