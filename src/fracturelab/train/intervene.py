"""Interventions that lower fracture on purpose: terms added to the training loss (the `bimt` regime).

Connection cost with neuron locality -- BIMT, brain-inspired modular training (Liu, Gan, Tegmark 2023, "Seeing is
believing: brain-inspired modular training for mechanistic interpretability", arXiv 2305.08746).
BIMT places neurons in a geometric space and adds to the loss a cost proportional to the length of every connection,
weighted by its strength; the net is pushed toward few, short connections, and the paper shows modules that can be
seen by eye on symbolic formulas, classification and modular arithmetic. Why this one: it is a published training
intervention whose stated aim is the opposite of fracture and entanglement -- modular, sparse, local structure -- and
it applies unchanged to every model here (it reads only linear layers' weights), so a claim can compare it with
scratch training of the same nets, paired by seed. With locality 0 it is the plain L1 weight penalty (a lasso), the
baseline BIMT is compared with.

Definition, per linear layer with weight W (out x in): neuron i of the output side sits at x_i = i / (out - 1) and
neuron j of the input side at x_j = j / (in - 1) on [0, 1] (0.5 for a single neuron), the two layers one unit apart,
so the (L1) length of a connection is d_ij = |x_i - x_j| + 1, and

    cost = sum over linear layers of sum_ij |W_ij| * (locality * (d_ij - 1) + 1)
    loss = task loss + strength * cost

Every nn.Linear weight the model owns counts (mlp: hidden layers and head; cppn: Dense layers and head; transformer:
attention and MLP projections); embeddings do not, and the transformer's tied output layer is its embedding, so it is
not penalised. Not done here: BIMT's periodic neuron swaps, which reorder units to make the modules visible and help
the cost escape poor layouts; the cost alone already acts on every weight.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Protocol

import torch
from torch import nn

from ..errors import FracturelabError
from ..settings import from_options, key_values


class Penalty(Protocol):
    """A term added to the training loss: strength * cost(params)."""

    strength: float

    def cost(self, params: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Unscaled cost of one network's named parameters: a scalar, or (K,) for K networks' stacked (K, ...)
        parameters (also works under torch.vmap)."""


@dataclass
class BIMTSettings:
    """Settings of the bimt regime (TrainSettings.intervention = "strength=1e-4,locality=1.0")."""

    strength: float = 1e-4
    """lambda: weight of the connection cost in the loss (0 = scratch training)."""
    locality: float = 1.0
    """Weight of a connection's horizontal length |x_i - x_j| against the unit gap between layers; 0 = plain L1 on
    the weights."""

    def check(self) -> None:
        if not (self.strength >= 0 and self.locality >= 0):
            raise FracturelabError(f"bad bimt settings: strength >= 0, locality >= 0 (got {self})")


def parse_settings(text: str, cls=BIMTSettings):
    """'strength=1e-4,locality=2' -> cls(...) (names checked, values read as Python literals)."""
    return from_options(cls, key_values(text, cls, "intervention"), "intervention", strings=True)


def _lengths(n_out: int, n_in: int, locality: float) -> torch.Tensor:
    """locality * |x_i - x_j| + 1 for every (output i, input j) pair: (n_out, n_in)."""
    def pos(n):
        return torch.linspace(0, 1, n) if n > 1 else torch.full((1,), 0.5)
    return locality * (pos(n_out)[:, None] - pos(n_in)[None, :]).abs() + 1.0


class ConnectionCost:
    """BIMT's connection cost over a model's linear layers (module docstring)."""

    def __init__(self, names: list[str], shapes: list[torch.Size], settings: BIMTSettings):
        self.names, self.strength, self.settings = names, settings.strength, settings
        self.lengths = {n: _lengths(s[0], s[1], settings.locality) for n, s in zip(names, shapes)}

    @classmethod
    def of(cls, model: nn.Module, text: str = "") -> "ConnectionCost":
        """The cost of `model`'s own linear weights, with settings read from "key=value,..."."""
        settings = parse_settings(text)
        params = dict(model.named_parameters())  # tied weights appear once, under their first name
        names = [f"{m}.weight" for m, mod in model.named_modules() if isinstance(mod, nn.Linear)]
        names = [n for n in names if n in params]
        return cls(names, [params[n].shape for n in names], settings)

    def cost(self, params: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return sum((params[n].abs() * self.lengths[n]).sum((-2, -1)) for n in self.names)  # a leading K stays
