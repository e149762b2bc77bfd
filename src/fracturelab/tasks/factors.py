"""Factor recombination: small images built from three factors (shape x colour x position), with some combinations
of two factors never trained.

Each image is side x side pixels (side = 4 * grid), one 3x3 shape in one colour placed in one cell of a grid x grid
layout, plus `n_noise` random pixels of random palette colours (so one combination gives several distinct images).
src = the image as one token per pixel, row by row: "." for background, else the colour's letter (`to_image` turns
it back into an RGB array; a one-hot of src is the "image vector"). tgt = one token per factor: shape name, colour
name, "p<cell>".

Splits name the factor pair with held-out combinations: shape_colour (default), shape_position, colour_position.
For that pair, one combination per value of the first factor is held out, on a seeded shifted diagonal, so every
value of each factor still occurs in training. test_ood = every image of a held-out combination. test_id = a seeded
`id_frac` of the images of the trained combinations (other noise pixels, same distribution as train; each
combination keeps at least one training image). extra["new_triple"] = every image of a seeded `id_frac` of whole
(shape, colour, position) combinations without a held-out pair, never trained: all their factor pairs occur in
training, only the triple is new (a milder systematic split, between test_id and test_ood).

Metadata: factors {shape, colour, position} (ints: ground truth for probes such as DCI or linear probes),
heldout_pair, seen_frac (the fraction of the 3 factor pairs of the example seen together in training), factor_dist
(fewest factors in which it differs from a training example's factors), nn_dist (normalized Hamming distance of the
pixel tokens to the nearest training image).

Training (fracturelab.train, SPEC.recipe): n_per_combo 32 and n_noise 1; the default model, an MLP over
learned token embeddings (embed 8, 1 x 512 ReLU), reaches >= 0.98 test_id in about a minute of one CPU thread (seeds
0/1/2: test_id 0.992 / 0.994 / 0.998, new_triple 0.72 / 0.79 / 0.56, test_ood 0.73 / 0.75 / 0.63, 35-63 s on a
loaded machine). Nearly all errors on new combinations are the shape of an image whose factor pairs were all trained.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .base import Example, Recipe, TaskData, TaskSpec, check, check_split, finish, rng_for

SPLITS = ("shape_colour", "shape_position", "colour_position")
FACTORS = ("shape", "colour", "position")
SHAPES = {  # 3x3 masks, row by row
    "square": "111111111", "ring": "111101111", "plus": "010111010", "cross": "101010101",
    "tee": "111010010", "ell": "100100111", "hbar": "000111000", "vbar": "010010010",
}
COLOURS = {"red": (1, 0, 0), "green": (0, 1, 0), "blue": (0, 0, 1), "yellow": (1, 1, 0), "magenta": (1, 0, 1),
           "cyan": (0, 1, 1), "white": (1, 1, 1)}
LETTER = {c: c[0] for c in COLOURS}  # r g b y m c w: the pixel tokens


@dataclass
class FactorsSettings:
    """Settings of the factor-recombination task."""

    split: str = "shape_colour"
    """Which factor pair has held-out combinations: shape_colour (default), shape_position, colour_position."""
    seed: int = 0
    """Seeds the held-out diagonal, test_id and the noise pixels."""
    n_shapes: int = 6
    """Number of shapes (at most 8)."""
    n_colours: int = 5
    """Number of colours (at most 7)."""
    grid: int = 3
    """Positions form a grid x grid layout (image side 4 * grid)."""
    n_per_combo: int = 4
    """Images per (shape, colour, position) combination (they differ in their noise pixels)."""
    n_noise: int = 3
    """Random background pixels set to random palette colours in each image (0: needs n_per_combo = 1)."""
    id_frac: float = 0.1
    """Fraction of the trained combinations' images held out as test_id, and of the allowed combinations held out
    whole as extra["new_triple"]."""


def to_image(example: Example, side: int | None = None) -> np.ndarray:
    """The (side, side, 3) float RGB image of an example's src tokens."""
    side = side or int(round(len(example.src) ** 0.5))
    rgb = {LETTER[c]: v for c, v in COLOURS.items()}
    return np.array([rgb.get(t, (0, 0, 0)) for t in example.src], dtype=np.float32).reshape(side, side, 3)


def _heldout_pairs(s: FactorsSettings, counts: dict[str, int]) -> set[tuple[int, int]]:
    """The held-out (first factor, second factor) values of the split's pair: (i, perm[(i + shift) % n2]) for each
    value i of the first factor, perm and shift seeded (a shifted diagonal, so every value of each factor still
    occurs in training)."""
    f1, f2 = s.split.split("_")
    n1, n2 = counts[f1], counts[f2]
    r = rng_for(s.seed, 1)
    perm, shift = r.permutation(n2), int(r.integers(n2))
    return {(i, int(perm[(i + shift) % n2])) for i in range(n1)}


