"""Compositional table lookup: chains of random bijections on n-bit strings (Liska et al. 2018; Csordás et al.).

The input is a start string and a chain of function symbols applied left to right: src = ("101", "c", "a", "f")
means f(a(c(101))). The output is the final string, or with `intermediate` every string along the way. The tables
are random permutations drawn from the seed (info["tables"]); values are single tokens ("101"), functions letters.

Splits:
- heldout_compositions: `n_heldout_pairs` ordered pairs (f then g) are never adjacent in a training chain; test_ood
  holds chains of the trained lengths with at least one held-out pair adjacent (meta heldout_pairs counts them).
- longer: train on chains of `train_lengths`, test_ood holds chains of `ood_lengths` (all pairs seen in training).
test_id: chains of the trained lengths (and without held-out pairs), never in train.

Metadata: start, funcs, values (the intermediate strings: ground-truth factors), length = depth = chain length,
width = 1, seen_frac (the fraction of the chain's value-level sub-chains (v_i, f_i+1..f_j), lengths 1..L, that occur
anywhere in some training chain: the same start value followed by the same functions), seen_frac_symbols (the same at
symbol level: function windows f_i..f_j seen anywhere in training), heldout_pairs, and nn_dist (normalized token
edit distance of src to the nearest training src).

Training (fracturelab.train, SPEC.recipe): with intermediate=True, the default model (a 2-layer decoder-only
transformer, d_model 64) reaches >= 0.98 test_id within about 2 minutes of one CPU thread (seeds 0/1/2: test_id
0.998 / 1.000 / 1.000, test_ood 0.999 each, 2,400-2,900 steps, 58-117 s). Written out step by step, each output is
one table lookup, so held-out pairs cost nothing; the answer-only format (intermediate=False) is the harder test.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .base import Example, Recipe, TaskData, TaskSpec, add_nn_dist, check, check_split, finish, rng_for

SPLITS = ("heldout_compositions", "longer")
LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass
class LookupSettings:
    """Settings of the compositional table lookup task."""

    split: str = "heldout_compositions"
    """heldout_compositions (default) or longer."""
    seed: int = 0
    """Seeds the tables, the held-out pairs and every sample."""
    n_bits: int = 3
    """Length of the bit strings (2**n_bits values)."""
    n_funcs: int = 8
    """Number of random bijections (letters a, b, ...)."""
    train_lengths: tuple[int, ...] = (1, 2, 3, 4)
    """Chain lengths of train and test_id."""
    ood_lengths: tuple[int, ...] = (5, 6)
    """Chain lengths of test_ood in the longer split."""
    n_heldout_pairs: int = 8
    """Ordered function pairs never adjacent in training (heldout_compositions)."""
    n_train: int = 10000
    """Training examples (fewer if the trained lengths do not have that many)."""
    n_test: int = 1000
    """Examples in test_id and in test_ood each."""
    intermediate: bool = False
    """Output every intermediate string, not only the final one."""
    novelty: bool = True
    """Compute nn_dist."""


def _chains(lengths, n_funcs, rng, limit):
    """All chains of these lengths if there are at most `limit`, else `limit` distinct random ones (seeded; lengths
    drawn uniformly, so short lengths are over-represented relative to their count)."""
    total = sum(n_funcs**L for L in lengths)
    if total <= limit:
        return [c for L in lengths for c in itertools.product(range(n_funcs), repeat=L)]
    out, seen = [], set()
    while len(out) < limit:
        L = int(rng.choice(lengths))
        c = tuple(int(x) for x in rng.integers(0, n_funcs, L))
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out


def _heldout_pairs(s: LookupSettings) -> set[tuple[int, int]]:
    """The split's held-out ordered pairs (f then g) of function indices, seeded: `n_heldout_pairs` of them for
    heldout_compositions, none for longer."""
    if s.split == "longer":
        return set()
    pairs = list(itertools.product(range(s.n_funcs), repeat=2))
    pick = rng_for(s.seed, 2).choice(len(pairs), s.n_heldout_pairs, replace=False)
    return {pairs[i] for i in sorted(pick)}


def _n_held(chain, heldout) -> int:
    """How many adjacent pairs of a chain are held out."""
    return sum((chain[i], chain[i + 1]) in heldout for i in range(len(chain) - 1))


def _split_pairs(s: LookupSettings, heldout) -> tuple[list, list, list]:
    """The (start value, chain) pairs of train, test_id and test_ood. Every start of each chain of the trained
    lengths (or of a large sample of chains) is in-distribution when the chain has no held-out pair, else a
    test_ood candidate; test_id and train are a seeded permutation of the in-distribution pairs."""
    n_vals = 2**s.n_bits
    rng = rng_for(s.seed, 3)
    chains = _chains(s.train_lengths, s.n_funcs, rng, max(1, 4 * (s.n_train + s.n_test) // n_vals))
    held = {c for c in chains if _n_held(c, heldout)}
    pool = [(x, c) for c in chains if c not in held for x in range(n_vals)]
    check(len(pool) > s.n_test, f"only {len(pool)} in-distribution examples for n_test={s.n_test} plus training")
    order = rng.permutation(len(pool))
    test_id = [pool[i] for i in order[: s.n_test]]
    train = [pool[i] for i in order[s.n_test : s.n_test + s.n_train]]
    if s.split == "longer":
        ood_chains = _chains(s.ood_lengths, s.n_funcs, rng_for(s.seed, 4), max(1, s.n_test))
        starts = rng_for(s.seed, 5).integers(0, n_vals, len(ood_chains))
        return train, test_id, [(int(x), c) for x, c in zip(starts, ood_chains)]
    ood_pool = [(x, c) for c in chains if c in held for x in range(n_vals)]
    check(len(ood_pool) > 0, "no chain of the trained lengths contains a held-out pair")
    return train, test_id, [ood_pool[i] for i in rng_for(s.seed, 4).permutation(len(ood_pool))[: s.n_test]]


def _run(tables: np.ndarray, x: int, chain) -> list[int]:
    """The values along a chain: the start x, then each function applied in turn."""
    vals = [x]
    for f in chain:
        vals.append(int(tables[f][vals[-1]]))
    return vals


def _windows(chain) -> list[tuple[int, int]]:
    """Every sub-chain chain[i:j], as (i, j)."""
    return [(i, j) for i in range(len(chain)) for j in range(i + 1, len(chain) + 1)]


def _seen_sub_chains(tables: np.ndarray, train_pairs) -> tuple[set, set]:
    """The training set's value-level sub-chains (v_i, f_i+1..f_j) and symbol-level ones (f_i..f_j), for
    seen_frac and seen_frac_symbols."""
    seen_vals, seen_syms = set(), set()
    for x, c in train_pairs:
        vals = _run(tables, x, c)
        for i, j in _windows(c):
            seen_vals.add((vals[i],) + c[i:j])
            seen_syms.add(c[i:j])
    return seen_vals, seen_syms


def _example(s: LookupSettings, val: list[str], tables, heldout, seen, x: int, chain) -> Example:
    """One example: src, tgt and metadata (see the module docstring) of the chain from start value x; val[v] is
    value v's token."""
    seen_vals, seen_syms = seen
    vals, windows = _run(tables, x, chain), _windows(chain)
    src = (val[x],) + tuple(LETTERS[f] for f in chain)
    tgt = tuple(val[v] for v in vals[1:]) if s.intermediate else (val[vals[-1]],)
    meta = {"start": val[x], "funcs": [LETTERS[f] for f in chain], "values": [val[v] for v in vals],
            "length": len(chain), "depth": len(chain), "width": 1, "heldout_pairs": _n_held(chain, heldout),
            "seen_frac": round(sum(((vals[i],) + chain[i:j]) in seen_vals for i, j in windows) / len(windows), 6),
            "seen_frac_symbols": round(sum(chain[i:j] in seen_syms for i, j in windows) / len(windows), 6)}
    return Example(src, tgt, meta)


