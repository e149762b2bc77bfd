"""What a model needs to know about a task's data, and the encodings of Examples into tensors.

A DataSpec is plain data (vocabularies and lengths), saved in a run's config.json so a model can be rebuilt without
the examples it was sized on. Shapes: B = examples, S = max_src, T = positions, V = vocabulary.
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import FracturelabError
from ..tasks.base import EOS, PAD, Example

SEP = "<sep>"
IGNORE = -100  # cross_entropy's ignore_index


@dataclass
class DataSpec:
    """Vocabularies and lengths a model is sized on (over every set it will see, pretraining sets included)."""

    task: str
    """Task name (models with task-specific inputs, like the CPPN's coordinates, read it)."""
    src_vocab: list[str]
    """Input tokens, PAD first."""
    tgt_vocab: list[str]
    """Output tokens, PAD and EOS first."""
    max_src: int
    """Longest input (tokens)."""
    max_tgt: int
    """Longest target (tokens, without EOS)."""
    info: dict
    """Task facts some models need (e.g. leave_square_out's modulus p)."""

    @classmethod
    def of(cls, task: str, sets: Iterable[Sequence[Example]], info: dict | None = None) -> "DataSpec":
        exs = [e for s in sets for e in s]
        if not exs:
            raise FracturelabError(f"task {task!r}: no examples to size a model on")
        src = sorted({t for e in exs for t in e.src} - {PAD})
        tgt = sorted({t for e in exs for t in e.tgt} - {PAD, EOS})
        return cls(task, [PAD] + src, [PAD, EOS] + tgt, max(len(e.src) for e in exs),
                   max(len(e.tgt) for e in exs), dict(info or {}))

    def to_dict(self) -> dict:
        return asdict(self)


def pad_rows(rows: Sequence[Sequence[int]], width: int, value: int) -> torch.Tensor:
    """Right-pad int rows to (len(rows), width)."""
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    if len(rows) and lengths.max() > width:
        raise ValueError(f"a row of {lengths.max()} ids does not fit in width {width}")
    out = np.full((len(rows), width), value, dtype=np.int64)
    # one pass: the row-major mask of filled positions takes the rows' ids in order
    out[np.arange(width)[None, :] < lengths[:, None]] = np.fromiter(itertools.chain.from_iterable(rows),
                                                                      dtype=np.int64, count=int(lengths.sum()))
    return torch.from_numpy(out)


def fixed_targets(spec: DataSpec, examples: Sequence[Example]) -> torch.Tensor:
    """Targets of models that predict every output position at once: tgt + EOS, then PAD up to max_tgt + 1:
    (B, max_tgt + 1)."""
    ids = {t: i for i, t in enumerate(spec.tgt_vocab)}
    return pad_rows([[ids[t] for t in e.tgt] + [ids[EOS]] for e in examples], spec.max_tgt + 1, ids[PAD])


def decode_fixed(spec: DataSpec, pred: torch.Tensor) -> list[tuple[str, ...]]:
    """(B, T) predicted ids -> token tuples cut at the first EOS (so it equals tgt iff exact_fixed holds)."""
    out = []
    for row in pred.tolist():
        toks = []
        for i in row:
            t = spec.tgt_vocab[i]
            if t == EOS:
                break
            toks.append(t)
        out.append(tuple(toks))
    return out


def exact_fixed(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Exact match per example of all-positions-at-once predictions: logits (B, T, V), y (B, T) -> (B,) bool.
    Positions after the first EOS are not scored (what follows EOS is not part of the answer)."""
    pred = logits.argmax(-1)
    eos_seen = torch.cumsum((y == 1).long(), dim=1) - (y == 1).long()  # EOS id is 1: positions after it count > 0
    scored = (y != IGNORE) & (eos_seen == 0)
    return ((pred == y) | ~scored).all(dim=1)


@torch.no_grad()
def record_activations(model, batch) -> dict[str, torch.Tensor]:
    """Every model's named_activations: run model(encoded batch, acts) without autograd and return acts.
    batch = an encoded dict or a list/tuple of Examples (encoded with model.encode)."""
    acts: dict = {}
    model(model.encode(batch) if isinstance(batch, (list, tuple)) else batch, acts)
    return acts


def mean_nll(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of K networks' logits (K, B, V) against y (K, B), averaged over each network's rows whose y is not
    IGNORE (rows a population pads its batches with): (K,), F.cross_entropy's mean per network to float rounding."""
    nll = F.cross_entropy(logits.flatten(0, -2), y.flatten(), reduction="none").view(y.shape)  # 0 where IGNORE
    return nll.sum(-1) / (y != IGNORE).sum(-1)
