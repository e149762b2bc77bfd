"""Whole populations of one fixed-topology torch model evaluated in one batched call.

A population is a (N, P) tensor of flat weight vectors in the order of model.named_parameters(). `PopulationLoss`
runs the model's own loss for all N individuals at once with torch.func.functional_call under torch.vmap: one set of
batched kernels per layer for the whole population, never a Python loop over individuals. `loop_losses` is the slow,
obvious path (load each vector into the model, call model.loss): the oracle of the tests and the benchmark's baseline.

Attention: torch has no vmap batching rule for CPU scaled_dot_product_attention, so under vmap its fused kernel runs
once per individual (inside torch, not a Python loop). Forcing the math backend instead batches it but was slower
(0.7x against 0.9x of the loop at 256 examples, bench_evolve), so the fallback is kept and its warning silenced.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.func import functional_call

from ...errors import FracturelabError


class _LossOf(nn.Module):
    """Calls model.loss as forward, so functional_call (which calls forward) runs the model's own loss."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch):
        return self.model.loss(batch)


class PopulationLoss:
    """(N, P) flat weight vectors -> (loss (N,), exact match (N, B)) of the model's loss on one encoded batch."""

    def __init__(self, model: nn.Module, chunk: int = 256):
        if not hasattr(model, "loss"):
            raise FracturelabError(f"{type(model).__name__} has no loss(batch): not a model of the task testbed")
        self.model, self.wrapped, self.chunk = model, _LossOf(model), chunk
        named = list(dict(model.named_parameters()).items())  # tied weights appear once
        self.names = [f"model.{n}" for n, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.sizes = [p.numel() for _, p in named]
        self.buffers = {f"model.{n}": b for n, b in model.named_buffers()}

    @property
    def n_params(self) -> int:
        return sum(self.sizes)

    def flat(self) -> torch.Tensor:
        """The model's current weights as one flat vector (P,)."""
        return torch.cat([p.detach().reshape(-1) for p in dict(self.model.named_parameters()).values()])

    def load(self, flat: torch.Tensor) -> None:
        """Copy a flat vector (P,) into the model's parameters."""
        with torch.no_grad():
            for p, v in zip(dict(self.model.named_parameters()).values(), torch.split(flat, self.sizes)):
                p.copy_(v.reshape(p.shape))

    def _one(self, flat: torch.Tensor, batch):
        params = {n: v.reshape(s) for n, s, v in zip(self.names, self.shapes, torch.split(flat, self.sizes))}
        return functional_call(self.wrapped, {**params, **self.buffers}, (batch,))

    @torch.no_grad()
    def __call__(self, pop: torch.Tensor, batch) -> tuple[torch.Tensor, torch.Tensor]:
        if pop.dim() != 2 or pop.shape[1] != self.n_params:
            raise FracturelabError(f"population of shape {tuple(pop.shape)}, expected (N, {self.n_params})")
        was = self.model.training
        self.model.eval()  # no dropout: every individual sees the same function of its weights
        try:
            with warnings.catch_warnings():  # the attention fallback (module docstring)
                warnings.filterwarnings("ignore", message="There is a performance drop because we have not yet")
                # vmap over individuals only; the batch is shared (in_dims None). Chunks bound memory.
                fn = torch.vmap(self._one, in_dims=(0, None))
                parts = [fn(pop[i:i + self.chunk].to(torch.float32), batch) for i in range(0, len(pop), self.chunk)]
        finally:
            self.model.train(was)
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


@torch.no_grad()
def loop_losses(model: nn.Module, pop: torch.Tensor, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """The slow obvious path: each individual's weights loaded into the model, then model.loss, one at a time."""
    ev = PopulationLoss(model)
    keep = ev.flat().clone()
    was = model.training
    model.eval()
    try:
        out = []
        for flat in pop:
            ev.load(flat)
            out.append(model.loss(batch))
    finally:
        ev.load(keep)
        model.train(was)
    return torch.stack([o[0] for o in out]), torch.stack([o[1] for o in out])
