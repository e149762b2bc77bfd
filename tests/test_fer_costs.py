"""What fracture costs: extrapolation, completion and adaptation against a reference net."""
import math
from dataclasses import replace

import numpy as np
import pytest

from fracturelab.cppn import Link, Node, builtin_net, load_cppn
from fracturelab.cppn.builtins import face as face_genome
from fracturelab.cppn.nets import Net, net_from_genome
from fracturelab.errors import FracturelabError
from fracturelab.fer.costs import (CostSettings, adaptation, adaptation_targets, completion, extrapolation,
                                   fracture_costs, pick_weight, region_mask, region_mse, reverse_target, weight_effects,
                                   wide_grid)

FACE_MOUTH = 16  # the built-in face's "Mouth open close" weight


@pytest.fixture(scope="module")
def face():
    return builtin_net("face")


@pytest.fixture(scope="module")
def face_with_a_rim():
    """The face plus one gaussian unit of x peaked at x = 1.3: inside [-1, 1] it sits at -1 to within 2.5e-4, and a
    bias change cancels it, so the image is the face's on the training window and a bright band only outside."""
    g = face_genome()
    g.nodes["rim"] = Node("rim", "hidden", "gaussian")
    g.links = [replace(l, weight=l.weight + 0.3) if (l.source, l.target) == ("bias", "ink") else l for l in g.links]
    g.links += [Link("x", "rim", 10.0), Link("bias", "rim", -13.0), Link("rim", "ink", 0.3)]
    return net_from_genome(g)


def test_a_net_against_itself_costs_nothing(face):
    numbers, images = extrapolation(face, face, res=32)
    assert numbers["in_window_mse"] == 0.0 and numbers["extrapolation_mse"] == 0.0
    assert set(images) == {"reference", "net"}
    assert all(isinstance(v, float) for v in numbers.values())  # the numbers stay a flat dict of floats


def test_inner_block_of_the_wide_render_is_the_plain_render(face):
    pad, r = wide_grid(32, 1.5)
    assert pad == 8 and r == pytest.approx(1 + 16 / 31)  # 1.5 rounded to whole pixels of spacing 2/31
    _, images = extrapolation(face, face, res=32, wide=1.5)
    assert images["net"].shape == (48, 48, 3)
    np.testing.assert_allclose(images["net"][pad:pad + 32, pad:pad + 32], face.render(32), atol=1e-5)


def test_a_net_equal_inside_differs_only_outside(face, face_with_a_rim):
    numbers, images = extrapolation(face, face_with_a_rim, res=32)
    assert numbers["in_window_mse"] < 1e-8
    assert numbers["extrapolation_mse"] > 1e-3
    pad, _ = wide_grid(32, 1.5)
    assert np.abs(images["net"] - images["reference"])[:, pad + 32:].max() > 0.3  # the band right of x = 1


def test_wide_must_add_a_pixel(face):
    with pytest.raises(FracturelabError, match="adds no pixel"):
        extrapolation(face, face, res=32, wide=1.0)


def test_region_masks():
    right = region_mask(32, "right_half")
    assert right[:, 16:].all() and not right[:, :16].any()  # x > 0 is the right half of the columns
    box = region_mask(32, "rect", (-0.5, 0.5, 0.0, 1.0))
    assert box[31, 16] and not box[0, 16] and not box[31, 0]  # y runs down the rows
    with pytest.raises(FracturelabError, match="unknown completion region"):
        region_mask(32, "left_half")


def test_completion_that_hides_nothing_or_everything_is_refused(face):
    nothing = CostSettings(res=16, steps=5, region="rect", rect=(1.5, 2.0, 1.5, 2.0))  # outside [-1, 1]^2
    with pytest.raises(FracturelabError, match="hides no pixel"):
        completion(face, None, nothing)
    everything = CostSettings(res=16, steps=5, region="rect", rect=(-2.0, 2.0, -2.0, 2.0))
    with pytest.raises(FracturelabError, match="hides every pixel"):
        completion(face, None, everything)


def test_completion_is_deterministic_with_a_seed(face):
    settings = CostSettings(res=16, steps=20, stop_mse=None)
    a, images = completion(face, None, settings, seed=3)
    b, _ = completion(face, None, settings, seed=3)
    c, _ = completion(face, None, settings, seed=4)
    assert a == b and a != c
    assert set(a) == {"completion_mse", "visible_mse", "train_steps", "train_mse"}
    assert a["train_steps"] == 20 and images["hidden"][:, 8:].all()
    assert images["render"].shape == (16, 16, 3)


def test_an_existing_net_only_reports_its_error_in_the_region(face):
    assert region_mse(face, face, 32)["hidden_region_mse"] == 0.0  # the reference is the oracle
    moved = Net("moved", face.arch, face.params.copy())
    moved.params[FACE_MOUTH] += 1.0
    out = region_mse(face, moved, 32, "rect", (-1.0, 1.0, -1.0, 0.0))  # the mouth is in the lower half (y > 0)
    assert out["hidden_region_mse"] < 1e-10 and out["visible_region_mse"] > 1e-4


