"""The fused engine (cppn/fused.py) against the torch reference in module.py: forward, RGB, gradients, FER's loss.

Tolerance: 1e-5 of the reference's largest magnitude. Both engines are float32 and sum in different orders; on the
small nets here they agree to about 1e-6 (on deep nets with noisy weights, float32 rounding alone moves either engine
by ~1e-4 from float64, so those are not compared here)."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from fracturelab.cppn import fused
from fracturelab.cppn.arch import Arch
from fracturelab.cppn.color import to_rgb
from fracturelab.cppn.module import activate, activate_rows, coord_grid, forward, lecun_normal, rgb
from fracturelab.cppn.replicate import ReplicateSettings, fit, fit_many

pytestmark = pytest.mark.skipif(not fused.available(), reason="no C++ compiler: the fused engine is not built")
ARCH = Arch.parse("4;cache:2,cos:2,gaussian:2,identity:1,relu:2,sigmoid:2,sin:2,tanh:2")  # every activation kind


def close(fast: torch.Tensor, ref: torch.Tensor, tol: float = 1e-5) -> None:
    err = (fast - ref).abs().max().item()
    assert err <= tol * max(1.0, ref.abs().max().item()), f"fused differs from the reference by {err:.2e}"


def nets(arch: Arch, n: int, seed: int = 0, scale: float = 1.5) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.stack([scale * lecun_normal(arch, gen) for _ in range(n)])


def sparse(params: torch.Tensor, keep: float, seed: int = 0) -> torch.Tensor:
    """Zero most weights, as a layerized genome (exercises the compressed kernels and skipped dead units)."""
    mask = torch.rand(params.shape, generator=torch.Generator().manual_seed(seed)) < keep
    return params * mask


@pytest.mark.parametrize("res", [9, 40])  # 81 pixels: padding; 1600: several blocks
def test_forward_and_rgb_match_the_reference(res):
    inputs = coord_grid(res, (-1.5, 1.0, -1.0, 1.2))
    for params in (nets(ARCH, 5), sparse(nets(ARCH, 3, seed=1), 0.15)):
        with fused.disabled(), torch.no_grad():
            ref = forward(ARCH, params, inputs)
            ref_rgb = to_rgb(ref)
        with torch.no_grad():
            fast = forward(ARCH, params, inputs)
        assert fast.shape == ref.shape and ref.abs().max() > 0.1
        close(fast, ref)
        close(rgb(ARCH, params, inputs), ref_rgb)
        close(rgb(ARCH, params[1], inputs), ref_rgb[1])


def test_gradients_through_forward_match_autograd():
    """forward() with params requiring grad (one net, and a batch of R): the fused backward against autograd."""
    inputs = coord_grid(20)
    params = nets(ARCH, 3, seed=2)
    upstream = torch.randn(3, 400, 3, generator=torch.Generator().manual_seed(3))
    grads = []
    for ctx in (fused.disabled(), torch.enable_grad()):
        with ctx:
            p = params.clone().requires_grad_()
            (forward(ARCH, p, inputs) * upstream).sum().backward()
            q = params[1].clone().requires_grad_()
            (forward(ARCH, q, inputs) * upstream[1]).sum().backward()
            grads.append((p.grad, q.grad))
    (ref, ref1), (fast, fast1) = grads
    assert ref.abs().max() > 1
    close(fast, ref)
    close(fast1, ref1)
    close(fast1, fast[1])


def test_rgb_mse_loss_and_gradient_match_autograd():
    """FER's loss (MSE on RGB, masked, per net) and its gradient in one fused pass, against torch autograd; a few
    raw outputs fall outside [0, 1] and below 0 so every clip and the |v| branch are crossed."""
    inputs = coord_grid(24)
    params = nets(ARCH, 4, seed=4, scale=2.0)
    target = torch.rand(576, 3, generator=torch.Generator().manual_seed(5))
    mask = (torch.rand(576, generator=torch.Generator().manual_seed(6)) < 0.7).float()
    weights = mask / (mask.sum() * 3)
    with fused.disabled():
        p = params.clone().requires_grad_()
        raw = forward(ARCH, p, inputs)
        ref_loss = ((to_rgb(raw) - target) ** 2 * mask[:, None]).sum(dim=(1, 2)) / (mask.sum() * 3)
        ref_loss.sum().backward()
    assert (raw[..., 1] > 1).any() and (raw[..., 1] < 0).any() and (raw[..., 2] < -1).any()
    loss, grad = fused.rgb_mse(ARCH, params, inputs, target, weights)
    close(loss, ref_loss.detach())
    close(grad, p.grad)
    targets = torch.stack([target, 1 - target, target, target])  # one target per net
    loss2, grad2 = fused.rgb_mse(ARCH, params, inputs, targets, weights)
    close(loss2[[0, 2, 3]], loss[[0, 2, 3]], 1e-6)
    assert abs(loss2[1] - loss[1]) > 1e-3


def test_fit_uses_the_engine_and_matches_the_reference_recipe():
    """replicate.fit through the engine against the torch reference, and fit_many's R replicas against fit."""
    target = rgb(ARCH, nets(ARCH, 1, seed=7)[0], coord_grid(16)).reshape(16, 16, 3).numpy()
    settings = ReplicateSettings(res=16, steps=8, seed=3)
    with fused.disabled():
        ref = fit(ARCH, target, settings, progress=False)
    fast = fit(ARCH, target, settings, progress=False)
    np.testing.assert_allclose(fast.losses, ref.losses, rtol=1e-4)
    many = fit_many(ARCH, target, settings, seeds=[3, 4], progress=False)
    np.testing.assert_allclose(many[0].losses, fast.losses, rtol=1e-4)
    assert many[1].settings.seed == 4 and not np.allclose(many[1].losses, fast.losses)
    np.testing.assert_allclose(many[1].losses, fit(ARCH, target, ReplicateSettings(res=16, steps=8, seed=4),
                                                   progress=False).losses, rtol=1e-4)


