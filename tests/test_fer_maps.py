"""Feature maps and map metrics: the FER skull's 24 novel maps, Picbreeder vs SGD on real nets, and oracles (a slow
obvious loop, hand-made nets whose answers are known by construction)."""
import numpy as np
import pytest
import torch

from fracturelab.cppn import Arch, builtin_net, coord_grid, forward, load_cppn
from fracturelab.cppn.module import lecun_normal
from fracturelab.cppn.nets import Net
from fracturelab.fer.maps import (MapSettings, asymmetry, effective_dim, feature_maps, is_constant, map_metrics,
                                  novel_from_maps, novel_maps, read_units, redundancy, roughness, same_map_matrix)

IMAGES = ("skull", "butterfly", "apple")


def hand_net(arch: str, weights: dict[tuple[int, int, int], float]) -> Net:
    """A net with the given (layer, row, col) -> weight entries and zeros elsewhere."""
    a = Arch.parse(arch)
    params = np.zeros(a.n_params, dtype=np.float32)
    for (layer, row, col), w in weights.items():
        params[a.weight_id(layer, row, col)] = w
    return Net("hand", a, params)


def random_net(arch: str, seed: int) -> Net:
    a = Arch.parse(arch)
    return Net(f"random{seed}", a, lecun_normal(a, torch.Generator().manual_seed(seed)).numpy())


X, Y, D, BIAS = range(4)


def duplicates_net() -> Net:
    """Layer 1 = [x, 0, sin 3x, sin 3x, sin(3x + 1e-6), 1]; layer 2 = [sin 3x, 2x, sin 3x, sin(3x + 0.01), 0, g(x)]
    (columns: cache 0-1, sin 2-4, gaussian 5; unset padding: cache/sin -> 0, gaussian -> 2 exp(0) - 1 = 1).
    Novel by hand: x, y, d, bias; 0, sin 3x; 2x, sin(3x + 0.01), g(x) -> 9. Near-copy sin(3x + 1e-6) is not novel."""
    return hand_net("2;cache:2,sin:3,gaussian:1", {
        (0, X, 0): 1.0,
        (0, X, 2): 3.0, (0, X, 3): 3.0, (0, X, 4): 3.0, (0, BIAS, 4): 1e-6,
        (1, 2, 0): 1.0,                      # cache of sin 3x: exact copy
        (1, 0, 1): 2.0,                      # 2x: same shape as x, different map
        (1, 0, 2): 3.0,                      # sin 3x recomputed from the cached x
        (1, 0, 3): 3.0, (1, 5, 3): 0.01,     # sin(3x + 0.01): 1e-2 away, above tol
        (1, 0, 5): 1.0,                      # gaussian(x)
    })


EXPECTED_NOVEL = [[1, 1, 1, 1], [0, 1, 1, 0, 0, 0], [0, 1, 0, 1, 0, 1]]


# ------------------------------------------------------------------------------------------------ feature maps

def test_feature_maps_are_inputs_then_forward_features():
    net = random_net("3;cache:2,gaussian:2,sin:3", seed=0)
    maps = feature_maps(net, res=12)
    assert [m.shape for m in maps] == [(4, 12, 12)] + [(7, 12, 12)] * 3
    grid = coord_grid(12, dtype=torch.float64).numpy()                      # (144, 4)
    np.testing.assert_array_equal(maps[0].reshape(4, -1), grid.T)
    assert np.all(np.diff(maps[0][0], axis=1) > 0) and np.all(maps[0][3] == 1.0)  # x along columns, bias 1
    _, feats = forward(net.arch, torch.tensor(net.params), coord_grid(12), features=True)  # float32 path
    for m, f in zip(maps[1:], feats):
        np.testing.assert_allclose(m.reshape(7, -1), f.T.numpy(), atol=1e-5)


# ------------------------------------------------------------------------------------------------ novel maps

