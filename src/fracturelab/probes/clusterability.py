"""Weight-graph clusterability (Filan, Casper, Hod, Wild, Critch, Russell 2021, "Clusterability in neural networks",
arXiv 2103.03386).

The graph: every unit of a chain of dense layers is a node; |W_ij| of each layer is the edge weight between its
input unit j and output unit i (a symmetric adjacency, no edges within a layer). A chain = consecutive nn.Linear
modules in registration order with matching sizes and no other parameterized module between them (the MLP's hidden
layers and head; in a transformer, each block's c_fc -> c_proj; a LayerNorm or attention in between breaks a chain,
since the residual stream is not a dense weight graph). Nodes with no edges are dropped.

Spectral clustering (scikit-learn, normalized Laplacian, cluster_qr labels) into k clusters, then
n-cut = sum_i cut(X_i, rest) / vol(X_i) (lower = more modular). Controls: the same network with the entries of each
weight matrix shuffled within that matrix (keeps every layer's weight distribution, destroys structure);
ncut_z = (ncut - mean(shuffled)) / std(shuffled): strongly negative = more clusterable than chance.
Reported: ncut, ncut_shuffled (mean), ncut_z, ncut_pct (fraction of shuffles with n-cut <= the network's) as means
over chains, and chain<i>.* per chain with its nodes; n_chains.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.cluster import SpectralClustering

from .common import Skip


@dataclass
class ClusterSettings:
    """Settings of the clusterability probe."""

    n_clusters: int = 12
    """Clusters (Filan et al. use 12 for MLPs)."""
    n_shuffles: int = 10
    """Layer-wise shuffled controls for the z-score."""
    max_chains: int = 4
    """At most this many chains (the first ones), to bound time on deep models."""


def dense_chains(model: torch.nn.Module) -> list[list[np.ndarray]]:
    """Chains of dense weight matrices (each (out, in)) in the sense of the module docstring."""
    chains, cur = [], []
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            W = m.weight.detach().double().numpy()
            if cur and cur[-1].shape[0] == W.shape[1]:
                cur.append(W)
            else:
                if len(cur) >= 2:
                    chains.append(cur)
                cur = [W]
        elif any(True for _ in m.parameters(recurse=False)):
            if len(cur) >= 2:
                chains.append(cur)
            cur = []
    if len(cur) >= 2:
        chains.append(cur)
    return chains


def adjacency(weights: list[np.ndarray]) -> np.ndarray:
    """Symmetric |W| adjacency of a chain, nodes = input units of the first layer then each layer's outputs."""
    sizes = [weights[0].shape[1]] + [W.shape[0] for W in weights]
    off = np.cumsum([0] + sizes)
    A = np.zeros((off[-1], off[-1]))
    for i, W in enumerate(weights):
        A[off[i + 1] : off[i + 2], off[i] : off[i + 1]] = np.abs(W)
    return A + A.T


def ncut(A: np.ndarray, labels: np.ndarray) -> float:
    """sum over clusters of cut(X, rest) / vol(X)."""
    deg = A.sum(1)
    total = 0.0
    for c in np.unique(labels):
        inside = labels == c
        vol = deg[inside].sum()
        if vol > 0:
            total += A[inside][:, ~inside].sum() / vol
    return float(total)


def cluster_ncut(A: np.ndarray, k: int, seed: int) -> float:
    keep = A.sum(1) > 0
    A = A[keep][:, keep]
    k = min(k, len(A) - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "graph is not fully connected": fine, components become clusters
        sc = SpectralClustering(n_clusters=k, affinity="precomputed", assign_labels="cluster_qr", random_state=seed)
        labels = sc.fit_predict(A)
    return ncut(A, labels)


def chain_scores(weights: list[np.ndarray], seed: int = 0, settings: ClusterSettings | None = None) -> dict:
    """n-cut of one chain and its shuffled controls."""
    s = settings or ClusterSettings()
    rng = np.random.default_rng([seed, 11])
    real = cluster_ncut(adjacency(weights), s.n_clusters, seed)
    shuf = []
    for _ in range(s.n_shuffles):
        ws = [rng.permutation(W.ravel()).reshape(W.shape) for W in weights]
        shuf.append(cluster_ncut(adjacency(ws), s.n_clusters, seed))
    shuf = np.array(shuf)
    sd = shuf.std(ddof=1) if len(shuf) > 1 else 0.0
    return {"ncut": real, "ncut_shuffled": float(shuf.mean()),
            "ncut_z": float((real - shuf.mean()) / sd) if sd > 0 else 0.0,
            "ncut_pct": float((shuf <= real).mean()),
            "nodes": float(sum(W.shape[0] for W in weights) + weights[0].shape[1])}


def clusterability_probe(model, data=None, config=None, seed: int = 0, checkpoints=None,
                         settings: ClusterSettings | None = None) -> dict[str, float]:
    s = settings or ClusterSettings()
    chains = dense_chains(model)[: s.max_chains]
    if not chains:
        raise Skip("the model has no chain of two or more dense layers")
    out: dict[str, float] = {"n_chains": float(len(chains))}
    per = [chain_scores(c, seed, s) for c in chains]
    for i, sc in enumerate(per):
        out.update({f"chain{i}.{k}": v for k, v in sc.items()})
    for k in ("ncut", "ncut_shuffled", "ncut_z", "ncut_pct"):
        out[k] = float(np.mean([sc[k] for sc in per]))
    return out
