"""Dead units out of every fracture component (common's alive units), and clusterability's bounded ncut_rel.

A net with dead units appended (ReLU units with a bias so negative they never fire, output classes no example has as
its target) must score what the net without them scores, on every component of the fracture composite."""
import copy
import dataclasses

import numpy as np
import pytest
import torch

from fracturelab.models import DataSpec, make_model
from fracturelab.probes.clusterability import ClusterSettings, chain_scores, clusterability_probe, dense_chains
from fracturelab.probes.common import (CONSTANT_RTOL, activations, alive, alive_examples, alive_layers, alive_linear,
                                       target_classes)
from fracturelab.probes.crosstalk import CrosstalkSettings, crosstalk_probe
from fracturelab.probes.factorization import FactorizationSettings, factorization_probe
from fracturelab.probes.geometry import GeometrySettings, geometry_probe
from fracturelab.tasks import make_task

from test_probes import _chain

# ------------------------------------------------------------------------------------------------ the alive mask


def _alive_loop(a):
    """The obvious definition, one unit at a time."""
    out = []
    for u in range(a.shape[1]):
        col = [float(x) for x in a[:, u]]
        out.append(max(col) - min(col) > CONSTANT_RTOL * (1 + max(abs(x) for x in col)))
    return np.array(out, dtype=bool)


def test_alive_matches_a_per_unit_loop():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((40, 12))
    a[:, 1] = 0.0  # a ReLU unit that never fires
    a[:, 2] = 3.5  # a constant unit
    a[:, 3] = 1e4 + 1e-4 * rng.standard_normal(40)  # constant up to float32 rounding
    a[:, 4] = np.where(np.arange(40) == 7, 0.2, 0.0)  # fires on one example: alive
    a[:, 5] = np.maximum(a[:, 5], 0)
    got = alive(a)
    np.testing.assert_array_equal(got, _alive_loop(a))
    assert not got[1:4].any() and got[4] and got[0] and got[5]


def _factors_mlp(hidden=24, depth=2, extra_classes=0, seed=0, **options):
    data = make_task("factors", seed=0, n_per_combo=2, n_noise=1)
    spec = DataSpec.of("factors", data.sets().values(), data.info["settings"])
    spec = dataclasses.replace(spec, tgt_vocab=spec.tgt_vocab + [f"never{i}" for i in range(extra_classes)])
    opts = {"input": "embed", "embed": 4, **options}
    return make_model("mlp", spec, seed=seed, hidden=hidden, depth=depth, **opts), data


def test_alive_linear_and_targets_match_loops():
    net, data = _factors_mlp()
    net.batch_size = 37  # several batches: the running minima and maxima must combine across them
    exs = alive_examples(data)
    with torch.no_grad():
        acts = {k: v.double().numpy() for k, v in net.named_activations(exs).items()}
    by_module = alive_linear(net, data)
    for i, layer in enumerate(net.layers, 1):
        expect = _alive_loop(acts[f"layer{i}"])
        np.testing.assert_array_equal(by_module[layer][1], expect)  # hidden outputs: after the ReLU
        np.testing.assert_array_equal(alive_layers(net, data)[f"layer{i}"], expect)
    np.testing.assert_array_equal(by_module[net.layers[0]][0], _alive_loop(acts["input"]))
    y = net.encode(exs)["y"]
    expect = np.zeros((y.shape[1], net.n_out), dtype=bool)
    for row in y.tolist():
        for j, v in enumerate(row):
            if v >= 0:
                expect[j, v] = True
    np.testing.assert_array_equal(target_classes(net, data), expect)
    np.testing.assert_array_equal(by_module[net.head][1], expect.reshape(-1) & _alive_loop(acts["logits"].reshape(
        len(exs), -1)))
    assert not expect.all()  # the factors task has classes no position asks for


# ------------------------------------------------------------------------------- invariance to appended dead units


def with_dead(net, data, k: int, extra_classes: int):
    """The same function plus k never-firing ReLU units appended to every hidden layer (random incoming and outgoing
    weights, bias -1e4) and extra_classes output classes that no example has as its target (random head rows)."""
    big, _ = _factors_mlp(net.settings.hidden + k, net.settings.depth, extra_classes, seed=1,
                          input=net.settings.input, embed=net.settings.embed)
    h, V, P = net.settings.hidden, net.n_out, net.n_pos
    with torch.no_grad():
        big.tok_emb.load_state_dict(net.tok_emb.state_dict())
        for small, large in zip(net.layers, big.layers):
            cols = small.weight.shape[1]
            large.weight[:h, :cols] = small.weight
            large.bias[:h] = small.bias
            large.bias[h:] = -1e4  # never fires
        big.head.weight.view(P, V + extra_classes, h + k)[:, :V, :h] = net.head.weight.view(P, V, h)
        big.head.bias.view(P, V + extra_classes)[:, :V] = net.head.bias.view(P, V)
    big.eval()
    return big


COMPONENTS = {
    "geometry": (geometry_probe, GeometrySettings(max_examples=150), "eff_rank_ratio"),
    "factorization": (factorization_probe, FactorizationSettings(max_examples=300, max_iter=100), "dci_c"),
    "crosstalk": (crosstalk_probe, CrosstalkSettings(n_weights=24, n_directions=24, max_examples=64, chunk=12),
                  "spread"),
    "clusterability": (clusterability_probe, ClusterSettings(n_clusters=4, n_shuffles=3), "ncut_rel"),
}


