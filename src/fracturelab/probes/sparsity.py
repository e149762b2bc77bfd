"""Activation sparsity by split, along a familiarity scale, against per-example novelty, and across training, measured
exactly as Jin et al. 2026 (arXiv 2603.03415; code MingyuJ666/sparsityLLM) measure it: the further an input is from
the training distribution, the sparser the last hidden state.

Per-vector metrics, h in R^d, each row of an (N, d) array (Jin et al.'s formulas; `tests/test_sparsity_jin.py` writes
them out from their code and checks these to 1e-9):
- hoyer = (sqrt(d) - ||h||_1 / ||h||_2) / (sqrt(d) - 1): 0 for a constant vector, 1 for a one-hot one;
- top1, top5, top10 = sum of the k largest h_i^2 / sum h_i^2 with k = max(1, int(f * d)), f = 0.01, 0.05, 0.10
  (k rounded down, as theirs): the energy share;
- top1_l1, top5_l1, top10_l1 = sum of the k largest |h_i| / sum |h_i|, the same k: the L1 mass share (their
  curriculum ranking's top*pct_ratio, cot/utils/rank.py);
- l1_norm = sum |h_i| (a magnitude, not a sparsity: it has no "sparser" direction);
- gini = 2 sum_i i x_(i) / (d sum x) - (d + 1) / d over |h| sorted ascending (x_(1) <= ... <= x_(d));
- l0 = fraction of units with |h_i| > mean(|h|) + std(|h|), std unbiased (ddof = 1, torch's default);
- eff_rank = exp(H) / d, H = -sum p_i log(p_i + 1e-10), p = h^2 / sum h^2 (their main metric; 1 = spread evenly,
  1/d = one unit), and eff_rank_l1 the same with p = |h| / sum |h| + 1e-10 and H = -sum p_i log p_i (the 1e-10 sit
  where their code puts them);
- kurtosis = excess kurtosis of |h| (population moments, m4 / m2^2 - 3, scipy's default);
- participation_ratio = (sum h^2)^2 / sum h^4 / d.
A vector of zeros scores as theirs does: 0 on hoyer, gini, top-k (both forms), l0, participation_ratio and l1_norm,
1/d on eff_rank, NaN on eff_rank_l1 (their 0 / 0) and kurtosis (as scipy). SPARSER says which way is sparser:
lower eff_rank, eff_rank_l1 and participation_ratio, higher values of the rest.

Where: Jin et al. read Hugging Face's hidden_states[-1] — the state after the final norm — at the last prompt token
(the position that predicts the first answer token). The summary keys read the same: the layer named "ln_f" (the final
normed state, in the testbed's transformer and in every adapter of probes.adapters) where the model has one, else the
last hidden layer (common.last_hidden; the MLP and CPPN models have no final norm). Every other layer is reported too,
since a final norm's gains, Sun et al. 2024's massive activations and Li et al. 2023's lazy neurons all move these
numbers: compare layer.<last block>.* (before the norm) with layer.ln_f.* (after it).

Reported, for each metric m of METRICS:
- m_id, m_ood: mean over test_id / test_ood examples at the summary layer; m_gap = ood - id (hoyer_gap > 0: OOD
  sparser);
- layer.<name>.m_id / m_ood for every hidden layer; layer.<name>@all.hoyer_id/_ood for sequence models (testbed run
  folders; SparsitySettings.all_positions): the mean over every prompt position instead of the last one;
- familiarity: level.<lv>.m (summary layer) and layer.<name>.m@<lv> for each familiarity level lv (a prompt set's
  `level` values, lowest = most familiar, or else its splits; a task's sets: train, test_id, test_ood, extras),
  level.<lv>.n examples; m_level_rho = Spearman correlation of m with the level over all examples (prompt sets with
  numeric levels only);
- hoyer_novelty_rho: Spearman correlation of per-example Hoyer with nn_dist over test_id + test_ood;
- with checkpoints: ckpt.<step>.hoyer_gap, hoyer_gap_init (the first checkpoint, step 0 = initialization where given)
  and hoyer_gap_final (the model as probed), all on the same examples;
- layer_index: position of the summary layer among the model's hidden layers.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from .common import SKIP_LAYERS, activations, cap, last_hidden
from ..settings import bounded

FINAL_NORM = "ln_f"
"""The name of the final normed state (Jin et al.'s hidden_states[-1]) in every model and adapter."""


@dataclass
class SparsitySettings:
    """Settings of the sparsity probe."""

    max_examples: int = bounded(1000, 1)
    """Examples per split and per familiarity level (seeded subset)."""
    max_ckpt_examples: int = bounded(300, 1)
    """Examples per split at each checkpoint."""
    all_positions: bool = True
    """Also read every prompt position of sequence models (layer.<name>@all; costs memory N x T x d per layer)."""


def _abs2(h) -> np.ndarray:
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
    """Share of the energy sum h_i^2 in the max(1, int(k % of d)) largest units, per row (k in percent)."""
    e = _abs2(h) ** 2
    d = e.shape[-1]
    n = max(1, int(d * (k / 100)))
    tot = e.sum(-1)
    top = -np.sort(-e, axis=-1)[..., :n].sum(-1)
    return np.divide(top, tot, out=np.zeros_like(tot), where=tot > 0)


def gini(h) -> np.ndarray:
    """Gini coefficient of |h| per row (Hurley & Rickard 2009; Jin et al.'s form)."""
    a = np.sort(_abs2(h), axis=-1)
    d = a.shape[-1]
    s = a.sum(-1)
    g = 2 * (a * np.arange(1, d + 1)).sum(-1) / np.where(s > 0, d * s, 1.0) - (d + 1) / d
    return np.where(s > 0, g, 0.0)


def l0(h) -> np.ndarray:
    """Fraction of units with |h_i| > mean(|h|) + std(|h|) (unbiased std), per row."""
    a = _abs2(h)
    std = a.std(-1, ddof=1, keepdims=True) if a.shape[-1] > 1 else np.zeros_like(a[..., :1])
    return (a > a.mean(-1, keepdims=True) + std).mean(-1)


def _shares(w: np.ndarray) -> np.ndarray:
    s = w.sum(-1, keepdims=True)
    return np.divide(w, s, out=np.zeros_like(w), where=s > 0)


def eff_rank(h) -> np.ndarray:
    """exp(entropy of p = h^2 / sum h^2) / d per row, entropy -sum p log(p + 1e-10) as Jin et al.'s code."""
    p = _shares(_abs2(h) ** 2)
    return np.exp(-(p * np.log(p + 1e-10)).sum(-1)) / p.shape[-1]


def eff_rank_l1(h) -> np.ndarray:
    """exp(entropy of p = |h| / sum |h| + 1e-10) / d per row (Jin et al.'s L1 form); NaN for a zero row (their
    |h| / sum |h| is 0 / 0 there)."""
    a = _abs2(h)
    p = _shares(a) + 1e-10
    return np.where(a.sum(-1) > 0, np.exp(-(p * np.log(p)).sum(-1)) / p.shape[-1], np.nan)


def top_mass(h, k: float) -> np.ndarray:
    """Share of the L1 mass sum |h_i| in the max(1, int(k % of d)) largest units, per row (k in percent); 0 for a
    zero row (as theirs)."""
    a = _abs2(h)
    n = max(1, int(a.shape[-1] * (k / 100)))
    tot = a.sum(-1)
    top = -np.sort(-a, axis=-1)[..., :n].sum(-1)
    return np.divide(top, tot, out=np.zeros_like(tot), where=tot > 0)


def l1_norm(h) -> np.ndarray:
    """sum |h_i| per row."""
    return _abs2(h).sum(-1)


def kurtosis(h) -> np.ndarray:
    """Excess kurtosis of |h| per row: m4 / m2^2 - 3 with population central moments; NaN for a constant row."""
    a = _abs2(h)
    c = a - a.mean(-1, keepdims=True)
    c2 = c * c  # products, not float powers: ten times faster on wide layers
    m2, m4 = c2.mean(-1), (c2 * c2).mean(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(m2 > 0, m4 / np.where(m2 > 0, m2, 1.0) ** 2 - 3, np.nan)


def participation_ratio(h) -> np.ndarray:
    """(sum h^2)^2 / sum h^4 / d per row (1 = spread evenly, 1/d = one unit)."""
    e = _abs2(h) ** 2
    s2, s4 = e.sum(-1), (e**2).sum(-1)
    return np.divide(s2**2, s4 * e.shape[-1], out=np.zeros_like(s2), where=s4 > 0)


METRICS = {"hoyer": hoyer, "top1": lambda h: top_energy(h, 1), "top5": lambda h: top_energy(h, 5),
           "top10": lambda h: top_energy(h, 10), "gini": gini, "l0": l0, "eff_rank": eff_rank,
           "eff_rank_l1": eff_rank_l1, "kurtosis": kurtosis, "participation_ratio": participation_ratio,
           "top1_l1": lambda h: top_mass(h, 1), "top5_l1": lambda h: top_mass(h, 5),
           "top10_l1": lambda h: top_mass(h, 10), "l1_norm": l1_norm}
"""Jin et al.'s per-vector metrics: name -> fn((N, d)) -> (N,)."""

SPARSER = {m: -1 if m in ("eff_rank", "eff_rank_l1", "participation_ratio") else 0 if m == "l1_norm" else 1
           for m in METRICS}
"""Which way each metric reads sparser: +1 higher values, -1 lower values, 0 neither (l1_norm, a magnitude)."""


def metric_table(h) -> dict[str, np.ndarray]:
    """Every metric of METRICS for each row of h (N, d) at once, sharing |h| and one sort (the probe's fast path;
    tests check it against the functions one by one)."""
    a = _abs2(h)
    d = a.shape[-1]
    asc = np.sort(a, axis=-1)
    e_asc = asc * asc  # energies, ascending too
    tot, l1 = e_asc.sum(-1), asc.sum(-1)
    out = {"hoyer": hoyer(a)}
    for name, f in (("top1", 0.01), ("top5", 0.05), ("top10", 0.10)):
        top = e_asc[..., d - max(1, int(d * f)):].sum(-1)
        out[name] = np.divide(top, tot, out=np.zeros_like(tot), where=tot > 0)
    g = 2 * (asc * np.arange(1, d + 1)).sum(-1) / np.where(l1 > 0, d * l1, 1.0) - (d + 1) / d
    out["gini"] = np.where(l1 > 0, g, 0.0)
    out["l0"] = l0(a)
    p2 = np.divide(a * a, tot[:, None], out=np.zeros_like(a), where=tot[:, None] > 0)
    out["eff_rank"] = np.exp(-(p2 * np.log(p2 + 1e-10)).sum(-1)) / d
    out["eff_rank_l1"] = eff_rank_l1(a)
    out["kurtosis"] = kurtosis(a)
    s4 = (e_asc * e_asc).sum(-1)
    out["participation_ratio"] = np.divide(tot**2, s4 * d, out=np.zeros_like(tot), where=s4 > 0)
    for name, f in (("top1_l1", 0.01), ("top5_l1", 0.05), ("top10_l1", 0.10)):
        top = asc[..., d - max(1, int(d * f)):].sum(-1)
        out[name] = np.divide(top, l1, out=np.zeros_like(l1), where=l1 > 0)
    out["l1_norm"] = l1
    return out


def summary_layer(names) -> str:
    """The layer the summary keys read: the final normed state where the model names one, else common.last_hidden."""
    names = list(names)
    return FINAL_NORM if FINAL_NORM in names else last_hidden(names)


def _mean(x: np.ndarray) -> float:
    return float(np.nanmean(x)) if len(x) and not np.isnan(x).all() else float("nan")


def _nanmean_rows(fn, a3: np.ndarray) -> float:
    """Mean of a metric over the non-padded positions of (N, T, d) activations (NaN rows = padding)."""
    flat = a3.reshape(-1, a3.shape[-1])
    flat = flat[~np.isnan(flat).any(1)]
    return float(fn(flat).mean()) if len(flat) else float("nan")


def _rho(x: np.ndarray, y: np.ndarray) -> float:
    ok = ~(np.isnan(x) | np.isnan(y))
    if ok.sum() <= 2 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan")
    return float(spearmanr(x[ok], y[ok])[0])


def familiarity_levels(data) -> dict:
    """{level name: examples}, most familiar first: a prompt set's levels, or a task's sets."""
    return data.levels() if hasattr(data, "levels") else data.sets()


def _gap(model, data, n: int, seed: int) -> float:
    ida = activations(model, cap(data.test_id, n, seed, 1))
    ooda = activations(model, cap(data.test_ood, n, seed, 2))
    layer = summary_layer(ida)
    return float(hoyer(ooda[layer]).mean() - hoyer(ida[layer]).mean())


def _split_keys(out: dict, ida: dict, ooda: dict, layer: str) -> None:
    for name, a in ida.items():
        if name.endswith("@all"):  # every position of a sequence layer: Hoyer only
            out[f"layer.{name}.hoyer_id"] = _nanmean_rows(hoyer, a)
            out[f"layer.{name}.hoyer_ood"] = _nanmean_rows(hoyer, ooda[name])
            continue
        ti, to = metric_table(a), metric_table(ooda[name])
        for m in METRICS:
            vi, vo = _mean(ti[m]), _mean(to[m])
            out[f"layer.{name}.{m}_id"], out[f"layer.{name}.{m}_ood"] = vi, vo
            if name == layer:
                out[f"{m}_id"], out[f"{m}_ood"], out[f"{m}_gap"] = vi, vo, vo - vi


def _level_keys(out: dict, model, data, s: SparsitySettings, seed: int, known: dict, layer: str) -> None:
    levels = familiarity_levels(data)
    per_example: dict[str, list] = {m: [] for m in METRICS}
    order: list[np.ndarray] = []
    for i, (lv, exs) in enumerate(levels.items()):
        if not exs:
            continue
        acts = next((a for ref, a in known if ref is exs), None)  # test_id / test_ood read already
        acts = acts if acts is not None else activations(model, cap(exs, s.max_examples, seed, 20 + i))
        out[f"level.{lv}.n"] = float(len(next(iter(acts.values()))))
        for name, a in acts.items():
            if name.endswith("@all"):
                continue
            table = metric_table(a)
            for m in METRICS:
                v = table[m]
                out[f"layer.{name}.{m}@{lv}"] = _mean(v)
                if name == layer:
                    out[f"level.{lv}.{m}"] = _mean(v)
                    per_example[m].append(v)
        order.append(np.full(int(out[f"level.{lv}.n"]), float(getattr(data, "level_values", {}).get(lv, np.nan))))
    lv_all = np.concatenate(order) if order else np.zeros(0)
    if len(order) > 1 and not np.isnan(lv_all).any():  # explicit numeric levels: a familiarity scale
        for m in METRICS:
            out[f"{m}_level_rho"] = _rho(np.concatenate(per_example[m]), lv_all)


def sparsity_probe(model, data, config=None, seed: int = 0, checkpoints=None,
                   settings: SparsitySettings | None = None) -> dict[str, float]:
    s = settings or SparsitySettings()
    ids, oods = cap(data.test_id, s.max_examples, seed, 1), cap(data.test_ood, s.max_examples, seed, 2)
    ida = activations(model, ids, all_positions=s.all_positions)
    ooda = activations(model, oods, all_positions=s.all_positions)
    layer = summary_layer(n for n in ida if not n.endswith("@all"))
    out: dict[str, float] = {}
    _split_keys(out, ida, ooda, layer)
    last = {k: v for k, v in ida.items() if not k.endswith("@all")}, {k: v for k, v in ooda.items()
                                                                       if not k.endswith("@all")}
    known = [(data.test_id, last[0])] if len(ids) == len(data.test_id) else []
    known += [(data.test_ood, last[1])] if len(oods) == len(data.test_ood) else []
    _level_keys(out, model, data, s, seed, known, layer)
    h = np.concatenate([hoyer(ida[layer]), hoyer(ooda[layer])])
    nov = np.array([e.meta.get("nn_dist", np.nan) for e in ids + oods], dtype=np.float64)
    out["hoyer_novelty_rho"] = _rho(h, nov)
    if checkpoints:
        net = copy.deepcopy(model)
        steps = sorted(checkpoints)
        for st in steps:
            net.load_state_dict(checkpoints[st])
            net.eval()
            out[f"ckpt.{st}.hoyer_gap"] = _gap(net, data, s.max_ckpt_examples, seed)
        out["hoyer_gap_init"] = out[f"ckpt.{steps[0]}.hoyer_gap"]
        out["hoyer_gap_final"] = _gap(model, data, s.max_ckpt_examples, seed)
    hidden = [n for n in ida if n not in SKIP_LAYERS and not n.endswith("@all")]
    out["layer_index"] = float(hidden.index(layer))  # which layer the summary keys read (the model's order)
    return out
