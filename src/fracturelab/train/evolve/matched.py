"""Evolved and SGD CPPNs of one target at one output error (FER's comparison holds output quality fixed).

`evolve_target` evolves a CPPN for a target image: NEAT (topology and weights), NEAT novelty search (no target
pressure; the discovered net closest to the target is kept), or CMA-ES over a fixed arch's weights (the whole
population rendered in one batched call), by default starting from the target's best constant image.
`matched_pair` evolves with NEAT until the render MSE is at most `mse`, then trains an SGD replica (FER's recipe) of
the same target with the evolved net's arch until it is too; both stop at the first generation or step under the
threshold, so they meet the same in-distribution error.
"""
from __future__ import annotations

import colorsys
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch

from ...cppn.arch import Arch
from ...cppn.color import to_rgb
from ...cppn.module import coord_grid, forward, lecun_normal
from ...cppn.nets import Net
from ...cppn.replicate import ReplicateSettings, check_population, fit, mse as render_mse
from ...errors import FracturelabError
from .es import minimize
from .neat_run import evolve_cppn
from .settings import CPPN_ARCH, CPPN_GENERATIONS, CPPN_SIGMA, ESSettings, NEATSettings, NoveltySettings

METHODS = ("neat", "neat-novelty", "cmaes", "es")
STARTS = ("constant", "lecun")
"""Where CMA-ES / ES start on a CPPN target: constant (constant_start: the target's mean colour, so the result is
never worse than a constant image) or lecun (a LeCun-normal draw of the seed: a random pattern, usually worse)."""


@dataclass
class Evolved:
    net: Net
    mse: float                                   # render MSE against the target at the training resolution
    generations: int
    stopped: str
    history: list = field(default_factory=list)  # per generation: best and mean fitness, ...
    settings: dict = field(default_factory=dict)


def cppn_losses(arch: Arch, target: np.ndarray):
    """(N, P) weight vectors -> (N,) render MSEs against target (res, res, 3): one batched forward call."""
    inputs = coord_grid(target.shape[0])
    y = torch.as_tensor(target, dtype=torch.float32).reshape(1, -1, 3)

    def losses(pop: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return ((to_rgb(forward(arch, pop, inputs)) - y) ** 2).mean(dim=(1, 2))
    return losses


def constant_start(arch: Arch, target: np.ndarray) -> torch.Tensor | None:
    """Weights that render the target's best constant image (its mean RGB): every hidden weight 0, so every gaussian
    unit outputs gaussian(0) = 1 on every pixel, and the output layer reads the mean colour's h, s, v from the last
    layer's first gaussian unit. None if the arch has no gaussian unit. (P,)"""
    acts = [a for a, n in arch.groups for _ in range(n)]
    if "gaussian" not in acts:
        return None
    x0 = torch.zeros(arch.n_params)
    hsv = colorsys.rgb_to_hsv(*(float(c) for c in target.reshape(-1, 3).mean(0)))
    for col, value in enumerate(hsv):  # to_rgb reads hue (h + 1) mod 1, clip(s, 0, 1), clip(|v|, 0, 1)
        x0[arch.weight_id(arch.n_hidden, acts.index("gaussian"), col)] = value
    return x0


def evolve_target(target: np.ndarray, method: str = "neat", seed: int = 0, match_mse: float | None = None,
                  neat: NEATSettings | None = None, es: ESSettings | None = None, arch: Arch | None = None,
                  novelty: NoveltySettings | None = None, name: str = "evolved", progress: bool = True,
                  start: str = "constant") -> Evolved:
    """Evolve a CPPN toward target (res, res, 3) in [0, 1]; see the module docstring for the methods. cmaes and es
    evolve the weights of `arch` (default CPPN_ARCH) from `start` (STARTS)."""
    if method not in METHODS:
        raise FracturelabError(f"unknown evolution method {method!r} (methods: {', '.join(METHODS)})")
    if start not in STARTS:
        raise FracturelabError(f"unknown start {start!r} (starts: {', '.join(STARTS)})")
    res = target.shape[0]
    if method.startswith("neat"):
        s = neat or NEATSettings()
        s = replace(s, res=res, seed=seed)
        nov = (novelty or NoveltySettings()) if method == "neat-novelty" else None
        r = evolve_cppn(target, s, match_mse, nov, progress, name)
        return Evolved(r.net, r.mse, r.generations, r.stopped, r.history,
                       {"method": method, "neat": asdict(s), "novelty": asdict(nov) if nov else None})
    arch = arch or Arch.parse(CPPN_ARCH)
    default = "sepcma" if method == "cmaes" else "openai"  # see settings.CPPN_ARCH
    s = es or ESSettings(method=default, sigma=CPPN_SIGMA if method == "cmaes" else 0.05,
                         generations=CPPN_GENERATIONS.get(method, ESSettings.generations))
    s = replace(s, seed=seed)
    if (method == "cmaes") != (s.method in ("cma", "sepcma")):
        raise FracturelabError(f"method {method!r} cannot run ES method {s.method!r} (cmaes: cma or sepcma; "
                               "es: openai or pgpe)")
    check_population(arch, s.population, "ES population")  # before the generation's (population, P) draws
    x0 = constant_start(arch, target) if start == "constant" else None
    if x0 is None:
        x0 = lecun_normal(arch, torch.Generator().manual_seed(seed))
    r = minimize(cppn_losses(arch, target), x0, s, match_mse, progress, desc=method)
    params = r.best.numpy().astype(np.float32)
    net = Net(name, arch, params, {}, f"evolved:{method}")
    return Evolved(net, render_mse(arch, params, target), r.generations, r.stopped, r.history,
                   {"method": method, "es": asdict(s), "start": start})


@dataclass
class MatchedPair:
    evolved: Evolved
    sgd: Net
    sgd_mse: float
    sgd_steps: int
    sgd_losses: np.ndarray
    threshold: float


def matched_pair(target: np.ndarray, threshold: float, seed: int = 0, neat: NEATSettings | None = None,
                 sgd: ReplicateSettings | None = None, sgd_arch: Arch | None = None,
                 progress: bool = True) -> MatchedPair:
    """NEAT until MSE <= threshold, then SGD (FER's recipe; sgd_arch, default the evolved net's arch) until
    MSE <= threshold."""
    ev = evolve_target(target, "neat", seed, threshold, neat=neat, name="evolved", progress=progress)
    if ev.mse > threshold:
        raise FracturelabError(f"NEAT reached MSE {ev.mse:.3e} in {ev.generations} generations, not {threshold:.3e}:"
                               " raise generations or the threshold")
    s = sgd or ReplicateSettings()
    s = replace(s, res=target.shape[0], seed=seed, stop_mse=threshold)
    arch = sgd_arch or ev.net.arch
    rep = fit(arch, target, s, progress=progress)
    sgd_mse = render_mse(arch, rep.params, target)
    if sgd_mse > threshold:
        raise FracturelabError(f"SGD reached MSE {sgd_mse:.3e} in {s.steps} steps, not {threshold:.3e}: "
                               "raise steps")
    return MatchedPair(ev, Net("sgd", arch, rep.params, {}, "sgd"), sgd_mse, len(rep.losses), rep.losses,
                       threshold)
