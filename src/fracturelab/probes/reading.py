"""One forward pass over a prompt set, from which every probe of probe-model reads.

read_all runs the model once per batch of prompts (each set in file order, batches of the model's batch size) and
keeps, per prompt, every kept layer's vector at the last prompt token (common.activations' reading) and, where the
prompts have answers, the exact match of the answer under teacher forcing and its mean cross-entropy over answer
tokens. A model that offers read(batch) -> (activations, correct, loss) (every TokenAdapter: Hugging Face,
TransformerLens, HookAdapter) gives all three from one forward call; another contract model (a testbed run folder)
is asked named_activations(batch) and, where it has one, loss(batch): two calls per batch.

Cached wraps a Reading in the activation contract, so the probes (sparsity, geometry, factorization, coverage) run
unchanged on it: encode() names rows of the reading, named_activations() and loss() look them up. A prompt that was
not read is an error, never a silent second pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import FracturelabError
from .common import SKIP_LAYERS, Skip, _at_sep


@dataclass
class Reading:
    """What one pass over the prompts read."""

    examples: list
    """Every example read, set by set in the prompt set's order (PromptData.sets)."""
    acts: dict[str, np.ndarray]
    """Layer -> (N, d) vectors at the last prompt token, in examples' order (float32, or float64 where the model
    computes in float64: converting to float64 later is exact, so the probes see what a direct reading gives)."""
    correct: np.ndarray | None
    """(N,) exact match of each answer under teacher forcing; None where some prompt has no answer or the model
    cannot score answers."""
    loss: np.ndarray | None
    """(N,) mean cross-entropy over each answer's tokens (NaN where the model gives only a batch mean)."""
    forward_calls: int
    """Forward calls made: batches, or twice the batches for a model without read()."""


def _store(a: torch.Tensor, batch: dict) -> np.ndarray:
    v = _at_sep(a, batch).detach().cpu()
    return v.double().numpy() if v.dtype == torch.float64 else v.float().numpy()


def _one_batch(model, batch) -> tuple[dict, torch.Tensor | None, torch.Tensor | None, int]:
    inner = getattr(model, "model", model)
    if hasattr(inner, "read"):
        acts, correct, loss = inner.read(batch)
        return acts, correct, loss, 1
    acts = inner.named_activations(batch)
    if not hasattr(inner, "loss"):
        return acts, None, None, 1
    try:
        _, correct = inner.loss(batch)
    except Skip:
        return acts, None, None, 2
    return acts, correct, torch.full((len(correct),), float("nan")), 2


@torch.no_grad()
def read_all(model, sets: dict[str, list], progress: bool = False) -> Reading:
    """One pass over every example of `sets` ({name: examples}) with a Probed model (its batch size, its kept
    layers); after the first batch the requested layer patterns are checked against the model's layers."""
    size = int(getattr(model, "batch_size", None) or 16)
    examples = [e for exs in sets.values() for e in exs]
    acts: dict[str, list] = {}
    correct, loss, calls = [], [], 0
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(examples), desc="forward pass", unit="prompt", leave=False)
    for name, exs in sets.items():
        if bar is not None:
            bar.set_description(f"forward pass: {name}")
        for s in range(0, len(exs), size):
            batch = model.encode(list(exs[s : s + size]))
            out, ok, ce, n = _one_batch(model, batch)
            calls += n
            if not acts:
                model.check_layers([k for k in out if k not in SKIP_LAYERS])
            for k, a in out.items():
                if k not in SKIP_LAYERS and model.keep(k):
                    acts.setdefault(k, []).append(_store(a, batch))
            correct.append(None if ok is None else ok.cpu().numpy().astype(bool))
            loss.append(None if ce is None else ce.float().cpu().numpy())
            if bar is not None:
                bar.update(len(batch["sep"]) if "sep" in batch else min(size, len(exs) - s))
    if bar is not None:
        bar.close()
    scored = bool(correct) and all(c is not None for c in correct)
    return Reading(examples, {k: np.concatenate(v) for k, v in acts.items()},
                   np.concatenate(correct) if scored else None, np.concatenate(loss) if scored else None, calls)


class Cached(nn.Module):
    """A Reading served through the activation contract (see the module docstring)."""

    def __init__(self, reading: Reading, batch_size: int):
        super().__init__()
        self.reading, self.batch_size, self.progress = reading, batch_size, False
        self._row = {id(e): i for i, e in enumerate(reading.examples)}

    def encode(self, examples) -> dict:
        try:
            return {"rows": torch.tensor([self._row[id(e)] for e in examples], dtype=torch.long)}
        except KeyError:
            raise FracturelabError("a probe asked for a prompt outside the forward pass (report this)") from None

    def named_activations(self, batch: dict) -> dict[str, torch.Tensor]:
        rows = batch["rows"].numpy()
        return {k: torch.from_numpy(v[rows].astype(np.float64)) for k, v in self.reading.acts.items()}

    def loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        if self.reading.correct is None:
            raise Skip("some prompts have no answer to score, or the model has no loss(batch)")
        rows = batch["rows"].numpy()
        ce = self.reading.loss[rows]
        mean = float(ce[~np.isnan(ce)].mean()) if (~np.isnan(ce)).any() else float("nan")
        return torch.tensor(mean), torch.from_numpy(self.reading.correct[rows])

    def forward(self, batch: dict):
        raise Skip("the probe needs the model's logits, which one pass over prompts does not keep")