def check_settings(s: LookupSettings) -> None:
    """Refuse settings make cannot use (arithmetic on the settings only: a study spec runs it at load): split,
    n_bits 1..8, n_funcs 2..26, positive train_lengths, n_train and n_test >= 1, and the split's own settings (longer:
    ood_lengths all longer than train_lengths; heldout_compositions: chains of 2 or more in training and
    n_heldout_pairs 1..n_funcs^2 - 1)."""
    check_split(s, SPLITS, "lookup")
    check(1 <= s.n_bits <= 8, f"n_bits must be 1..8, got {s.n_bits}")
    check(2 <= s.n_funcs <= len(LETTERS), f"n_funcs must be 2..26, got {s.n_funcs}")
    check(len(s.train_lengths) > 0 and min(s.train_lengths) >= 1, "train_lengths must be positive chain lengths")
    check(s.n_train >= 1 and s.n_test >= 1, "n_train and n_test must be at least 1")
    if s.split == "longer":
        check(len(s.ood_lengths) > 0 and min(s.ood_lengths) > max(s.train_lengths),
              "the longer split needs ood_lengths all longer than train_lengths")
    else:
        check(max(s.train_lengths) >= 2, "heldout_compositions needs train_lengths with chains of 2 or more")
        check(1 <= s.n_heldout_pairs < s.n_funcs**2, f"n_heldout_pairs must be 1..{s.n_funcs**2 - 1}")


