"""Factorization of each layer's code against the task's known factors: DCI, InfoMEC and linear probes.

z = a layer's per-example activations of its D alive units (N x D; common.alive_layers: units that vary over the
training examples, so a dead unit is neither a feature of a fit nor counted in the normalisations below), v = the
known factors (N x K ints; the factors task's shape/colour/position, leave_square_out's operands a and b).
Fractured = low completeness / InfoC (one factor spread over many units); entangled = low disentanglement / InfoM
(one unit mixing factors).

- DCI (Eastwood & Williams 2018, "A framework for the quantitative evaluation of disentangled representations"):
  importance R (D x K) from a lasso per factor (multi-output lasso on the factor's centred one-hot, standardized z:
  R_ik = sum over classes |coef|). dci_d = sum_i rho_i (1 - H_K(R_i. / sum_k R_ik)), rho_i = unit i's share of all
  importance; dci_c = mean_k (1 - H_D(R_.k / sum_i R_ik)) (entropies normalized by log K and log D, D = alive units;
  an alive unit constant on the fitting half has importance 0); dci_i = the lasso's held-out accuracy (argmax over
  the class columns), mean over factors.
- InfoMEC (Hsu, Dorrell, Whittington, Wu, Finn 2023, "Disentanglement via latent quantization"):
  NMI_kj = I(v_k; z_j) / H(v_k), z_j binned into `bins` equal-width bins; alive units with range < max range / 20
  are dropped as inactive. info_m = mean_j [max_k NMI_kj / sum_k NMI_kj - 1/K] / (1 - 1/K); info_c the same over
  units for each factor (with D_active); info_e = mean_k [H(v_k) - CE_k] / H(v_k), CE_k the held-out
  cross-entropy of a logistic regression of v_k on z.
- probe_acc: that logistic regression's held-out accuracy (mean over factors); probe_acc.<factor> each.
Every metric is also reported per layer (layer.<name>.<metric>, and layer.<name>.alive_units); the summary keys read
the last hidden layer (common.last_hidden). Examples: train, test_id and test_ood pooled (capped), split in halves
to fit and to score.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, LogisticRegression

from .common import activations, alive, alive_layers, cap, factor_table, last_hidden
from ..settings import bounded


@dataclass
class FactorizationSettings:
    """Settings of the factorization probe."""

    max_examples: int = bounded(1500, 1)
    """Examples pooled over train, test_id and test_ood (seeded subset)."""
    lasso_alpha: float = 0.05
    """Lasso penalty for the DCI importances (on standardized units and centred one-hot targets)."""
    probe_c: float = 1.0
    """Inverse L2 penalty of the logistic-regression probes."""
    bins: int = bounded(20, 1)
    """Equal-width bins per unit for the mutual information of InfoMEC."""
    max_iter: int = bounded(300, 1)
    """Iteration cap of the lasso and logistic fits (a cap, so a probe stays within its time budget)."""


def _entropy_rows(p: np.ndarray, base: int) -> np.ndarray:
    p = p / np.maximum(p.sum(-1, keepdims=True), 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(-1)
    return h / np.log(max(base, 2))


def dci_from_importance(R: np.ndarray) -> tuple[float, float]:
    """(disentanglement, completeness) of an importance matrix R (D units x K factors)."""
    R = np.abs(R)
    D, K = R.shape
    tot = R.sum()
    if tot <= 0:
        return 0.0, 0.0
    rho = R.sum(1) / tot
    d = float((rho * (1 - _entropy_rows(R, K))).sum())
    c = float((1 - _entropy_rows(R.T, D)).mean())
    return d, c


def _standardize(z: np.ndarray, fit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(z's columns that vary on the fitting rows, standardized on them; which columns those are)."""
    mu, sd = z[fit].mean(0), z[fit].std(0)
    keep = sd > 1e-8
    return (z[:, keep] - mu[keep]) / sd[keep], keep


def _discrete_mi(a: np.ndarray, b: np.ndarray, na: int, nb: int) -> float:
    """I(a; b) in nats of two int arrays with values < na, < nb."""
    joint = np.bincount(a * nb + b, minlength=na * nb).reshape(na, nb) / len(a)
    pa, pb = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / (pa @ pb)[nz])).sum())


def _norm_gap(nmi: np.ndarray, n: int) -> float:
    """mean over rows of [max / sum - 1/n] / (1 - 1/n); rows with sum 0 count 0."""
    s = nmi.sum(1)
    ratio = np.divide(nmi.max(1), s, out=np.full_like(s, 1.0 / n), where=s > 0)
    return float(((ratio - 1 / n) / (1 - 1 / n)).mean()) if n > 1 else 1.0


