"""Oracle tests of the fast mask training (probes.masks: fused soft mask, floor on subnormals, fused Adam) against a
slow obvious reference: the plain autograd expression of continuous sparsification, as the module docstring
defines it, trained step by step. Tolerances are the reference's own float32 rounding, measured in each test."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from fracturelab.probes import reuse
from fracturelab.probes.common import IGNORE, Parts, part_logits, weight_params
from fracturelab.probes.masks import MaskSettings, _floor_and_clamp, _SoftMask, train_mask

V, S, E, H, J, C = 6, 5, 3, 24, 3, 4  # vocabulary, input positions, embedding, hidden units, parts, classes


class Tiny(nn.Module):
    """models.mlp with input = embed in small: embedded tokens -> one ReLU layer -> J parts of C classes."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.emb = nn.Embedding(V, E)
        self.hidden = nn.Linear(S * E, H)
        self.head = nn.Linear(H, J * C)

    def forward(self, batch: dict) -> torch.Tensor:
        h = torch.relu(self.hidden(self.emb(batch["x"]).flatten(1)))
        return self.head(h).view(len(h), J, C)


def _batch(seed: int, n: int = 256) -> dict:
    """Part j's answer is (x_j + x_{j+1}) mod C: neighbouring parts read a token in common."""
    x = torch.randint(0, V, (n, S), generator=torch.Generator().manual_seed(seed))
    return {"x": x, "y": torch.stack([(x[:, j] + x[:, j + 1]) % C for j in range(J)], 1)}


@pytest.fixture(scope="module")
def trained():
    model, batch = Tiny(), _batch(0)
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(300):
        loss = F.cross_entropy(model(batch).reshape(-1, C), batch["y"].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), batch


