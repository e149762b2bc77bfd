"""Leave-square-out: (a + b) mod p or (a * b) mod p with a square of (a, b) pairs removed from training.

After Hu et al., ICML 2024 (arXiv 2402.17709).

src = (a, op, b, "=") with numbers as single tokens; tgt = (c,). Every pair outside the square is either in train
or (a seeded `id_frac` of them) in test_id; test_ood is the square [a0, a0 + side) x [b0, b0 + side).

Split "square" is the systematic one; split "random" is the control of the paper: test_ood holds as many pairs as
the square, drawn at random, so every test pair has training neighbours all around it.

Metadata: a, b, c, inside (the pair lies in the square; always False in the random split's sets, where `square` is
only where the square would be), dist_linf (L-infinity distance |a - a'| v |b - b'| to the nearest training pair in
the plain integer grid: inside the square it grows toward the centre, up to ceil(side / 2)), dist_torus (the same
with wrap-around, as the residues mod p live on a torus), nn_dist = dist_linf, depth = width = 1. There is no
seen_frac: each example is a single operation, and its operands a and b each occur in training (with other partners).

Training (fracturelab.train, SPEC.recipe): the default model (an MLP, one-hot tokens, 2 x 512 ReLU,
AdamW weight decay 1.0) reaches >= 0.98 test_id in under a minute of one CPU thread (seeds 0/1/2: test_id 1.00 each,
test_ood = inside the square 0.54 / 0.28 / 0.69, 14-20 s; the random split's test_ood 1.00).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import FracturelabError
from .base import Example, Recipe, TaskData, TaskSpec, check, check_split, finish, rng_for

SPLITS = ("square", "random")
OPS = {"add": ("+", lambda a, b, p: (a + b) % p), "mul": ("*", lambda a, b, p: (a * b) % p)}


@dataclass
class LeaveSquareOutSettings:
    """Settings of the leave-square-out task."""

    split: str = "square"
    """square (default): test_ood is the removed square; random: as many random pairs (the control)."""
    seed: int = 0
    """Seeds test_id (and the random split's test_ood and a random corner if asked for)."""
    p: int = 47
    """The modulus; a and b range over 0..p-1."""
    op: str = "add"
    """add: (a + b) mod p; mul: (a * b) mod p."""
    side: int = 10
    """Side of the removed square."""
    corner: tuple[int, int] | None = None
    """(a0, b0) of the square; None: centred; (-1, -1): seeded random."""
    id_frac: float = 0.1
    """Fraction of the pairs outside the test set held out as test_id."""


def _grow(reached: np.ndarray, torus: bool) -> np.ndarray:
    """The cells one king's move (or none) from a reached cell of the p x p grid (wrapping round on the torus)."""
    out = reached.copy()
    for axis in (0, 1):
        a = out.copy()
        if torus:
            out |= np.roll(a, 1, axis) | np.roll(a, -1, axis)
        else:
            lo, hi = [slice(None)] * 2, [slice(None)] * 2
            lo[axis], hi[axis] = slice(None, -1), slice(1, None)
            out[tuple(hi)] |= a[tuple(lo)]
            out[tuple(lo)] |= a[tuple(hi)]
    return out


def chebyshev_to_set(q: np.ndarray, ref: np.ndarray, p: int, torus: bool) -> np.ndarray:
    """Min L-infinity distance from each query pair to any reference pair (non-empty), all in 0..p-1 (on the
    p-torus if torus). A reference lies within k of a query iff one lies in the (2k + 1)-square around it, and king's
    moves reach exactly that square in k steps, so a search from every reference at once that grows the reached set
    by one king's move per round finds each distance: p^2 work per round, at most p rounds, p^2 memory (the
    all-pairs minimum it replaces held 512 x |ref| differences at once; tests/test_hostile_sizes.py compares)."""
    reached = np.zeros((p, p), dtype=bool)
    reached[ref[:, 0], ref[:, 1]] = True
    dist = np.zeros((p, p), dtype=np.int64)
    k = 0
    while not reached.all():
        k += 1
        grown = _grow(reached, torus)
        dist[grown & ~reached] = k
        reached = grown
    return dist[q[:, 0], q[:, 1]]


def check_settings(s: LeaveSquareOutSettings) -> None:
    """Every check make() makes before generating anything (arithmetic on the settings only: a study spec runs it at
    load): split, op, p >= 3, side in 1..p-1, id_frac in (0, 1) leaving both test_id and train non-empty (of the
    p^2 - side^2 pairs outside the test set), and the corner."""
    check_split(s, SPLITS, "leave_square_out")
    check(s.op in OPS, f"op must be one of {', '.join(OPS)}, got {s.op!r}")
    check(s.p >= 3, f"p must be at least 3, got {s.p}")
    check(1 <= s.side < s.p, f"side must be 1..p-1, got {s.side}")
    check(0 < s.id_frac < 1, f"id_frac must be in (0, 1), got {s.id_frac}")
    n_id = int(round(s.id_frac * (s.p * s.p - s.side * s.side)))
    check(0 < n_id < s.p * s.p - s.side * s.side, f"id_frac {s.id_frac} leaves no test_id or no train")
    if s.corner is None or (isinstance(s.corner, (tuple, list)) and tuple(s.corner) == (-1, -1)):
        return
    if not (isinstance(s.corner, (tuple, list)) and len(s.corner) == 2):
        raise FracturelabError(f"corner must be (a0, b0), None or (-1, -1), got {s.corner!r}")
    a0, b0 = (int(x) for x in s.corner)
    check(0 <= a0 <= s.p - s.side and 0 <= b0 <= s.p - s.side, f"corner {s.corner} puts the square outside 0..p-1")


def make(s: LeaveSquareOutSettings) -> TaskData:
    check_settings(s)
    if s.corner is None:
        a0 = b0 = (s.p - s.side) // 2
    elif tuple(s.corner) == (-1, -1):
        a0, b0 = (int(x) for x in rng_for(s.seed, 1).integers(0, s.p - s.side + 1, 2))
    else:
        a0, b0 = (int(x) for x in s.corner)
    sym, fn = OPS[s.op]
    a, b = np.meshgrid(np.arange(s.p), np.arange(s.p), indexing="ij")
    a, b = a.ravel(), b.ravel()
    inside = (a >= a0) & (a < a0 + s.side) & (b >= b0) & (b < b0 + s.side)
    if s.split == "square":
        is_ood = inside
    else:
        is_ood = np.zeros(len(a), bool)
        is_ood[rng_for(s.seed, 2).choice(len(a), int(inside.sum()), replace=False)] = True
    rest = np.flatnonzero(~is_ood)
    n_id = int(round(s.id_frac * len(rest)))
    is_id = np.zeros(len(a), bool)
    is_id[rng_for(s.seed, 3).choice(rest, n_id, replace=False)] = True
    is_train = ~is_ood & ~is_id
    pairs = np.stack([a, b], 1)
    ref = pairs[is_train]
    d_lin = chebyshev_to_set(pairs, ref, s.p, torus=False)
    d_tor = chebyshev_to_set(pairs, ref, s.p, torus=True)

    def example(i):
        ai, bi = int(a[i]), int(b[i])
        c = int(fn(ai, bi, s.p))
        meta = {"a": ai, "b": bi, "c": c, "inside": bool(inside[i]) and s.split == "square",
                "dist_linf": int(d_lin[i]), "dist_torus": int(d_tor[i]), "nn_dist": int(d_lin[i]),
                "depth": 1, "width": 1}
        return Example((str(ai), sym, str(bi), "="), (str(c),), meta)

    train = [example(i) for i in np.flatnonzero(is_train)]
    test_id = [example(i) for i in np.flatnonzero(is_id)]
    test_ood = [example(i) for i in np.flatnonzero(is_ood)]
    notes = {"square": {"a0": a0, "b0": b0, "side": s.side},
             "nn_dist": "L-infinity distance to the nearest training pair in the integer grid (dist_torus: mod p)"}
    return finish("leave_square_out", s, train, test_id, test_ood, notes=notes)


def pretrain_set(d: TaskData) -> list[Example]:
    """The full table of the other operation mod the same p ("a * b =" for an add task): every (a, b) pair, the
    square's included, but always with the other operator, so no test input is seen."""
    s = d.info["settings"]
    other = next(k for k in OPS if k != s["op"])
    sym, fn = OPS[other]
    return [Example((str(a), sym, str(b), "="), (str(fn(a, b, s["p"])),), {"a": a, "b": b, "op": other})
            for a in range(s["p"]) for b in range(s["p"])]


def items(s: LeaveSquareOutSettings) -> int:
    """An upper estimate of the items these settings generate: the p^2 pairs (a, b)."""
    return s.p * s.p


# no curriculum order: one operation per example
SPEC = TaskSpec(
    "leave_square_out", LeaveSquareOutSettings, make, SPLITS, __doc__, default_model="mlp",
    recipe=Recipe(model_options={"mlp": {"hidden": 512, "depth": 2}},
                  train={"max_steps": 4000, "lr": 3e-3, "weight_decay": 1.0, "batch_size": 256, "patience": 15},
                  budget="under a minute"),
    pretrain_set=pretrain_set, factor_keys=("a", "b"), tiny={"p": 23, "side": 5}, items=items,
    check_settings=check_settings)
