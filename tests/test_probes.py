"""Oracle tests of the fracture probes on hand-built networks whose answers are known."""
import numpy as np
import pytest
import torch
from torch import nn

from fracturelab.probes.clusterability import ClusterSettings, chain_scores, dense_chains
from fracturelab.probes.common import Parts
from fracturelab.probes.coverage import coverage_scores
from fracturelab.probes.crosstalk import CrosstalkSettings, crosstalk_scores, spread_of
from fracturelab.probes.factorization import dci_from_importance, factorization_scores
from fracturelab.probes.geometry import effective_rank, participation_ratio
from fracturelab.probes.masks import MaskSettings
from fracturelab.probes.reuse import reuse_scores
from fracturelab.probes.sparsity import gini, hoyer, l0, top_energy
from fracturelab.probes.subnetworks import break_it_down

# ---------------------------------------------------------------------------------------------------------- sparsity


def test_sparsity_closed_forms():
    d = 100
    one_hot, const = np.eye(d)[3], np.full(d, 2.5)
    assert hoyer(one_hot)[0] == pytest.approx(1.0) and hoyer(const)[0] == pytest.approx(0.0)
    assert gini(one_hot)[0] == pytest.approx(1 - 1 / d) and gini(const)[0] == pytest.approx(0.0)
    assert l0(one_hot)[0] == pytest.approx(1 / d) and l0(const)[0] == 0.0
    for k, n in ((1, 1), (5, 5), (10, 10)):
        assert top_energy(one_hot, k)[0] == pytest.approx(1.0)
        assert top_energy(const, k)[0] == pytest.approx(n / d)
    h = np.array([3.0, -4.0, 0.0, 0.0])  # ||h||_1 = 7, ||h||_2 = 5, d = 4
    assert hoyer(h)[0] == pytest.approx((2 - 7 / 5) / (2 - 1))
    assert top_energy(h, 1)[0] == pytest.approx(16 / 25)  # ceil(1 % of 4) = one unit
    # Gini (Hurley & Rickard): sorted |h| = 0, 0, 3, 4
    assert gini(h)[0] == pytest.approx(1 - 2 * (3 / 7 * (4 - 3 + 0.5) / 4 + 4 / 7 * (4 - 4 + 0.5) / 4))
    assert l0(h)[0] == pytest.approx(0.25)  # mean 1.75, unbiased std 2.06: only 4 exceeds 3.81
    z = np.zeros(5)  # nothing concentrated
    assert hoyer(z)[0] == 0 and gini(z)[0] == 0 and top_energy(z, 5)[0] == 0 and l0(z)[0] == 0
    rows = np.stack([one_hot, const])  # per row
    np.testing.assert_allclose(hoyer(rows), [1, 0], atol=1e-12)


# ---------------------------------------------------------------------------------------------------------- geometry


def test_geometry_rank_one_and_isotropic():
    rng = np.random.default_rng(0)
    rank1 = rng.standard_normal((50, 1)) @ rng.standard_normal((1, 7))
    assert effective_rank(rank1) == pytest.approx(1.0, abs=1e-6)
    assert participation_ratio(rank1) == pytest.approx(1.0, abs=1e-6)
    iso = np.concatenate([np.eye(6), -np.eye(6)])  # centred, every singular value equal
    assert effective_rank(iso) == pytest.approx(6.0) and participation_ratio(iso) == pytest.approx(6.0)
    assert effective_rank(np.ones((5, 3))) == 0.0


# ---------------------------------------------------------------------------------------------------- factorization


def _factor_code(seed=0, n=1200):
    rng = np.random.default_rng(seed)
    v = rng.integers(0, 5, size=(n, 3))
    z = v + 0.05 * rng.standard_normal(v.shape)  # one unit per factor, axis-aligned
    return v, z