def slow_novel(maps, tol):
    """The obvious definition, one pixel at a time: a map is novel if no earlier map is within tol of it."""
    flat = [row.ravel().tolist() for layer in maps for row in layer]
    out = []
    for i, a in enumerate(flat):
        novel = True
        for b in flat[:i]:
            diff = 0.0
            for p, q in zip(a, b):
                diff = max(diff, abs(p - q))
            if diff <= tol * max(1.0, max(abs(v) for v in a), max(abs(v) for v in b)):
                novel = False
                break
        out.append(novel)
    return out


@pytest.mark.parametrize("spec", ["dup", "face", "random"])
def test_fast_novel_equals_slow_loop(spec):
    net = {"dup": duplicates_net, "face": lambda: builtin_net("face"),
           "random": lambda: random_net("2;cache:2,sin:2", seed=3)}[spec]()
    maps = feature_maps(net, res=8)
    for tol in (1e-3, 0.05):
        fast = np.concatenate(novel_from_maps(maps, tol)["novel"])
        assert fast.tolist() == slow_novel(maps, tol)


def test_hand_made_duplicates_give_the_known_novel_count():
    out = novel_maps(duplicates_net(), res=16)
    assert out["count"] == 9
    assert [m.astype(int).tolist() for m in out["novel"]] == EXPECTED_NOVEL
    assert [m.astype(int).tolist() for m in out["constant"]] == [[0, 0, 0, 1], [0, 1, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0]]
    # a coarser tolerance merges sin(3x + 0.01) into sin 3x; an exact one splits off sin(3x + 1e-6)
    assert novel_maps(duplicates_net(), res=16, tol=0.05)["count"] == 8
    assert novel_maps(duplicates_net(), res=16, tol=0.0)["count"] == 10


def test_same_map_matrix_is_relative_to_amplitude():
    base = np.linspace(-1, 1, 50)
    flat = np.stack([base, base + 5e-4, 100 * base, 100 * base + 0.05, 100 * base + 0.2])  # (5, 50)
    same = same_map_matrix(flat, tol=1e-3)
    assert same[0, 1] and same[2, 3]          # within 1e-3 of max(1, amplitude)
    assert not same[2, 4] and not same[0, 2]  # 0.2 > 1e-3 * 100; a scaled map is a different map
    assert (same == same.T).all() and same.diagonal().all()


def test_picbreeder_skull_has_exactly_24_novel_maps(picbreeder_dir):
    net = load_cppn(picbreeder_dir / "fer" / "nets" / "picbreeder_skull")
    maps = feature_maps(net, res=64)
    for tol in (0.0, 1e-3, 1e-2):  # the count rests on exact copies, not on the tolerance
        out = novel_from_maps(maps, tol)
        assert out["count"] == 24
    assert out["novel"][0].all()                                  # the 4 inputs are distinct and come first
    assert len(out["novel"]) == 1 + net.arch.n_hidden and all(len(m) == net.arch.width for m in out["novel"][1:])
    assert sum(int((n & c).sum()) for n, c in zip(out["novel"], out["constant"])) == 2  # bias (1) and 0 maps
    assert novel_maps(net, res=32)["count"] == 24


def test_sgd_skull_has_at_least_200_novel_maps(picbreeder_dir):
    out = novel_maps(load_cppn(picbreeder_dir / "fer" / "nets" / "sgd_skull"), res=64)
    assert out["count"] >= 200


# ------------------------------------------------------------------------------------------------ metric oracles

def test_roughness_of_a_ramp_and_invariance_to_amplitude():
    res = 64
    x = np.tile(np.linspace(-1, 1, res), (res, 1))                  # varies along columns only
    expected = 0.5 * (2 / (res - 1)) / x.std()                      # half: rows contribute 0
    np.testing.assert_allclose(roughness(x[None]), [expected], rtol=1e-12)
    np.testing.assert_allclose(roughness(np.stack([x, -7 * x + 3])), [expected] * 2, rtol=1e-12)
    noise = np.random.default_rng(0).normal(size=(1, res, res))
    assert 1.0 < roughness(noise)[0] < 1.25                          # E|N(0, 2)| = 2 / sqrt(pi) = 1.128


