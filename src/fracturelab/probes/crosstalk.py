"""Perturbation cross-talk: how the output change caused by one weight perturbation spreads over the task's output
parts (for the factors task: the shape, colour and position answers). The task analogue of the CPPN sweeps of FER
(Kumar, Clune, Lehman, Stanley 2025, arXiv 2505.11581, fer/sweeps.py): an entangled network spreads each
perturbation over many parts; a factored one changes one part at a time.

Dead units are out (common's module docstring): a weight entry is *live* unless it is an nn.Linear entry whose input
or output unit is dead (common.alive_linear: an input constant over the training examples, a hidden unit constant
after its nonlinearity, a head row that is no example's target); every other weight tensor's entries are all live.
Perturbations (seeded): single weights (an entry drawn uniformly over all live weight entries, changed by
eps x the RMS of its tensor's live entries, random sign), and random directions within the live part of one row of
one weight tensor (a live unit's incoming weights from live units, as FER's appendix F "column" of a (in, out) kernel;
norm eps x the norm of that part of the row).
Effect of perturbation p on part j: e_pj = mean over examples of || dlogits_j - mean dlogits_j ||_2 over the part's
target classes (the classes some training example has as part j's answer; common.target_classes): the change of the
part's logits, centred because softmax ignores a shift; a logit no example asks for is not an answer part's.
Spread of p = H(e_p / sum_j e_pj) / log J (0: one part changes, 1: all change equally). Reported:
- spread_weight, spread_direction: effect-weighted means over perturbations (weights e_p = sum_j e_pj, so
  perturbations that change nothing do not count); spread = their mean;
- effect_weight, effect_direction: mean total effect; n_parts.
All perturbed models of one tensor run in batched calls (torch.func.vmap over functional_call).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .common import Parts, alive_linear, cap, output_parts, part_logits, stacked_outputs, target_classes, weight_params
from ..settings import bounded


@dataclass
class CrosstalkSettings:
    """Settings of the cross-talk probe."""

    n_weights: int = bounded(96, 1)
    """Single-weight perturbations."""
    n_directions: int = bounded(96, 1)
    """Random-direction perturbations."""
    eps: float = 1.0
    """Perturbation size in units of the tensor's RMS (single weights) or of the row's norm (directions)."""
    max_examples: int = bounded(256, 1)
    """Examples the output change is averaged over (test_id + test_ood, seeded subset)."""
    chunk: int = bounded(16, 1)
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


def live_entries(model, data) -> dict[str, np.ndarray]:
    """{weight name: (rows, cols) bool} of the nn.Linear weights (the module docstring); other tensors are all
    live."""
    by_module = alive_linear(model, data)
    return {f"{name}.weight" if name else "weight": np.outer(by_module[m][1], by_module[m][0])
            for name, m in model.named_modules() if m in by_module}


def perturbation_effects(model, batch: dict, parts: list[int], kind: str, n: int, eps: float, seed: int,
                         chunk: int = 16, live: dict[str, np.ndarray] | None = None,
                         targets: np.ndarray | None = None) -> np.ndarray:
    """(n, J) effects of n seeded perturbations of one kind ("weight" or "direction") on the given parts. live:
    {weight name: (rows, cols) bool} (live_entries; default: every entry); targets: (J_all, V) bool target classes
    (common.target_classes; default: every class)."""
    model.eval()
    base = {k: v.detach() for k, v in model.named_parameters()}
    base.update({k: v for k, v in model.named_buffers()})
    weights = {k: v.detach() for k, v in weight_params(model).items()}
    names = list(weights)
    live = {k: (live or {}).get(k, np.ones((W.shape[0], int(np.prod(W.shape[1:]))), dtype=bool))
            for k, W in weights.items()}
    sizes = np.array([live[k].sum() for k in names], dtype=np.float64)
    out = np.zeros((n, len(parts)))
    if sizes.sum() == 0:
        return out
    rng = np.random.default_rng([seed, 13, 0 if kind == "weight" else 1])
    which = rng.choice(len(names), n, p=sizes / sizes.sum())
    with torch.no_grad():
        ref = part_logits(model(batch), batch)[0][:, parts]  # (B, J, V)
    V = ref.shape[-1]
    cls = torch.ones(len(parts), V) if targets is None else torch.as_tensor(targets[parts, :V])
    cls = cls.to(ref.dtype)  # (J, V): 1 for the classes each part reads
    for t in np.unique(which):
        idx = np.flatnonzero(which == t)
        W = weights[names[t]]
        mask = live[names[t]]
        rows, cols = mask.shape
        d = torch.zeros(len(idx), rows, cols, dtype=W.dtype)
        if kind == "weight":
            flat = np.flatnonzero(mask)[rng.integers(mask.sum(), size=len(idx))]
            sign = torch.as_tensor(rng.choice([-1.0, 1.0], size=len(idx)), dtype=W.dtype)
            rms = W.reshape(rows, cols)[torch.as_tensor(mask)].pow(2).mean().sqrt()
            d.view(len(idx), -1)[torch.arange(len(idx)), torch.as_tensor(flat)] = eps * rms * sign
        else:
            live_rows = np.flatnonzero(mask.any(1))
            r = torch.as_tensor(live_rows[rng.integers(len(live_rows), size=len(idx))])
            on = torch.as_tensor(mask[r.numpy()], dtype=W.dtype)  # (n, cols): the live inputs of each drawn row
            u = torch.zeros(len(idx), cols, dtype=W.dtype)
            u[on.bool()] = torch.as_tensor(rng.standard_normal(int(on.sum())), dtype=W.dtype)
            u = u / u.norm(dim=1, keepdim=True)
            d[torch.arange(len(idx)), r] = eps * (W.reshape(rows, cols)[r] * on).norm(dim=1, keepdim=True) * u
        lg = stacked_outputs(model, batch, base, {names[t]: d.view(len(idx), *W.shape)}, chunk)[:, :, parts]
        diff = (lg - ref[None]) * cls[None, None]  # (P, B, J, V), only the target classes
        diff = (diff - diff.sum(-1, keepdim=True) / cls.sum(-1).clamp(min=1)[..., None]) * cls
        out[idx] = diff.norm(dim=-1).mean(1).double().numpy()
    return out


def crosstalk_scores(model, batch: dict, parts: Parts, seed: int = 0, settings: CrosstalkSettings | None = None,
                     live: dict[str, np.ndarray] | None = None, targets: np.ndarray | None = None) -> dict[str, float]:
    """The reported metrics (module docstring); live, targets as perturbation_effects takes them."""
    s = settings or CrosstalkSettings()
    out: dict[str, float] = {"n_parts": float(len(parts.index))}
    for kind, n in (("weight", s.n_weights), ("direction", s.n_directions)):
        eff = perturbation_effects(model, batch, parts.index, kind, n, s.eps, seed, s.chunk, live, targets)
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
    return crosstalk_scores(model, model.encode(exs), parts, seed, s, live_entries(model, data),
                            target_classes(model, data))
