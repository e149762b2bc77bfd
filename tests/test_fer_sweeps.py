"""Weight sweeps: the batched engines against rendering one perturbed net at a time, metrics on constructions with
known answers, and sweeps whose outcome is known by design (dead weights, the built-in face's mouth)."""
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from fracturelab.cppn import Arch, Genome, Link, Node, coord_grid, forward, layerize, load_cppn
from fracturelab.cppn.color import to_rgb
from fracturelab.cppn.module import lecun_normal
from fracturelab.cppn.nets import Net, net_from_genome
from fracturelab.fer.sweeps import (METRICS, SweepSettings, is_meaningful, summarize_sweeps, sweep_all,
                                    sweep_directions, sweep_metrics, sweep_weights, sweepable_weights)

SMALL = SweepSettings(res=20, n_deltas=7)
IMG_TOL = 1e-4  # float32 sums in another order; hsv2rgb multiplies hue errors by 6


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The slow paths render hundreds of tiny nets one at a time; with 2 threads on a busy 2-core machine each call
    waits on thread hand-offs (8 ms instead of 0.9 ms)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def render_one(net: Net, params: np.ndarray, res: int) -> np.ndarray:
    """The slow path: one net, one plain forward call -> (res, res, 3)."""
    raw = forward(net.arch, torch.as_tensor(params, dtype=torch.float32), coord_grid(res))
    return to_rgb(raw).reshape(res, res, 3).numpy()


def slow_sweep(net: Net, direction: np.ndarray, settings: SweepSettings) -> tuple[np.ndarray, dict]:
    """Sweep params + Δ * direction one net at a time -> images (K, res, res, 3) and their metrics."""
    imgs = np.stack([render_one(net, net.params + np.float32(d) * direction, settings.res) for d in settings.deltas])
    return imgs, sweep_metrics(render_one(net, net.params, settings.res), imgs, settings)


def assert_same_metrics(fast: dict, slow: dict, n_pixels: int):
    assert fast["effect"] == pytest.approx(slow["effect"], abs=1e-6)
    assert abs(fast["locality"] - slow["locality"]) <= 1.0 / n_pixels + 1e-12  # a pixel at the threshold may flip
    for k in ("asym_added", "roughness"):
        assert math.isnan(fast[k]) == math.isnan(slow[k])
        if not math.isnan(slow[k]):
            assert fast[k] == pytest.approx(slow[k], abs=2e-3)
    np.testing.assert_allclose(fast["effect_map"], slow["effect_map"], atol=1e-5)


def random_net(arch: str, seed: int) -> Net:
    a = Arch.parse(arch)
    return Net("random", a, lecun_normal(a, torch.Generator().manual_seed(seed)).numpy())


def one_hot(net: Net, wid: int) -> np.ndarray:
    d = np.zeros(net.arch.n_params, dtype=np.float32)
    d[wid] = 1.0
    return d


@pytest.mark.parametrize("engine", ["sparse", "dense"])
@pytest.mark.parametrize("which", ["sunset", "face", "random"])
def test_batched_sweeps_equal_one_net_at_a_time(which, engine):
    net = random_net("3;sin:3,gaussian:2,tanh:2", seed=1) if which == "random" else load_cppn(which)
    settings = replace(SMALL, engine=engine, batch_size=16)  # 16 nets per call: several chunks per layer
    wids = sweepable_weights(net, settings)
    if which == "random":
        wids = [w for w in wids if w % 3 == 0]  # every layer, fewer sweeps
    else:  # genome links never sit in the output layer: add every non-zero weight (output selections, cache copies)
        wids = sorted(set(wids) | {int(w) for w in np.flatnonzero(net.params)})
    fast = sweep_weights(net, wids, settings, keep_images=True)
    assert net.arch.n_hidden in {r["layer"] for r in fast}       # output-layer weights included
    for wid, r in zip(wids, fast):
        imgs, slow = slow_sweep(net, one_hot(net, wid), settings)
        np.testing.assert_allclose(r["images"], imgs, atol=IMG_TOL)
        assert_same_metrics(r, slow, settings.res ** 2)