def test_asymmetry_known_maps():
    g = coord_grid(32, dtype=torch.float64).numpy().T.reshape(4, 32, 32)
    x, y, d = g[0], g[1], g[2]
    a = asymmetry(np.stack([x, d, y, np.sin(3 * x) + np.cos(2 * x)]))
    np.testing.assert_allclose(a[:3], [1.0, 0.0, 0.0], atol=1e-12)  # x antisymmetric; d and y symmetric
    assert 0.1 < a[3] < 0.99


def test_symmetric_net_gives_symmetric_fraction_one():
    # x enters nowhere, so every map is a function of y and d = 1.4 sqrt(x^2 + y^2): even in x, for any weights
    net = random_net("4;cache:2,gaussian:3,sin:2,tanh:2", seed=5)
    for col in range(net.arch.width):
        net.params[net.arch.weight_id(0, X, col)] = 0.0
    m = map_metrics(net, res=32)
    assert m["symmetric_fraction"] == 1.0
    assert map_metrics(builtin_net("face"), res=32)["symmetric_fraction"] == 1.0   # designed symmetric
    assert map_metrics(random_net("4;cache:2,gaussian:3,sin:2,tanh:2", seed=5), res=32)["symmetric_fraction"] < 0.5


def read_all(width: int, out_layer: int) -> dict[tuple[int, int, int], float]:
    """Output weights that make every unit of the last hidden layer read (the render depends on it)."""
    return {(out_layer, c, 0): 1.0 for c in range(width)}


def test_rank_one_layer_gives_ratio_one_over_width():
    net = hand_net("1;cache:3,identity:2", {(0, X, c): w for c, w in enumerate([1.0, -2.0, 0.5, 3.0, 0.1])}
                   | read_all(5, 1))
    m = map_metrics(net, res=32)
    assert m["effective_dim_ratio_max"] == pytest.approx(1 / 5, abs=1e-6)
    assert m["effective_dim_ratio_mean"] == pytest.approx(1 / 5, abs=1e-6)
    # x and y on a square grid: centred, orthogonal, equal norm -> two equal singular values -> eff dim 2
    two = hand_net("1;identity:2", {(0, X, 0): 1.0, (0, Y, 1): 1.0} | read_all(2, 1))
    assert map_metrics(two, res=32)["effective_dim_ratio_max"] == pytest.approx(1.0, abs=1e-9)
    # a constant column (bias, padding) adds no dimension after centring; an all-constant layer has eff dim 0
    assert effective_dim(np.stack([np.ones((8, 8)), 2 * np.ones((8, 8))])) == 0.0


# ------------------------------------------------------------------------------------------------ counted units

def slow_read(net: Net) -> list[list[bool]]:
    """The obvious definition, one weight at a time: a unit is read if some nonzero weight leads from it to an output
    or to a read unit of the next layer."""
    a = net.arch
    w = lambda layer, row, col: float(net.params[a.weight_id(layer, row, col)])  # noqa: E731
    read = {a.n_hidden + 1: [True] * 3}
    for layer in range(a.n_hidden, -1, -1):
        n_in, n_out = a.shape(layer)
        read[layer] = [any(w(layer, u, v) != 0 and read[layer + 1][v] for v in range(n_out)) for u in range(n_in)]
    return [read[layer] for layer in range(a.n_hidden + 1)]


@pytest.mark.parametrize("spec", ["sparse0", "sparse1", "sparse2", "dense", "face", "skull"])
def test_read_units_equals_slow_weight_walk(spec):
    if spec.startswith("sparse"):  # most weights zero: unread units, and units read only through unread ones
        net = random_net("5;cache:3,gaussian:2,sin:2", seed=int(spec[-1]))
        net.params[np.random.default_rng(int(spec[-1])).random(net.params.shape) < 0.8] = 0.0
    else:
        net = random_net("3;cache:2,sin:3", seed=0) if spec == "dense" else load_cppn(spec)
    fast = [m.tolist() for m in read_units(net)]
    assert fast == slow_read(net)
    if spec == "dense":
        assert all(all(m) for m in fast)                    # every weight nonzero: every unit is read
    else:
        assert not all(all(m) for m in fast[1:])            # the cases hold unread units


