"""Weight-graph clusterability (Filan, Casper, Hod, Wild, Critch, Russell 2021, "Clusterability in neural networks",
arXiv 2103.03386).

The graph: every unit of a chain of dense layers is a node; |W_ij| of each layer is the edge weight between its
input unit j and output unit i (a symmetric adjacency, no edges within a layer). A chain = consecutive nn.Linear
modules in registration order with matching sizes and no other parameterized module between them
(common.linear_chains: the MLP's hidden layers and head; in a transformer, each block's c_fc -> c_proj; a LayerNorm or
attention in between breaks a chain, since the residual stream is not a dense weight graph). Dead units are not
nodes: with the task's data, only units alive on the training examples (common.alive_linear: a hidden unit that
varies after its nonlinearity, an input that varies, an output of the head that is some example's target) are kept,
each layer's weights cut to the kept rows and columns; with data None every unit is a node. Nodes with no edges are
dropped.

Spectral clustering (scikit-learn, normalized Laplacian, cluster_qr labels) into k clusters, then
n-cut = sum_i cut(X_i, rest) / vol(X_i) (lower = more modular; between 0 and k). Controls: the same kept graph with the
entries of each (cut) weight matrix shuffled within that matrix (keeps every layer's weight distribution, destroys
structure). Reported:
- ncut_rel = ncut / mean(ncut_shuffled): the bounded statistic the fracture composite reads. 0 = every cluster cut
  off from the rest, 1 = no more clusterable than its own shuffled weights, < 1 = more modular; never below 0 and
  free of the width and depth that set the raw n-cut's scale. For iid weights (an initialization: every entry of a
  matrix drawn from one distribution) shuffling changes nothing in distribution, so its expected value is 1 (up to
  the sampling noise of a few shuffles), the value at initialization the composite assumes;
- ncut_z = (ncut - mean(shuffled)) / std(shuffled) (strongly negative = more clusterable than chance; unbounded: a few
  nearly identical shuffles make it huge) and ncut_pct (fraction of shuffles with n-cut <= the network's);
- ncut, ncut_shuffled (mean): as means over chains, like ncut_rel, ncut_z and ncut_pct; chain<i>.* per chain with
  its kept nodes and chain<i>.dead_nodes; n_chains.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.cluster import SpectralClustering

from .common import Skip, alive_linear, linear_chains
from ..settings import bounded

SUMMARY = ("ncut", "ncut_shuffled", "ncut_rel", "ncut_z", "ncut_pct")
"""Statistics reported as means over chains."""


@dataclass
class ClusterSettings:
    """Settings of the clusterability probe."""

    n_clusters: int = bounded(12, 1)
    """Clusters (Filan et al. use 12 for MLPs)."""
    n_shuffles: int = bounded(10, 1)
    """Layer-wise shuffled controls for ncut_rel, ncut_z and ncut_pct."""
    max_chains: int = bounded(4, 1)
    """At most this many chains (the first ones), to bound time on deep models."""


def dense_chains(model: torch.nn.Module) -> list[list[np.ndarray]]:
    """Chains of dense weight matrices (each (out, in)) in the sense of the module docstring."""
    return [[m.weight.detach().double().numpy() for m in chain] for chain in linear_chains(model)]


def chain_alive(chain: list[torch.nn.Linear], alive: dict) -> list[np.ndarray]:
    """Alive masks of a chain's node groups (the first layer's inputs, then each layer's outputs) from
    common.alive_linear: a hidden group is the next layer's inputs, read after the nonlinearity."""
    return [alive[m][0] for m in chain] + [alive[chain[-1]][1]]


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
    """n-cut of A's spectral clustering into k clusters (fewer where A has few nodes); NaN below 3 nodes."""
    keep = A.sum(1) > 0
    A = A[keep][:, keep]
    if len(A) < 3:
        return float("nan")
    k = min(k, len(A) - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "graph is not fully connected": fine, components become clusters
        sc = SpectralClustering(n_clusters=k, affinity="precomputed", assign_labels="cluster_qr", random_state=seed)
        labels = sc.fit_predict(A)
    return ncut(A, labels)


def chain_scores(weights: list[np.ndarray], seed: int = 0, settings: ClusterSettings | None = None,
                 keep: list[np.ndarray] | None = None) -> dict:
    """n-cut of one chain and its shuffled controls; keep: a bool mask per node group (chain_alive) of the nodes
    that count (default all), each matrix cut to them before clustering and before shuffling."""
    s = settings or ClusterSettings()
    dead = 0.0
    if keep is not None:
        dead = float(sum((~k).sum() for k in keep))
        weights = [W[keep[i + 1]][:, keep[i]] for i, W in enumerate(weights)]
    rng = np.random.default_rng([seed, 11])
    real = cluster_ncut(adjacency(weights), s.n_clusters, seed)
    shuf = []
    for _ in range(s.n_shuffles):
        ws = [rng.permutation(W.ravel()).reshape(W.shape) for W in weights]
        shuf.append(cluster_ncut(adjacency(ws), s.n_clusters, seed))
    shuf = np.array(shuf)
    mean = float(shuf.mean()) if len(shuf) else float("nan")
    sd = shuf.std(ddof=1) if len(shuf) > 1 else 0.0
    return {"ncut": real, "ncut_shuffled": mean,
            "ncut_rel": real / mean if mean > 0 else float("nan"),
            "ncut_z": float((real - mean) / sd) if sd > 0 else 0.0,
            "ncut_pct": float((shuf <= real).mean()) if len(shuf) else float("nan"),
            "nodes": float(sum(W.shape[0] for W in weights) + weights[0].shape[1]), "dead_nodes": dead}


def clusterability_probe(model, data=None, config=None, seed: int = 0, checkpoints=None,
                         settings: ClusterSettings | None = None) -> dict[str, float]:
    s = settings or ClusterSettings()
    chains = linear_chains(model)[: s.max_chains]
    if not chains:
        raise Skip("the model has no chain of two or more dense layers")
    alive = alive_linear(model, data) if data is not None else None
    out: dict[str, float] = {"n_chains": float(len(chains))}
    per = [chain_scores([m.weight.detach().double().numpy() for m in c], seed, s,
                        chain_alive(c, alive) if alive is not None else None) for c in chains]
    for i, sc in enumerate(per):
        out.update({f"chain{i}.{k}": v for k, v in sc.items()})
    for k in SUMMARY:
        out[k] = float(np.mean([sc[k] for sc in per]))
    return out
