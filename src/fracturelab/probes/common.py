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
- A unit is *alive* for a model on its task when its value varies over the model's training examples (at most
  ALIVE_EXAMPLES of data.train, a fixed seeded subset; a layer's vector as above, an nn.Linear's inputs and outputs at
  every position): a hidden unit that is constant there (a ReLU unit that never fires, any unit whose value never
  changes) is *dead*, even where it varies on test examples. An output unit (a logit; for the weight-graph probes a
  row of the output head) is alive only if it is also the target of some training example: class v of part j where
  some example's y[:, j] = v. Where the data has no training examples (a prompt set without them) every unit counts
  alive. Probes read only alive units (`alive_layers`, `alive_linear`, `target_classes`), so a component does not
  change when dead units are added to a network.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch.func import functional_call

from ..models.data import IGNORE
from ..tasks import TASKS

SKIP_LAYERS = ("input", "logits")
"""Named activations that are not hidden representations."""

ALIVE_EXAMPLES = 4096
"""Training examples (a seeded subset where there are more) a unit must vary over to be alive."""

CONSTANT_RTOL = 1e-6
"""A unit is constant when its range over the examples is at most this times (1 + its largest |value|): a
float32 model's rounding, not a signal."""


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


def factor_table(examples: Sequence, task: str) -> tuple[list[str], np.ndarray]:
    """(factor names, (N, K) int codes) of the task's known ground-truth factors; Skip if it has none."""
    if examples and "factors" in examples[0].meta:
        names = list(examples[0].meta["factors"])
        return names, np.array([[e.meta["factors"][k] for k in names] for e in examples], dtype=np.int64)
    keys = TASKS[task].factor_keys if task in TASKS else ()  # prompt sets are named by their file: no entry
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


# ------------------------------------------------------------------------------------------ alive and dead units


def varying(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(units,) bool: True where a unit's range [lo, hi] over the examples is more than rounding (CONSTANT_RTOL)."""
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    return hi - lo > CONSTANT_RTOL * (1 + np.maximum(np.abs(lo), np.abs(hi)))


def alive(a: np.ndarray) -> np.ndarray:
    """(units,) bool of an (N, units) activation matrix: True where the unit is not constant over the N examples."""
    a = np.asarray(a, dtype=np.float64)
    if len(a) == 0:
        return np.zeros(a.shape[1], dtype=bool)
    return varying(a.min(0), a.max(0))


def alive_examples(data) -> list:
    """The training examples that decide which units are alive (the module docstring)."""
    return cap(data.train, ALIVE_EXAMPLES, 0, 8)


def alive_layers(model, data) -> dict[str, np.ndarray]:
    """{hidden layer: (units,) bool alive} over the named activations the probes read (common.activations); {} where
    the data has no training examples (a prompt set without them: nothing shows a unit dead, all count alive)."""
    return {k: alive(a) for k, a in activations(model, alive_examples(data)).items()}


def _hits(logits: torch.Tensor, batch: dict) -> tuple[set, int, int]:
    """({(part j, class v) that are some example's target}, J, V) of one batch."""
    lg, y = part_logits(logits, batch)
    return {(j, int(y[b, j])) for b, j in (y != IGNORE).nonzero().tolist()}, y.shape[1], lg.shape[-1]


def _mask(hits: set, J: int, V: int) -> np.ndarray:
    mask = np.zeros((J, V), dtype=bool)
    for j, v in hits:
        mask[j, v] = True
    return mask


@torch.no_grad()
def target_classes(model, data) -> np.ndarray | None:
    """(J, V) bool: class v of output part j is the target of some training example (J, V as part_logits gives
    them); None where the data has no training examples."""
    hits, J, V = set(), 0, 0
    for batch in batched(model, alive_examples(data)):
        h, j, V = _hits(model(batch), batch)
        hits, J = hits | h, max(J, j)
    return _mask(hits, J, V) if V else None


def linear_chains(model: torch.nn.Module) -> list[list[torch.nn.Linear]]:
    """Chains of dense layers: consecutive nn.Linear modules in registration order with matching sizes and no other
    parameterized module between them (an MLP's hidden layers and head; a transformer block's c_fc -> c_proj), two
    or more each. The modules between two of them (an activation function) hold no weights."""
    chains, cur = [], []
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            if cur and cur[-1].out_features == m.in_features:
                cur.append(m)
            else:
                if len(cur) >= 2:
                    chains.append(cur)
                cur = [m]
        elif any(True for _ in m.parameters(recurse=False)):
            if len(cur) >= 2:
                chains.append(cur)
            cur = []
    if len(cur) >= 2:
        chains.append(cur)
    return chains


@torch.no_grad()
def alive_linear(model, data) -> dict[torch.nn.Module, tuple[np.ndarray, np.ndarray]]:
    """{every nn.Linear: (inputs alive (in,), outputs alive (out,))}, each unit's range taken over the training
    examples at every position. An output is alive when it varies, when the next layer of its chain (linear_chains)
    reads it as a varying input (after the nonlinearity: a ReLU that never fires is dead), and, for the model's
    output head (the Linear whose output is the logits), when it is a target (target_classes). A Linear that the
    forward pass never calls (a model that reads its weights directly, as the CPPN classifier does) has every unit
    alive: nothing shows which are dead."""
    lins = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    lo: dict = {}
    hi: dict = {}
    last: dict = {}

    def hook(m, inp, out):
        for key, t in (((m, 0), inp[0]), ((m, 1), out)):
            t = t.detach().reshape(-1, t.shape[-1]).double()
            if len(t):
                lo[key] = torch.minimum(lo[key], t.min(0).values) if key in lo else t.min(0).values
                hi[key] = torch.maximum(hi[key], t.max(0).values) if key in hi else t.max(0).values
        last[m] = out

    handles = [m.register_forward_hook(hook) for m in lins]
    heads, hits = set(), set()
    J = V = 0
    try:
        for batch in batched(model, alive_examples(data)):
            last.clear()
            logits = model(batch)
            heads |= {m for m, o in last.items() if o.shape[0] == logits.shape[0] and o.numel() == logits.numel()
                      and torch.equal(o.reshape(-1), logits.reshape(-1))}
            h, j, V = _hits(logits, batch)
            hits, J = hits | h, max(J, j)
    finally:
        for handle in handles:
            handle.remove()
    targets = _mask(hits, J, V)
    out = {}
    for m in lins:
        # a Linear the forward never calls (its weights read directly) shows nothing: every unit counts alive
        ends = [varying(lo[(m, i)].numpy(), hi[(m, i)].numpy()) if (m, i) in lo else
                np.ones(m.in_features if i == 0 else m.out_features, dtype=bool) for i in (0, 1)]
        if m in heads and m.out_features == targets.size:  # one row per (part, class): the MLP's head
            ends[1] &= targets.reshape(-1)
        elif m in heads and m.out_features == V:  # one row per class, read at every part (a decoder's lm_head)
            ends[1] &= targets.any(0)
        out[m] = (ends[0], ends[1])
    for chain in linear_chains(model):
        for a, b in zip(chain[:-1], chain[1:]):
            out[a] = (out[a][0], out[a][1] & out[b][0])
    return out
