"""NEAT on a coordinate task (regimes neat and neat-novelty): CPPN topologies evolved as classifiers.

A genome has the CPPN classifier's inputs (x, y, d; node biases become links from the constant bias input) and one
identity output per class (the logits). It becomes a models.cppn.CPPNClassifier: cppn.layerize with the class nodes
as outputs gives the hidden layers (Dense_0 .. Dense_{L-1}, the same layerization as Picbreeder genomes); the head
reads each class node's unit in the last hidden layer with weight 1. So a NEAT individual is scored by the
classifier's own loss, and the kept one is saved as an ordinary cppn run model (its arch in config.json).

Batched fitness: each generation the genomes of one depth L are padded to one arch (every activation group at its
widest; padding units have no weights in or out, so they change nothing) and go through PopulationLoss in one call.
"""
from __future__ import annotations

import math
from collections import defaultdict

import neat
import numpy as np
import torch

from ...cppn.arch import N_IN, Arch
from ...cppn.layerize import layerize
from ...errors import FracturelabError
from ...models.cppn import CPPNClassifier, CPPNSettings
from .batched import PopulationLoss
from .neat_cppn import StopRun, assign_fitness, make_config, neat_to_genome, run_population
from .novelty import NoveltyArchive
from .settings import NEATSettings, NoveltySettings


class Converted:
    """One NEAT genome as classifier pieces: arch, kernels (in, out) of Dense_0 .. Dense_{L-1}, and the unit of each
    class node in the last hidden layer."""

    def __init__(self, genome, config: neat.Config, n_classes: int):
        labels = tuple(f"class{j}" for j in range(n_classes))
        g = neat_to_genome(genome, config, "neat", outputs=labels)
        outs = g.outputs()
        lz = layerize(g, outputs=[outs[lab] for lab in labels])
        self.arch = lz.arch
        self.kernels = [lz.params[lz.arch.offsets[i]:lz.arch.offsets[i] + int(np.prod(lz.arch.shape(i)))]
                        .reshape(lz.arch.shape(i)) for i in range(lz.arch.n_hidden)]
        last = {k: i for i, k in enumerate(lz.layers[-1]) if k is not None}
        self.out_units = [last[outs[lab]] for lab in labels]


def _starts(arch: Arch) -> dict[str, int]:
    return {a: s for a, s, _ in arch.group_slices()}


def padded_arch(archs: list[Arch]) -> Arch:
    """One arch holding each of archs (same depth): every group at its widest, cache first, then alphabetical (as
    layerize orders groups)."""
    widths: dict[str, int] = {}
    for a in archs:
        for name, n in a.groups:
            widths[name] = max(widths.get(name, 0), n)
    order = ["cache"] * ("cache" in widths) + sorted(set(widths) - {"cache"})
    return Arch(archs[0].n_hidden, tuple((name, widths[name]) for name in order))


def classifier_weights(c: Converted, arch: Arch) -> dict[str, torch.Tensor]:
    """c's weights placed in a classifier of `arch` (c.arch padded): {parameter name: tensor}."""
    pad = _starts(arch)
    where = np.concatenate([pad[name] + np.arange(n) for name, n in c.arch.groups])  # own unit -> padded unit
    rows = np.arange(N_IN)
    out: dict[str, torch.Tensor] = {}
    for i, k in enumerate(c.kernels):
        w = np.zeros((arch.width, N_IN if i == 0 else arch.width), np.float32)  # nn.Linear stores (out, in)
        w[np.ix_(where, rows)] = k.T
        out[f"dense.{i}.weight"], rows = torch.from_numpy(w), where
    head = np.zeros((len(c.out_units), arch.width), np.float32)
    head[np.arange(len(c.out_units)), where[c.out_units]] = 1.0
    out["head.weight"] = torch.from_numpy(head)
    return out


def install(model: CPPNClassifier, c: Converted) -> None:
    """Make model the classifier of genome c: its arch (config.json records it, so load_run rebuilds it) and
    weights."""
    fresh = CPPNClassifier(model.spec, CPPNSettings(arch=str(c.arch), scale=1.0))
    fresh.load_state_dict(classifier_weights(c, c.arch))
    model.settings, model.arch, model.dense, model.head = fresh.settings, fresh.arch, fresh.dense, fresh.head


class TaskFitness:
    """Batched training loss and exact-match rows of many NEAT genomes on one encoded batch."""

    def __init__(self, model: CPPNClassifier):
        self.spec, self.cache = model.spec, {}

    def _evaluator(self, arch: Arch) -> PopulationLoss:
        key = str(arch)
        if key not in self.cache:
            self.cache[key] = PopulationLoss(CPPNClassifier(self.spec, CPPNSettings(arch=key, scale=1.0)))
        return self.cache[key]

    def __call__(self, conv: list[Converted], batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss (N,), exact (N, B)); genomes of one depth share one padded arch and one batched call."""
        by_depth = defaultdict(list)
        for i, c in enumerate(conv):
            by_depth[c.arch.n_hidden].append(i)
        loss, exact = torch.empty(len(conv)), torch.empty(len(conv), len(batch["y"]), dtype=torch.bool)
        for idx in by_depth.values():
            arch = padded_arch([conv[i].arch for i in idx])
            ev = self._evaluator(arch)
            weights = [classifier_weights(conv[i], arch) for i in idx]  # one conversion per genome
            pop = torch.stack([torch.cat([w[n[len("model."):]].reshape(-1) for n in ev.names]) for w in weights])
            loss[idx], exact[idx] = ev(pop, batch)
        return loss, exact


def run_neat_task(model: CPPNClassifier, s: NEATSettings, batches, on_generation,
                  novelty: NoveltySettings | None = None) -> None:
    """Evolve classifiers with NEAT. batches: iterator of encoded training batches (one per generation).
    on_generation(converted best of the generation, its loss, its exact-match row (B,), population losses) -> True
    to stop. Fitness is
    -(training loss), or with novelty the novelty of each genome's exact-match row (which training examples it
    gets right): open-ended, the loss then only picks which nets are looked at."""
    if not isinstance(model, CPPNClassifier):
        raise FracturelabError(f"NEAT on a task evolves CPPN classifiers: use model 'cppn', not "
                               f"{type(model).__name__}")
    config = make_config(s, len(model.spec.tgt_vocab))
    fitness = TaskFitness(model)
    archive = NoveltyArchive(novelty, s.seed) if novelty is not None else None

    def evaluate(genomes, config):
        conv = [Converted(g, config, len(model.spec.tgt_vocab)) for _, g in genomes]
        loss, exact = fitness(conv, next(batches))
        loss = torch.nan_to_num(loss, nan=math.inf)
        if archive is not None:
            beh = exact.float()
            fit = archive.novelty(beh)
            archive.update(beh, fit)
        else:
            fit = -loss
        assign_fitness(genomes, fit)
        i = int(torch.argmin(loss))
        if on_generation(conv[i], float(loss[i]), exact[i], loss):
            raise StopRun

    run_population(config, s.seed, evaluate, s.generations)  # on_generation may stop it earlier