def reference_train_mask(model, batch, keep, ignore, seed=0, s=None):
    """The definition, step by step: W * sigmoid(beta s), the task loss + lam x mean soft mask, torch's Adam."""
    s = s or MaskSettings()
    base = {k: v.detach() for k, v in model.named_parameters()}
    masked = {k: v.detach() for k, v in weight_params(model).items()}
    logits_s = {k: torch.full_like(v, s.s0, requires_grad=True) for k, v in masked.items()}
    opt = torch.optim.Adam(list(logits_s.values()), lr=s.lr, foreach=False)
    y = part_logits(model(batch), batch)[1]
    classes = [torch.unique(y[:, j][y[:, j] != IGNORE]) for j in ignore]
    gen = torch.Generator().manual_seed(int(seed))
    n_masked = sum(v.numel() for v in masked.values())
    beta = 1.0
    for step in range(s.steps):
        if step and step % max(1, s.steps // s.epochs) == 0:
            beta = min(s.beta_max, beta * s.beta_max ** (1 / s.epochs))
        idx = torch.randperm(len(batch["y"]), generator=gen)[: s.batch_size]
        b = {k: v[idx] for k, v in batch.items()}
        soft = {k: torch.sigmoid(beta * v) for k, v in logits_s.items()}
        lg, yy = part_logits(functional_call(model, {**base, **{k: masked[k] * soft[k] for k in masked}}, (b,)), b)
        loss = F.cross_entropy(lg[:, keep].reshape(-1, lg.shape[-1]), yy[:, keep].reshape(-1), ignore_index=IGNORE)
        for j, cls in zip(ignore, classes):
            loss = loss - s.ignore_weight * F.log_softmax(lg[:, j], -1)[:, cls].mean() / len(ignore)
        loss = loss + s.lam * sum(m.sum() for m in soft.values()) / n_masked
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {k: v.detach() for k, v in logits_s.items()}


def _double(model: nn.Module) -> nn.Module:
    """A float64 copy of a Tiny."""
    m = Tiny()
    m.load_state_dict(model.state_dict())
    return m.double().eval()


def _flat(mask: dict) -> torch.Tensor:
    return torch.cat([v.reshape(-1).double() for v in mask.values()])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_soft_mask_matches_autograd(dtype):
    g = torch.Generator().manual_seed(1)
    s = (torch.randn(40, 30, generator=g) * 0.6).to(dtype)  # at beta = 200: from 1 down to far under the floor
    w, r = torch.randn(40, 30, generator=g).to(dtype), torch.randn(40, 30, generator=g).to(dtype)
    floor, _ = _floor_and_clamp(dtype)
    eps = torch.finfo(dtype).eps
    for beta in (1.0, 7.3, 200.0):
        c = 0.37  # the sparsity penalty's weight on the sum
        s1, s2 = s.clone().requires_grad_(), s.clone().requires_grad_()
        out, total = _SoftMask.apply(s1, w, beta)
        (out * r).sum().add(c * total).backward()
        m = torch.sigmoid(beta * s2)
        (w * m * r).sum().add(c * m.sum()).backward()
        m = m.detach()
        under = m < floor
        assert torch.equal(out[under], torch.zeros_like(out[under]))  # no subnormals: exactly 0 under the floor
        torch.testing.assert_close(out[~under], (w * m)[~under], rtol=2 * eps, atol=0)
        torch.testing.assert_close(total, m.sum(), rtol=8 * eps * len(m.reshape(-1)) ** 0.5, atol=floor * m.numel())
        # the gradient beta m (1 - m) (w r + c): a few roundings of its terms apart, plus (under the floor) the
        # reference's tiny gradient that is dropped
        terms = beta * ((w * r).abs() + c)
        tol = 8 * eps * terms * m * (1 - m) + floor * terms
        assert ((s1.grad - s2.grad).abs() <= tol).all()
        if beta == 200.0:
            assert under.any() and (~under).any()  # both cases were checked


@pytest.mark.parametrize("keep,ignore", [([0], []), ([1], [2])])
def test_train_mask_matches_reference(trained, keep, ignore):
    """float32 fast masks are as close to the float64 reference as the float32 reference is; the hard masks (s > 0)
    agree wherever the float64 reference's logit is farther from 0 than that."""
    model, batch = trained
    st = MaskSettings(steps=60, epochs=6, batch_size=64)
    ref64 = _flat(reference_train_mask(_double(model), batch, keep, ignore, 3, st))
    ref32 = _flat(reference_train_mask(model, batch, keep, ignore, 3, st))
    fast = _flat(train_mask(model, batch, keep, ignore, 3, st))
    noise = (ref32 - ref64).abs().max().item()  # the reference's own float32 rounding after training
    assert noise > 0
    err = (fast - ref64).abs().max().item()
    assert err <= 4 * noise, (err, noise)
    clear = ref64.abs() > 4 * noise
    assert clear.float().mean() > 0.95  # the comparison covers most weights
    assert torch.equal((fast > 0)[clear], (ref64 > 0)[clear])
    # the fast path in float64 too: within the reference's float32 error scaled to float64's precision (x 16)
    fast64 = _flat(train_mask(_double(model), batch, keep, ignore, 3, st))
    scale = torch.finfo(torch.float64).eps / torch.finfo(torch.float32).eps
    assert (fast64 - ref64).abs().max().item() <= 16 * scale * noise


def test_reuse_scores_match_reference(trained, monkeypatch):
    """The probe's scores from fast masks equal those from reference masks (the hard masks agree here)."""
    model, batch = trained
    test = _batch(1)
    parts = Parts(["a", "b", "c"], [0, 1, 2], [1 / C] * J)
    st = MaskSettings(steps=60, epochs=6, batch_size=64)
    fast = reuse.reuse_scores(model, batch, test, parts, seed=2, settings=st)
    monkeypatch.setattr(reuse, "train_mask", reference_train_mask)
    ref = reuse.reuse_scores(model, batch, test, parts, seed=2, settings=st)
    assert fast.keys() == ref.keys()
    for k in ref:
        assert fast[k] == pytest.approx(ref[k], rel=1e-9, abs=1e-12), k
    assert 0 < ref["mask_frac"] < 1 and np.isfinite(ref["iou"])
