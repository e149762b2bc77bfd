"""Perturbation cross-talk: how the output change caused by one weight perturbation spreads over the task's output
parts (for the factors task: the shape, colour and position answers). The task analogue of the CPPN sweeps of FER
(Kumar, Clune, Lehman, Stanley 2025, arXiv 2505.11581, fer/sweeps.py): an entangled network spreads each
perturbation over many parts; a factored one changes one part at a time.

Perturbations (seeded): single weights (an entry drawn uniformly over all weight entries, changed by
eps x the RMS of its tensor, random sign), and random directions within one row of one weight tensor (a unit's
incoming weights, as FER's appendix F "column" of a (in, out) kernel; norm eps x the row's norm).
Effect of perturbation p on part j: e_pj = mean over examples of || dlogits_j - mean_V dlogits_j ||_2 (the change of
the part's logits, centred because softmax ignores a shift). Spread of p = H(e_p / sum_j e_pj) / log J (0: one part
changes, 1: all change equally). Reported:
- spread_weight, spread_direction: effect-weighted means over perturbations (weights e_p = sum_j e_pj, so
  perturbations that change nothing do not count); spread = their mean;
- effect_weight, effect_direction: mean total effect; n_parts.
All perturbed models of one tensor run in batched calls (torch.func.vmap over functional_call).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .common import Parts, cap, output_parts, part_logits, stacked_outputs, weight_params


@dataclass
class CrosstalkSettings:
    """Settings of the cross-talk probe."""

    n_weights: int = 96
    """Single-weight perturbations."""
    n_directions: int = 96
    """Random-direction perturbations."""
    eps: float = 1.0
    """Perturbation size in units of the tensor's RMS (single weights) or of the row's norm (directions)."""
    max_examples: int = 256
    """Examples the output change is averaged over (test_id + test_ood, seeded subset)."""
    chunk: int = 16
    """Perturbed models per batched call."""


def spread_of(effects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(spread per perturbation, total effect per perturbation) of effects (P, J)."""
    e = np.maximum(np.asarray(effects, dtype=np.float64), 0)
    tot = e.sum(1)
    J = e.shape[1]
    p = e / np.maximum(tot[:, None], 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(1)
    return h / np.log(J) if J > 1 else np.zeros(len(e)), tot


def _weighted(spread: np.ndarray, tot: np.ndarray) -> float:
    ok = tot > 1e-9 * max(tot.max(initial=0), 1e-300)
    return float((spread[ok] * tot[ok]).sum() / tot[ok].sum()) if ok.any() and tot[ok].sum() > 0 else float("nan")


def perturbation_effects(model, batch: dict, parts: list[int], kind: str, n: int, eps: float, seed: int,
                         chunk: int = 16) -> np.ndarray:
    """(n, J) effects of n seeded perturbations of one kind ("weight" or "direction") on the given parts."""
    model.eval()
    base = {k: v.detach() for k, v in model.named_parameters()}
    base.update({k: v for k, v in model.named_buffers()})
    weights = {k: v.detach() for k, v in weight_params(model).items()}
    names = list(weights)
    sizes = np.array([weights[k].numel() for k in names], dtype=np.float64)
    rng = np.random.default_rng([seed, 13, 0 if kind == "weight" else 1])
    which = rng.choice(len(names), n, p=sizes / sizes.sum())
    with torch.no_grad():
        ref = part_logits(model(batch), batch)[0][:, parts]  # (B, J, V)
    out = np.zeros((n, len(parts)))
    for t in np.unique(which):
        idx = np.flatnonzero(which == t)
        W = weights[names[t]]
        rows, cols = W.shape[0], int(np.prod(W.shape[1:]))
        d = torch.zeros(len(idx), rows, cols, dtype=W.dtype)
        if kind == "weight":
            flat = rng.integers(rows * cols, size=len(idx))
            sign = torch.as_tensor(rng.choice([-1.0, 1.0], size=len(idx)), dtype=W.dtype)
            rms = W.pow(2).mean().sqrt()
            d.view(len(idx), -1)[torch.arange(len(idx)), torch.as_tensor(flat)] = eps * rms * sign
        else:
            r = torch.as_tensor(rng.integers(rows, size=len(idx)))
            u = torch.as_tensor(rng.standard_normal((len(idx), cols)), dtype=W.dtype)
            u = u / u.norm(dim=1, keepdim=True)
            d[torch.arange(len(idx)), r] = eps * W.reshape(rows, cols)[r].norm(dim=1, keepdim=True) * u
        lg = stacked_outputs(model, batch, base, {names[t]: d.view(len(idx), *W.shape)}, chunk)[:, :, parts]
        diff = lg - ref[None]
        diff = diff - diff.mean(-1, keepdim=True)
        out[idx] = diff.norm(dim=-1).mean(1).double().numpy()
    return out


def crosstalk_scores(model, batch: dict, parts: Parts, seed: int = 0,
                     settings: CrosstalkSettings | None = None) -> dict[str, float]:
    s = settings or CrosstalkSettings()
    out: dict[str, float] = {"n_parts": float(len(parts.index))}
    for kind, n in (("weight", s.n_weights), ("direction", s.n_directions)):
        eff = perturbation_effects(model, batch, parts.index, kind, n, s.eps, seed, s.chunk)
        sp, tot = spread_of(eff)
        out[f"spread_{kind}"] = _weighted(sp, tot)
        out[f"effect_{kind}"] = float(tot.mean())
        share = eff.sum(0) / max(eff.sum(), 1e-300)
        for name, v in zip(parts.names, share):
            out[f"share_{kind}.{name}"] = float(v)
    vals = [out[f"spread_{k}"] for k in ("weight", "direction") if not np.isnan(out[f"spread_{k}"])]
    out["spread"] = float(np.mean(vals)) if vals else float("nan")
    return out


def crosstalk_probe(model, data, config=None, seed: int = 0, checkpoints=None,
                    settings: CrosstalkSettings | None = None) -> dict[str, float]:
    s = settings or CrosstalkSettings()
    parts = output_parts(data, config)
    exs = cap(data.test_id + data.test_ood, s.max_examples, seed, 4)
    return crosstalk_scores(model, model.encode(exs), parts, seed, s)