def test_picbreeder_skull_sweeps_equal_one_net_at_a_time(picbreeder_dir):
    net = load_cppn(picbreeder_dir / "cppnx" / "576_Skull.xml")
    settings = replace(SMALL, res=16)
    wids = sweepable_weights(net, settings)[::4]  # 15 of 57 links, spread over the depth
    fast = sweep_weights(net, wids, settings, keep_images=True)
    for wid, r in zip(wids, fast):
        imgs, slow = slow_sweep(net, one_hot(net, wid), settings)
        np.testing.assert_allclose(r["images"], imgs, atol=IMG_TOL)
        assert_same_metrics(r, slow, settings.res ** 2)


def test_chunking_and_order_do_not_change_results():
    net = load_cppn("sunset")
    wids = sweepable_weights(net)
    a = sweep_weights(net, wids, replace(SMALL, batch_size=1))
    b = sweep_weights(net, wids[::-1], replace(SMALL, batch_size=10_000))[::-1]
    for x, y in zip(a, b):
        assert x["wid"] == y["wid"]
        for k in METRICS:
            np.testing.assert_allclose(x[k], y[k], atol=1e-6)


@pytest.mark.parametrize("which", ["face", "random"])
def test_direction_sweeps_equal_one_net_at_a_time(which):
    net = random_net("2;sin:3,tanh:3", seed=2) if which == "random" else load_cppn(which)
    layer = 1
    rs = sweep_directions(net, layer, 5, SMALL, keep_images=True)
    n_in, n_out = net.arch.shape(layer)
    for r in rs:
        assert np.linalg.norm(r["direction"]) == pytest.approx(1.0, abs=1e-6)
        d = np.zeros((n_in, n_out), dtype=np.float32)
        d[:, r["col"]] = r["direction"]               # only the incoming weights of one unit move
        full = np.zeros(net.arch.n_params, dtype=np.float32)
        start = net.arch.offsets[layer]
        full[start:start + d.size] = d.ravel()
        imgs, slow = slow_sweep(net, full, SMALL)
        np.testing.assert_allclose(r["images"], imgs, atol=IMG_TOL)
        assert_same_metrics(r, slow, SMALL.res ** 2)


def test_directions_are_seeded():
    net = load_cppn("face")
    a, b = (sweep_directions(net, 2, 4, replace(SMALL, seed=7)) for _ in range(2))
    c = sweep_directions(net, 2, 4, replace(SMALL, seed=8))
    assert all(np.array_equal(x["direction"], y["direction"]) and x["col"] == y["col"] for x, y in zip(a, b))
    assert not all(np.array_equal(x["direction"], y["direction"]) for x, y in zip(a, c))
    start, (n_in, n_out) = net.arch.offsets[2], net.arch.shape(2)
    kernel = net.params[start:start + n_in * n_out].reshape(n_in, n_out)
    assert all(np.abs(kernel[:, r["col"]]).sum() > 0 for r in a)  # live units only, not padding


# ---------------------------------------------------------------------------------------------------- known outcomes


def test_hue_of_a_grey_genome_cannot_change_the_image_but_saturation_can():
    net = load_cppn("face")
    lz = layerize(net.genome)
    L = net.arch.n_hidden
    ink_row = lz.layers[L - 2].index(net.genome.outputs()["ink"])  # ink sits in layer L-1 and feeds _hue, _saturation
    hue_w = net.arch.weight_id(L - 1, ink_row, lz.layers[L - 1].index("_hue"))
    sat_w = net.arch.weight_id(L - 1, ink_row, lz.layers[L - 1].index("_saturation"))
    assert net.params[hue_w] == 0 and net.params[sat_w] == 0
    hue, sat = sweep_weights(net, [hue_w, sat_w], SMALL)
    assert hue["effect"] == 0.0 and hue["locality"] == 0.0 and not hue["effect_map"].any()  # saturation is 0
    assert math.isnan(hue["asym_added"]) and math.isnan(hue["roughness"])
    assert sat["effect"] > 0.01                                   # colour appears once saturation is not 0
    assert hue_w not in sweepable_weights(net)                    # structural, not a genome link


