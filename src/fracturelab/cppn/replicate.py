"""SGD replicas of a target image, with FER's recipe: a fresh MLP (flax's LeCun-normal init, a truncated normal) fit
by full-batch MSE on RGB after the differentiable HSV->RGB, Adam, and the gradient scaled to unit L2 norm before each
Adam step; the final weights are the replica (FER's choice; keep="best" keeps the lowest-loss ones). `fit_many` trains
R replicas in one batched step."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import FracturelabError
from .arch import Arch
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
        if self.init not in INITS:
            raise FracturelabError(f"unknown replicate init {self.init!r} (inits: {', '.join(INITS)})")
        if self.keep not in KEEP:
            raise FracturelabError(f"replicate keep must be one of {', '.join(KEEP)}, got {self.keep!r}")


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
    gen = torch.Generator().manual_seed(settings.seed)
    start = (torch.as_tensor(init, dtype=torch.float32).clone() if init is not None
             else INITS[settings.init](arch, gen))
    return _train(arch, target, settings, start[None], mask, window, progress)[0]


def fit_many(arch: Arch, target: np.ndarray, settings: ReplicateSettings, seeds, mask: np.ndarray | None = None,
             window=DEFAULT_WINDOW, progress: bool = True) -> list[Replica]:
    """R replicas of one target, one per seed, trained together: each step is one batched forward and backward of
    all R nets and one Adam step on the (R, P) weights, each replica's gradient scaled to unit norm on its own. Replica
    r is `fit` with settings.seed = seeds[r] (the same numbers up to float rounding: the batch sums in another order).
    With stop_mse, a replica that reached it keeps stepping (its best weights are kept) until all have."""
    settings.check()
    starts = torch.stack([INITS[settings.init](arch, torch.Generator().manual_seed(int(s))) for s in seeds])
    reps = _train(arch, target, settings, starts, mask, window, progress)
    return [Replica(r.arch, r.params, r.losses, ReplicateSettings(**{**asdict(settings), "seed": int(s)}), r.fit_mse)
            for r, s in zip(reps, seeds)]


def fit_problem(target: np.ndarray, res: int, mask, window) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A fit's inputs (res*res, 4), target colours (res*res, 3) and pixel mask (res*res, 1), checked."""
    if target.shape != (res, res, 3):
        raise FracturelabError(f"target has shape {target.shape}, expected ({res}, {res}, 3)")
    m = torch.ones(res * res, 1) if mask is None else torch.as_tensor(mask, dtype=torch.float32).reshape(-1, 1)
    if m.sum() == 0:
        raise FracturelabError("the mask hides every pixel: nothing to fit")
    return coord_grid(res, window), torch.as_tensor(target, dtype=torch.float32).reshape(-1, 3), m


def _train(arch, target, settings, starts: torch.Tensor, mask, window, progress) -> list[Replica]:
    """Adam on starts (R, P) with FER's recipe. The fused engine, where active, computes each step's loss and
    gradient in one pass and does the normalization and Adam in one call; the reference is autograd (one net: the
    module's hand-written backward) and torch.optim.Adam."""
    settings.check()
    res = settings.res
    check_fit_size(arch, res)
    inputs, y, m = fit_problem(target, res, mask, window)
    R, params = len(starts), starts.clone().contiguous()
    if fused_active():
        loss_and_grad = rgb_mse_fn(arch, inputs, y, (m / (m.sum() * 3)).reshape(-1))
        moments, grad = (torch.zeros_like(params), torch.zeros_like(params)), [None]

        def compute() -> torch.Tensor:
            loss, grad[0] = loss_and_grad(params)
            return loss

        def update(t: int) -> None:
            adam_step(params, grad[0], *moments, t, settings.lr, settings.normalize_grad)
    else:
        leaf = torch.nn.Parameter(params)  # shares params' storage
        opt = torch.optim.Adam([leaf], lr=settings.lr)

        def compute() -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            raw = forward(arch, leaf[0] if R == 1 else leaf, inputs).reshape(R, -1, 3)  # one net: _OneNet
            loss = ((to_rgb(raw) - y) ** 2 * m).sum(dim=(1, 2)) / (m.sum() * 3)
            loss.sum().backward()
            if settings.normalize_grad:
                leaf.grad /= leaf.grad.norm(dim=1, keepdim=True) + 1e-12
            return loss.detach()

        def update(t: int) -> None:
            opt.step()

    losses = np.empty((settings.steps, R), dtype=np.float32)
    best, best_params = np.full(R, np.inf), starts.clone()  # Adam on unit-norm gradients jitters: keep="best" keeps these
    bar = tqdm(range(settings.steps), desc="replicate", disable=not progress, mininterval=1.0)
    for step in bar:
        losses[step] = compute().numpy()
        better = np.flatnonzero(losses[step] < best)
        if len(better):
            best[better] = losses[step, better]
            rows = torch.from_numpy(better)
            best_params[rows] = params[rows]
        if settings.stop_mse is not None and (best < settings.stop_mse).all():
            losses = losses[:step + 1]
            break
        if step == settings.steps - 1:  # "final" = the weights whose loss was logged last (no unlogged last step)
            break
        update(step + 1)
        if step % 200 == 0:
            bar.set_postfix(mse=f"{losses[step].min():.2e}")
    if settings.keep == "best":
        return [Replica(arch, best_params[r].numpy().astype(np.float32), losses[:, r].copy(), settings, float(best[r]))
                for r in range(R)]
    return [Replica(arch, params[r].numpy().astype(np.float32).copy(), losses[:, r].copy(), settings,
                    float(losses[-1, r])) for r in range(R)]


def mse(arch: Arch, params: np.ndarray, target: np.ndarray, window=DEFAULT_WINDOW) -> float:
    """Rendering MSE (RGB in [0, 1]) of a net against a target image (res, res, 3)."""
    inputs = coord_grid(target.shape[0], window)
    with torch.no_grad():
        rgb = to_rgb(forward(arch, torch.as_tensor(params), inputs))
    return float(((rgb.reshape(target.shape) - torch.as_tensor(target)) ** 2).mean())