def make(s: LookupSettings) -> TaskData:
    """The task's data for these settings (see the module docstring)."""
    check_settings(s)
    r = rng_for(s.seed, 1)
    tables = np.stack([r.permutation(2**s.n_bits) for _ in range(s.n_funcs)])  # tables[f][v] = f(v)
    heldout = _heldout_pairs(s)
    train_pairs, id_pairs, ood_pairs = _split_pairs(s, heldout)
    seen = _seen_sub_chains(tables, train_pairs)
    val = [format(v, f"0{s.n_bits}b") for v in range(2**s.n_bits)]  # the value tokens
    train = [_example(s, val, tables, heldout, seen, *p) for p in train_pairs]
    test_id = [_example(s, val, tables, heldout, seen, *p) for p in id_pairs]
    test_ood = [_example(s, val, tables, heldout, seen, *p) for p in ood_pairs]
    if s.novelty:
        add_nn_dist(train, test_id, test_ood)
    notes = {"tables": {LETTERS[f]: [val[v] for v in tables[f]] for f in range(s.n_funcs)},
             "heldout_pairs": [LETTERS[a] + LETTERS[b] for a, b in sorted(heldout)],
             "nn_dist": "normalized token edit distance of src to the nearest training src"}
    return finish("lookup", s, train, test_id, test_ood, notes=notes)


def pretrain_set(d: TaskData) -> list[Example]:
    """Every single-function application f(v): all 2^n_bits x n_funcs, from the task's tables."""
    tables = d.info["notes"]["tables"]
    vals = sorted(next(iter(tables.values())))
    return [Example((v, f), (table[i],), {"length": 1, "depth": 1, "start": v, "funcs": [f]})
            for f, table in tables.items() for i, v in enumerate(vals)]


def items(s: LookupSettings) -> int:
    """An upper estimate of the items these settings generate: a pool of at most 5 (n_train + n_test) chains of the
    longest length L (trained or OOD), each with its L (L + 1) / 2 sub-chain windows."""
    longest = max((*s.train_lengths, *s.ood_lengths, 1))
    return 5 * (s.n_train + s.n_test) * longest * (longest + 1) // 2


SPEC = TaskSpec(
    "lookup", LookupSettings, make, SPLITS, __doc__, default_model="transformer",
    recipe=Recipe(task_options={"intermediate": True}, model_options={"transformer": {"d_model": 64, "n_layer": 2}},
                  train={"max_steps": 4000, "lr": 2e-3}, budget="about 2 minutes"),
    pretrain_set=pretrain_set, curriculum_key=lambda e: (e.meta["length"],), text=True,
    tiny={"n_train": 1500, "n_test": 200, "novelty": False}, items=items, check_settings=check_settings)