@pytest.fixture(scope="module")
def nets():
    net, data = _factors_mlp()
    net.eval()
    return net, with_dead(net, data, k=9, extra_classes=3), data


def test_appended_network_computes_the_same_answers(nets):
    net, big, data = nets
    batch = net.encode(data.test_ood[:50])
    with torch.no_grad():
        np.testing.assert_allclose(big(batch)[..., : net.n_out].numpy(), net(batch).numpy(), rtol=1e-5, atol=1e-5)
        assert (big.named_activations(data.train)["layer2"][:, net.settings.hidden :] == 0).all()


@pytest.mark.parametrize("probe", list(COMPONENTS))
def test_component_unchanged_by_dead_units(nets, probe):
    net, big, data = nets
    fn, settings, key = COMPONENTS[probe]
    small_res = fn(net, data, {}, seed=0, settings=settings)
    big_res = fn(big, data, {}, seed=0, settings=settings)
    assert np.isfinite(small_res[key])
    assert big_res[key] == pytest.approx(small_res[key], rel=1e-6, abs=1e-9), (probe, key)


def fires_off_train(net, data, unit: int):
    """A copy of net whose hidden unit `unit` of the last hidden layer never fires on the training examples (dead)
    yet fires on a few test examples: a seeded random direction over the layer below, the bias halfway between its
    largest training and its largest test pre-activation."""
    below = activations(net, alive_examples(data))["layer1"]
    test = activations(net, data.test_id + data.test_ood)["layer1"]
    for seed in range(50):
        w = np.random.default_rng(seed).standard_normal(below.shape[1])
        top, pre = (below @ w).max(), test @ w
        if (pre > top).mean() >= 0.02:
            break
    else:
        raise AssertionError("no direction fires off the training set")
    out = copy.deepcopy(net)
    with torch.no_grad():
        out.layers[-1].weight[unit] = torch.as_tensor(w)
        out.layers[-1].bias[unit] = -(top + pre.max()) / 2
    return out


@pytest.mark.parametrize("probe", ["geometry", "factorization", "clusterability"])
def test_unit_dead_on_train_firing_on_test_stays_out(nets, probe):
    # not crosstalk: on the test examples such a unit moves with every perturbation of the layers below it
    net, big, data = nets
    h = net.settings.hidden
    odd = fires_off_train(big, data, h)
    assert activations(odd, data.test_id + data.test_ood)["layer2"][:, h].max() > 0
    assert not alive_layers(odd, data)["layer2"][h]
    fn, settings, key = COMPONENTS[probe]
    assert fn(odd, data, {}, seed=0, settings=settings)[key] == pytest.approx(
        fn(net, data, {}, seed=0, settings=settings)[key], rel=1e-6, abs=1e-9)


def test_clusterability_without_data_keeps_every_node(nets):
    net, big, data = nets
    s = ClusterSettings(n_clusters=4, n_shuffles=2)
    every = clusterability_probe(big, None, settings=s)
    kept = clusterability_probe(big, data, settings=s)
    n_all = sum(W.shape[0] for W in dense_chains(big)[0]) + dense_chains(big)[0][0].shape[1]
    assert every["chain0.nodes"] == n_all and every["chain0.dead_nodes"] == 0
    assert kept["chain0.nodes"] + kept["chain0.dead_nodes"] == n_all and kept["chain0.dead_nodes"] >= 2 * 9 + 3


# ----------------------------------------------------------------------------------------- bounded clusterability


def test_ncut_rel_planted_modules_versus_iid():
    s = ClusterSettings(n_clusters=4, n_shuffles=6)
    block = chain_scores(dense_chains(_chain(True, 0))[0], seed=0, settings=s)
    assert block["ncut_rel"] < 0.1
    for seed in (0, 1):
        iid = chain_scores(dense_chains(_chain(False, seed))[0], seed=0, settings=s)
        assert iid["ncut_rel"] == pytest.approx(1.0, abs=0.05)
        assert iid["ncut_rel"] == pytest.approx(iid["ncut"] / iid["ncut_shuffled"])


def test_linear_read_directly_counts_every_unit_alive():
    # the CPPN classifier reads its nn.Linear weights in its own forward: no hook sees them, so nothing is dropped
    data = make_task("leave_square_out", seed=0)
    net = make_model("cppn", DataSpec.of("leave_square_out", data.sets().values(), data.info["settings"]), seed=0)
    assert all(ins.all() and outs.all() for ins, outs in alive_linear(net, data).values())


def test_no_training_examples_counts_every_unit_alive(nets):
    # a prompt set may come without a train split: nothing shows a unit dead, so every probe reads them all
    net, big, data = nets
    bare = dataclasses.replace(data, train=[])
    assert alive_layers(big, bare) == {} and target_classes(big, bare) is None
    for probe, (fn, settings, key) in COMPONENTS.items():
        assert np.isfinite(fn(big, bare, {}, seed=0, settings=settings)[key]), probe
    assert clusterability_probe(big, bare, settings=COMPONENTS["clusterability"][1])["chain0.dead_nodes"] == 0
