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
not penalised.

Neuron swaps (BIMT's second half): every swap_every optimizer steps each hidden layer of the mlp is reordered to lower
the cost, a function-preserving permutation (hidden unit u's incoming row and bias and its outgoing column in the next
layer move together; ReLU acts unit by unit). As the authors' relocation does, the layers are visited in order and,
within a layer, each position i in turn is swapped with the position j that lowers the cost most, if any does:
with C[u, p] the cost of unit u's incoming and outgoing weights were it placed at position p,

    C = |W_in| @ L_in^T + |W_out|^T @ L_out,   gain of swapping i, j = C[i,j] + C[j,i] - C[i,i] - C[j,j]

(L the layers' length matrices above), so no swap ever raises the cost. The optimizer's moments are permuted with the
weights (the authors' code, to our reading, leaves them in place; moving them keeps the training function-preserving
too). Swaps apply to the dense mlp only (other models' units are not a plain chain of layers: they train with the
cost alone); with locality 0 every position costs the same and nothing moves. Wiring: loop.fit and
train.population call ConnectionCost.after_step / swap_row after each optimizer step (see their docstrings).

Strong decoupled weight decay -- the `decay` regime (DecaySettings): scratch training with AdamW's weight decay on
the weight matrices raised from the run's weight_decay (TrainSettings.weight_decay as the task's recipe sets it:
0.01 by default, 1.0 on leave_square_out) to `strength`, every step,

    W <- W - lr_t * strength * W   (before the Adam update; biases and norms are not decayed, as in scratch)

and nothing else changed: same init, same data order, same steps and schedule, no term in the loss. Why this one:
in the grokking literature weight decay is what drives a network from a memorising solution to the structured,
generalising circuit -- Nanda et al. 2023 ("Progress measures for grokking via mechanistic interpretability", arXiv
2301.05217: AdamW with decay 1.0 on modular addition; the generalising Fourier circuit forms as decay prunes the
memorising weights) and Liu et al. 2022 ("Omnigrok: grokking beyond algorithmic data", arXiv 2210.01117: the
weight norm decides between memorisation and generalisation). If less fracture is what generalises, a penalty that
selects the structured, low-norm solution over the memorising one should lower fracture too; where it does not, that
is evidence against the claim, not for it. Wiring: regimes.decay_plan sets PhasePlan.weight_decay, which loop.fit
(make_optimizer) and train.population (each member's decay) read in place of TrainSettings.weight_decay.
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
    swap_every: int = 200
    """Optimizer steps between neuron swaps (module docstring; 200 as in the authors' scripts, to our reading); 0 =
    no swaps. Only the dense mlp's hidden units are swapped; other models train with the cost alone."""

    def check(self) -> None:
        if not (self.strength >= 0 and self.locality >= 0 and isinstance(self.swap_every, int)
                and self.swap_every >= 0):
            raise FracturelabError(f"bad bimt settings: strength >= 0, locality >= 0, integer swap_every >= 0 "
                                   f"(got {self})")


@dataclass
class DecaySettings:
    """Settings of the decay regime (TrainSettings.intervention = "strength=1.0")."""

    strength: float = 1.0
    """AdamW's decoupled weight decay on the weight matrices in place of the run's TrainSettings.weight_decay
    (Nanda et al. 2023's 1.0 by default; module docstring). Only above the run's own value is it an intervention:
    leave_square_out's recipe already trains at 1.0."""

    def check(self) -> None:
        if not 0 <= self.strength < float("inf"):
            raise FracturelabError(f"bad decay settings: strength must be finite and >= 0 (got {self.strength!r})")


def parse_settings(text: str, cls=BIMTSettings):
    """'strength=1e-4,locality=2' -> cls(...) (names checked, values read as Python literals)."""
    return from_options(cls, key_values(text, cls, "intervention"), "intervention", strings=True)


def _lengths(n_out: int, n_in: int, locality: float) -> torch.Tensor:
    """locality * |x_i - x_j| + 1 for every (output i, input j) pair: (n_out, n_in)."""
    def pos(n):
        return torch.linspace(0, 1, n) if n > 1 else torch.full((1,), 0.5)
    return locality * (pos(n_out)[:, None] - pos(n_in)[None, :]).abs() + 1.0


Layout = list[tuple[str, str, str]]
"""Per hidden layer in order: (its weight, its bias, the next layer's weight) by parameter name."""


def swap_layout(model: nn.Module) -> Layout | None:
    """The dense mlp's hidden layers as a Layout; None for any other model (no swaps)."""
    from ..models.mlp import MLP

    if not isinstance(model, MLP):
        return None
    if model.masks is not None:
        raise FracturelabError("bimt's neuron swaps would mix the mlp's blocks: use swap_every=0 with blocks > 1")
    n = len(model.layers)
    return [(f"layers.{i}.weight", f"layers.{i}.bias", f"layers.{i + 1}.weight" if i + 1 < n else "head.weight")
            for i in range(n)]


class ConnectionCost:
    """BIMT's connection cost over a model's linear layers and its neuron swaps (module docstring)."""

    def __init__(self, names: list[str], shapes: list[torch.Size], settings: BIMTSettings,
                 layout: Layout | None = None):
        self.names, self.strength, self.settings = names, settings.strength, settings
        self.lengths = {n: _lengths(s[0], s[1], settings.locality) for n, s in zip(names, shapes)}
        self.layout = layout if settings.swap_every else None

    @classmethod
    def of(cls, model: nn.Module, text: str = "") -> "ConnectionCost":
        """The cost of `model`'s own linear weights, with settings read from "key=value,..."."""
        settings = parse_settings(text)
        params = dict(model.named_parameters())  # tied weights appear once, under their first name
        names = [f"{m}.weight" for m, mod in model.named_modules() if isinstance(mod, nn.Linear)]
        names = [n for n in names if n in params]
        layout = swap_layout(model) if settings.swap_every else None
        return cls(names, [params[n].shape for n in names], settings, layout)

    def cost(self, params: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return sum((params[n].abs() * self.lengths[n]).sum((-2, -1)) for n in self.names)  # a leading K stays

    @torch.no_grad()
    def swaps(self, weights: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
        """The greedy swaps of one network (module docstring), applied to `weights` in place ({name: tensor} of
        its parameters); returns each hidden layer's permutation (new unit at position p = old unit perm[p])."""
        perms = []
        for w_in, b_in, w_out in self.layout or ():
            cost = (weights[w_in].double().abs() @ self.lengths[w_in].double().T
                    + weights[w_out].double().abs().T @ self.lengths[w_out].double())  # C[unit, position]
            perm, tol = torch.arange(len(cost)), 1e-9 * float(cost.abs().max())
            for i in range(len(cost)):
                gain = cost[i] + cost[:, i] - cost[i, i] - cost.diagonal()
                j = int(gain.argmin())
                if gain[j] < -tol:  # the row order follows the units, the columns stay the positions
                    cost[[i, j]], perm[[i, j]] = cost[[j, i]], perm[[j, i]]
            self.permute(weights, [perm], [(w_in, b_in, w_out)])
            perms.append(perm)
        return perms

    @torch.no_grad()
    def permute(self, tensors: Mapping[str, torch.Tensor], perms: list[torch.Tensor],
                layout: Layout | None = None) -> None:
        """Reorder hidden units in place in tensors shaped like one network's parameters (the weights themselves
        or an optimizer's moments of them; a name missing from tensors is skipped)."""
        for (w_in, b_in, w_out), perm in zip(layout or self.layout or (), perms):
            for name, cols in ((w_in, False), (b_in, False), (w_out, True)):
                if name in tensors:
                    t = tensors[name]
                    t[...] = t[:, perm] if cols else t[perm]

    def after_step(self, model: nn.Module, opt: torch.optim.Optimizer, step: int) -> None:
        """Wiring for loop.fit, called after optimizer step `step` (1-based) of a phase: every swap_every steps,
        swap the model's units and permute the optimizer's per-parameter moments with them."""
        if self.layout is None or step % self.settings.swap_every:
            return
        params = dict(model.named_parameters())
        perms = self.swaps(params)
        for key in ("exp_avg", "exp_avg_sq"):  # AdamW's moments (a parameter without a gradient yet has none)
            self.permute({n: opt.state[p][key] for n, p in params.items() if key in opt.state.get(p, {})}, perms)

    def swap_row(self, params: list[torch.Tensor], moments: list[list[torch.Tensor]], names: list[str],
                 row: int) -> None:
        """Wiring for train.population: swap member `row` of stacked (K, ...) parameters in place, and its rows of
        each list of stacked moments (same order as names)."""
        perms = self.swaps({n: p[row] for n, p in zip(names, params)})
        for m in moments:
            self.permute({n: t[row] for n, t in zip(names, m)}, perms)
