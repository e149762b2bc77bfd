"""Per-neuron feature maps of a CPPN and the numbers FER-style studies read off them (Kumar et al. 2025).

A *map* is one unit's activation over the image plane, sampled on a res x res grid (x along columns, y down rows, both
over [-1, 1]). Layer 0 holds the 4 inputs (x, y, d, bias); layers 1..L the hidden units. Maps are computed in float64
so float32 rounding is not a source of spurious differences (the net's float32 weights are used as they are).

Definitions (all on maps at `res`, 64x64 by default; tests pin each one on constructions with known answers):
- same map:     max|a - b| <= tol * max(1, max|a|, max|b|), tol = 1e-3. Cache units are exact copies (weight 1.0,
                identity) and differ by 0; float32 rounding is ~1e-7 relative, far below tol. On FER's Picbreeder nets
                the count is the same for every tol in [0, 1e-2] (their copies are exact); on the SGD nets a
                few near-copies merge from tol 1e-3 on (sgd_butterfly: 372 maps at tol 0, 370 at 1e-3).
- constant map: max|m - mean(m)| <= tol * max(1, max|m|). Constant maps DO count as maps: the bias input is the
                constant-1 map, and padding units are constant too (gaussian padding is 2*exp(0)-1 = 1, so it equals
                the bias map; cache/sin/sigmoid/identity padding is the constant-0 map). Each constant value counts once.
- novel:        a map is novel if no earlier map (layer order, then unit order) is the same map. `count` = number of
                novel maps, inputs included. On the layerized Picbreeder skull this is 24 = 4 inputs + 18 hidden
                genome nodes + the ink output + the constant-0 map (grey genomes get zero-fed hue/saturation units,
                and padding is zero); without counting the 0 map it would be 23, so FER's 24 counts it.
- counted unit: a hidden unit whose map the render depends on and that draws something: (a) it is *read*, i.e. it
                has a path of nonzero weights to the output layer (Dense_L's h, s, v), and (b) its map is not constant.
                Layerization pads every layer to the arch's width: a layerized Picbreeder net leaves most of its hidden
                units as padding (no incoming weights, or cache units nothing reads), which an SGD replica or an
                untrained net of the same arch uses. (a) drops units the render ignores, whatever their weights (giving
                an unread unit random incoming weights leaves the render and every metric below unchanged); (b) drops
                constant units, which act as biases and carry no spatial structure. Every unit of a net whose weights
                are all nonzero is read. Inputs are never counted units: they are given, not drawn by the net.
- roughness:    per map, standardise to mean 0 and std 1 (so amplitude does not matter), then take the mean |finite
                difference| between neighbouring pixels, averaged over the row and the column direction. Averaged over
                the distinct counted maps (a counted unit whose map equals an input's or an earlier counted unit's is
                left out, as `novel` leaves copies out). At 64x64 a linear ramp x gives ~0.027; i.i.d. noise ~1.13.
                NaN when the net has no counted unit.
- effective_dim_ratio: per hidden layer, F = the (pixels x n) matrix of the maps of that layer's n counted units, each
                column centred; p = singular values / their sum; eff = exp(-sum p log p) (1 for a rank-1 layer, and for
                two counted copies of one map; n for n equal orthogonal directions); ratio = eff / W with W the arch's
                width, as FER defines width (a Picbreeder net and its SGD replica share the arch, so they share the
                denominator). Only counted units enter the numerator, so a unit the render ignores or a constant one
                adds no dimension; the denominator is the shared scale, not a count of what takes part (eff / n would
                score a compact net's few units as spread: a one-unit layer has eff / n = 1). A layer with no counted
                unit has ratio 0. Reported as max and mean over hidden layers.
- symmetric_fraction: per map, asym = ||m - fliplr(m)|| / (2 ||m - mean(m)||), the share of the map's (centred) norm
                in its left-right antisymmetric part: 0 = symmetric, 1 = antisymmetric (like x). A map is symmetric
                when asym < 0.05 (the antisymmetric part holds < 0.25% of the variance). Fraction over the distinct
                counted maps, as roughness; NaN when the net has no counted unit.
- redundancy:   over the novel, non-constant maps (inputs included), the fraction that have |Pearson correlation|
                > 0.99 with another one: the same map up to sign, scale and offset. Exact copies (cache units) are
                already folded by `novel`, so this counts near-copies that the net computes separately. Like
                novel_maps (FER's count), it is taken over every unit, read or not.
"""
from __future__ import annotations

from dataclasses import dataclass

import math

import numpy as np
import torch

from ..cppn.module import DEFAULT_WINDOW, coord_grid, forward, unflatten

TOL = 1e-3


@dataclass
class MapSettings:
    """Resolution and thresholds of the map metrics (defaults are the documented ones above)."""

    res: int = 64
    """Grid size: maps are res x res. Roughness depends on it (finite differences shrink as res grows)."""
    tol: float = TOL
    """Relative max-abs tolerance for two maps being the same map, and for a map being constant."""
    sym_threshold: float = 0.05
    """A map is left-right symmetric when its antisymmetric share ||m - fliplr m|| / (2 ||m - mean||) is below this."""
    corr_threshold: float = 0.99
    """Two distinct maps are redundant when |Pearson correlation| exceeds this."""


