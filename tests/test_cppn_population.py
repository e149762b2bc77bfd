"""Batched SGD replicas against the slow obvious path: each replica of a population follows replicate.fit with the
same settings (loss curve, stopping, kept weights)."""
import numpy as np
import pytest

from fracturelab.cppn import Arch, ReplicateSettings, builtin_net, fit, fused
from fracturelab.cppn.population import fit_population
from fracturelab.errors import FracturelabError


def _check(reps, settings, target, arch, mask=None, rtol=1e-4):
    for rep, s in zip(reps, settings):
        alone = fit(Arch.parse(s.arch) if s.arch else arch, target, s, mask=mask, progress=False)
        assert rep.arch == alone.arch and len(rep.losses) == len(alone.losses)
        np.testing.assert_allclose(rep.losses, alone.losses, rtol=rtol)
        assert rep.losses.min() == pytest.approx(alone.losses.min(), rel=rtol)
        np.testing.assert_allclose(rep.params, alone.params, rtol=1e-2, atol=1e-3)


@pytest.mark.slow
def test_8_replicas_follow_separate_fits_200_steps():
    # lr 3e-4 / 2e-4: at FER's 3e-3 the recipe itself is chaotic at float rounding (two single fits that differ only
    # in the kernel part ways after ~50 steps; see the next test and docs/populations.md), so 200 steps are compared here
    face = builtin_net("face")
    target = face.render(16)
    settings = [ReplicateSettings(res=16, steps=200, seed=s, lr=[3e-4, 2e-4][s % 2]) for s in range(8)]
    settings[3].stop_mse = 3e-2     # stops early and leaves the batch
    settings[5].steps = 120
    settings[6].normalize_grad = False
    reps = fit_population(face.arch, target, settings)
    assert len(reps[3].losses) < 200 and len(reps[5].losses) == 120
    _check(reps, settings, target, face.arch)


def test_fer_learning_rate_first_25_steps():
    face = builtin_net("face")
    target = face.render(16)
    settings = [ReplicateSettings(res=16, steps=25, seed=s, lr=3e-3) for s in range(8)]
    _check(fit_population(face.arch, target, settings), settings, target, face.arch)


@pytest.mark.skipif(not fused.available(), reason="the fused CPPN engine needs a C++ compiler")
def test_engine_population_follows_the_torch_reference():
    """The engine's batch (per-row learning rates, normalization flags, rows leaving) against single fits on the
    torch reference path (autograd and StackedAdam)."""
    face = builtin_net("face")
    target = face.render(16)
    settings = [ReplicateSettings(res=16, steps=40, seed=s, lr=[3e-4, 1e-4, 2e-4][s % 3]) for s in range(6)]
    settings[1].normalize_grad = False
    settings[2].steps = 25
    settings[4].keep = "best"
    reps = fit_population(face.arch, target, settings)
    with fused.disabled():
        _check(reps, settings, target, face.arch)


def test_other_archs_train_as_their_own_batch_and_masks_apply():
    face = builtin_net("face")
    target = face.render(16)
    mask = np.ones((16, 16))
    mask[:, 8:] = 0
    settings = [ReplicateSettings(res=16, steps=40, seed=s, arch=a) for s, a in
                enumerate([None, "2;tanh:8,sin:8", None, "2;tanh:8,sin:8"])]
    reps = fit_population(face.arch, target, settings, mask=mask)
    assert str(reps[1].arch) == str(reps[3].arch) != str(reps[0].arch)
    _check(reps, settings, target, face.arch, mask=mask)


def test_bad_input():
    face = builtin_net("face")
    with pytest.raises(FracturelabError, match="at least one"):
        fit_population(face.arch, face.render(16), [])
    with pytest.raises(FracturelabError, match="expected"):
        fit_population(face.arch, face.render(8), [ReplicateSettings(res=16, steps=2)])