def factorization_scores(z: np.ndarray, v: np.ndarray, seed: int = 0, settings: FactorizationSettings | None = None,
                         names: list[str] | None = None, alive_units: np.ndarray | None = None) -> dict[str, float]:
    """All factorization metrics of one code z (N x units) against factors v (N x K ints), per-factor probe accuracy
    under the factors' names (default 0..K-1). alive_units: (units,) bool, the units read (default: those that vary
    over z). Half the rows fit, half score (seeded)."""
    s = settings or FactorizationSettings()
    z = np.asarray(z, dtype=np.float64)
    z = z[:, alive(z) if alive_units is None else alive_units]
    N, K = v.shape
    perm = np.random.default_rng([seed, 5]).permutation(N)
    fit, test = np.sort(perm[: N // 2]), np.sort(perm[N // 2 :])
    zs, varies = _standardize(z, fit)
    if zs.shape[1] == 0:
        return {k: 0.0 for k in ("dci_d", "dci_c", "dci_i", "info_m", "info_c", "info_e", "probe_acc")}
    R = np.zeros((z.shape[1], K))  # D = every alive unit; one constant on the fitting half keeps importance 0
    lasso_acc, probe_acc, info_e = [], [], []
    out: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for k in range(K):
            classes, y = np.unique(v[:, k], return_inverse=True)
            onehot = np.eye(len(classes))[y]
            las = Lasso(alpha=s.lasso_alpha, max_iter=s.max_iter).fit(zs[fit], onehot[fit] - onehot[fit].mean(0))
            coef = np.atleast_2d(las.coef_)  # (classes, D)
            R[varies, k] = np.abs(coef).sum(0)
            lasso_acc.append(float((las.predict(zs[test]).argmax(1) == y[test]).mean()))
            # logistic probe: accuracy and held-out cross-entropy against the marginal's entropy (InfoE)
            counts = np.bincount(y[fit], minlength=len(classes)) / len(fit)
            h_null = float(-(counts[counts > 0] * np.log(counts[counts > 0])).sum())
            if len(np.unique(y[fit])) < 2:
                probe_acc.append(float((y[test] == y[fit][0]).mean()))
                info_e.append(0.0)
                continue
            lr = LogisticRegression(C=s.probe_c, max_iter=s.max_iter).fit(zs[fit], y[fit])
            proba = np.full((len(test), len(classes)), 1e-12)
            proba[:, lr.classes_] = np.clip(lr.predict_proba(zs[test]), 1e-12, 1)
            ce = float(-np.log(proba[np.arange(len(test)), y[test]]).mean())
            probe_acc.append(float((proba.argmax(1) == y[test]).mean()))
            info_e.append(max(0.0, (h_null - ce) / h_null) if h_null > 0 else 0.0)
            out[f"probe_acc.{names[k] if names else k}"] = probe_acc[-1]
    out["dci_d"], out["dci_c"] = dci_from_importance(R)
    out["dci_i"] = float(np.mean(lasso_acc))
    # InfoMEC on active units (range >= max range / 20), binned equal-width
    rng_ = np.ptp(z, axis=0)
    act = rng_ >= rng_.max() / 20 if rng_.max() > 0 else np.zeros(len(rng_), bool)
    za = z[:, act]
    if za.shape[1] == 0:
        out.update(info_m=0.0, info_c=0.0)
    else:
        lo, width = za.min(0), np.ptp(za, axis=0) / s.bins
        binned = np.clip(((za - lo) / width).astype(np.int64), 0, s.bins - 1)
        nmi = np.zeros((za.shape[1], K))
        for k in range(K):
            _, y = np.unique(v[:, k], return_inverse=True)
            ny = int(y.max()) + 1
            py = np.bincount(y) / len(y)
            hy = float(-(py[py > 0] * np.log(py[py > 0])).sum())
            for j in range(za.shape[1]):
                nmi[j, k] = _discrete_mi(binned[:, j], y, s.bins, ny) / hy if hy > 0 else 0.0
        out["info_m"] = _norm_gap(nmi, K)
        out["info_c"] = _norm_gap(nmi.T, za.shape[1])
    out["info_e"] = float(np.mean(info_e))
    out["probe_acc"] = float(np.mean(probe_acc))
    return out


def factorization_probe(model, data, config=None, seed: int = 0, checkpoints=None,
                        settings: FactorizationSettings | None = None) -> dict[str, float]:
    s = settings or FactorizationSettings()
    pool = data.train + data.test_id + data.test_ood
    exs = cap(pool, s.max_examples, seed, 3)
    names, v = factor_table(exs, data.name)
    acts = activations(model, exs)
    live = alive_layers(model, data)
    last = last_hidden(list(acts))
    out: dict[str, float] = {}
    for layer, z in acts.items():
        keep = live.get(layer, alive(z))
        out[f"layer.{layer}.alive_units"] = float(keep.sum())
        for key, val in factorization_scores(z, v, seed, s, names, keep).items():
            out[f"layer.{layer}.{key}"] = val
            if layer == last:
                out[key] = val
    return out
