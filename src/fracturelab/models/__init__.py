"""Models for the task testbed: an MLP, a small decoder-only transformer and a CPPN classifier.

    from fracturelab.models import make_model
    from fracturelab.models.data import DataSpec
    spec = DataSpec.of(data.name, data.sets().values())
    model = make_model("transformer", spec, seed=0, n_layer=3)
    batch = model.encode(data.train[:32])
    loss, exact = model.loss(batch)            # mean cross-entropy, (B,) exact match
    model.predict(batch)                       # greedy token tuples
    model.named_activations(data.test_id[:8])  # {layer name: (B, [T,] units)}

Every model has encode(examples) -> batch dict, forward(batch) -> logits, loss(batch) -> (loss, exact),
predict(batch) -> token tuples, named_activations(batch or examples) -> dict. Registry MODELS: name -> ModelSpec.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import FracturelabError
from ..settings import from_options
from .cppn import COORDINATES, CPPNClassifier, CPPNSettings
from .data import DataSpec
from .mlp import MLP, MLPSettings
from .transformer import Transformer, TransformerSettings


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry."""

    name: str
    """Registry name."""
    settings_cls: type
    """The model's settings dataclass."""
    build: type
    """build(spec: DataSpec, settings) -> nn.Module."""
    tasks: tuple[str, ...] | None = None
    """The tasks it applies to (None: every task)."""


MODELS: dict[str, ModelSpec] = {s.name: s for s in (
    ModelSpec("mlp", MLPSettings, MLP),
    ModelSpec("transformer", TransformerSettings, Transformer),
    ModelSpec("cppn", CPPNSettings, CPPNClassifier, tuple(COORDINATES)),
)}


def make_model(name: str, spec: DataSpec, seed: int = 0, **options) -> torch.nn.Module:
    """A freshly initialized model sized on spec; the same seed gives the same weights. Options are the model's
    settings fields (e.g. scale=2.0)."""
    entry = MODELS.get(name)
    if entry is None:
        raise FracturelabError(f"unknown model {name!r} (models: {', '.join(MODELS)})")
    settings = from_options(entry.settings_cls, options, f"model {name!r}", strings=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return entry.build(spec, settings)


__all__ = ["MODELS", "DataSpec", "ModelSpec", "make_model"]
