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
from ..tasks.base import EOS, PAD
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
    check_model_size(name, settings, spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return entry.build(spec, settings)


SMALLEST_DATA = DataSpec("", [PAD, "x"], [PAD, EOS, "y"], 1, 1, {})
"""The smallest data a model can be sized on (one input token, one output token, length 1): a model's weights on it
are a lower bound of its weights on any task, since every term grows with the vocabularies and lengths."""


def check_model_size(name: str, settings, spec: DataSpec | None = None) -> None:
    """Refuse, before building it, a model whose weights (settings.n_params(spec)) exceed the max_params limit;
    without spec (a command line or study spec checked before the data exists) on SMALLEST_DATA, a lower bound."""
    from ..limits import check_size

    if callable(getattr(settings, "n_params", None)):  # a plug-in's model may not count its weights
        check_size(settings.n_params(spec or SMALLEST_DATA), "max_params", f"model {name!r}: weights")


__all__ = ["MODELS", "DataSpec", "ModelSpec", "check_model_size", "make_model"]
