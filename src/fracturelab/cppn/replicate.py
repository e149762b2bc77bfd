"""SGD replicas of a target image, with FER's recipe: a fresh MLP (flax's LeCun-normal init, a truncated normal) fit
by full-batch MSE on RGB after the differentiable HSV->RGB, Adam, and the gradient scaled to unit L2 norm before each
Adam step; the final weights are the replica (FER's choice; keep="best" keeps the lowest-loss ones). `fit_batch` trains
R replicas, each with its own settings, in one batched step; `fit` and `fit_many` are its one- and many-seed cases."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import FracturelabError, diverged
from ..stacked import StackedAdam
from .arch import Arch
from .nets import FLOAT32_MAX
from .color import to_rgb
from .fused import active as fused_active, adam_step, rgb_mse_fn
from .module import DEFAULT_WINDOW, coord_grid, forward, lecun_normal

TRUNC_STD = 0.87962566103423978
"""Standard deviation of a standard normal truncated to [-2, 2] (the constant in jax's variance_scaling)."""


def lecun_truncated_normal(arch: Arch, generator: torch.Generator) -> torch.Tensor:
    """flax's default Dense kernel init, lecun_normal = variance_scaling(1, "fan_in", "truncated_normal"): a standard
    normal truncated to [-2, 2], times sqrt(1 / fan_in) / TRUNC_STD, so each kernel's std after truncation is
    1/sqrt(fan_in) and no weight exceeds 2 / TRUNC_STD / sqrt(fan_in). FER's replicas start here. (P,)"""
    flat = torch.empty(arch.n_params)
    for i in range(arch.n_hidden + 1):
        n_in, n_out = arch.shape(i)
        start = arch.offsets[i]
        scale = math.sqrt(1.0 / n_in) / TRUNC_STD
        flat[start:start + n_in * n_out] = truncated_normal(n_in * n_out, generator) * scale
    return flat


def truncated_normal(n: int, generator: torch.Generator) -> torch.Tensor:
    """n draws of a standard normal truncated to [-2, 2], by redrawing those outside (95 % land inside; exact, and
    the same numbers on every torch version, unlike nn.init.trunc_normal_, whose method changed)."""
    z = torch.randn(n, generator=generator)
    while True:
        out = z.abs() > 2.0
        k = int(out.sum())
        if k == 0:
            return z
        z[out] = torch.randn(k, generator=generator)


INITS = {"truncated": lecun_truncated_normal, "normal": lecun_normal}
"""Replica inits: truncated (flax's lecun_normal, FER's), normal (a plain normal of the same variance)."""
KEEP = ("final", "best")


@dataclass
class ReplicateSettings:
    res: int = 64
    """Training resolution (res x res pixels, full batch)."""
    steps: int = 6000
    """Adam steps. FER ran 100,000 at 256x256; at 64x64 the skull passes MSE 2e-3 after about 4,000."""
    lr: float = 3e-3
    """Adam learning rate (FER: 3e-3; 3e-4 for the apple)."""
    seed: int = 0
    """Seed of the initialization."""
    init: str = "truncated"
    """Initial weights (INITS): "truncated", flax's LeCun normal truncated at 2 std, as FER's replicas; "normal", a
    plain LeCun normal of the same variance (this project's init before it followed FER's)."""
    keep: str = "final"
    """Which weights are the replica: "final", the last ones scored (FER's choice: its shipped SGD nets render at
    their last logged loss, not their lowest); "best", those with the lowest training MSE seen (unit-norm Adam jitters,
    so at short budgets they can be noticeably better)."""
    arch: str | None = None
    """Architecture of the replica; None = the target net's own arch (FER's setting)."""
    normalize_grad: bool = True
    """Scale the gradient to unit L2 norm before Adam (FER's recipe)."""
    stop_mse: float | None = None
    """Stop once the training MSE falls below this (to match output quality across nets); None = run every step."""

    def check(self) -> None:
        if self.res < 2 or self.steps < 1 or not 0 < self.lr < float("inf"):
            raise FracturelabError(f"bad replicate settings: res >= 2, steps >= 1, lr > 0 (got {asdict(self)})")
        if self.lr > FLOAT32_MAX:  # Adam holds it in float32: it would diverge at step 1
            raise FracturelabError(f"replicate lr {self.lr:g} overflows float32 (at most {FLOAT32_MAX:.3g})")
        from ..limits import check_size

        check_size(self.steps, "max_steps", "replicate steps")
        if self.init not in INITS:
            raise FracturelabError(f"unknown replicate init {self.init!r} (inits: {', '.join(INITS)})")
        if self.keep not in KEEP:
            raise FracturelabError(f"replicate keep must be one of {', '.join(KEEP)}, got {self.keep!r}")
        if self.arch is not None:  # given, even empty: it must parse (None, not "", means the target's own)
            Arch.parse(self.arch)


def check_fit_size(arch: Arch, res: int) -> None:
    """Refuse, before allocating anything, a fit whose activations (pixels x hidden units) exceed the limit."""
    from ..limits import check_size

    check_size(res * res, "max_pixels", f"resolution {res}: pixels")
    check_size(res * res * arch.width * arch.n_hidden, "max_fit_cells", f"arch {arch} at {res}x{res}: pixels x units")


@dataclass
class Replica:
    arch: Arch
    params: np.ndarray    # (P,) float32: the replica's weights (settings.keep: after the last step, or the best)
    losses: np.ndarray    # (steps,) training MSE of the weights before each step
    settings: ReplicateSettings
    fit_mse: float = math.nan  # training MSE (masked, as the loss) of `params`


def fit(arch: Arch, target: np.ndarray, settings: ReplicateSettings, init: np.ndarray | None = None,
        mask: np.ndarray | None = None, window=DEFAULT_WINDOW, progress: bool = True) -> Replica:
    """Fit `arch` to target (res, res, 3) in [0, 1]. mask (res, res) in {0, 1} hides pixels from the loss (0 = hidden).
    init: start from these weights instead of a fresh draw of settings.init (fine-tuning)."""
    settings.check()
    start = (torch.as_tensor(init, dtype=torch.float32).reshape(1, -1) if init is not None
             else initial_weights(arch, [settings]))
    return fit_batch(arch, target, [settings], start, mask, window, progress)[0]


def fit_many(arch: Arch, target: np.ndarray, settings: ReplicateSettings, seeds, mask: np.ndarray | None = None,
             window=DEFAULT_WINDOW, progress: bool = True) -> list[Replica]:
    """R replicas of one target, one per seed, trained together (fit_batch): replica r is `fit` with settings.seed =
    seeds[r] (the same numbers up to float rounding)."""
    settings.check()
    each = [replace(settings, seed=int(s)) for s in seeds]
    return fit_batch(arch, target, each, initial_weights(arch, each), mask, window, progress)


def check_population(arch: Arch, n: int, what: str = "replicas") -> None:
    """Refuse, before allocating them, more nets than max_runs, or nets x weights over max_params."""
    from ..limits import check_size

    check_size(n, "max_runs", what)
    check_size(n * arch.n_params, "max_params", f"{n:,} {what} of arch {arch}: weights")


def initial_weights(arch: Arch, settings: Sequence[ReplicateSettings]) -> torch.Tensor:
    """Each replica's starting weights, its init drawn from its own seed: (R, P)."""
    check_population(arch, len(settings))
    return torch.stack([INITS[s.init](arch, torch.Generator().manual_seed(s.seed)) for s in settings])


def fit_problem(target: np.ndarray, res: int, mask, window) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A fit's inputs (res*res, 4), target colours (res*res, 3) and pixel mask (res*res, 1), checked."""
    if target.shape != (res, res, 3):
        raise FracturelabError(f"target has shape {target.shape}, expected ({res}, {res}, 3)")
    m = torch.ones(res * res, 1) if mask is None else torch.as_tensor(mask, dtype=torch.float32).reshape(-1, 1)
    if m.sum() == 0:
        raise FracturelabError("the mask hides every pixel: nothing to fit")
    return coord_grid(res, window), torch.as_tensor(target, dtype=torch.float32).reshape(-1, 3), m


def fit_batch(arch: Arch, target: np.ndarray, settings: Sequence[ReplicateSettings], starts: torch.Tensor,
              mask: np.ndarray | None = None, window=DEFAULT_WINDOW, progress: bool = False) -> list[Replica]:
    """R replicas of `arch` trained together with FER's recipe, replica r from starts[r] (R, P) with settings[r] (its
    lr, steps, stop_mse, normalize_grad and keep; all at one res): each step is one loss-and-gradient call over the
    (A, P) weights of the A replicas still training and one Adam step with a learning rate per row. A replica that
    reaches its stop_mse or its steps leaves the batch, as `fit` would stop, so replica r is `fit` with settings[r]
    up to float rounding (tests/test_cppn_population.py)."""
    for s in settings:
        s.check()
    res = settings[0].res
    if any(s.res != res for s in settings):
        raise FracturelabError(f"fit_batch trains one resolution at a time, got {sorted({s.res for s in settings})}")
    check_fit_size(arch, res)
    check_population(arch, len(settings))
    inputs, y, m = fit_problem(target, res, mask, window)
    R = len(settings)
    lr = np.array([s.lr for s in settings], dtype=np.float64)
    normalize = np.array([s.normalize_grad for s in settings])
    last = np.array([s.steps - 1 for s in settings])
    stop = np.array([-np.inf if s.stop_mse is None else s.stop_mse for s in settings])
    start = starts.to(torch.float32).contiguous()
    opt = (_FusedAdam if fused_active() else _TorchAdam)(arch, inputs, y, m, start.clone(), lr, normalize)
    losses = np.full((last.max() + 1, R), np.nan, dtype=np.float32)  # (step, replica)
    length = last + 1  # steps each replica logged (fewer where it reached its stop_mse)
    best, best_params, final_params = np.full(R, np.inf), start.clone(), start.clone()
    active = np.arange(R)  # the replica on each row of opt's weights
    bar = tqdm(range(last.max() + 1), desc=f"replicate x{R}" if R > 1 else "replicate", disable=not progress,
               mininterval=1.0)
    for step in bar:
        now = opt.loss()  # (A,) the MSE of the weights before this step
        # a learning rate too large: stop, nothing is kept or written. The gradient too: to_rgb's clamps can keep the
        # loss finite while a NaN reaches the weights (found only at the end, as "diverged at step <steps>")
        if not np.isfinite(now).all() or not bool(torch.isfinite(opt.grad).all()):
            raise diverged(step)
        losses[step, active] = now
        better = now < best[active]
        if better.any():  # Adam on unit-norm gradients jitters: keep="best" keeps these weights
            best[active[better]] = now[better]
            best_params.index_copy_(0, torch.from_numpy(active[better]),
                                    opt.params.index_select(0, torch.from_numpy(np.flatnonzero(better))))
        done = (best[active] < stop[active]) | (step == last[active])
        if done.any():  # "final" = the weights whose loss was logged last (they leave before the next update)
            final_params.index_copy_(0, torch.from_numpy(active[done]),
                                     opt.params.index_select(0, torch.from_numpy(np.flatnonzero(done))))
            length[active[done]] = step + 1
            active = active[~done]
            if not len(active):
                break
            opt.keep(np.flatnonzero(~done))
        opt.step(step + 1)
        if step % 200 == 0:
            bar.set_postfix(mse=f"{best.min():.2e}", active=len(active))
    out = []
    for r, s in enumerate(settings):
        curve = losses[:length[r], r].copy()
        params = best_params[r] if s.keep == "best" else final_params[r]
        if not bool(torch.isfinite(params).all()):  # a finite loss can hide an infinite weight (into a gaussian)
            raise diverged(length[r])
        out.append(Replica(arch, params.numpy().copy(), curve, s, float(best[r] if s.keep == "best" else curve[-1])))
    return out


class _FusedAdam:
    """The fused engine's step: loss and gradient of every row in one call, the normalization and Adam in another."""

    def __init__(self, arch: Arch, inputs, y, m, params: torch.Tensor, lr: np.ndarray, normalize: np.ndarray):
        self.loss_and_grad = rgb_mse_fn(arch, inputs, y, (m / (m.sum() * 3)).reshape(-1))
        self.params, self.m, self.v = params, torch.zeros_like(params), torch.zeros_like(params)  # (A, P) each
        self.lr, self.normalize = lr, normalize  # (A,) each

    def loss(self) -> np.ndarray:
        loss, self.grad = self.loss_and_grad(self.params)
        return loss.numpy()

    def keep(self, rows: np.ndarray) -> None:
        self.params, self.m, self.v, self.grad = (t[torch.from_numpy(rows)].contiguous() for t in
                                                  (self.params, self.m, self.v, self.grad))
        self.lr, self.normalize = self.lr[rows], self.normalize[rows]

    def step(self, t: int) -> None:
        adam_step(self.params, self.grad, self.m, self.v, t, self.lr, self.normalize)


class _TorchAdam:
    """The reference: autograd through module.forward (one net: its hand-written backward) and StackedAdam, which
    follows torch.optim.Adam op for op."""

    def __init__(self, arch: Arch, inputs, y, m, params: torch.Tensor, lr: np.ndarray, normalize: np.ndarray):
        self.arch, self.inputs, self.y, self.m = arch, inputs, y, m
        self.opt = StackedAdam([params.requires_grad_()])
        self.lr, self.normalize = torch.from_numpy(lr), torch.from_numpy(normalize)  # (A,) each

    @property
    def params(self) -> torch.Tensor:
        return self.opt.params[0].detach()

    def loss(self) -> np.ndarray:
        p = self.opt.params[0]
        raw = forward(self.arch, p[0] if len(p) == 1 else p, self.inputs).reshape(len(p), -1, 3)
        loss = ((to_rgb(raw) - self.y) ** 2 * self.m).sum(dim=(1, 2)) / (self.m.sum() * 3)
        (self.grad,) = torch.autograd.grad(loss.sum(), p)
        return loss.detach().numpy()

    def keep(self, rows: np.ndarray) -> None:
        rows = torch.from_numpy(rows)
        self.opt.keep(rows)
        self.grad, self.lr, self.normalize = self.grad[rows], self.lr[rows], self.normalize[rows]

    def step(self, t: int) -> None:
        unit = self.grad / (self.grad.norm(dim=1, keepdim=True) + 1e-12)  # FER: unit L2 norm per replica
        self.opt.step([torch.where(self.normalize[:, None], unit, self.grad)], self.lr)


def mse(arch: Arch, params: np.ndarray, target: np.ndarray, window=DEFAULT_WINDOW) -> float:
    """Rendering MSE (RGB in [0, 1]) of a net against a target image (res, res, 3)."""
    inputs = coord_grid(target.shape[0], window)
    with torch.no_grad():
        rgb = to_rgb(forward(arch, torch.as_tensor(params), inputs))
    return float(((rgb.reshape(target.shape) - torch.as_tensor(target)) ** 2).mean())
