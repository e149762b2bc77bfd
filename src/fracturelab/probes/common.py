"""What every probe shares: capped example sets, per-example activation vectors, per-part outputs, known factors,
and batched evaluation of many weight settings of one model.

Conventions (all probes):
- A model is any torch.nn.Module with forward(batch) -> logits; the task models also have encode(examples) and
  named_activations(batch) (the activation contract; probes.adapters makes Hugging Face, TransformerLens and other
  models meet it). Logits may be (B, V) (one output), (B, J, V) (J output parts at once, the MLP), or
  (B, T, V) with batch["sep"] (a decoder read under teacher forcing: output part j is read at position sep + j).
- An *output part* is one target position j (for the factors task: shape, colour, position). Part j's target is
  y[:, j] (IGNORE = -100 where an example has no such position).
- A layer's per-example vector: (B, units) as the model gives it; for sequence activations (B, T, units) the vector
  at each example's <sep> position (the position that has read the whole input and predicts the first answer
  token). `hidden_layers` drops the model's input encoding and logits.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch.func import functional_call

from ..models.data import IGNORE

SKIP_LAYERS = ("input", "logits")
"""Named activations that are not hidden representations."""


class Skip(Exception):
    """A probe does not apply to this run; the message (one line) says why."""


def cap(examples: Sequence, n: int, seed: int, purpose: int = 0) -> list:
    """At most n examples, a seeded random subset in the original order (so results do not depend on set order
    beyond the seed)."""
    if len(examples) <= n:
        return list(examples)
    pick = np.sort(np.random.default_rng([seed, 77, purpose]).choice(len(examples), n, replace=False))
    return [examples[i] for i in pick]


def batch_size(model, default: int = 512) -> int:
    """Examples per forward pass: the model's `batch_size` attribute where it has one (adapters of large models
    set it), else `default`."""
    return int(getattr(model, "batch_size", None) or default)


def batched(model, examples: Sequence, size: int | None = None):
    """Encoded batches of at most `size` examples (default: batch_size(model)); a progress bar on stderr where the
    model asks for one (its `progress` attribute is true)."""
    size = size or batch_size(model)
    starts = range(0, len(examples), size)
    if getattr(model, "progress", False) and len(starts) > 1:
        from tqdm import tqdm
        starts = tqdm(starts, desc=f"{len(examples)} prompts", unit="batch", leave=False)
    for s in starts:
        yield model.encode(list(examples[s : s + size]))


def _at_sep(a: torch.Tensor, batch: dict) -> torch.Tensor:
    if a.dim() == 3 and "sep" in batch:
        return a[torch.arange(len(a), device=a.device), batch["sep"].to(a.device)]
    return a.reshape(len(a), -1)


@torch.no_grad()
def activations(model, examples: Sequence, size: int | None = None,
                all_positions: bool = False) -> dict[str, np.ndarray]:
    """{hidden layer: (N, units) float64} per example (at <sep> — the last prompt token — for sequence models).
    all_positions=True also adds "<layer>@all": (N, T, units) with NaN at padded positions (sequence models only).
    Activations may live on any device; they are read back to the CPU."""
    out: dict[str, list] = {}
    for batch in batched(model, examples, size):
        acts = model.named_activations(batch)
        for name, a in acts.items():
            if name in SKIP_LAYERS:
                continue
            out.setdefault(name, []).append(_at_sep(a, batch).cpu().double().numpy())
            if all_positions and a.dim() == 3 and "sep" in batch:
                sep = batch["sep"].to(a.device)
                keep = torch.arange(a.shape[1], device=a.device)[None, :] <= sep[:, None]  # the prompt, <sep> too
                full = torch.where(keep[..., None], a, torch.nan).cpu().double().numpy()
                out.setdefault(name + "@all", []).append(full)
    res = {}
    for k, v in out.items():
        if k.endswith("@all"):  # batches may differ in T: pad with NaN
            T = max(x.shape[1] for x in v)
            v = [np.pad(x, ((0, 0), (0, T - x.shape[1]), (0, 0)), constant_values=np.nan) for x in v]
        res[k] = np.concatenate(v)
    return res


def last_hidden(names: Sequence[str]) -> str:
    """The layer the summaries read: the last hidden layer before any final normalization (ln_f), so a final
    LayerNorm's gains do not change the reading (the sparsity probe reads ln_f itself, as Jin et al. do); where only
    sublayers (.attn, .mlp) or only ln_f were picked to be read, the last of those."""
    names = [n for n in names if n not in SKIP_LAYERS and not n.endswith("@all")]
    stream = [n for n in names if n != "ln_f" and not n.endswith((".attn", ".mlp"))]
    for pool in (stream, [n for n in names if n != "ln_f"], names):
        if pool:
            return pool[-1]
    raise Skip("the model names no hidden layers")


def part_logits(logits: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits (B, J, V), targets (B, J)) aligned by output part; see the module docstring."""
    y = batch["y"]
    if logits.dim() == 3 and "sep" in batch:  # decoder under teacher forcing: part j is predicted at sep + j
        J = int((y != IGNORE).sum(1).max())
        idx = (batch["sep"][:, None] + torch.arange(J)[None, :]).clamp(max=logits.shape[1] - 1)  # (B, J)
        yy = torch.gather(y, 1, idx)
        yy = torch.where(batch["sep"][:, None] + torch.arange(J)[None, :] < y.shape[1], yy, IGNORE)
        return torch.gather(logits, 1, idx[..., None].expand(*idx.shape, logits.shape[-1])), yy
    if y.dim() == 1:
        return logits.unsqueeze(1), y[:, None]
    return logits, y


