"""Novelty search over rendered images (Lehman & Stanley 2011): Picbreeder's open-endedness without the people.

Behaviour of a net: its image rendered at NoveltySettings.res (16 x 16), as grey luma 0.299 R + 0.587 G + 0.114 B,
flattened. Distance between two behaviours: root-mean-square pixel difference (0 = identical images, 1 = black
versus white everywhere). Novelty of an individual: the mean distance to its k nearest neighbours among the current
population (itself excluded) and the archive. Archive: after each generation, every individual whose novelty exceeds
`threshold`, plus each other one with probability `archive_prob` (seeded), joins; above `max_archive` members the
oldest leave. Selection (NEAT's) then favours the most novel images: there is no target.
"""
from __future__ import annotations

import numpy as np
import torch

from .settings import NoveltySettings

LUMA = torch.tensor([0.299, 0.587, 0.114])


def behaviour(rgb: torch.Tensor) -> torch.Tensor:
    """(N, pixels, 3) RGB in [0, 1] -> (N, pixels) grey luma."""
    return rgb @ LUMA.to(rgb.dtype)


def rms_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, D), (M, D) -> (N, M) root-mean-square differences."""
    return (torch.cdist(a.double(), b.double()) / np.sqrt(a.shape[1])).float()


class NoveltyArchive:
    """The archive and the novelty measure of the module docstring."""

    def __init__(self, s: NoveltySettings, seed: int):
        s.check()
        self.s = s
        self.rng = np.random.default_rng([seed, 3000])
        self.members = torch.empty(0, s.res * s.res)

    def novelty(self, pop: torch.Tensor) -> torch.Tensor:
        """(N, D) behaviours -> (N,) novelty: mean RMS distance to the k nearest of population (not itself) and
        archive."""
        d_pop = rms_distances(pop, pop)
        d_pop.fill_diagonal_(float("inf"))
        d = torch.cat([d_pop, rms_distances(pop, self.members)], dim=1) if len(self.members) else d_pop
        k = min(self.s.k, d.shape[1] - 1 if not len(self.members) else d.shape[1])
        return torch.topk(d, max(1, k), dim=1, largest=False).values.mean(dim=1)

    def update(self, pop: torch.Tensor, novelty: torch.Tensor) -> int:
        """Add the qualifying individuals; return how many joined."""
        lucky = torch.as_tensor(self.rng.random(len(pop)) < self.s.archive_prob)
        join = (novelty > self.s.threshold) | lucky
        if not len(self.members):  # behaviours need not be images (tasks: exact-match rows): take their width
            self.members = pop[:0]
        self.members = torch.cat([self.members, pop[join]])[-self.s.max_archive:]
        return int(join.sum())
