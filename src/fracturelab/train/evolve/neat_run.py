"""Running NEAT on CPPNs: fit a target image (fitness = -MSE of the render), or novelty search over rendered images
(open-ended; a target, if given, only picks which discovered net is returned).

Each generation every genome is converted (neat_cppn.neat_to_net) and rendered by the project's CPPN module, genomes
of one layerized arch in one batched call. Evaluation is what the saved net computes: the same arch and weights.
"""
from __future__ import annotations

import math
import sys
from collections import defaultdict
from dataclasses import dataclass, field

import neat
import numpy as np
import torch
from tqdm.auto import tqdm

from ...cppn.color import to_rgb
from ...cppn.module import coord_grid, forward
from ...cppn.nets import Net
from ...errors import FracturelabError
from .neat_cppn import StopRun, assign_fitness, make_config, neat_to_net, run_population
from .novelty import NoveltyArchive, behaviour
from .settings import NEATSettings, NoveltySettings


@dataclass
class NEATResult:
    net: Net                                      # the kept genome as a layerized CPPN
    mse: float                                    # its render MSE against the target (nan without a target)
    generations: int
    history: list = field(default_factory=list)   # per generation: best/mean fitness, species, nodes, archive
    stopped: str = "generations"
    genome: object = None                         # the neat-python genome
    config: object = None                         # its neat.Config


def is_grey(img: np.ndarray) -> bool:
    return bool(np.abs(img - img.mean(axis=-1, keepdims=True)).max() < 1e-6)


def render_nets(nets: list[Net], res: int) -> torch.Tensor:
    """(N, res*res, 3) RGB of many nets: nets sharing an arch go through one batched forward call."""
    inputs = coord_grid(res)
    out = torch.empty(len(nets), res * res, 3)
    groups = defaultdict(list)
    for i, n in enumerate(nets):
        groups[str(n.arch)].append(i)
    with torch.no_grad():
        for idx in groups.values():
            params = torch.as_tensor(np.stack([nets[i].params for i in idx]))
            out[idx] = to_rgb(forward(nets[idx[0]].arch, params, inputs))
    return out


class _Progress(neat.reporting.BaseReporter):
    """tqdm bar on stderr: generation, best and mean fitness, species."""

    def __init__(self, total: int, desc: str, enabled: bool):
        self.bar = tqdm(total=total, desc=desc, disable=not enabled, file=sys.stderr, mininterval=1.0)

    def post_evaluate(self, config, population, species, best_genome):
        fit = [g.fitness for g in population.values()]
        self.bar.set_postfix(best=f"{max(fit):.4g}", mean=f"{np.mean(fit):.4g}", species=len(species.species))
        self.bar.update(1)


def evolve_cppn(target: np.ndarray | None, s: NEATSettings, match_mse: float | None = None,
                novelty: NoveltySettings | None = None, progress: bool = True, name: str = "neat") -> NEATResult:
    """NEAT on a target image (res, res, 3) in [0, 1] at s.res (fitness -MSE), or novelty search if `novelty` is
    given (target optional). Stops after s.generations, or once the best MSE <= match_mse."""
    s.check()
    if target is not None and target.shape != (s.res, s.res, 3):
        raise FracturelabError(f"target has shape {target.shape}, expected ({s.res}, {s.res}, 3)")
    if target is None and novelty is None:
        raise FracturelabError("NEAT needs a target image to fit, or novelty search")
    grey = s.outputs == "ink" or (s.outputs == "auto" and target is not None and is_grey(target))
    config = make_config(s, 1 if grey else 3)
    y = torch.as_tensor(target, dtype=torch.float32).reshape(1, -1, 3) if target is not None else None
    archive = NoveltyArchive(novelty, s.seed) if novelty is not None else None
    state = {"best": None, "best_mse": math.inf, "history": [], "gen": 0}
    bar = _Progress(s.generations, "neat-novelty" if archive else "neat", progress)

    def evaluate(genomes, config):
        nets = [neat_to_net(g, config, name) for _, g in genomes]
        rgb = render_nets(nets, s.res)
        mse = ((rgb - y) ** 2).mean(dim=(1, 2)) if y is not None else torch.full((len(nets),), math.nan)
        if archive is not None:
            beh = behaviour(rgb if s.res == novelty.res else render_nets(nets, novelty.res))
            fit = archive.novelty(beh)
            joined = archive.update(beh, fit)
        else:
            fit, joined = -mse, 0
        assign_fitness(genomes, fit)
        i = int(torch.argmin(torch.nan_to_num(mse, nan=math.inf))) if y is not None else int(torch.argmax(fit))
        if y is None or float(mse[i]) < state["best_mse"]:
            state["best"], state["best_mse"] = genomes[i][1], float(mse[i])
        state["gen"] += 1
        state["history"].append({"generation": state["gen"], "best_fitness": float(fit.max()),
                                 "mean_fitness": float(fit.mean()), "best_mse": state["best_mse"],
                                 "mean_nodes": float(np.mean([len(g.nodes) for _, g in genomes])),
                                 "archive": len(archive.members) if archive else 0, "joined": joined})
        if match_mse is not None and state["best_mse"] <= match_mse:
            raise StopRun

    try:
        stopped = "match_mse" if run_population(config, s.seed, evaluate, s.generations, bar) else "generations"
    finally:
        bar.bar.close()
    net = neat_to_net(state["best"], config, name)
    return NEATResult(net, state["best_mse"], state["gen"], state["history"], stopped, state["best"], config)