def test_dci_axis_aligned_versus_rotated():
    v, z = _factor_code()
    aligned = factorization_scores(z, v, seed=0)
    assert aligned["dci_d"] > 0.9 and aligned["dci_c"] > 0.9 and aligned["info_m"] > 0.9 and aligned["info_c"] > 0.9
    q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((3, 3)))
    rotated = factorization_scores(z @ q, v, seed=0)
    assert rotated["dci_d"] < aligned["dci_d"] - 0.3 and rotated["dci_c"] < aligned["dci_c"] - 0.3
    assert rotated["info_m"] < aligned["info_m"] - 0.3
    # a rotation loses no information: a linear probe reads the factors from both
    assert rotated["probe_acc"] > 0.9 and aligned["probe_acc"] > 0.9


def test_dci_from_importance_extremes():
    assert dci_from_importance(np.eye(4)) == pytest.approx((1.0, 1.0))
    d, c = dci_from_importance(np.ones((4, 4)))
    assert d == pytest.approx(0.0) and c == pytest.approx(0.0)
    # fractured: each factor spread evenly over 4 units of its own -> disentangled but incomplete
    d, c = dci_from_importance(np.kron(np.eye(2), np.ones((4, 1))))
    assert d == pytest.approx(1.0) and c == pytest.approx(1 - np.log(4) / np.log(8))


# ---------------------------------------------------------------------------------------------------- clusterability


