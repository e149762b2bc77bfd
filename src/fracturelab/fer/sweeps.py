"""Weight sweeps (FER, Kumar et al. 2025): add Δ ∈ [-1, 1] to one weight, or move along one random unit direction
within one column of one weight matrix (their appendix F), and measure what happens to the image.

Every perturbed net of a chunk runs in ONE batched forward call that evaluates only the units the sweep can reach
(see the engine below); tests check it against rendering one net at a time with the plain `forward`.

Per-sweep metrics, on RGB images in [0, 1] (I_0 the base image, I_Δ the perturbed ones, D_Δ = I_Δ - I_0; means over
pixels and channels unless said; "over Δ" means over the non-zero deltas):
- effect:      mean |D_Δ| over pixels, channels and Δ. 0 when the sweep cannot change the image.
- effect_map:  mean |D_Δ| over channels and Δ, per pixel: (res, res). Where the sweep acts.
- locality:    fraction of pixels that visibly change: max over Δ of the pixel's channel-mean |D_Δ| exceeds
               `locality_threshold`. Small = a local edit (a mouth), 1 = every pixel changes (global lighting),
               0 = nothing visible changes (read it together with effect).
- asym_added:  left-right asymmetry the sweep adds, relative to how much it changes: with
               asym(I) = mean |I - fliplr(I)|, it is Σ_Δ [asym(I_Δ) - asym(I_0)] / Σ_Δ mean|D_Δ|. By the triangle
               inequality it lies in [-2, 2]: 0 = the change is itself symmetric (or leaves symmetry as it was),
               > 0 = it breaks symmetry, < 0 = it makes the image more symmetric. NaN when nothing changes.
- roughness:   how jumpy the image is along the sweep: mean |second difference| / mean |first difference| of the
               image sequence I_Δ (Δ in order, evenly spaced). 0 when the image changes linearly in Δ, up to 2 when
               it flips back and forth every step; NaN when nothing changes.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from ..cppn.color import to_rgb
from ..cppn.layerize import layerize
from ..cppn.module import ACTIVATION_FNS, coord_grid, forward, unflatten
from ..cppn.nets import Net
from ..errors import FracturelabError

METRICS = ("effect", "locality", "asym_added", "roughness")


@dataclass(frozen=True)
class SweepSettings:
    res: int = 64
    """Pixels per side of every image in a sweep."""
    delta_max: float = 1.0
    """Δw runs over [-delta_max, +delta_max] (FER sweeps [-1, 1]; their figures show -1, 0, +1)."""
    n_deltas: int = 21
    """Evenly spaced steps of Δw. Odd, so Δ = 0 (the unchanged net) is one of them."""
    locality_threshold: float = 0.05
    """A pixel counts as changed when, at some Δ, its mean |change| over R, G, B exceeds this (0.05 of the [0, 1]
    range is about 13 of 255 grey levels: plainly visible)."""
    zero_tol: float = 1e-6
    """Pixel changes smaller than this are set to 0: they are float32 rounding from evaluating the perturbed nets by
    a different (batched) path than the base net, not effects of the sweep."""
    min_effect: float = 0.002
    """'Meaningful' rule (a proposal): effect at least this. Averaged over the whole image, so a local edit is
    small: a mouth that moves (7% of the pixels) scores ~0.007 on the built-in face."""
    max_locality: float = 0.5
    """'Meaningful' rule: at most this fraction of pixels visibly changes (the edit is about a part, not all)."""
    max_asym: float = 0.25
    """'Meaningful' rule: asym_added at most this (the edit keeps the image's left-right symmetry, mostly)."""
    max_roughness: float = 0.5
    """'Meaningful' rule: roughness at most this (the image morphs smoothly along the sweep)."""
    batch_size: int = 256
    """Perturbed nets per forward call (whole sweeps only). Memory: batch_size * res^2 * 4 bytes per live unit
    (4 MB at 64x64), so a dense layer of width 35 holds ~150 MB; larger batches gained little (Mystic: 2.6 s at
    128, 2.2 s at 256, 2.1 s at 512)."""
    max_weights: int = 1000
    """sweep_all on a net without a genome (e.g. SGD): if it has more non-zero weights, sweep a seeded random
    subset of this size."""
    n_directions: int = 32
    """Random directions per weight matrix for basis-free sweeps (sweep_directions' default n)."""
    seed: int = 0
    """Seed for the random weight subset and the random directions."""
    engine: str = "auto"
    """How perturbed nets are evaluated: "sparse" (per unit, for layerized nets), "dense" (matmul per layer, for
    SGD nets) or "auto" (sparse when under 25% of the weights are non-zero). All give the same images."""
    threads: int | None = 1
    """Torch intra-op threads while sweeping (restored after); None leaves torch's setting. The engine runs many
    small ops, where thread hand-offs cost more than they gain: on a busy 2-core machine 1 thread was 3x faster."""

    @property
    def deltas(self) -> np.ndarray:
        if self.n_deltas < 3:
            raise FracturelabError(f"n_deltas={self.n_deltas}: need at least 3 steps to measure roughness")
        return np.linspace(-self.delta_max, self.delta_max, self.n_deltas)


# ---------------------------------------------------------------------------------------------------- metrics


def _asym(img: torch.Tensor, res: int) -> torch.Tensor:
    """(..., N, 3) -> (...): mean |I - fliplr(I)|; image columns are x, so the flip reverses the last pixel axis."""
    im = img.reshape(*img.shape[:-2], res, res, 3)
    return (im - im.flip(-2)).abs().mean((-3, -2, -1))


def _metrics(base: torch.Tensor, imgs: torch.Tensor, deltas: torch.Tensor, settings: SweepSettings) -> dict:
    """base (N, 3), imgs (S, K, N, 3) for the K deltas in order -> dict of (S,) arrays and effect_map (S, res, res)."""
    res = settings.res
    d = imgs - base                                               # (S, K, N, 3)
    d = torch.where(d.abs() < settings.zero_tol, torch.zeros_like(d), d)
    seq = base + d                                                # cleaned images, so dead sweeps are exactly flat
    nz = deltas != 0
    ad = d[:, nz].abs()                                           # (S, K', N, 3)
    effect = ad.mean((1, 2, 3))
    effect_map = ad.mean((1, 3)).reshape(-1, res, res)
    locality = (ad.mean(3).amax(1) > settings.locality_threshold).float().mean(1)
    change = ad.mean((2, 3))                                      # (S, K') mean |D_Δ| per Δ
    added = _asym(seq[:, nz], res) - _asym(base, res)             # (S, K')
    asym_added = added.sum(1) / change.sum(1)                     # 0/0 -> NaN: nothing changed
    first = seq[:, 1:] - seq[:, :-1]                              # (S, K-1, N, 3), Δ evenly spaced
    second = first[:, 1:] - first[:, :-1]                         # (S, K-2, N, 3)
    roughness = second.abs().mean((1, 2, 3)) / first.abs().mean((1, 2, 3))
    out = {"effect": effect, "locality": locality, "asym_added": asym_added, "roughness": roughness,
           "effect_map": effect_map}
    return {k: v.double().numpy() for k, v in out.items()}


def sweep_metrics(base: np.ndarray, images: np.ndarray, settings: SweepSettings = SweepSettings()) -> dict:
    """Metrics of one sweep from its images: base (res, res, 3), images (n_deltas, res, res, 3) in settings.deltas
    order. The batched sweeps use the same code; this entry point lets a slow path be checked against them."""
    b = torch.as_tensor(np.asarray(base), dtype=torch.float32).reshape(-1, 3)
    im = torch.as_tensor(np.asarray(images), dtype=torch.float32).reshape(1, len(images), -1, 3)
    m = _metrics(b, im, torch.as_tensor(settings.deltas), settings)
    return {k: (v[0] if k == "effect_map" else float(v[0])) for k, v in m.items()}


def is_meaningful(result: dict, settings: SweepSettings = SweepSettings()) -> bool:
    """A proposal, not FER's (they judge by eye): a sweep is a meaningful, factored edit when it visibly does
    something (effect >= min_effect), acts on a part of the image (locality <= max_locality), keeps left-right
    symmetry (asym_added <= max_asym) and morphs smoothly (roughness <= max_roughness). NaN fails every test."""
    return bool(result["effect"] >= settings.min_effect and result["locality"] <= settings.max_locality
                and result["asym_added"] <= settings.max_asym and result["roughness"] <= settings.max_roughness)


# ---------------------------------------------------------------------------------------------------- engine
# A sweep moves the incoming weights of one unit only, so a perturbed net differs from the base only in the units
# reachable from that unit through non-zero weights (its "affected set", per layer); every other unit keeps the base
# net's value, computed once. Both engines evaluate just the affected units, batched over all B nets of a chunk:
# - sparse (layerized Picbreeder nets: ~3% of weights are non-zero, most units are `cache` copies): one (B, N) tensor
#   per unit, each unit a weighted sum of its few non-zero inputs, and a copy (one input of weight 1, identity) is the
#   same tensor, not a new one. Matmuls with 3-5 wide inner dimensions are ~15x slower than these adds on CPU.
# - dense (SGD nets, every unit affected): one (B, N, |units|) tensor per layer and a matmul per layer.


def _activate_cols(arch, z: torch.Tensor, cols: np.ndarray) -> torch.Tensor:
    """Apply each unit's activation, in place, to z (..., len(cols)) holding the sorted hidden units `cols` of one
    layer (identity units are left alone)."""
    for act, lo, hi in arch.group_slices():  # groups are contiguous, so each group's share of cols is contiguous
        a, b = np.searchsorted(cols, lo), np.searchsorted(cols, hi)
        if b > a and act not in ("cache", "identity"):
            z[..., a:b] = ACTIVATION_FNS[act](z[..., a:b])
    return z


class _Base:
    """The unperturbed net at one resolution: kernels, activations and image, computed once per net."""

    def __init__(self, net: Net, res: int, engine: str = "auto"):
        self.arch = net.arch
        params = torch.as_tensor(np.asarray(net.params), dtype=torch.float32)
        self.kernels = [k[0] for k in unflatten(net.arch, params[None])]      # [Dense_0 .. Dense_L], (in, out)
        self.nonzero = [k.numpy() != 0 for k in self.kernels]
        self.act_of = [a for a, lo, hi in net.arch.group_slices() for _ in range(lo, hi)]  # hidden unit -> act
        inputs = coord_grid(res)                                              # (N, 4)
        raw, feats = forward(net.arch, params, inputs, features=True)
        self.acts = [inputs] + feats                                          # acts[l] (N, in) enters Dense_l
        self.raw, self.rgb = raw, to_rgb(raw)                                 # (N, 3) each
        if engine not in ("auto", "sparse", "dense"):
            raise FracturelabError(f"engine {engine!r}: expected auto, sparse or dense")
        density = np.count_nonzero(np.asarray(net.params)) / net.arch.n_params
        self.sparse = engine == "sparse" or (engine == "auto" and density < 0.25)

    def affected(self, layer: int, cols) -> list[np.ndarray]:
        """Units changed by moving the incoming weights of `cols` in Dense_layer: sorted unit indices of layers
        layer+1 .. L+1 (the last entry indexes the outputs h, s, v)."""
        reach = np.zeros(self.arch.shape(layer)[1], dtype=bool)
        reach[list(cols)] = True
        out = [np.flatnonzero(reach)]
        for nz in self.nonzero[layer + 1:]:
            reach = nz[reach].any(0)
            out.append(np.flatnonzero(reach))
        return out

    def run(self, layer: int, cols: np.ndarray, vecs: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
        """S sweeps of Dense_layer: sweep s moves column cols[s] along vecs[s] (in,) by each of the K deltas.
        -> raw hsv (S*K, N, 3), sweep-major."""
        S, K = len(cols), len(deltas)
        aff = self.affected(layer, cols)
        # first affected layer: z_c = z_base_c + Δ * (h @ v_s) for the sweep's own column c, z_base elsewhere
        z = (self.acts[layer] @ self.kernels[layer][:, aff[0]]).expand(S * K, -1, -1).clone()  # (B, N, |aff0|)
        u = self.acts[layer] @ vecs.T                                                         # (N, S)
        pos = np.searchsorted(aff[0], cols)
        for s in range(S):
            z[s * K:(s + 1) * K, :, pos[s]] += deltas[:, None] * u[None, :, s]
        raw = self.raw.expand(S * K, -1, -1).clone()                                          # (B, N, 3)
        if self.sparse:
            vals = self._sparse(layer, aff, {c: z[..., k].contiguous() for k, c in enumerate(aff[0])})
            for o in aff[-1]:
                raw[:, :, o] = vals[o]
        elif len(aff[-1]):
            raw[:, :, aff[-1]] = self._dense(layer, aff, z)
        return raw

    def _dense(self, layer: int, aff: list[np.ndarray], z: torch.Tensor) -> torch.Tensor:
        """z (B, N, |aff[0]|) pre-activations of the first affected layer -> (B, N, |aff[-1]|) raw outputs."""
        for j in range(layer + 1, self.arch.n_hidden + 1):  # Dense_j: affected units of layer j -> of layer j+1
            src, dst = aff[j - layer - 1], aff[j - layer]
            h = _activate_cols(self.arch, z, src)                                             # (B, N, |src|)
            rest = np.setdiff1d(np.arange(self.arch.shape(j)[0]), src)  # unaffected units hold base values
            z = h @ self.kernels[j][src][:, dst]                                              # (B, N, |dst|)
            if len(rest):
                z += self.acts[j][:, rest] @ self.kernels[j][rest][:, dst]
        return z

    def _sparse(self, layer: int, aff: list[np.ndarray], vals: dict) -> dict:
        """vals: unit -> (B, N) pre-activation of the first affected layer -> output index -> (B, N) raw output."""
        for j in range(layer + 1, self.arch.n_hidden + 1):
            src, dst = aff[j - layer - 1], aff[j - layer]
            h = {c: ACTIVATION_FNS[self.act_of[c]](vals[c]) for c in src}                    # identity: same tensor
            w, vals = self.kernels[j], {}
            for d in dst:
                ins = np.flatnonzero(self.nonzero[j][:, d])
                mine, rest = [i for i in ins if i in h], [i for i in ins if i not in h]
                if not rest and len(mine) == 1 and w[mine[0], d] == 1.0:
                    vals[d] = h[mine[0]]                              # a cache copy: share, don't compute
                    continue
                z = h[mine[0]] * w[mine[0], d]
                for i in mine[1:]:
                    z.add_(h[i], alpha=float(w[i, d]))
                if rest:
                    z += self.acts[j][:, rest] @ w[rest, d]           # (N,) base inputs, same for every net
                vals[d] = z
        return vals


@contextmanager
def _torch_threads(n: int | None):
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _chunks(perts: list[tuple], per_chunk: int) -> list[list[int]]:
    """Indices of perts sorted by (layer, col), cut into chunks of at most per_chunk sweeps of one layer each
    (neighbouring columns share most of their affected units, so a chunk's union of them stays small)."""
    chunks: list[list[int]] = []
    for i in sorted(range(len(perts)), key=lambda i: perts[i][:2]):
        if not chunks or len(chunks[-1]) == per_chunk or perts[chunks[-1][0]][0] != perts[i][0]:
            chunks.append([])
        chunks[-1].append(i)
    return chunks


def _run_sweeps(net: Net, perts: list[tuple[int, int, np.ndarray]], settings: SweepSettings,
                keep_images: bool = False) -> list[dict]:
    """perts: (layer, col, vector (in,)): params + Δ * vector on column col of Dense_layer, for Δ in deltas.
    One forward call per chunk of at most batch_size nets (whole sweeps); only non-zero deltas are evaluated, the
    Δ = 0 image is the base image itself. -> one dict of metrics per pert, in order."""
    deltas = torch.as_tensor(settings.deltas, dtype=torch.float32)
    nz = torch.nonzero(deltas).flatten()
    K = len(nz)
    results: list[dict] = [{}] * len(perts)
    with torch.no_grad(), _torch_threads(settings.threads):
        base = _Base(net, settings.res, settings.engine)
        for idx in _chunks(perts, max(1, settings.batch_size // K)):
            layer, S = perts[idx[0]][0], len(idx)
            cols = np.array([perts[i][1] for i in idx])
            vecs = torch.stack([torch.as_tensor(perts[i][2], dtype=torch.float32) for i in idx])   # (S, in)
            raw = base.run(layer, cols, vecs, deltas[nz])                                         # (S*K, N, 3)
            imgs = base.rgb.expand(S, len(deltas), -1, -1).clone()                                # (S, K+1, N, 3)
            imgs[:, nz] = to_rgb(raw).reshape(S, K, -1, 3)
            m = _metrics(base.rgb, imgs, deltas, settings)
            for j, i in enumerate(idx):
                results[i] = {k: (v[j] if k == "effect_map" else float(v[j])) for k, v in m.items()}
                if keep_images:
                    results[i]["images"] = imgs[j].reshape(len(deltas), settings.res, settings.res, 3).numpy()
    return results


# ---------------------------------------------------------------------------------------------------- sweeps


def sweep_weights(net: Net, wids, settings: SweepSettings = SweepSettings(), keep_images: bool = False) -> list[dict]:
    """Sweep each weight ID in wids: params[wid] + Δ for Δ in settings.deltas. One dict per wid with wid, layer,
    row, col, weight (its value), the METRICS, effect_map (res, res) and, if keep_images, images (K, res, res, 3)."""
    perts, where = [], []
    for wid in wids:
        layer, row, col = net.arch.locate(int(wid))
        v = np.zeros(net.arch.shape(layer)[0], dtype=np.float32)
        v[row] = 1.0                                             # one-hot: a single weight moves
        perts.append((layer, col, v))
        where.append({"wid": int(wid), "layer": layer, "row": row, "col": col, "weight": float(net.params[wid])})
    return [w | r for w, r in zip(where, _run_sweeps(net, perts, settings, keep_images))]


def sweep_directions(net: Net, layer: int, n: int | None = None, settings: SweepSettings = SweepSettings(),
                     keep_images: bool = False) -> list[dict]:
    """Basis-free sweeps (FER appendix F): n random unit directions, each within one column of Dense_layer (the
    incoming weights of one unit). Columns are drawn among those with a non-zero incoming weight (layerized nets pad
    with dead units), or among all if there are none; directions are Gaussian, normalised. Seeded by settings.seed.
    One dict per direction with layer, col, direction (in,), the METRICS and effect_map."""
    n = settings.n_directions if n is None else n
    if not 0 <= layer <= net.arch.n_hidden:
        raise FracturelabError(f"layer {layer} out of range 0..{net.arch.n_hidden} for arch {net.arch}")
    n_in, n_out = net.arch.shape(layer)
    start = net.arch.offsets[layer]
    kernel = np.asarray(net.params[start:start + n_in * n_out]).reshape(n_in, n_out)
    cols = np.flatnonzero(np.abs(kernel).sum(0) > 0)
    cols = cols if len(cols) else np.arange(n_out)
    rng = np.random.default_rng([settings.seed, layer])
    perts, where = [], []
    for _ in range(n):
        col = int(rng.choice(cols))
        v = rng.standard_normal(n_in)
        v /= np.linalg.norm(v)
        perts.append((layer, col, v.astype(np.float32)))
        where.append({"layer": layer, "col": col, "direction": v.astype(np.float32)})
    return [w | r for w, r in zip(where, _run_sweeps(net, perts, settings, keep_images))]


def sweepable_weights(net: Net, settings: SweepSettings = SweepSettings()) -> list[int]:
    """The weights worth sweeping. A net with a genome (Picbreeder, built-ins): exactly the weight IDs of its genome
    links (layerize's link_weight_ids), in link order, so cache copies (1.0) and output selections are left out,
    while genome links of weight 0 stay in. Any other net (SGD, or a layerized net folder without its genome, whose
    copies cannot be told apart): every non-zero weight, or a seeded random subset of settings.max_weights.
    Zero weights between live units are links the genome does not have; FER swept some (their skull 'mouth' 4371
    and 'jaw' 37 are 0 in the layerized skull): sweep those by ID with sweep_weights."""
    if net.genome is not None:
        ids = layerize(net.genome).link_weight_ids
        return list(dict.fromkeys(i for i in ids if i is not None))  # de-duplicated, order kept
    wids = np.flatnonzero(np.asarray(net.params) != 0)
    if len(wids) > settings.max_weights:
        rng = np.random.default_rng(settings.seed)
        wids = np.sort(rng.choice(wids, settings.max_weights, replace=False))
    return [int(w) for w in wids]


def sweep_all(net: Net, settings: SweepSettings = SweepSettings()) -> list[dict]:
    """Sweep every weight sweepable_weights picks."""
    return sweep_weights(net, sweepable_weights(net, settings), settings)


def _quantile(values, q: float) -> float:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(np.percentile(v, q)) if len(v) else float("nan")


def summarize_sweeps(results: list[dict], settings: SweepSettings = SweepSettings()) -> dict:
    """Distribution of a set of sweeps: n; 10/50/90% quantiles of effect and locality (effect_median = q50);
    medians of asym_added and roughness (NaNs left out); frac_meaningful under is_meaningful (a proposal)."""
    out = {"n": float(len(results))}
    for m in ("effect", "locality"):
        for q in (10, 50, 90):
            out[f"{m}_q{q}"] = _quantile([r[m] for r in results], q)
    out["effect_median"] = out["effect_q50"]
    for m in ("asym_added", "roughness"):
        out[f"{m}_median"] = _quantile([r[m] for r in results], 50)
    out["frac_meaningful"] = float(np.mean([is_meaningful(r, settings) for r in results])) if results else float("nan")
    return out