def _render(s: FactorsSettings, combo, noise_rng: np.random.Generator) -> tuple[str, ...]:
    """One image's pixel tokens, row by row: the shape's 3x3 mask in its colour at the top left of its grid cell,
    then `n_noise` background pixels set to random palette colours (drawn from noise_rng)."""
    sh, co, pos = combo
    colours, side = list(COLOURS)[: s.n_colours], 4 * s.grid
    img = np.full((side, side), ".", dtype=object)
    row, col = 4 * (pos // s.grid), 4 * (pos % s.grid)
    mask = np.array([int(x) for x in list(SHAPES.values())[sh]], bool).reshape(3, 3)
    img[row : row + 3, col : col + 3][mask] = LETTER[colours[co]]
    empty = np.flatnonzero(img.ravel() == ".")
    flat = img.ravel()
    for k in noise_rng.choice(empty, s.n_noise, replace=False):
        flat[k] = LETTER[colours[int(noise_rng.integers(len(colours)))]]
    return tuple(flat)


def _draw_sets(s: FactorsSettings, combos, held: set, new_combos: set) -> dict[str, list[Example]]:
    """train, test_id, test_ood and new_triple: n_per_combo images of every combination, in order (a repeated image
    of one combination is kept once); held-out combinations go to test_ood, new ones to new_triple, and each image
    but the first of a trained combination to test_id with probability id_frac."""
    noise_rng, id_rng = rng_for(s.seed, 3), rng_for(s.seed, 4)
    shapes, colours = list(SHAPES)[: s.n_shapes], list(COLOURS)[: s.n_colours]
    sets = {"train": [], "test_id": [], "test_ood": [], "new_triple": []}
    seen_src = set()
    for c in combos:
        name = "test_ood" if c in held else "new_triple" if c in new_combos else "train"
        for k in range(s.n_per_combo):
            src = _render(s, c, noise_rng)
            if src in seen_src:  # two draws of one combination's noise coincided: keep one
                continue
            seen_src.add(src)
            here = "test_id" if name == "train" and k > 0 and id_rng.random() < s.id_frac else name
            meta = {"factors": dict(zip(FACTORS, c)), "heldout_pair": c in held}
            sets[here].append(Example(src, (shapes[c[0]], colours[c[1]], f"p{c[2]}"), meta))
    return sets


HAMMING_BLOCK = 1024
"""Rows per block of _nearest_hamming's product (bounds its memory: block x train rows floats)."""


def _nearest_hamming(px: np.ndarray, train_px: np.ndarray) -> np.ndarray:
    """Each row's normalized Hamming distance to the nearest training row: (positions - most positions equal to one
    training row) / positions. Equal positions are counted as a product of one-hot codes (position x value), exact in
    float32 (counts up to the positions), in blocks of HAMMING_BLOCK rows."""
    n_pos = px.shape[1]
    values = int(max(px.max(initial=0), train_px.max(initial=0))) + 1

    def one_hot(a: np.ndarray) -> np.ndarray:  # (rows, positions) -> (rows, positions * values)
        out = np.zeros((len(a), n_pos * values), dtype=np.float32)
        out[np.arange(len(a))[:, None], np.arange(n_pos) * values + a.astype(np.int64)] = 1.0
        return out

    train_hot = one_hot(train_px).T  # (positions * values, train rows)
    ham = np.empty(len(px))
    for k in range(0, len(px), HAMMING_BLOCK):
        block = slice(k, k + HAMMING_BLOCK)
        equal = (one_hot(px[block]) @ train_hot).max(1)  # (block,) most positions shared with one train row
        ham[block] = (n_pos - equal.astype(np.float64)) / n_pos
    return ham


def _add_novelty(sets: dict[str, list[Example]], letters: list[str]) -> None:
    """Set every example's seen_frac, factor_dist and nn_dist (see the module docstring) against the train set."""
    train_combos = np.array(sorted({tuple(e.meta["factors"].values()) for e in sets["train"]}))
    pair_idx = list(itertools.combinations(range(3), 2))
    seen_pairs = {(i, j, int(t[i]), int(t[j])) for t in train_combos for i, j in pair_idx}
    vocab = {t: k for k, t in enumerate(["."] + letters)}
    train_px = np.array([[vocab[t] for t in e.src] for e in sets["train"]], dtype=np.int8)
    for name, exs in sets.items():
        if not exs:
            continue
        combo = np.array([list(e.meta["factors"].values()) for e in exs])
        fdist = (combo[:, None, :] != train_combos[None, :, :]).sum(2).min(1)
        # the train set's own distance is 0 by definition: not computed
        ham = (np.zeros(len(exs)) if name == "train" else
               _nearest_hamming(np.array([[vocab[t] for t in e.src] for e in exs], dtype=np.int8), train_px))
        for e, c, fd, h in zip(exs, combo, fdist, ham):
            seen = sum((i, j, int(c[i]), int(c[j])) in seen_pairs for i, j in pair_idx)
            e.meta.update({"seen_frac": round(seen / len(pair_idx), 6), "factor_dist": int(fd),
                           "nn_dist": 0.0 if name == "train" else round(float(h), 6)})


def _counts(s: FactorsSettings) -> dict[str, int]:
    """Values per factor."""
    return {"shape": s.n_shapes, "colour": s.n_colours, "position": s.grid**2}


def _n_allowed(s: FactorsSettings) -> int:
    """Combinations without a held-out pair: the held-out pairs are one per value of the split's first factor, each
    with every value of the third factor, so n1 * n3 of the n1 * n2 * n3 combinations are held out."""
    counts = _counts(s)
    f1, f2 = s.split.split("_")
    n3 = next(counts[f] for f in FACTORS if f not in (f1, f2))
    return counts[f1] * (counts[f2] - 1) * n3


def _n_new(s: FactorsSettings) -> int:
    """Combinations held out whole as new_triple: id_frac of the allowed ones."""
    return int(round(s.id_frac * _n_allowed(s)))


def check_settings(s: FactorsSettings) -> None:
    """Refuse settings make cannot use (arithmetic on the settings only: a study spec runs it at load): split,
    n_shapes, n_colours, grid >= 2, n_per_combo >= 1, n_noise 0..the fewest background pixels (and > 0 unless
    n_per_combo = 1), id_frac in (0, 1) leaving both new_triple and train combinations."""
    check_split(s, SPLITS, "factors")
    check(2 <= s.n_shapes <= len(SHAPES), f"n_shapes must be 2..{len(SHAPES)}, got {s.n_shapes}")
    check(2 <= s.n_colours <= len(COLOURS), f"n_colours must be 2..{len(COLOURS)}, got {s.n_colours}")
    check(s.grid >= 2, f"grid must be at least 2, got {s.grid}")
    check(s.n_per_combo >= 1 and s.n_noise >= 0, "n_per_combo must be >= 1 and n_noise >= 0")
    check(s.n_noise > 0 or s.n_per_combo == 1, "n_noise = 0 makes identical images: use n_per_combo = 1")
    background = (4 * s.grid) ** 2 - 9  # the square, every shape's first, fills all 9 pixels of its mask
    check(s.n_noise <= background, f"n_noise must be at most {background} (the background pixels of a "
                                   f"{4 * s.grid}x{4 * s.grid} image), got {s.n_noise}")
    check(0 < s.id_frac < 1, f"id_frac must be in (0, 1), got {s.id_frac}")
    check(0 < _n_new(s) < _n_allowed(s), f"id_frac {s.id_frac} leaves no new_triple or no train combinations")


def make(s: FactorsSettings) -> TaskData:
    """The task's data for these settings (see the module docstring)."""
    check_settings(s)
    counts = _counts(s)
    shapes, colours = list(SHAPES)[: s.n_shapes], list(COLOURS)[: s.n_colours]
    f1, f2 = s.split.split("_")
    heldout = _heldout_pairs(s, counts)
    combos = list(itertools.product(range(s.n_shapes), range(s.n_colours), range(counts["position"])))
    held = {c for c in combos if (c[FACTORS.index(f1)], c[FACTORS.index(f2)]) in heldout}
    allowed = [c for c in combos if c not in held]
    new_combos = {allowed[i] for i in rng_for(s.seed, 2).permutation(len(allowed))[: _n_new(s)]}
    sets = _draw_sets(s, combos, held, new_combos)
    _add_novelty(sets, [LETTER[c] for c in colours])
    notes = {"heldout": [{f1: a, f2: b} for a, b in sorted(heldout)], "shapes": shapes, "colours": colours,
             "side": 4 * s.grid, "palette": {LETTER[c]: list(COLOURS[c]) for c in colours},
             "nn_dist": "normalized Hamming distance of pixel tokens to the nearest training image"}
    return finish("factors", s, sets["train"], sets["test_id"], sets["test_ood"],
                  extra={"new_triple": sets["new_triple"]}, notes=notes)


def pretrain_set(d: TaskData) -> list[Example]:
    """Single-factor variation: the training images whose (shape, colour, position) differs from a reference
    combination (the first training one) in at most one factor."""
    ref = d.train[0].meta["factors"]
    return [e for e in d.train if sum(e.meta["factors"][k] != ref[k] for k in ref) <= 1]


def items(s: FactorsSettings) -> int:
    """An upper estimate of the items these settings generate: shapes x colours x grid^2 positions x n_per_combo
    images of (4 grid)^2 pixels each."""
    return s.n_shapes * s.n_colours * s.grid ** 2 * s.n_per_combo * (4 * s.grid) ** 2


# no curriculum order: one image, three factors
SPEC = TaskSpec(
    "factors", FactorsSettings, make, SPLITS, __doc__, default_model="mlp",
    recipe=Recipe(task_options={"n_per_combo": 32, "n_noise": 1},
                  model_options={"mlp": {"input": "embed", "embed": 8, "hidden": 512, "depth": 1}},
                  train={"max_steps": 3000}, budget="about a minute"),
    pretrain_set=pretrain_set, tiny={"n_per_combo": 2}, items=items, check_settings=check_settings)
