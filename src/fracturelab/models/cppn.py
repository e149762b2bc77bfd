"""A CPPN classifier: the CPPN's bias-free MLP with grouped activations, over coordinates instead of tokens.

Where it applies: tasks whose examples are points of a grid with a single-token answer. Each such task gives the
CPPN's four inputs (x, y, d, bias) per example through COORDINATES (task name -> function). Now only
leave_square_out: x = a and y = b scaled to [-1, 1], d = 1.4 * sqrt(x^2 + y^2), bias = 1, as in a Picbreeder CPPN
drawing the (a, b) table as an image; the answer c is a class over tgt_vocab. Other tasks raise FracturelabError.

Layers Dense_0 .. Dense_{L-1} (no biases, LeCun-normal init, as FER's replicas) with the activation groups of the
arch string (fracturelab.cppn.arch), then a linear head to the classes. Named activations: layer1..layerL (B, W).

The network is one function of its weights (`logits_of`), so the same code runs one network and a population's K
stacked networks (`stacked_loss`: one batched matmul per layer, no torch.vmap, whose fixed cost per step was a large
share of a population's step; docs/speed.md, population speed).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import stacked
from ..cppn.arch import N_IN, Arch
from ..cppn.module import activate_rows
from ..errors import FracturelabError
from ..tasks.base import Example
from .data import DataSpec, decode_fixed, mean_nll, record_activations


def _square_coords(e: Example, spec: DataSpec) -> tuple[float, float]:
    top = max(1, spec.info["p"] - 1)  # src = (a, op, b, "=")
    return 2.0 * int(e.src[0]) / top - 1.0, 2.0 * int(e.src[2]) / top - 1.0


COORDINATES: dict[str, Callable[[Example, DataSpec], tuple[float, float]]] = {
    "leave_square_out": _square_coords,
}
"""Task name -> (example, spec) -> (x, y) in [-1, 1]; d and bias are added as in a CPPN."""


@dataclass
class CPPNSettings:
    """Settings of the CPPN classifier."""

    arch: str = "4;gaussian:16,identity:16,sin:16,tanh:16"
    """Depth and activation groups, as FER's arch strings ('L;act:n,...'); the head replaces the h, s, v outputs."""
    scale: float = 1.0
    """Multiplies every group's width."""

    def check(self) -> None:
        Arch.parse(self.arch)
        if not self.scale > 0:
            raise FracturelabError(f"bad cppn settings: scale must be > 0, got {self.scale}")

    def scaled_arch(self) -> Arch:
        """The arch used: every group's width times scale (at least 1)."""
        base = Arch.parse(self.arch)
        return Arch(base.n_hidden, tuple((a, max(1, round(n * self.scale))) for a, n in base.groups))

    def n_params(self, spec: DataSpec) -> int:
        """Weights of the classifier built on spec, counted without building it."""
        arch = self.scaled_arch()
        w = arch.width
        return N_IN * w + (arch.n_hidden - 1) * w * w + w * len(spec.tgt_vocab)


def logits_of(arch: Arch, weights: Sequence[torch.Tensor], x: torch.Tensor,
              acts: dict | None = None) -> torch.Tensor:
    """x (B, 4) CPPN inputs, weights [Dense_0 (W, 4), .., Dense_{L-1} (W, W), head (V, W)] as nn.Linear stores
    them -> logits (B, V); or K networks at once: x (K, B, 4) and every weight with a leading K -> (K, B, V)."""
    linear = F.linear if weights[0].dim() == 2 else stacked.linear
    h = x
    for i, w in enumerate(weights[:-1], 1):
        h = activate_rows(arch, linear(h, w))  # (B, W) or (K, B, W), each group through its activation
        if acts is not None:
            acts[f"layer{i}"] = h
    return linear(h, weights[-1])


class CPPNClassifier(nn.Module):
    def __init__(self, spec: DataSpec, settings: CPPNSettings):
        super().__init__()
        settings.check()
        if spec.task not in COORDINATES:
            raise FracturelabError(f"model 'cppn' needs coordinate inputs; tasks with them: {', '.join(COORDINATES)}")
        if spec.max_tgt != 1:
            raise FracturelabError(f"model 'cppn' predicts one token; task {spec.task!r} has longer targets")
        self.spec, self.settings = spec, settings
        self.arch = settings.scaled_arch()
        W = self.arch.width
        self.dense = nn.ModuleList(nn.Linear(N_IN if i == 0 else W, W, bias=False) for i in range(self.arch.n_hidden))
        self.head = nn.Linear(W, len(spec.tgt_vocab), bias=False)
        for layer in [*self.dense, self.head]:  # LeCun normal: std 1 / sqrt(fan_in)
            nn.init.normal_(layer.weight, 0.0, 1.0 / math.sqrt(layer.in_features))
        self._tgt_ids = {t: i for i, t in enumerate(spec.tgt_vocab)}

    def encode(self, examples: Sequence[Example]) -> dict:
        """x: (B, 4) CPPN inputs (x, y, d, bias); y: (B,) class ids."""
        xy = torch.tensor([COORDINATES[self.spec.task](e, self.spec) for e in examples], dtype=torch.float32)
        d = 1.4 * xy.norm(dim=1, keepdim=True)
        x = torch.cat([xy, d, torch.ones(len(examples), 1)], dim=1)
        return {"x": x, "y": torch.tensor([self._tgt_ids[e.tgt[0]] for e in examples])}

    def forward(self, batch: dict, acts: dict | None = None) -> torch.Tensor:
        """batch["x"] (B, 4) -> logits (B, V_tgt)."""
        logits = logits_of(self.arch, [layer.weight for layer in [*self.dense, self.head]], batch["x"], acts)
        if acts is not None:
            acts["logits"] = logits
        return logits

    def loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch)
        return F.cross_entropy(logits, batch["y"]), logits.detach().argmax(-1) == batch["y"]

    def stacked_loss(self, params: dict[str, torch.Tensor], batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """loss() of K networks at once: params {name: (K, *shape)} as named_parameters(), batch {"x": (K, B, 4),
        "y": (K, B)} -> (loss (K,), exact (K, B))."""
        logits = logits_of(self.arch, [params[n] for n, _ in self.named_parameters()], batch["x"])  # (K, B, V)
        return mean_nll(logits, batch["y"]), logits.detach().argmax(-1) == batch["y"]

    @torch.no_grad()
    def predict(self, batch: dict) -> list[tuple[str, ...]]:
        return decode_fixed(self.spec, self(batch).argmax(-1)[:, None])

    def named_activations(self, batch) -> dict[str, torch.Tensor]:
        """{layer name: (B, units)}; batch = encoded dict or a list of Examples."""
        return record_activations(self, batch)
