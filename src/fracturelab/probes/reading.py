"""One forward pass over a prompt set, from which every probe of probe-model reads.

read_all runs the model once per batch of prompts (each set in file order, batches of the model's batch size) and
keeps, per prompt, every kept layer's vector at the last prompt token (common.activations' reading) and, where the
prompts have answers, the exact match of the answer under teacher forcing and its mean cross-entropy over answer
tokens. A TokenAdapter (Hugging Face, TransformerLens, HookAdapter) gives all three from one forward call, and with
a tokenizer (Hugging Face, TransformerLens) the model's own answer from the same logits (`greedy`); another model
that offers read(batch) -> (activations, correct, loss) gives the three from one call; another contract model (a
testbed run folder) is asked named_activations(batch) and, where it has one, loss(batch): two calls per batch.

The model's answer to a prompt is the first word (tasks.binding.first_word) of its greedy continuation as read from
the one teacher-forced pass: the argmax token at the last prompt token and, for as long as those agree with the
answer's tokens, the argmax at each answer token, up to and including the first that disagrees (or the token after
the whole answer). Where every answer word is one token this is greedy decoding of the answer word; a wrong word of
several tokens is read from its first token only (no further forward calls are made).

Cached wraps a Reading in the activation contract, so the probes (sparsity, geometry, factorization, coverage) run
unchanged on it: encode() names rows of the reading, named_activations() and loss() look them up. A prompt that was
not read is an error, never a silent second pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import FracturelabError
from ..models.data import IGNORE
from .adapters import TokenAdapter
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
    answers: list[str] | None = None
    """(N,) the model's answer to each prompt (the module docstring), "" for none; None where the model has no
    tokenizer to decode with."""


def _store(a: torch.Tensor, batch: dict) -> np.ndarray:
    v = _at_sep(a, batch).detach().cpu()
    return v.double().numpy() if v.dtype == torch.float64 else v.float().numpy()


def greedy(argmax: torch.Tensor, batch: dict) -> list[list[int]]:
    """Per row, the greedy tokens one teacher-forced pass determines (module docstring), from the (B, T) argmax of
    its logits and the batch's sep and y (y holds the answer's tokens at sep .. sep + m - 1, IGNORE elsewhere)."""
    out = []
    for ids, sep, y in zip(argmax.tolist(), batch["sep"].tolist(), batch["y"].tolist()):
        row = []
        for j in range(sep, len(ids)):
            row.append(ids[j])
            if y[j] == IGNORE or ids[j] != y[j]:  # past the answer, or the first disagreement
                break
        out.append(row)
    return out


def _scored(adapter: TokenAdapter, batch: dict):
    """TokenAdapter.read's activations, exact match and mean cross-entropy, and the greedy tokens, from one call."""
    logits, acts = adapter._go(batch)
    tokens = greedy(logits.argmax(-1).cpu(), batch)
    if not bool(batch["answered"].all()):
        return acts, None, None, tokens
    logits, y = logits.float().cpu(), batch["y"]
    scored = y != IGNORE
    ce = F.cross_entropy(logits.transpose(1, 2), y.clamp(min=0), reduction="none") * scored
    return acts, ((logits.argmax(-1) == y) | ~scored).all(1), ce.sum(1) / scored.sum(1).clamp(min=1), tokens


def _one_batch(model, batch) -> tuple[dict, torch.Tensor | None, torch.Tensor | None, int, list | None]:
    """(activations, exact match, mean cross-entropy, forward calls, greedy tokens or None) of one batch."""
    inner = getattr(model, "model", model)
    if isinstance(inner, TokenAdapter) and getattr(inner, "tokenizer", None) is not None:
        acts, correct, loss, tokens = _scored(inner, batch)
        return acts, correct, loss, 1, tokens
    if hasattr(inner, "read"):
        acts, correct, loss = inner.read(batch)
        return acts, correct, loss, 1, None
    acts = inner.named_activations(batch)
    if not hasattr(inner, "loss"):
        return acts, None, None, 1, None
    try:
        _, correct = inner.loss(batch)
    except Skip:
        return acts, None, None, 2, None
    return acts, correct, torch.full((len(correct),), float("nan")), 2, None


@torch.no_grad()
def read_all(model, sets: dict[str, list], progress: bool = False) -> Reading:
    """One pass over every example of `sets` ({name: examples}) with a Probed model (its batch size, its kept
    layers); after the first batch the requested layer patterns are checked against the model's layers."""
    from ..tasks.binding import first_word

    size = int(getattr(model, "batch_size", None) or 16)
    examples = [e for exs in sets.values() for e in exs]
    acts: dict[str, list] = {}
    correct, loss, answers, calls = [], [], [], 0
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(examples), desc="forward pass", unit="prompt", leave=False)
    for name, exs in sets.items():
        if bar is not None:
            bar.set_description(f"forward pass: {name}")
        for s in range(0, len(exs), size):
            batch = model.encode(list(exs[s : s + size]))
            out, ok, ce, n, tokens = _one_batch(model, batch)
            calls += n
            if not acts:
                model.check_layers([k for k in out if k not in SKIP_LAYERS])
            for k, a in out.items():
                if k not in SKIP_LAYERS and model.keep(k):
                    acts.setdefault(k, []).append(_store(a, batch))
            correct.append(None if ok is None else ok.cpu().numpy().astype(bool))
            loss.append(None if ce is None else ce.float().cpu().numpy())
            if tokens is not None:
                tok = getattr(model, "model", model).tokenizer
                answers += [first_word(tok.decode(t, skip_special_tokens=True)) for t in tokens]
            if bar is not None:
                bar.update(len(batch["sep"]) if "sep" in batch else min(size, len(exs) - s))
    if bar is not None:
        bar.close()
    scored = bool(correct) and all(c is not None for c in correct)
    return Reading(examples, {k: np.concatenate(v) for k, v in acts.items()},
                   np.concatenate(correct) if scored else None, np.concatenate(loss) if scored else None, calls,
                   answers if len(answers) == len(examples) else None)


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