def dead_end_genome() -> Genome:
    """x -> a (sin) -> ink with weight 0: sweeping x -> a cannot change the image; sweeping a -> ink can."""
    nodes = {k: Node(k, "in", "identity", k) for k in ("x", "y", "d", "bias")}
    nodes |= {"a": Node("a", "hidden", "sin"), "ink": Node("ink", "out", "identity", "ink")}
    links = [Link("x", "a", 3.0), Link("a", "ink", 0.0), Link("y", "ink", 0.5), Link("bias", "ink", 0.3)]
    return Genome("dead_end", nodes, links, path="test:dead_end")


def test_weight_into_a_unit_multiplied_by_zero_has_no_effect():
    net = net_from_genome(dead_end_genome())
    wids = sweepable_weights(net)
    assert len(wids) == 4                                         # the 0-weight genome link is swept too
    into_a, a_out = sweep_weights(net, wids[:2], SMALL, keep_images=True)
    assert into_a["effect"] == 0.0 and into_a["locality"] == 0.0
    imgs, slow = slow_sweep(net, one_hot(net, wids[0]), SMALL)
    assert slow["effect"] == 0.0                                  # the slow path agrees: exactly 0
    assert a_out["effect"] > 0.05                                 # while adding a -> ink shows sin(3x)
    assert a_out["asym_added"] > 0.5                              # sin(3x) is odd: it breaks the y-gradient's symmetry


def test_face_mouth_weight_acts_on_the_lower_half():
    net = load_cppn("face")
    s = SweepSettings()
    by_label = {}
    for r in sweep_all(net, s):
        by_label.setdefault(net.labels[r["wid"]], []).append(r)
    (mouth,), (light,) = by_label["Mouth open close"], by_label["Global lighting"]
    m = mouth["effect_map"]
    assert m.shape == (64, 64)
    assert m[32:].sum() > 0.95 * m.sum()                          # rows are y, top to bottom: the mouth is below
    assert mouth["locality"] < 0.15 < 0.95 < light["locality"]    # a local edit vs a global one
    assert mouth["asym_added"] == pytest.approx(0.0, abs=1e-6)    # the face stays symmetric
    assert is_meaningful(mouth, s) and not is_meaningful(light, s)
    for eye in by_label["Eye height"]:
        assert eye["effect_map"][:32].sum() > 0.9 * eye["effect_map"].sum()


# ---------------------------------------------------------------------------------------------------- metrics


def block_sweep(res: int, mask: np.ndarray, signs: np.ndarray, settings: SweepSettings):
    base = np.full((res, res, 3), 0.25, dtype=np.float32)
    imgs = np.stack([base + 0.5 * s * mask[..., None] for s in signs]).astype(np.float32)
    return sweep_metrics(base, imgs, settings)