def test_adaptation_toward_its_own_render_takes_no_steps(face):
    out = adaptation(face, face.render(16), CostSettings(adapt_steps=50, adapt_thresh=1e-6))
    assert out["steps_to_thresh"] == 0.0 and out["start_mse"] < 1e-6


def test_adaptation_that_never_gets_there_reports_nan(face):
    target = adaptation_targets(face, FACE_MOUTH, 1.0, 16)
    out = adaptation(face, target, CostSettings(adapt_steps=3), thresh=1e-12)
    assert math.isnan(out["steps_to_thresh"]) and out["final_mse"] <= out["start_mse"]
    frozen = adaptation(face, target, CostSettings(adapt_steps=3, adapt_lr=1e-9), thresh=1e-12)  # its own lr
    assert frozen["final_mse"] == pytest.approx(frozen["start_mse"], rel=1e-4)


def test_adaptation_reaches_a_one_weight_change(face):
    target = adaptation_targets(face, FACE_MOUTH, 0.3, 16)
    out = adaptation(face, target, CostSettings(adapt_steps=300, adapt_thresh=3e-4))
    assert out["start_mse"] > 3e-4 and 0 < out["steps_to_thresh"] < 300 and out["final_mse"] < 3e-4


def test_adaptation_targets(face):
    np.testing.assert_array_equal(adaptation_targets(face, FACE_MOUTH, 0.0, 16), face.render(16))
    moved = adaptation_targets(face, FACE_MOUTH, 1.0, 16)
    assert np.abs(moved - face.render(16)).mean() > 1e-3
    batch = adaptation_targets(face, [FACE_MOUTH, 3], 1.0, 16)  # several weights in one batched render
    assert batch.shape == (2, 16, 16, 3)
    np.testing.assert_allclose(batch[0], moved, atol=1e-6)
    with pytest.raises(FracturelabError, match="out of range"):
        adaptation_targets(face, face.arch.n_params, 1.0, 16)


def test_batched_weight_effects_match_one_at_a_time(face):
    cand = [FACE_MOUTH, 3, 257, 400]
    effects = weight_effects(face, 1.0, 16, candidates=cand, chunk_elems=2 * 256 * face.arch.width)  # 2 per chunk
    one_by_one = [np.abs(adaptation_targets(face, w, 1.0, 16) - face.render(16)).mean() for w in cand]
    np.testing.assert_allclose(effects, one_by_one, atol=1e-6)
    all_effects = weight_effects(face, 1.0, 16)
    wid, target = reverse_target(face, 1.0, res=16, pick_res=16)
    assert wid == int(np.argmax(all_effects))
    np.testing.assert_array_equal(target, adaptation_targets(face, wid, 1.0, 16))
    wid, effect = pick_weight(face, 1.0, 16, match=all_effects[FACE_MOUTH])  # a change as big as the mouth's
    assert abs(effect - all_effects[FACE_MOUTH]) < 1e-9


def test_fracture_costs_rows(face, face_with_a_rim):
    settings = CostSettings(res=16, steps=20, stop_mse=None, seeds=(0,), adapt_wid=FACE_MOUTH, adapt_steps=10,
                            pick_res=8)
    rows, images = fracture_costs(face, {"rim": face_with_a_rim}, settings)
    assert set(rows) == {"reference", "rim", "completion_seed0"}
    ref, rim = rows["reference"], rows["rim"]
    assert ref["adapt_thresh"] == 1e-3  # relative threshold: plus the start net's own fit error, 0 here
    assert rim["adapt_thresh"] == pytest.approx(1e-3 + rim["in_window_mse"], abs=1e-9)
    assert ref["in_window_mse"] == 0.0 and ref["extrapolation_mse"] == 0.0 and ref["hidden_region_mse"] == 0.0
    assert ref["reverse_self_steps"] == ref["reverse_steps"] or math.isnan(ref["reverse_steps"])
    assert rows["rim"]["extrapolation_mse"] > 1e-3 and rows["rim"]["in_window_mse"] < 1e-8
    assert all(isinstance(v, float) for row in rows.values() for v in row.values())
    assert {"wide/reference", "wide/rim", "completion/seed0", "completion/target"} <= set(images)
    with pytest.raises(FracturelabError, match="reference"):
        fracture_costs(face, {"reference": face}, settings)
    with pytest.raises(FracturelabError, match="reverse_pick"):
        fracture_costs(face, {}, replace(settings, reverse_pick="best"))


def test_skull_sgd_net_agrees_inside_the_window_only(picbreeder_dir):
    nets = picbreeder_dir / "fer" / "nets"
    skull, sgd = load_cppn(nets / "picbreeder_skull"), load_cppn(nets / "sgd_skull")
    numbers, _ = extrapolation(skull, sgd, res=32)
    assert numbers["in_window_mse"] < 2e-3  # FER trained it to 3.9e-4 at 256x256
    assert numbers["extrapolation_mse"] > 5 * numbers["in_window_mse"]
