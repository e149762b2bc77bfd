"""Activation sparsity by split, against per-example novelty, and across training (Jin et al. 2026, arXiv
2603.03415: the further an input is from the training distribution, the sparser the last hidden state).

Per-vector metrics, h in R^d (each computed on |h|, so signed activations such as a residual stream count too):
- hoyer = (sqrt(d) - ||h||_1 / ||h||_2) / (sqrt(d) - 1): 0 for a constant vector, 1 for a one-hot one;
- top{k} = sum of the k % largest h_i^2 / sum h_i^2 (k = 1, 5, 10; the k % rounded up to at least one unit);
- gini = Gini coefficient of sorted |h| (Hurley & Rickard 2009): 1 - 2 sum_i (|h|_(i) / ||h||_1)(d - i + 1/2) / d;
- l0 = fraction of units with |h_i| > mean(|h|) + std(|h|).
An all-zero vector scores 0 on every metric (nothing is concentrated).

Reported (layer = the last hidden layer before any final normalization, common.last_hidden; Sun et al. 2024's
massive activations and Li et al. 2023's lazy neurons are why every layer is also reported):
- hoyer_id, hoyer_ood: mean per-example Hoyer on test_id / test_ood; hoyer_gap = ood - id (> 0: OOD sparser);
- hoyer_novelty_rho: Spearman correlation of per-example Hoyer with nn_dist over test_id + test_ood;
- top1/top5/top10/gini/l0 _id/_ood/_gap, the same;
- layer.<name>.<metric>_id/_ood for every hidden layer; layer.<name>@all.hoyer_id/_ood for sequence models: the
  mean over every prompt position instead of the <sep> position alone;
- with checkpoints: ckpt.<step>.hoyer_gap, hoyer_gap_init (the first checkpoint, step 0 = initialization where
  given) and hoyer_gap_final (the model as probed: the trained, kept weights), both on the same examples.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from .common import activations, cap, last_hidden


@dataclass
class SparsitySettings:
    """Settings of the sparsity probe."""

    max_examples: int = 1000
    """Examples per split (seeded subset)."""
    max_ckpt_examples: int = 300
    """Examples per split at each checkpoint."""


def _abs2(h: np.ndarray) -> np.ndarray:
    a = np.abs(np.asarray(h, dtype=np.float64))
    return a if a.ndim > 1 else a[None]


def hoyer(h) -> np.ndarray:
    """Hoyer sparsity of each row of h (N, d) (or one vector)."""
    a = _abs2(h)
    d = a.shape[-1]
    l1, l2 = a.sum(-1), np.sqrt((a**2).sum(-1))
    ratio = np.divide(l1, l2, out=np.full_like(l1, np.sqrt(d)), where=l2 > 0)
    return (np.sqrt(d) - ratio) / max(np.sqrt(d) - 1, 1e-12)


def top_energy(h, k: float) -> np.ndarray:
    """Share of the energy sum h_i^2 in the ceil(k % of d) largest units, per row."""
    e = _abs2(h) ** 2
    d = e.shape[-1]
    n = max(1, int(np.ceil(k / 100 * d)))
    tot = e.sum(-1)
    top = -np.sort(-e, axis=-1)[..., :n].sum(-1)
    return np.divide(top, tot, out=np.zeros_like(tot), where=tot > 0)


def gini(h) -> np.ndarray:
    """Gini coefficient of |h| per row (Hurley & Rickard 2009)."""
    a = np.sort(_abs2(h), axis=-1)
    d = a.shape[-1]
    l1 = a.sum(-1, keepdims=True)
    w = (d - np.arange(1, d + 1) + 0.5) / d
    g = 1 - 2 * (np.divide(a, l1, out=np.zeros_like(a), where=l1 > 0) * w).sum(-1)
    return np.where(l1[..., 0] > 0, g, 0.0)


def l0(h) -> np.ndarray:
    """Fraction of units with |h_i| > mean(|h|) + std(|h|), per row."""
    a = _abs2(h)
    return (a > a.mean(-1, keepdims=True) + a.std(-1, keepdims=True)).mean(-1)


METRICS = {"hoyer": hoyer, "top1": lambda h: top_energy(h, 1), "top5": lambda h: top_energy(h, 5),
           "top10": lambda h: top_energy(h, 10), "gini": gini, "l0": l0}


def _nanmean_rows(fn, a3: np.ndarray) -> float:
    """Mean of a metric over the non-padded positions of (N, T, d) activations (NaN rows = padding)."""
    flat = a3.reshape(-1, a3.shape[-1])
    flat = flat[~np.isnan(flat).any(1)]
    return float(fn(flat).mean()) if len(flat) else float("nan")


def _gap(model, data, n: int, seed: int) -> float:
    ida = activations(model, cap(data.test_id, n, seed, 1))
    ooda = activations(model, cap(data.test_ood, n, seed, 2))
    layer = last_hidden(list(ida))
    return float(hoyer(ooda[layer]).mean() - hoyer(ida[layer]).mean())


def sparsity_probe(model, data, config=None, seed: int = 0, checkpoints=None,
                   settings: SparsitySettings | None = None) -> dict[str, float]:
    s = settings or SparsitySettings()
    ids, oods = cap(data.test_id, s.max_examples, seed, 1), cap(data.test_ood, s.max_examples, seed, 2)
    ida, ooda = activations(model, ids, all_positions=True), activations(model, oods, all_positions=True)
    layer = last_hidden(list(ida))
    out: dict[str, float] = {}
    for name in ida:
        if name.endswith("@all"):  # every position of a sequence layer: Hoyer only
            out[f"layer.{name}.hoyer_id"] = _nanmean_rows(METRICS["hoyer"], ida[name])
            out[f"layer.{name}.hoyer_ood"] = _nanmean_rows(METRICS["hoyer"], ooda[name])
            continue
        for m, fn in METRICS.items():
            vi, vo = float(fn(ida[name]).mean()), float(fn(ooda[name]).mean())
            out[f"layer.{name}.{m}_id"], out[f"layer.{name}.{m}_ood"] = vi, vo
            if name == layer:
                out[f"{m}_id"], out[f"{m}_ood"], out[f"{m}_gap"] = vi, vo, vo - vi
    h = np.concatenate([hoyer(ida[layer]), hoyer(ooda[layer])])
    nov = np.array([e.meta.get("nn_dist", np.nan) for e in ids + oods], dtype=np.float64)
    ok = ~np.isnan(nov)
    out["hoyer_novelty_rho"] = (float(spearmanr(h[ok], nov[ok])[0])
                                if ok.sum() > 2 and np.ptp(nov[ok]) > 0 and np.ptp(h[ok]) > 0 else float("nan"))
    if checkpoints:
        net = copy.deepcopy(model)
        steps = sorted(checkpoints)
        for st in steps:
            net.load_state_dict(checkpoints[st])
            net.eval()
            out[f"ckpt.{st}.hoyer_gap"] = _gap(net, data, s.max_ckpt_examples, seed)
        out["hoyer_gap_init"] = out[f"ckpt.{steps[0]}.hoyer_gap"]
        out["hoyer_gap_final"] = _gap(model, data, s.max_ckpt_examples, seed)
    out["layer_index"] = float(list(ida).index(layer))  # which layer the summary keys read (order of the model's)
    return out
