"""SGD replicas with FER's recipe."""
import numpy as np
import pytest

from fracturelab.cppn import ReplicateSettings, builtin_net, fit, load_cppn
from fracturelab.cppn.replicate import mse


def test_same_seed_same_replica_and_loss_falls():
    face = builtin_net("face")
    target = face.render(16)
    a = fit(face.arch, target, ReplicateSettings(res=16, steps=60, seed=5), progress=False)
    b = fit(face.arch, target, ReplicateSettings(res=16, steps=60, seed=5), progress=False)
    c = fit(face.arch, target, ReplicateSettings(res=16, steps=60, seed=6), progress=False)
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.losses, b.losses)
    assert not np.array_equal(a.params, c.params)
    assert a.losses[-1] < a.losses[0] / 2
    assert mse(face.arch, a.params, target) == pytest.approx(a.losses.min(), rel=1e-4)  # the best weights are kept


def test_mask_hides_pixels_from_the_loss():
    face = builtin_net("face")
    target = face.render(16)
    mask = np.ones((16, 16))
    mask[:, 8:] = 0
    garbage = target.copy()
    garbage[:, 8:] = np.random.default_rng(0).random((16, 8, 3))  # what the mask hides must not matter
    a = fit(face.arch, target, ReplicateSettings(res=16, steps=30), mask=mask, progress=False)
    b = fit(face.arch, garbage, ReplicateSettings(res=16, steps=30), mask=mask, progress=False)
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-5)


@pytest.mark.slow
def test_skull_replica_reaches_fer_quality_at_64(picbreeder_dir):
    """FER's claim at 64x64: an SGD replica of the skull with the skull's arch passes MSE 2e-3 within 6,000 steps."""
    skull = load_cppn(picbreeder_dir / "fer" / "genomes" / "skull.zip")
    target = skull.render(64)
    rep = fit(skull.arch, target, ReplicateSettings(res=64, steps=6000, seed=0, stop_mse=2e-3), progress=False)
    assert rep.arch == skull.arch
    assert len(rep.losses) <= 6000 and rep.losses.min() < 2e-3
    assert mse(rep.arch, rep.params, target) < 2e-3
