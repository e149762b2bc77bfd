"""SGD replicas with FER's recipe."""
import numpy as np
import pytest
import torch

from fracturelab.cppn import Arch, ReplicateSettings, builtin_net, fit, load_cppn
from fracturelab.cppn.module import lecun_normal
from fracturelab.cppn.replicate import TRUNC_STD, lecun_truncated_normal, mse
from fracturelab.errors import FracturelabError


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
    assert mse(face.arch, a.params, target) == pytest.approx(a.fit_mse, rel=1e-4)  # FER's: the final weights
    best = fit(face.arch, target, ReplicateSettings(res=16, steps=60, seed=5, keep="best"), progress=False)
    assert mse(face.arch, best.params, target) == pytest.approx(best.losses.min(), rel=1e-4) == best.fit_mse
    np.testing.assert_array_equal(best.losses, a.losses)  # keep only picks which weights come back


def test_init_is_flax_lecun_normal_truncated_at_two_std():
    """flax's lecun_normal: a standard normal truncated to [-2, 2], scaled so the std after truncation is
    1/sqrt(fan_in). The correction constant must be the std of that truncated normal (scipy as the oracle)."""
    from scipy.stats import truncnorm

    assert TRUNC_STD == pytest.approx(truncnorm(-2, 2).std(), abs=1e-15)
    arch = Arch.parse("2;sin:200,gaussian:200")  # kernels 4x400, 400x400, 400x400, 400x3
    g = torch.Generator().manual_seed(0)
    w = lecun_truncated_normal(arch, g)
    for i, (n_in, n_out) in enumerate(arch.shape(j) for j in range(arch.n_hidden + 1)):
        k = w[arch.offsets[i]:arch.offsets[i] + n_in * n_out]
        bound = 2 / TRUNC_STD / np.sqrt(n_in)
        assert k.abs().max() <= bound * (1 + 1e-6)
        if n_in * n_out > 100_000:  # enough draws for the std and the tails
            assert float(k.std()) == pytest.approx(1 / np.sqrt(n_in), rel=0.01)
            assert k.abs().max() > 0.99 * bound  # truncated at the bound, not narrower
    plain = lecun_normal(arch, torch.Generator().manual_seed(0))
    assert plain.abs().max() > 2 / TRUNC_STD / np.sqrt(400) * 1.5  # the plain normal has tails beyond it
    assert torch.equal(w, lecun_truncated_normal(arch, torch.Generator().manual_seed(0)))


def test_init_setting_picks_the_draw_and_bad_settings_say_so():
    face = builtin_net("face")
    target = face.render(8)
    one = lambda **kw: fit(face.arch, target, ReplicateSettings(res=8, steps=1, seed=3, **kw), progress=False)
    trunc, plain = one(), one(init="normal")
    # one step of Adam moves every weight by about lr: the start is still recognisable in the result
    start_t = lecun_truncated_normal(face.arch, torch.Generator().manual_seed(3)).numpy()
    start_p = lecun_normal(face.arch, torch.Generator().manual_seed(3)).numpy()
    assert np.abs(trunc.params - start_t).max() < 0.01 and np.abs(plain.params - start_p).max() < 0.01
    for bad in ({"init": "uniform"}, {"keep": "last"}):
        with pytest.raises(FracturelabError, match=list(bad)[0]):
            ReplicateSettings(**bad).check()


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
    assert mse(rep.arch, rep.params, target) < 2e-3  # stop_mse ends on the step that passed: final = that one


@pytest.mark.parametrize("engine", ["_FusedAdam", "_TorchAdam"])
def test_a_nan_gradient_under_a_finite_loss_stops_at_its_step(engine, monkeypatch):
    """to_rgb's clamps can keep the loss finite while the gradient is NaN: the fit stops at that step, not at the end
    with NaN weights."""
    import fracturelab.cppn.replicate as R

    cls = getattr(R, engine)
    loss, calls = cls.loss, []

    def poisoned(self):
        out = loss(self)
        calls.append(1)
        if len(calls) == 4:
            self.grad = torch.full_like(self.grad, float("nan"))
        return out
    monkeypatch.setattr(cls, "loss", poisoned)
    if engine == "_TorchAdam":
        monkeypatch.setattr(R, "fused_active", lambda: False)
    with pytest.raises(FracturelabError, match="diverged at step 3 "):
        fit(Arch.parse("2;tanh:4"), builtin_net("face").render(8), ReplicateSettings(res=8, steps=20), progress=False)