def feature_maps(net, res: int = 64, window=None) -> list[np.ndarray]:
    """Every unit's map: [layer 0 (4, res, res) = x, y, d, bias; layer l = 1..L (W, res, res)], float64."""
    inputs = coord_grid(res, window or DEFAULT_WINDOW, dtype=torch.float64)  # (N, 4)
    with torch.no_grad():
        _, feats = forward(net.arch, torch.as_tensor(np.asarray(net.params)), inputs, features=True)  # L x (N, W)
    return [f.T.reshape(-1, res, res).numpy() for f in [inputs, *feats]]


def _stack(maps: list[np.ndarray]) -> np.ndarray:
    """Per-layer maps -> (n_units, N) rows in layer order, then unit order."""
    return np.concatenate([m.reshape(len(m), -1) for m in maps])


def _amplitude(flat: np.ndarray) -> np.ndarray:
    """max(1, max|m|) per row: the scale the tolerance is relative to. (n,)"""
    return np.maximum(1.0, np.abs(flat).max(axis=1))


def is_constant(flat: np.ndarray, tol: float = TOL) -> np.ndarray:
    """(n, N) maps -> (n,) bool: max|m - mean(m)| <= tol * max(1, max|m|)."""
    return np.abs(flat - flat.mean(axis=1, keepdims=True)).max(axis=1) <= tol * _amplitude(flat)


