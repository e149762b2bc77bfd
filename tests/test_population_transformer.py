"""The transformer's vectorised population path against the slow obvious one: Transformer.stacked_loss of K members
(each with its own random weights and its own padded batch, as a population stacks them) is each member's own
loss() and gradient, for every position encoding; a knowledge_graph population follows separate train_runs; the
default vectorises transformers only where a step's positions per network stay within MAX_STACKED_TOKENS."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from test_population import _follows  # the population-against-separate-runs oracle

from fracturelab.errors import FracturelabError
from fracturelab.models import make_model
from fracturelab.models.data import IGNORE
from fracturelab.models.transformer import POSITIONS
from fracturelab.train import load_run, population, train_run
from fracturelab.train.population import _gather, _stack, _vectorised
from fracturelab.train.run import prepare, resolve

LOOKUP = dict(n_bits=2, n_funcs=4, train_lengths=(1, 2), ood_lengths=(3,), n_heldout_pairs=2, n_train=300, n_test=50,
              novelty=False)
GRAPH = dict(split="crossed", n_entities=8, n_relations=6, n_heldout_rel_pairs=6, train_2hop_frac=0.7,
             train_deep_fracs=[0.5, 0.4], intermediate=False, pos="rope", lr=3e-3, weight_decay=0.1)
"""knowledge_graph's crossed split with the standard profile's options, at a smaller width and depth."""


def _members(pos: str, K: int, **model):
    """K transformers of one shape (seeds 0..K-1) on lookup, every weight moved off its init (norms, biases and the
    position table included, so each one's arithmetic matters), in training mode, and seed 0's train examples."""
    run = prepare(resolve("lookup", None, "transformer", "scratch", pos=pos, **model, **LOOKUP), 0)
    gen = torch.Generator().manual_seed(1)
    nets = [make_model("transformer", run.spec, s, pos=pos, **model) for s in range(K)]
    with torch.no_grad():
        for net in nets:
            for p in net.parameters():
                p.add_(0.3 * torch.randn(p.shape, generator=gen))
            net.train()
    return nets, run.train


@pytest.mark.parametrize("pos", list(POSITIONS))
def test_stacked_loss_is_each_members_own_loss_and_gradient(pos):
    # ALiBi with 3 heads takes the slopes' non-power-of-two branch; RoPE needs an even head width
    nets, examples = _members(pos, 4, d_model=24, n_layer=2, n_head=3 if pos == "alibi" else 2)
    rows, rng = 8, np.random.default_rng(0)
    own, idx = [], []
    for k, net in enumerate(nets):  # member k reads 8 - k examples of lengths 1 and 2: padded rows and positions
        i = rng.choice(len(examples), rows - k, replace=False)
        b = net.encode([examples[j] for j in i])
        with torch.no_grad():  # every other row's target := the member's own argmax, so exact is true there
            hit = net(b).argmax(-1)
        b["y"][::2] = torch.where(b["y"][::2] == IGNORE, IGNORE, hit[::2])
        own.append(b)
        idx.append(i)
    batch = _stack([_gather(b, np.arange(len(i)), rows) for b, i in zip(own, idx)])  # as a population pads them
    names = list(dict(nets[0].named_parameters()))
    params = {n: torch.stack([dict(m.named_parameters())[n].detach() for m in nets]).requires_grad_() for n in names}
    loss, exact = nets[0].stacked_loss(params, batch)
    grads = torch.autograd.grad(loss.sum(), list(params.values()))
    assert loss.shape == (4,) and exact.shape == (4, rows)
    for k, net in enumerate(nets):
        n = rows - k
        ref, ref_exact = net.loss(own[k])
        gap = abs((loss[k] - ref).item())
        assert gap <= 1e-5 * max(1.0, abs(ref.item())), (k, gap)
        assert torch.equal(exact[k, :n], ref_exact) and exact[k, n:].all(), k  # padded rows score nothing
        assert ref_exact.any() and not ref_exact.all(), k  # both outcomes occur, so exact is checked both ways
        for name, g, r in zip(names, grads, torch.autograd.grad(ref, list(net.parameters()))):
            torch.testing.assert_close(g[k], r, rtol=1e-4, atol=1e-5, msg=f"member {k}, {name}")


def test_stacked_loss_refuses_random_forward_passes():
    for bad in (dict(dropout=0.1), dict(pos="learned", pos_shift=True)):
        nets, examples = _members(bad.pop("pos", "rope"), 1, d_model=16, n_layer=1, n_head=2, **bad)
        b = _stack([nets[0].encode(examples[:4])])
        params = {n: p[None] for n, p in nets[0].named_parameters()}
        with pytest.raises(FracturelabError, match="dropout = 0 and pos_shift off"):
            nets[0].stacked_loss(params, b)


def test_knowledge_graph_transformer_population_follows_separate_runs(tmp_path):
    # the standard profile's transformer options at a smaller size, vectorised by default; members differ in lr and
    # weight decay; eval_every=1 puts every step's loss in the curve; the kept weights agree too
    shared = dict(max_steps=30, eval_every=1, patience=10_000, max_val=16, d_model=32, n_layer=2, n_head=2, **GRAPH)
    split = shared.pop("split")
    assert _vectorised(prepare(resolve("knowledge_graph", split, "transformer", "scratch", **shared), 0))
    members = [{"seed": 0}, {"seed": 1, "lr": 1e-3}, {"seed": 2, "weight_decay": 0.0}]
    _follows("knowledge_graph", "transformer", members, {"split": split, **shared}, tmp_path, vectorise=None)
    for i, m in enumerate(members):
        train_run("knowledge_graph", split, "transformer", outdir=tmp_path / f"alone{i}", **{**shared, **m})
        (net, _, _), (ref, _, _) = load_run(tmp_path / f"pop{i}"), load_run(tmp_path / f"alone{i}")
        for (n, p), q in zip(net.named_parameters(), ref.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-4, msg=f"member {i}, {n}")


def test_transformers_of_long_batches_train_one_at_a_time_by_default(monkeypatch):
    # the stacked path's gain needs a step's positions per network (batch_size x block_size) to stay in cache
    def vectorised(batch_size):
        return _vectorised(prepare(resolve("lookup", None, "transformer", "scratch", d_model=16, n_layer=1, n_head=2,
                                           batch_size=batch_size, **LOOKUP), 0))

    assert vectorised(64)  # the default batch of lookup's short sequences, within MAX_STACKED_TOKENS
    block = prepare(resolve("lookup", None, "transformer", "scratch", d_model=16, n_layer=1, n_head=2, **LOOKUP),
                    0).net.block_size
    monkeypatch.setattr(population, "MAX_STACKED_TOKENS", 4 * block)  # the limit at an exact multiple
    assert vectorised(4) and not vectorised(5)