def part_correct(model, batch: dict, params: dict | None = None) -> np.ndarray:
    """(B, J) float: 1 where part j's argmax is right, NaN where the example has no part j."""
    with torch.no_grad():
        logits = model(batch) if params is None else functional_call(model, params, (batch,))
    lg, y = part_logits(logits, batch)
    ok = (lg.argmax(-1) == y).double()
    return torch.where(y == IGNORE, torch.nan, ok).numpy()


@dataclass
class Parts:
    """The output parts a probe compares (sub-tasks, factors of the answer)."""

    names: list[str]
    """A name per part (e.g. shape, colour, position)."""
    index: list[int]
    """Each part's target position j."""
    chance: list[float]
    """Each part's chance accuracy: 1 / the number of distinct targets at that position."""


def output_parts(data, config: dict | None = None) -> Parts:
    """Parts = answer positions every example has (fixed-length answers of at least 2 tokens); the factors task
    names them by its factors. Raises Skip otherwise."""
    exs = [e for s in data.sets().values() for e in s]
    lens = {len(e.tgt) for e in exs}
    if min(lens) < 2 or len(lens) > 1:
        raise Skip(f"task {data.name!r} has no fixed answer parts (answer lengths {sorted(lens)[:4]})")
    L = lens.pop()
    names = list(exs[0].meta["factors"]) if "factors" in exs[0].meta and len(exs[0].meta["factors"]) == L \
        else [f"out{j}" for j in range(L)]
    chance = [1.0 / len({e.tgt[j] for e in exs}) for j in range(L)]
    return Parts(names, list(range(L)), chance)


FACTOR_KEYS = {"leave_square_out": ("a", "b")}
"""Tasks whose known factors are plain metadata keys rather than meta["factors"]."""


def factor_table(examples: Sequence, task: str) -> tuple[list[str], np.ndarray]:
    """(factor names, (N, K) int codes) of the task's known ground-truth factors; Skip if it has none."""
    if examples and "factors" in examples[0].meta:
        names = list(examples[0].meta["factors"])
        return names, np.array([[e.meta["factors"][k] for k in names] for e in examples], dtype=np.int64)
    keys = FACTOR_KEYS.get(task)
    if keys and examples and all(k in examples[0].meta for k in keys):
        return list(keys), np.array([[e.meta[k] for k in keys] for e in examples], dtype=np.int64)
    raise Skip(f"task {task!r} has no known ground-truth factors")


def reinit(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """A copy of the model with fresh random weights (every submodule's reset_parameters under a fixed seed): the
    randomly initialized control."""
    m = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for mod in m.modules():
            if hasattr(mod, "reset_parameters") and mod is not m:
                mod.reset_parameters()
    m.eval()
    return m


def weight_params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The weight tensors probes perturb or mask: every parameter with 2+ dimensions (weights and embeddings, not
    biases or norm gains), as in Break It Down and Csordás et al."""
    return {n: p for n, p in model.named_parameters() if p.dim() >= 2}


def stacked_outputs(model, batch: dict, base: dict[str, torch.Tensor], deltas: dict[str, torch.Tensor],
                    chunk: int = 16) -> torch.Tensor:
    """Part logits of P perturbed models at once: deltas maps parameter names to (P, *shape) additive changes
    (names not in deltas stay at base). torch.func.vmap over functional_call, `chunk` models per call to bound
    memory. Returns (P, B, J, V)."""
    P = next(iter(deltas.values())).shape[0]
    outs = []

    def one(d):
        params = {**base, **{k: base[k] + d[k] for k in d}}
        return part_logits(functional_call(model, params, (batch,)), batch)[0]

    with torch.no_grad():
        for s in range(0, P, chunk):
            outs.append(torch.vmap(one)({k: v[s : s + chunk] for k, v in deltas.items()}))
    return torch.cat(outs)
