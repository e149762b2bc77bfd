"""A CPPN classifier: the CPPN's bias-free MLP with grouped activations, over coordinates instead of tokens.

Where it applies: tasks whose examples are points of a grid with a single-token answer. Each such task gives the
CPPN's four inputs (x, y, d, bias) per example through COORDINATES (task name -> function). Now only
leave_square_out: x = a and y = b scaled to [-1, 1], d = 1.4 * sqrt(x^2 + y^2), bias = 1, as in a Picbreeder CPPN
drawing the (a, b) table as an image; the answer c is a class over tgt_vocab. Other tasks raise FracturelabError.

Layers Dense_0 .. Dense_{L-1} (no biases, LeCun-normal init, as FER's replicas) with the activation groups of the
arch string (fracturelab.cppn.arch), then a linear head to the classes. Named activations: layer1..layerL (B, W).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..cppn.arch import N_IN, Arch
from ..cppn.module import activate_rows
from ..errors import FracturelabError
from ..tasks.base import Example
from .data import DataSpec, decode_fixed, record_activations


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


class CPPNClassifier(nn.Module):
    def __init__(self, spec: DataSpec, settings: CPPNSettings):
        super().__init__()
        settings.check()
        if spec.task not in COORDINATES:
            raise FracturelabError(f"model 'cppn' needs coordinate inputs; tasks with them: {', '.join(COORDINATES)}")
        if spec.max_tgt != 1:
            raise FracturelabError(f"model 'cppn' predicts one token; task {spec.task!r} has longer targets")
        self.spec, self.settings = spec, settings
        base = Arch.parse(settings.arch)
        self.arch = Arch(base.n_hidden, tuple((a, max(1, round(n * settings.scale))) for a, n in base.groups))
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
        h = batch["x"]
        for i, layer in enumerate(self.dense, 1):
            h = activate_rows(self.arch, layer(h))  # (B, W), each group through its activation
            if acts is not None:
                acts[f"layer{i}"] = h
        logits = self.head(h)
        if acts is not None:
            acts["logits"] = logits
        return logits

    def loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch)
        return F.cross_entropy(logits, batch["y"]), logits.detach().argmax(-1) == batch["y"]

    @torch.no_grad()
    def predict(self, batch: dict) -> list[tuple[str, ...]]:
        return decode_fixed(self.spec, self(batch).argmax(-1)[:, None])

    def named_activations(self, batch) -> dict[str, torch.Tensor]:
        """{layer name: (B, units)}; batch = encoded dict or a list of Examples."""
        return record_activations(self, batch)