def counted_example(read_sin: bool) -> Net:
    """One hidden layer: 0.5x, 0.5y, 0.5d (read), sin 9x (read only if read_sin), gaussian(0) = 1 (read, constant)."""
    return hand_net("1;identity:3,sin:1,gaussian:1", {
        (0, X, 0): 0.5, (0, Y, 1): 0.5, (0, D, 2): 0.5, (0, X, 3): 9.0,
        (1, 0, 0): 1.0, (1, 1, 1): 1.0, (1, 2, 2): 1.0, (1, 3, 2): 1.0 if read_sin else 0.0, (1, 4, 0): 0.3})


def test_unread_and_constant_units_are_left_out_of_each_metric():
    res = 32
    layer = feature_maps(counted_example(False), res)[1]          # (5, res, res)
    assert is_constant(layer.reshape(5, -1)).tolist() == [False] * 4 + [True]
    for read_sin, units in ((False, [0, 1, 2]), (True, [0, 1, 2, 3])):
        m = map_metrics(counted_example(read_sin), res)
        maps = layer[units]                                        # the counted units, by construction
        eff = effective_dim(maps) / 5                              # the arch's width: the shared scale
        assert m["roughness"] == pytest.approx(roughness(maps).mean(), rel=1e-12)
        assert m["symmetric_fraction"] == pytest.approx((asymmetry(maps) < 0.05).mean())  # y, d symmetric; x, sin not
        assert m["effective_dim_ratio_mean"] == pytest.approx(eff, rel=1e-12)
        assert m["effective_dim_ratio_max"] == pytest.approx(eff, rel=1e-12)
    assert map_metrics(counted_example(False), res)["symmetric_fraction"] == pytest.approx(2 / 3)
    # FER's counts take every unit, read or not: the unread sin 9x is a novel map either way
    assert map_metrics(counted_example(False), res)["novel_maps"] == map_metrics(counted_example(True), res)["novel_maps"]
    # an unread unit does not hide a later counted unit that draws the same map (0.5y twice, only the second read)
    twice = map_metrics(hand_net("1;identity:2", {(0, Y, 0): 0.5, (0, Y, 1): 0.5, (1, 1, 0): 1.0}), res)
    assert twice["roughness"] == pytest.approx(roughness(layer[1:2]).mean()) and twice["symmetric_fraction"] == 1.0


def test_a_layer_without_counted_units_has_ratio_zero():
    # layer 1: 2x twice (read); layer 2: their difference, 0 (read, constant), and two unread units
    net = hand_net("2;cache:2,identity:2", {(0, X, 0): 2.0, (0, X, 1): 2.0, (0, Y, 3): 1.0,
                                             (1, 0, 2): 1.0, (1, 1, 2): -1.0, (1, 3, 3): 1.0, (2, 2, 0): 1.0})
    m = map_metrics(net, res=16)
    # layer 1: rank 1 over the width 4; layer 2: nothing counted, ratio 0
    assert m["effective_dim_ratio_max"] == pytest.approx(0.25) and m["effective_dim_ratio_mean"] == pytest.approx(0.125)
    x2 = feature_maps(net, 16)[1][:1]                              # the copy of 2x is not a second map
    assert m["roughness"] == pytest.approx(roughness(x2)[0]) and m["symmetric_fraction"] == 0.0
    # nothing read: no counted unit anywhere, so no value (the study leaves NaN metrics out of its rows)
    unread = map_metrics(duplicates_net(), res=16)
    assert all(np.isnan(unread[k]) for k in ("roughness", "symmetric_fraction"))
    assert unread["effective_dim_ratio_mean"] == 0.0 == unread["effective_dim_ratio_max"]
    assert unread["novel_maps"] == 9.0