@pytest.mark.parametrize("spec", ["4;gaussian:16,identity:16,sin:16,tanh:16",
                                  "2;tanh:5,sin:11,cos:3,sigmoid:7,relu:2,gaussian:20,identity:1"])
def test_grouped_activation_matches_the_reference(spec):
    """activate_rows (the engine's grouped activation, whole and partial vectors) against activate: values, gradients,
    under vmap (a population) and vmap of grad; a second derivative is refused, not silently wrong."""
    arch = Arch.parse(spec)
    z = (torch.randn(3, 37, arch.width, generator=torch.Generator().manual_seed(0)) * 2).requires_grad_()
    out, ref = activate_rows(arch, z), activate(arch, z)
    close(out, ref, 1e-6)
    g = torch.randn_like(out)
    close(torch.autograd.grad((out * g).sum(), z)[0], torch.autograd.grad((ref * g).sum(), z)[0], 1e-5)
    close(torch.vmap(lambda x: activate_rows(arch, x), in_dims=1)(z.detach()), ref.detach().movedim(1, 0), 1e-6)
    def sq(f):
        return torch.func.vmap(torch.func.grad(lambda x: (f(arch, x) ** 2).sum()))(z.detach())
    close(sq(activate_rows), sq(activate), 1e-5)
    (first,) = torch.autograd.grad((activate_rows(arch, z) ** 2).sum(), z, create_graph=True)
    with pytest.raises(RuntimeError):
        torch.autograd.grad(first.sum(), z)


def test_without_a_compiler_the_engine_is_off_and_torch_runs(tmp_path):
    code = ("import warnings, torch; warnings.simplefilter('ignore');"
            "from fracturelab.cppn import fused, Arch, coord_grid, forward;"
            "a = Arch.parse('2;sin:3'); print(fused.available(), forward(a, torch.ones(a.n_params), coord_grid(4)).shape)")
    env = {**os.environ, "CXX": str(tmp_path / "no-such-compiler"), "PATH": str(tmp_path),
           "FRACTURELAB_CACHE": str(tmp_path / "cache"), "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "torch.Size([16,", "3])"]


def test_huge_pre_activations_match_the_reference():
    """Deep Picbreeder chains at FER's init reach pre-activations of 1e25 and more. The engine's sine reduced them out of
    its exact range (sin(1e20) came out -inf, and the NaN gradient that followed was hidden by to_rgb's clamps until
    the replica's weights were NaN); its gaussian's derivative read e^{-87} for 0. Values and gradients as torch's."""
    arch = Arch.parse("1;sin:16,cos:16,gaussian:16")
    big = torch.tensor([0.5, 3e3, 5e6, -5e6, 1e8, -1e8, 1e12, 1e20, -1e20, 1e30, 3e38, -3e38, 1e6, -7e25, 2e7, 9e9])
    z = big.repeat(3)[None].clone().requires_grad_()
    out, ref = activate_rows(arch, z), activate(arch, z)
    assert torch.isfinite(out).all()
    close(out, ref, 1e-6)
    g_out, g_ref = (torch.autograd.grad(f.sum(), z)[0] for f in (out, ref))
    finite = torch.isfinite(g_ref)  # the gaussian's derivative at |z| 3e38 is -inf * 0 in both
    assert torch.equal(finite, torch.isfinite(g_out))
    close(g_out[finite], g_ref[finite], 1e-6)
