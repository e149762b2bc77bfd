"""An MLP over the one-hot input tokens that predicts every output position at once.

Input: the src tokens padded with PAD to max_src, each turned into a vector and concatenated (INPUTS): one-hot
(B, S*V_src); a learned embedding shared by all positions (B, S*embed); or, for factors, the pixel's RGBA colour
(B, S*4): the image itself as a vector. Hidden ReLU layers.
Modular option (blocks = K > 1): the hidden layers (the first block_layers of them; 0 = all) are block-diagonal with
K blocks. The input positions are split into K contiguous groups as evenly as possible (item i of n in group
floor(i K / n); a position's whole vector goes with it) and the units of every hidden layer likewise; unit u of layer
1 reads only the positions of its block, unit u of a block-diagonal layer l > 1 only the units of its block in layer
l - 1, and the dense layers after them and the head read every unit. The masks (buffers, so population members group
by them) multiply the weights in forward, and the weights off the blocks are zeroed when they are set, so they get no
gradient and stay exactly 0 (AdamW's decay keeps 0 at 0). leave_square_out's input is (a, +, b, =): K = 2 gives a and
b a block each.
Output: one classifier over tgt_vocab per output position, max_tgt + 1 positions (the target, EOS, then PAD), so
variable-length targets work by predicting the padded tail. Fits fixed-length targets best (leave_square_out,
factors, lookup, knowledge_graph); SCAN or multiplication scratchpads work but need a huge output layer.

Named activations: input (B, S*size), layer1..layerN (B, hidden) after the ReLU, logits
(B, max_tgt + 1, V_tgt).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import FracturelabError
from ..tasks.base import Example
from .data import IGNORE, DataSpec, decode_fixed, exact_fixed, fixed_targets, pad_rows, record_activations


@dataclass
class MLPSettings:
    """Settings of the MLP."""

    hidden: int = 256
    """Units per hidden layer (before scale)."""
    depth: int = 2
    """Number of hidden layers."""
    scale: float = 1.0
    """Multiplies the hidden width (the width knob of scaling sweeps)."""
    input: str = "onehot"
    """How a token becomes a vector: onehot; embed (learned, one table for all positions); rgba (factors only: the
    pixel's colour and an alpha of 1 where something is drawn, so the input is the RGBA image)."""
    embed: int = 16
    """Embedding size for input = embed."""
    blocks: int = 1
    """K: hidden layers block-diagonal with K blocks over K groups of input positions (module docstring); 1 = dense.
    Needs K <= input positions and K <= width."""
    block_layers: int = 0
    """With blocks > 1: how many hidden layers, from the first, are block-diagonal; the rest are dense (the blocks
    meet there before the head); 0 = all of them."""

    def check(self) -> None:
        if (self.hidden < 1 or self.depth < 1 or not self.scale > 0 or self.embed < 1 or self.blocks < 1
                or not 0 <= self.block_layers <= self.depth):
            raise FracturelabError(f"bad mlp settings: hidden >= 1, depth >= 1, scale > 0, embed >= 1, blocks >= 1, "
                                   f"0 <= block_layers <= depth (got {self})")
        if self.input not in INPUTS:
            raise FracturelabError(f"unknown mlp input {self.input!r} (inputs: {', '.join(INPUTS)})")

    def n_params(self, spec: DataSpec) -> int:
        """Weights of the MLP built on spec, counted without building it."""
        width = max(1, round(self.hidden * self.scale))
        v_src, s, n_pos, v_tgt = len(spec.src_vocab), spec.max_src, spec.max_tgt + 1, len(spec.tgt_vocab)
        size, table = {"onehot": (v_src, 0), "embed": (self.embed, v_src * self.embed), "rgba": (4, 0)}[self.input]
        return table + (s * size + 1) * width + (self.depth - 1) * (width + 1) * width + (width + 1) * n_pos * v_tgt


def _onehot(spec: DataSpec, settings: MLPSettings) -> tuple[nn.Module, int]:
    n = len(spec.src_vocab)
    return FixedFeatures(torch.eye(n)), n


def _embed(spec: DataSpec, settings: MLPSettings) -> tuple[nn.Module, int]:
    return nn.Embedding(len(spec.src_vocab), settings.embed), settings.embed


def _rgba(spec: DataSpec, settings: MLPSettings) -> tuple[nn.Module, int]:
    if spec.task != "factors":
        raise FracturelabError(f"mlp input 'rgba' reads pixel colours: task 'factors' only, not {spec.task!r}")
    from ..tasks.factors import COLOURS, LETTER
    rgba = {LETTER[c]: (*v, 1) for c, v in COLOURS.items()}  # alpha 1 wherever something is drawn
    return FixedFeatures(torch.tensor([rgba.get(t, (0, 0, 0, 0)) for t in spec.src_vocab], dtype=torch.float32)), 4


class FixedFeatures(nn.Module):
    """A fixed (not trained) token -> vector table."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.register_buffer("table", table)

    def forward(self, x):
        return self.table[x]


def _groups(n: int, k: int) -> torch.Tensor:
    """Block of each of n items split into k contiguous groups as evenly as possible: (n,) long."""
    return torch.arange(n) * k // n


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by its buffer `mask` in forward (a block-diagonal layer,
    MLP.set_blocks): the weights off the mask get no gradient."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


INPUTS = {"onehot": _onehot, "embed": _embed, "rgba": _rgba}
"""Input mode -> (spec, settings) -> (token -> vector module, vector size)."""


class MLP(nn.Module):
    def __init__(self, spec: DataSpec, settings: MLPSettings):
        super().__init__()
        settings.check()
        self.spec, self.settings = spec, settings
        width = max(1, round(settings.hidden * settings.scale))
        self.tok_emb, size = INPUTS[settings.input](spec, settings)
        n_in = spec.max_src * size
        self.n_pos, self.n_out = spec.max_tgt + 1, len(spec.tgt_vocab)
        self.layers = nn.ModuleList(nn.Linear(n_in if i == 0 else width, width) for i in range(settings.depth))
        self.head = nn.Linear(width, self.n_pos * self.n_out)
        self._src_ids = {t: i for i, t in enumerate(spec.src_vocab)}
        self._size, self.masks = size, None
        if settings.blocks > 1:
            self.set_blocks(settings.blocks, settings.block_layers)

    @torch.no_grad()
    def set_blocks(self, k: int, n_layers: int = 0) -> None:
        """Make the first n_layers hidden layers (0: all) block-diagonal with k blocks (module docstring): each
        becomes a MaskedLinear with its mask as a buffer (not saved: the settings define it), its weights off the
        blocks zeroed. The blocks' weights are scaled by sqrt(fan-in / block fan-in), so a unit's input variance stays
        that of the dense init. self.masks: the indices of the masked layers."""
        width, n_pos = self.layers[0].out_features, self.spec.max_src
        if not 1 <= k <= min(width, n_pos):
            raise FracturelabError(f"mlp blocks={k}: needs 1 <= blocks <= min(width {width}, input positions {n_pos})")
        units = _groups(width, k)
        inputs = _groups(n_pos, k).repeat_interleave(self._size)  # a position's whole vector goes with it
        self.masks = []
        for i, layer in enumerate(self.layers[: n_layers or None]):
            mask = (units[:, None] == (inputs if i == 0 else units)[None, :]).float()
            layer.register_buffer("mask", mask, persistent=False)
            layer.__class__ = MaskedLinear  # the same parameters, so an optimizer or a copy made before still holds
            layer.weight.mul_(mask * (mask.shape[1] / mask.sum(1, keepdim=True)).sqrt())
            self.masks.append(i)
        self.settings.blocks, self.settings.block_layers = k, n_layers

    def encode(self, examples: Sequence[Example]) -> dict:
        """x: (B, S) src ids padded with PAD (id 0); y: (B, max_tgt + 1) target ids."""
        x = pad_rows([[self._src_ids[t] for t in e.src] for e in examples], self.spec.max_src, 0)
        return {"x": x, "y": fixed_targets(self.spec, examples)}

    def forward(self, batch: dict, acts: dict | None = None) -> torch.Tensor:
        """batch["x"] (B, S) -> logits (B, max_tgt + 1, V_tgt)."""
        x = batch["x"]  # (B, S)
        h = self.tok_emb(x).flatten(1)  # (B, S*size): one-hot, embedding or RGB per token
        if acts is not None:
            acts["input"] = h
        for i, layer in enumerate(self.layers, 1):
            h = torch.relu(layer(h))  # (B, width); called as a module, so forward hooks see every layer
            if acts is not None:
                acts[f"layer{i}"] = h
        logits = self.head(h).view(-1, self.n_pos, self.n_out)
        if acts is not None:
            acts["logits"] = logits
        return logits

    def loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean cross-entropy over scored positions, and exact match per example (B,) bool."""
        logits = self(batch)
        y = batch["y"]
        loss = F.cross_entropy(logits.reshape(-1, self.n_out), y.reshape(-1), ignore_index=IGNORE)
        return loss, exact_fixed(logits.detach(), y)

    @torch.no_grad()
    def predict(self, batch: dict) -> list[tuple[str, ...]]:
        return decode_fixed(self.spec, self(batch).argmax(-1))

    def named_activations(self, batch) -> dict[str, torch.Tensor]:
        """{layer name: (B, units)} (logits: (B, positions, V)); batch = encoded dict or a list of Examples."""
        return record_activations(self, batch)