def width_formula(net: Net, res: int) -> dict:
    """The metrics as they were defined before counted units: over the novel non-constant hidden maps of every unit,
    and the effective dimension over the arch's width."""
    maps = feature_maps(net, res)
    nov = novel_from_maps(maps)
    hidden = np.concatenate([m[n & ~c] for m, n, c in zip(maps[1:], nov["novel"][1:], nov["constant"][1:])])
    ratios = [effective_dim(layer) / net.arch.width for layer in maps[1:]]
    return {"roughness": roughness(hidden).mean(), "symmetric_fraction": (asymmetry(hidden) < 0.05).mean(),
            "effective_dim_ratio_max": max(ratios), "effective_dim_ratio_mean": np.mean(ratios)}


@pytest.mark.parametrize("arch,seed", [("4;cache:2,gaussian:3,sin:2,tanh:2", 5), ("2;sin:6", 1), ("3;tanh:4,cos:3", 2)])
def test_a_net_without_padding_keeps_the_width_formula(arch, seed):
    net = random_net(arch, seed)
    assert all(m.all() for m in read_units(net))                   # no unread unit ...
    assert not any(c.any() for c in novel_from_maps(feature_maps(net, 32))["constant"][1:])
    m = map_metrics(net, res=32)                                   # ... and no constant one: nothing to leave out
    for k, v in width_formula(net, 32).items():
        assert m[k] == pytest.approx(v, rel=1e-12), k


def test_redundancy_counts_near_copies_up_to_sign_and_scale():
    # novel non-constant maps: x, y, d, sin 3x, 2x, sin(3x + 0.01), g(x); near-copies: x ~ 2x, sin 3x ~ sin(3x+0.01)
    m = map_metrics(duplicates_net(), res=32)
    assert m["novel_maps"] == 9.0
    assert m["redundancy"] == pytest.approx(4 / 7)
    base = np.random.default_rng(1).normal(size=(3, 100))
    assert redundancy(np.stack([base[0], -3 * base[0] + 1, base[1], base[2]])) == 0.5
    assert redundancy(base) == 0.0


def test_map_metrics_returns_six_plain_floats_and_settings_apply():
    m = map_metrics(builtin_net("target"), res=32)
    assert set(m) == {"novel_maps", "roughness", "effective_dim_ratio_max", "effective_dim_ratio_mean",
                      "symmetric_fraction", "redundancy"}
    assert all(type(v) is float for v in m.values())
    strict = map_metrics(builtin_net("target"), settings=MapSettings(res=32, sym_threshold=0.0))
    assert strict["symmetric_fraction"] == 0.0 and m["symmetric_fraction"] > 0.0


# ------------------------------------------------------------------------------------------------ real nets

@pytest.fixture(scope="module")
def fer_metrics(picbreeder_dir):
    """map_metrics at the documented 64x64 for the 6 FER nets, computed once."""
    return {f"{kind}_{img}": map_metrics(load_cppn(picbreeder_dir / "fer" / "nets" / f"{kind}_{img}"), res=64)
            for img in IMAGES for kind in ("picbreeder", "sgd")}


@pytest.mark.parametrize("image", IMAGES)
def test_picbreeder_is_smoother_and_more_symmetric_than_sgd(fer_metrics, image):
    # FER's lower effective-dimension ratio for Picbreeder is not asserted: it came from the padding in the arch
    # width it divided by; per counted unit, the evolved nets' few units are not lower-dimensional than SGD's
    pic, sgd = fer_metrics[f"picbreeder_{image}"], fer_metrics[f"sgd_{image}"]
    assert pic["novel_maps"] < sgd["novel_maps"] / 4
    assert pic["roughness"] < sgd["roughness"]
    assert pic["symmetric_fraction"] > sgd["symmetric_fraction"] + 0.5


def test_effective_dim_of_huge_or_diverged_maps():
    """A diverged SGD replica's maps: huge but finite values keep the scale-free dimension (float32 Gram entries
    would overflow); non-finite maps give NaN, not an exception that fails the study's cell."""
    rng = np.random.default_rng(0)
    layer = rng.normal(size=(6, 16, 16)).astype(np.float32)
    assert effective_dim(layer * np.float32(1e20)) == pytest.approx(effective_dim(layer), rel=1e-5)
    bad = layer.copy()
    bad[2, 3, 4] = np.inf
    assert np.isnan(effective_dim(bad))
