"""The torch CPPN: batched evaluation against one net at a time, colour against colorsys, the nn.Module wrapper."""
import colorsys

import numpy as np
import torch

from fracturelab.cppn import CPPN, Arch, builtin_net, coord_grid, forward, render
from fracturelab.cppn.color import hsv2rgb, to_rgb
from fracturelab.cppn.module import lecun_normal


def test_hsv2rgb_matches_colorsys():
    g = torch.Generator().manual_seed(0)
    hsv = torch.rand(500, 3, generator=g, dtype=torch.float64)
    ours = hsv2rgb(hsv[:, 0], hsv[:, 1], hsv[:, 2]).numpy()
    ref = np.array([colorsys.hsv_to_rgb(*row) for row in hsv.numpy()])
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_batched_forward_equals_one_net_at_a_time():
    arch = Arch.parse("5;cache:3,cos:2,gaussian:3,identity:1,relu:2,sigmoid:2,sin:2,tanh:2")
    g = torch.Generator().manual_seed(1)
    params = torch.stack([lecun_normal(arch, g) for _ in range(7)])  # (7, P)
    inputs = coord_grid(16)
    out, feats = forward(arch, params, inputs, features=True)
    assert out.shape == (7, 256, 3) and len(feats) == 5 and feats[0].shape == (7, 256, arch.width)
    for b in range(7):
        one, one_feats = forward(arch, params[b], inputs, features=True)
        torch.testing.assert_close(out[b], one)
        for f, f1 in zip(feats, one_feats):
            torch.testing.assert_close(f[b], f1)
    np.testing.assert_allclose(render(arch, params.numpy(), 16, chunk_elems=1)[3], render(arch, params[3].numpy(), 16),
                               atol=1e-6)


def test_activation_groups_apply_to_their_columns():
    arch = Arch.parse("1;cache:1,gaussian:1,sigmoid:1,sin:1")  # Dense_0 copies input x to every unit
    params = torch.zeros(arch.n_params)
    params[arch.weight_id(0, 0, 0):arch.weight_id(0, 0, 3) + 1] = 1.0
    x = coord_grid(5)[:, 0]
    _, (h,) = forward(arch, params, coord_grid(5), features=True)
    expected = torch.stack([x, 2 * torch.exp(-x * x) - 1, 2 * torch.sigmoid(x) - 1, torch.sin(x)], -1)
    torch.testing.assert_close(h, expected)


def test_module_wraps_the_function_and_trains():
    face = builtin_net("face")
    m = CPPN(face.arch, face.params)
    inputs = coord_grid(8)
    torch.testing.assert_close(m.rgb(inputs), to_rgb(forward(face.arch, torch.as_tensor(face.params), inputs)))
    m2 = CPPN("3;relu:5", seed=3)
    (m2.rgb(inputs) ** 2).mean().backward()
    assert m2.params.grad is not None and torch.isfinite(m2.params.grad).all()
    torch.testing.assert_close(CPPN("3;relu:5", seed=3).params, m2.params)  # same seed, same weights


def test_coordinate_grid_layout():
    g = coord_grid(3, (-2.0, 2.0, 0.0, 1.0)).reshape(3, 3, 4)
    torch.testing.assert_close(g[0, :, 0], torch.tensor([-2.0, 0.0, 2.0]))  # x along columns
    torch.testing.assert_close(g[:, 0, 1], torch.tensor([0.0, 0.5, 1.0]))   # y down the rows
    torch.testing.assert_close(g[..., 2], 1.4 * torch.sqrt(g[..., 0] ** 2 + g[..., 1] ** 2))
    assert (g[..., 3] == 1).all()


def test_one_net_gradient_path_matches_autograd():
    """The hand-written backward of the one-net SGD path against autograd through the batched path (float64)."""
    arch = Arch.parse("4;cache:2,cos:2,gaussian:2,identity:1,relu:2,sigmoid:2,sin:2,tanh:2")
    inputs = coord_grid(9).double()
    target = torch.rand(81, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    p = lecun_normal(arch, torch.Generator().manual_seed(3)).double().requires_grad_()
    fast = ((to_rgb(forward(arch, p, inputs)) - target) ** 2).mean()
    (g_fast,) = torch.autograd.grad(fast, p)
    slow = ((to_rgb(forward(arch, p.unsqueeze(0), inputs)[0]) - target) ** 2).mean()  # (1, P): autograd path
    (g_slow,) = torch.autograd.grad(slow, p)
    torch.testing.assert_close(fast, slow)
    torch.testing.assert_close(g_fast, g_slow, rtol=1e-10, atol=1e-12)
    assert g_fast.abs().max() > 0