def _exact_groups(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Collapse bit-identical rows (cache copies, padding): (first row of each group (g,), group of each row (n,))."""
    first: dict[bytes, int] = {}
    group = np.array([first.setdefault(row.tobytes(), len(first)) for row in flat])
    reps = np.zeros(len(first), dtype=int)
    reps[group[::-1]] = np.arange(len(flat))[::-1]  # first occurrence wins
    return reps, group


def same_map_matrix(flat: np.ndarray, tol: float = TOL, chunk_elems: int = 2 ** 24) -> np.ndarray:
    """(n, N) maps -> (n, n) bool: max|a - b| <= tol * max(amp_a, amp_b), for all pairs, without an n^2 pixel loop.

    Bit-identical rows (cache copies, padding) are folded first, by hashing. Among the rest, max|a-b| >=
    ||a-b||_2 / sqrt(N), so only pairs with ||a-b||_2 <= sqrt(N) * tol * scale can be the same map: the L2 distances
    come from one matrix product, and the exact max-abs test runs on those candidates only, in chunks."""
    reps, group = _exact_groups(flat)
    u = torch.as_tensor(flat[reps], dtype=torch.float64)                 # (g, N) one row per exact group
    g, N = u.shape
    amp = torch.as_tensor(_amplitude(flat[reps]))
    scale = torch.maximum(amp[:, None], amp[None, :])                     # (g, g)
    l2 = torch.cdist(u, u, compute_mode="use_mm_for_euclid_dist")        # (g, g)
    cand = l2 <= 1.01 * tol * scale * N ** 0.5 + 1e-9                     # superset of the true pairs
    i, j = torch.nonzero(torch.triu(cand, diagonal=1), as_tuple=True)
    same = torch.eye(g, dtype=torch.bool)
    step = max(1, chunk_elems // N)
    for s in range(0, len(i), step):
        a, b = i[s:s + step], j[s:s + step]
        ok = (u[a] - u[b]).abs().amax(dim=1) <= tol * scale[a, b]       # (chunk,)
        same[a[ok], b[ok]] = True
        same[b[ok], a[ok]] = True
    return same.numpy()[group[:, None], group[None, :]]                  # (n, n)


def _split(flat_mask: np.ndarray, maps: list[np.ndarray]) -> list[np.ndarray]:
    sizes = np.cumsum([len(m) for m in maps])[:-1]
    return np.split(flat_mask, sizes)


def _first_of_kind(same: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """(n, n) same-map matrix, (n,) bool pool -> (n,) bool: the pool's maps that no earlier map of the pool equals."""
    return pool & ~(np.tril(same, k=-1) & pool[None, :]).any(axis=1)


def novel_from_maps(maps: list[np.ndarray], tol: float = TOL) -> dict:
    """novel_maps on maps already computed (see novel_maps)."""
    flat = _stack(maps)
    novel = _first_of_kind(same_map_matrix(flat, tol), np.ones(len(flat), dtype=bool))
    return {"count": int(novel.sum()), "novel": _split(novel, maps), "constant": _split(is_constant(flat, tol), maps)}


def novel_maps(net, res: int = 64, tol: float = TOL) -> dict:
    """Distinct per-neuron maps, the 4 inputs included: {"count": int, "novel": per-layer (n_units,) bool masks,
    "constant": per-layer bool masks}. Layer 0 = inputs, then hidden layers 1..L."""
    return novel_from_maps(feature_maps(net, res), tol)


def read_units(net) -> list[np.ndarray]:
    """Per layer [inputs (4,), hidden 1..L (W,)], bool: the unit is read, i.e. has a path of nonzero weights to an
    output (Dense_L's 3 columns). An unread unit cannot change the render, whatever its map."""
    kernels = [k[0].numpy() for k in unflatten(net.arch, torch.as_tensor(np.asarray(net.params)).unsqueeze(0))]
    live = np.ones(kernels[-1].shape[1], dtype=bool)            # the outputs
    out = []
    for k in kernels[::-1]:                                     # Dense_L .. Dense_0, each (in, out)
        live = (k[:, live] != 0).any(axis=1)                    # a unit is read when it feeds a read unit
        out.append(live)
    return out[::-1]


# ---------------------------------------------------------------------------------------------------- map metrics

def _standardise(flat: np.ndarray) -> np.ndarray:
    """Rows to mean 0, std 1 (callers pass non-constant rows only). (n, N) -> (n, N)"""
    c = flat - flat.mean(axis=1, keepdims=True)
    return c / c.std(axis=1, keepdims=True)


def roughness(maps2d: np.ndarray) -> np.ndarray:
    """(n, res, res) non-constant maps -> (n,) mean |finite difference| of each standardised map, rows and columns."""
    n, res, _ = maps2d.shape
    z = _standardise(maps2d.reshape(n, -1)).reshape(n, res, res)
    return 0.5 * (np.abs(np.diff(z, axis=1)).mean(axis=(1, 2)) + np.abs(np.diff(z, axis=2)).mean(axis=(1, 2)))


def asymmetry(maps2d: np.ndarray) -> np.ndarray:
    """(n, res, res) non-constant maps -> (n,) ||m - fliplr m|| / (2 ||m - mean m||) in [0, 1]; 0 = symmetric."""
    c = maps2d - maps2d.mean(axis=(1, 2), keepdims=True)
    return np.linalg.norm((c - c[:, :, ::-1]).reshape(len(c), -1), axis=1) / (
        2 * np.linalg.norm(c.reshape(len(c), -1), axis=1))


def effective_dim(layer: np.ndarray) -> float:
    """(W, res, res) maps of one layer -> exp(entropy of the normalised singular values) of the centred
    (pixels x W) matrix; 0 when every map is constant; NaN when a map is not finite (a diverged net)."""
    f = layer.reshape(len(layer), -1).T.astype(np.float64)      # (N, W); float64: float32 Gram entries overflow
    if not np.isfinite(f).all():
        return math.nan
    c = f - f.mean(axis=0)
    # singular values via the W x W Gram matrix: ~10x faster than an SVD of the tall matrix, and the values it
    # blurs (below ~1e-8 of the largest) change the entropy by less than 1e-6
    s = np.sqrt(np.clip(np.linalg.eigvalsh(c.T @ c), 0.0, None))  # (W,)
    if s.sum() <= 1e-12 * max(1.0, np.abs(f).max()) * f.shape[0] ** 0.5:
        return 0.0
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def redundancy(flat: np.ndarray, corr_threshold: float = 0.99) -> float:
    """(n, N) distinct non-constant maps -> fraction with |correlation| > corr_threshold to another one."""
    if len(flat) < 2:
        return 0.0
    z = _standardise(flat)
    corr = np.abs(z @ z.T) / flat.shape[1]                      # (n, n)
    np.fill_diagonal(corr, 0.0)
    return float((corr > corr_threshold).any(axis=1).mean())


def map_metrics(net, res: int = 64, settings: MapSettings | None = None) -> dict:
    """The six map numbers of one net, as plain floats: novel_maps, roughness, effective_dim_ratio_max,
    effective_dim_ratio_mean, symmetric_fraction, redundancy (definitions in the module docstring).
    `settings.res` wins over `res` when settings are given."""
    s = settings or MapSettings(res=res)
    maps = feature_maps(net, s.res)
    flat = _stack(maps)
    same = same_map_matrix(flat, s.tol)
    constant = is_constant(flat, s.tol)
    novel = _first_of_kind(same, np.ones(len(flat), dtype=bool))
    read = np.concatenate(read_units(net))
    counted = read & ~constant
    counted[:len(maps[0])] = False                              # the inputs are given, not drawn by the net
    # distinct counted maps: an input's copy or an earlier counted unit's copy is not a new map (inputs join the pool)
    pool = counted.copy()
    pool[:len(maps[0])] = True
    distinct = _first_of_kind(same, pool) & counted
    hidden = flat[distinct].reshape(-1, s.res, s.res)           # (n_h, res, res)
    everyone = flat[novel & ~constant]                          # every unit, inputs included: FER's novel maps
    ratios = [effective_dim(layer[k]) / net.arch.width if k.any() else 0.0
              for layer, k in zip(maps[1:], _split(counted, maps)[1:])]
    nan = float("nan")
    return {
        "novel_maps": float(novel.sum()),
        "roughness": float(roughness(hidden).mean()) if len(hidden) else nan,
        "effective_dim_ratio_max": float(np.max(ratios)),
        "effective_dim_ratio_mean": float(np.mean(ratios)),
        "symmetric_fraction": float((asymmetry(hidden) < s.sym_threshold).mean()) if len(hidden) else nan,
        "redundancy": redundancy(everyone, s.corr_threshold),
    }