def _chain(blocks: bool, seed: int, sizes=(32, 32, 32), k=4):
    g = torch.Generator().manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        lin = nn.Linear(a, b)
        with torch.no_grad():
            w = torch.randn(b, a, generator=g)
            if blocks:
                w = w * torch.block_diag(*[torch.ones(b // k, a // k)] * k)
            lin.weight.copy_(w)
        layers += [lin, nn.ReLU()]
    return nn.Sequential(*layers)


def test_ncut_block_diagonal_versus_dense():
    s = ClusterSettings(n_clusters=4, n_shuffles=10)
    block = chain_scores(dense_chains(_chain(True, 0))[0], seed=0, settings=s)
    dense = chain_scores(dense_chains(_chain(False, 0))[0], seed=0, settings=s)
    assert block["ncut"] < 1e-6 and block["ncut_z"] < -5
    assert abs(dense["ncut_z"]) < 3


def test_dense_chains_break_at_parameterized_modules():
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 6), nn.LayerNorm(6), nn.Linear(6, 3),
                        nn.Linear(3, 2))
    assert [len(c) for c in dense_chains(net)] == [2, 2]


# ------------------------------------------------------------------------------- two-pathway network (hand-built)


class TwoPath(nn.Module):
    """Two one-hot inputs (classes a and b of n each) -> hidden -> two answer parts (a and b). separate=True:
    block-diagonal weights, each answer computed by its own pathway; False: a fresh dense random network."""

    def __init__(self, n=4, copies=2, separate=True, seed=0):
        super().__init__()
        self.n = n
        self.l1, self.l2 = nn.Linear(2 * n, 2 * n * copies, bias=False), nn.Linear(2 * n * copies, 2 * n, bias=False)
        torch.manual_seed(seed)
        if separate:
            with torch.no_grad():
                self.l1.weight.copy_(torch.cat([torch.eye(2 * n)] * copies).reshape(copies, 2, n, 2 * n)
                                     .transpose(0, 1).reshape(2 * n * copies, 2 * n))  # units [a copies, b copies]
                self.l2.weight.copy_(3.0 * torch.block_diag(*[torch.cat([torch.eye(n)] * copies, 1)] * 2))

    def forward(self, batch):
        return self.l2(torch.relu(self.l1(batch["x"]))).view(-1, 2, self.n)


def _two_path_batch(n=4, size=256, seed=0):
    g = np.random.default_rng(seed)
    y = torch.as_tensor(g.integers(0, n, size=(size, 2)))
    x = torch.cat([nn.functional.one_hot(y[:, 0], n), nn.functional.one_hot(y[:, 1], n)], 1).float()
    return {"x": x, "y": y}


PARTS2 = Parts(["a", "b"], [0, 1], [0.25, 0.25])


def test_two_path_network_is_correct():
    batch = _two_path_batch()
    assert (TwoPath()(batch).argmax(-1) == batch["y"]).all()


def test_subnetworks_two_pathways_versus_random():
    train, test = _two_path_batch(seed=0), _two_path_batch(seed=1)
    s = MaskSettings(steps=150, batch_size=128)
    built = break_it_down(TwoPath(), train, test, PARTS2, 0, 1, seed=0, settings=s)
    for p in "ab":
        assert built[f"sub.{p}"] > 0.5 and built[f"abl.{p}"] < -0.5
    rnd = break_it_down(TwoPath(separate=False, seed=3), train, test, PARTS2, 0, 1, seed=0, settings=s)
    # a random network does not solve the task at all, so neither a subnetwork nor an ablation separates parts
    for p in "ab":
        assert not (rnd[f"sub.{p}"] > 0.5 and rnd[f"abl.{p}"] < -0.5)
        assert abs(rnd[f"abl.{p}"]) < 0.3


def test_reuse_disjoint_pathways():
    train, test = _two_path_batch(seed=0), _two_path_batch(seed=1)
    r = reuse_scores(TwoPath(), train, test, PARTS2, seed=0, settings=MaskSettings(steps=150, batch_size=128))
    assert r["iou"] < 0.2  # the parts share no weights
    assert r["drop"] > 0.8  # and each needs its own
    assert r["drop_others"] < 0.2


# --------------------------------------------------------------------------------------------------------- crosstalk


class SeparateParts(nn.Module):
    """Each answer part computed by its own small MLP (its own weight tensors)."""

    def __init__(self, n=4, parts=3, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.n = n
        self.nets = nn.ModuleList(nn.Sequential(nn.Linear(n, 16), nn.Tanh(), nn.Linear(16, 5)) for _ in range(parts))

    def forward(self, batch):
        x = batch["x"].view(len(batch["x"]), -1, self.n)
        return torch.stack([net(x[:, i]) for i, net in enumerate(self.nets)], 1)


class Shared(nn.Module):
    def __init__(self, n=4, parts=3, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.parts = parts
        self.net = nn.Sequential(nn.Linear(n * parts, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(),
                                 nn.Linear(32, 5 * parts))

    def forward(self, batch):
        return self.net(batch["x"]).view(-1, self.parts, 5)


def test_crosstalk_separate_parts_versus_shared():
    g = torch.Generator().manual_seed(0)
    batch = {"x": torch.randn(64, 12, generator=g), "y": torch.zeros(64, 3, dtype=torch.long)}
    parts = Parts(["p0", "p1", "p2"], [0, 1, 2], [0.2] * 3)
    s = CrosstalkSettings(n_weights=40, n_directions=40, chunk=8)
    sep = crosstalk_scores(SeparateParts(), batch, parts, seed=0, settings=s)
    assert sep["spread"] < 1e-3 and sep["effect_weight"] > 0
    shared = crosstalk_scores(Shared(), batch, parts, seed=0, settings=s)
    assert shared["spread_direction"] > 0.3


def test_spread_of_extremes():
    sp, tot = spread_of(np.array([[1.0, 0, 0], [1, 1, 1], [0, 0, 0]]))
    np.testing.assert_allclose(sp, [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(tot, [1, 3, 0])


# ---------------------------------------------------------------------------------------------------------- coverage


def test_coverage_scores_known_table():
    seen = np.array([1, 1, 1, 0.5, 0.5, 0.0])
    nov = np.array([0.0, 0.1, 0.2, 0.5, 0.6, 0.9])
    t = {"correct": (seen == 1).astype(float), "seen_frac": seen, "nn_dist": nov, "depth": np.full(6, np.nan),
         "min_node_coverage": np.full(6, np.nan)}
    c = coverage_scores(t)
    assert c["acc_seen"] == 1.0 and c["acc_unseen"] == 0.0
    assert c["novelty_auc"] == 1.0 and c["coverage_auc"] == 1.0 and c["acc_by_coverage_slope"] > 0
    assert np.isnan(c["acc_by_depth_slope"]) and np.isnan(c["node_coverage_auc"])
    t["correct"] = 1 - t["correct"]  # errors on the familiar examples instead
    assert coverage_scores(t)["novelty_auc"] == 0.0