def test_metrics_on_constructions():
    res, s = 16, replace(SweepSettings(), res=16, n_deltas=5)      # deltas -1, -0.5, 0, 0.5, 1
    deltas = s.deltas
    left = np.zeros((res, res), dtype=np.float32)
    left[4:8, 1:5] = 1.0                                          # a 4x4 block on the left: 16 of 256 pixels
    sym = left + left[:, ::-1]                                    # the block and its mirror image
    m = block_sweep(res, left, deltas / 2, s)                     # linear in Δ, at most 0.25
    assert m["effect"] == pytest.approx(np.mean(np.abs(deltas[deltas != 0] / 2)) * 0.5 * 16 / 256, rel=1e-5)
    assert m["locality"] == pytest.approx(16 / 256)
    assert m["roughness"] == pytest.approx(0.0, abs=1e-6)
    assert m["asym_added"] == pytest.approx(2.0, rel=1e-5)        # all of the change is asymmetric
    assert m["effect_map"][4:8, 1:5].min() > 0 and m["effect_map"].sum() == pytest.approx(
        m["effect_map"][4:8, 1:5].sum())
    m = block_sweep(res, sym, deltas / 2, s)
    assert m["asym_added"] == pytest.approx(0.0, abs=1e-6) and m["locality"] == pytest.approx(32 / 256)
    m = block_sweep(res, left, np.array([-0.5, 0.5, 0.0, 0.5, -0.5]) / 2, s)  # back and forth every step
    assert m["roughness"] > 1.3
    m = block_sweep(res, left, deltas * 0.05, s)                  # changes of at most 0.025: below the threshold
    assert m["effect"] > 0 and m["locality"] == 0.0


def test_summary_quantiles_and_meaningful_rule():
    s = SweepSettings()
    rs = [{"effect": e, "locality": 0.1, "asym_added": 0.0, "roughness": 0.1} for e in np.linspace(0, 0.01, 11)]
    rs[0] |= {"asym_added": float("nan"), "roughness": float("nan")}
    rs[1] |= {"locality": 0.9}                                   # global
    rs[2] |= {"asym_added": 1.0}                                 # breaks symmetry
    rs[3] |= {"roughness": 1.5}                                  # jumpy
    out = summarize_sweeps(rs, s)
    assert out["n"] == 11
    assert out["effect_q10"] == pytest.approx(0.001) and out["effect_median"] == pytest.approx(0.005)
    assert out["effect_q90"] == pytest.approx(0.009) and out["locality_q90"] == pytest.approx(0.1)
    # meaningful: effect >= 0.002 (drops rs[0], rs[1]) and local, symmetric, smooth (drops rs[2], rs[3])
    assert out["frac_meaningful"] == pytest.approx(7 / 11)
    assert all(math.isfinite(v) for v in out.values())


def test_sweepable_weights_genome_links_or_seeded_subset(picbreeder_dir):
    skull = load_cppn(picbreeder_dir / "cppnx" / "576_Skull.xml")
    wids = sweepable_weights(skull)
    assert len(wids) == 57 and sorted(wids) == sorted(skull.labels)  # every link labelled, none a cache copy
    n_copies = int(np.sum(skull.params == 1.0)) - sum(skull.params[w] == 1.0 for w in wids)
    assert n_copies > 50                                           # ... of which there are many
    sgd = load_cppn(picbreeder_dir / "fer" / "nets" / "sgd_skull")
    a = sweepable_weights(sgd, replace(SMALL, max_weights=100))
    assert len(set(a)) == 100 and a == sweepable_weights(sgd, replace(SMALL, max_weights=100))
    assert a != sweepable_weights(sgd, replace(SMALL, max_weights=100, seed=1))
    rs = sweep_weights(sgd, a[:12], SMALL)                         # dense engine on a real SGD net
    assert all(math.isfinite(r["effect"]) and r["effect"] > 0 for r in rs)


def test_fer_named_skull_weights(picbreeder_dir):
    """FER's skull weight IDs: 'mouth' 4371 acts on the lower half and 'wink' 5009 breaks left-right symmetry.
    Mouth (and 'jaw' 37) are 0 in the net: links the genome does not have, so sweepable_weights leaves them out."""
    skull = load_cppn(picbreeder_dir / "cppnx" / "576_Skull.xml")
    mouth, wink = sweep_weights(skull, [4371, 5009], replace(SMALL, res=32))
    assert mouth["effect_map"][16:].sum() > 0.9 * mouth["effect_map"].sum()
    assert wink["asym_added"] > 0.2 > abs(mouth["asym_added"])
    assert skull.params[4371] == 0 and skull.params[37] == 0 and 4371 not in sweepable_weights(skull)
