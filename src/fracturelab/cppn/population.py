"""Many SGD replicas of one target image trained at once on the batched CPPN path.

    reps = fit_population(arch, target, [ReplicateSettings(res=64, steps=3000, seed=s) for s in range(32)])

Each replica follows `replicate.fit` with its own settings (seed, lr, steps, stop_mse, normalize_grad, arch): FER's
recipe -- full-batch MSE on RGB after the differentiable HSV->RGB, the gradient scaled to unit L2 norm per replica,
Adam per replica, the weights with the lowest training MSE kept per replica -- but all replicas of one arch and
resolution run as one (R, P) weight matrix through module.forward's batched matmuls, with one backward pass for all
(replicas are independent, so the gradient of the summed losses is each one's own) and one stacked Adam step
(stacked.StackedAdam: torch's Adam arithmetic, a learning rate per replica). A replica that reaches its stop_mse or
its steps leaves the batch. Settings that differ in arch or res are trained as separate batches. Returns
replicate.Replica objects in the order of the settings, as `fit` would. tests/test_cppn_population.py checks each
replica against a separate `fit`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import FracturelabError
from ..stacked import StackedAdam
from .arch import Arch
from .color import to_rgb
from .module import DEFAULT_WINDOW, forward
from .replicate import INITS, Replica, ReplicateSettings, fit_problem


def fit_population(arch: Arch, target: np.ndarray, settings: Sequence[ReplicateSettings],
                   init: np.ndarray | None = None, mask: np.ndarray | None = None, window=DEFAULT_WINDOW,
                   progress: bool = False) -> list[Replica]:
    """Fit one replica per settings entry to target (res, res, 3) in [0, 1]. init (R, P): start replica r from
    init[r] instead of its seed's LeCun-normal draw (every replica then needs the target's arch); mask (res, res):
    0 hides a pixel from the loss."""
    if not settings:
        raise FracturelabError("fit_population needs at least one replica's settings")
    for s in settings:
        s.check()
    if init is not None and (len(init) != len(settings) or any(s.arch is not None for s in settings)):
        raise FracturelabError("init needs one weight vector per replica, all with the target's own arch")
    archs = [Arch.parse(s.arch) if s.arch else arch for s in settings]
    groups: dict[tuple, list[int]] = {}
    for i, (a, s) in enumerate(zip(archs, settings)):
        groups.setdefault((str(a), s.res), []).append(i)
    out: list[Replica | None] = [None] * len(settings)
    for (_, res), idx in groups.items():
        start = None if init is None else np.asarray(init)[idx]
        for i, rep in zip(idx, _fit_group(archs[idx[0]], target, [settings[i] for i in idx], start, mask, window,
                                          progress)):
            out[i] = rep
    return out


def _fit_group(arch: Arch, target: np.ndarray, settings: list[ReplicateSettings], init, mask, window,
               progress: bool) -> list[Replica]:
    res, R = settings[0].res, len(settings)
    inputs, y, m = fit_problem(target, res, mask, window)
    start = (torch.as_tensor(init, dtype=torch.float32).clone() if init is not None else
             torch.stack([INITS[s.init](arch, torch.Generator().manual_seed(s.seed)) for s in settings]))
    opt = StackedAdam([start.clone().requires_grad_()])  # torch.optim.Adam's defaults, as replicate.fit
    losses = [np.empty(s.steps, dtype=np.float32) for s in settings]
    best = np.full(R, np.inf)
    best_params, final_params = start.clone(), start.clone()
    lr = torch.tensor([s.lr for s in settings], dtype=torch.float64)
    norm = torch.tensor([s.normalize_grad for s in settings])
    active = list(range(R))
    denom = m.sum() * 3
    bar = tqdm(range(max(s.steps for s in settings)), desc=f"replicate x{R}", disable=not progress, mininterval=1.0)
    for step in bar:
        params = opt.params[0]
        err = (to_rgb(forward(arch, params, inputs)) - y) ** 2 * m  # (A, N, 3)
        loss = err.sum((1, 2)) / denom
        (grad,) = torch.autograd.grad(loss.sum(), params)
        act = torch.tensor(active)
        scale = torch.where(norm[act], 1.0 / (grad.norm(dim=1) + 1e-12), torch.ones(len(active)))
        grad = grad * scale[:, None]  # unit L2 norm per replica (FER), where its settings ask for it
        now = loss.detach().numpy()
        done = []
        for r, i in enumerate(active):
            losses[i][step] = now[r]
            if now[r] < best[i]:
                best[i] = now[r]
                best_params[i] = params[r].detach()
            s = settings[i]
            if (s.stop_mse is not None and best[i] < s.stop_mse) or step == s.steps - 1:
                losses[i] = losses[i][:step + 1]
                final_params[i] = params[r].detach()  # keep="final", as fit: the weights last scored
                done.append(r)
        if done:  # the finished leave before the step, as fit breaks before its last opt.step
            keep = [r for r in range(len(active)) if r not in done]
            active = [active[r] for r in keep]
            if not active:
                break
            grad = grad[keep]
            opt.keep(torch.tensor(keep))
        opt.step([grad], lr[torch.tensor(active)])
        if step % 200 == 0:
            bar.set_postfix(best=f"{best.min():.2e}", active=len(active))
    return [Replica(arch, (best_params if s.keep == "best" else final_params)[i].numpy().astype(np.float32), losses[i],
                    s, float(best[i] if s.keep == "best" else losses[i][-1])) for i, s in enumerate(settings)]
