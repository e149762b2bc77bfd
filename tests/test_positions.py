"""The transformer's position encodings: causal attention under each, RoPE and ALiBi against slow obvious
references, NoPE without position parameters, the pos_shift control, cached decoding, populations under vmap, and
the setting flowing through run folders and study specs."""
import math
import warnings

import pytest
import torch

from fracturelab.errors import FracturelabError
from fracturelab.models import DataSpec, make_model
from fracturelab.models.transformer import POSITIONS, CausalSelfAttention, alibi_slopes, rope_angles
from fracturelab.tasks import make_task

torch.set_num_threads(1)
KG = {"n_entities": 20, "n_relations": 3, "n_test": 50, "novelty": False, "intermediate": True}


def _data():
    d = make_task("knowledge_graph", split="depth", **KG)
    return d, DataSpec.of("knowledge_graph", d.sets().values())


def _model(pos, seed=0, **kw):
    return make_model("transformer", _data()[1], seed, pos=pos, d_model=16, n_head=2, **kw).eval()


@pytest.mark.parametrize("pos", list(POSITIONS))
def test_attention_is_causal(pos):
    """Changing the token at position t changes no output at positions before t (and does change the one at t)."""
    m = _model(pos)
    x = torch.randint(3, len(m.vocab), (3, m.block_size), generator=torch.Generator().manual_seed(1))
    base = m({"x": x})
    for t in (1, m.block_size // 2, m.block_size - 1):
        x2 = x.clone()
        x2[:, t] = 3 + (x2[:, t] - 3 + 1) % (len(m.vocab) - 3)
        out = m({"x": x2})
        torch.testing.assert_close(out[:, :t], base[:, :t], atol=1e-6, rtol=0)
        assert not torch.allclose(out[:, t], base[:, t])


def _qkv(attn, x):
    B, T, d = x.shape
    q, k, v = attn.c_attn(x).split(d, dim=2)
    return (z.view(B, T, attn.n_head, d // attn.n_head) for z in (q, k, v))  # (B, T, H, hd)


@torch.no_grad()
def _slow_attention(attn, x, score, vec=lambda z, b, t, h: z[b, t, h]):
    """softmax over keys j <= i of score(q_i . k_j / sqrt(hd), b, h, i, j), one (b, h, i) at a time, in float64."""
    q, k, v = (z.double() for z in _qkv(attn, x))
    B, T, H, hd = q.shape
    y = torch.zeros(B, T, H, hd, dtype=torch.float64)
    for b in range(B):
        for h in range(H):
            for i in range(T):
                s = torch.tensor([score(vec(q, b, i, h) @ vec(k, b, j, h) / math.sqrt(hd), h, i, j)
                                  for j in range(i + 1)])
                w = torch.softmax(s, 0)
                y[b, i, h] = sum(w[j] * v[b, j, h] for j in range(i + 1))
    return attn.c_proj(y.reshape(B, T, H * hd).float())


def _rotated(z, b, t, h, offset=0):
    """Su et al.'s rotation of one vector z[b, t, h] (hd,): each pair (2i, 2i+1) times the 2x2 rotation by
    (t + offset) * 10000^(-2i/hd)."""
    vec = z[b, t, h]
    out = vec.clone()
    hd = len(vec)
    for i in range(hd // 2):
        a = (t + offset) * 10000 ** (-2 * i / hd)
        rot = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=vec.dtype)
        out[2 * i : 2 * i + 2] = rot @ vec[2 * i : 2 * i + 2]
    return out


def test_rope_matches_slow_reference_and_sees_only_relative_positions():
    torch.manual_seed(0)
    attn = CausalSelfAttention(16, 2, 0.0, "rope").eval()
    x = torch.randn(2, 7, 16)
    pos = torch.arange(7).expand(2, 7)
    fast = attn(x, rope=rope_angles(pos, 8))
    slow = _slow_attention(attn, x, lambda s, h, i, j: s, _rotated)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=0)
    # shifting every position by the same offset changes nothing: why pos_shift leaves rope alone
    torch.testing.assert_close(attn(x, rope=rope_angles(pos + 9, 8)), fast, atol=1e-5, rtol=0)


def test_alibi_matches_slow_reference():
    assert alibi_slopes(4).tolist() == [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8]  # Press et al.: 2^(-8/H), 2^(-16/H), ...
    assert alibi_slopes(8).tolist() == [2.0 ** -k for k in range(1, 9)]
    assert alibi_slopes(6).tolist() == [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3]  # their non-power-of-2 rule
    torch.manual_seed(0)
    attn = CausalSelfAttention(16, 4, 0.0, "alibi").eval()
    x = torch.randn(2, 7, 16)
    slopes = alibi_slopes(4).tolist()
    slow = _slow_attention(attn, x, lambda s, h, i, j: s - slopes[h] * (i - j))
    torch.testing.assert_close(attn(x), slow, atol=1e-5, rtol=0)


def test_nope_has_no_position_parameters():
    learned, nope = _model("learned"), _model("none")
    names = {n for n, _ in nope.named_parameters()}
    assert not any("wpe" in n or "pos" in n for n in names) and "wpe.weight" in dict(learned.named_parameters())
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    d = learned.wte.weight.shape[1]
    assert n(learned) - n(nope) == learned.block_size * d
    for pos in ("sinusoidal", "rope", "alibi"):  # fixed encodings: no parameters either
        assert n(_model(pos)) == n(nope)


@pytest.mark.parametrize("pos", list(POSITIONS))
def test_cached_greedy_decoding_matches_full_recomputation(pos):
    m = _model(pos, seed=3)
    data, _ = _data()
    exs = data.test_ood[:6]
    batch = m.encode(exs)
    got = m.predict(batch)
    for e, g in zip(exs, got):
        seq = [m.ids[t] for t in e.src] + [m.ids["<sep>"]]
        out = []
        while len(out) < m.spec.max_tgt + 1 and len(seq) <= m.block_size:
            nxt = int(m({"x": torch.tensor([seq])})[0, -1].argmax())
            if m.vocab[nxt] == "<eos>":
                break
            out.append(m.vocab[nxt])
            seq.append(nxt)
        assert tuple(out) == g


def test_pos_shift_trains_every_position_and_is_seeded():
    plain, shifted = _model("learned", seed=5), _model("learned", seed=5, pos_shift=True)
    for a, b in zip(plain.parameters(), shifted.parameters()):
        assert torch.equal(a, b)  # the control changes no initial weight
    shifted.train()
    T = 4
    seen = torch.cat([shifted.positions(64, T) for _ in range(20)])
    assert seen.min() == 0 and seen.max() == shifted.block_size - 1  # every position reached, none beyond
    assert torch.equal(seen[:, 1:] - seen[:, :-1], torch.ones(len(seen), T - 1, dtype=torch.long))
    again = _model("learned", seed=5, pos_shift=True).train()
    assert torch.equal(again.positions(64, T), seen[:64])  # seeded
    shifted.eval()
    assert torch.equal(shifted.positions(2, T), torch.arange(T).expand(2, T))  # evaluation from position 0
    rope = _model("rope", pos_shift=True).train()
    assert torch.equal(rope.positions(2, T), torch.arange(T).expand(2, T))  # relative encodings: nothing to shift


@pytest.mark.parametrize("pos", ["sinusoidal", "rope", "alibi", "none"])
def test_population_under_vmap_equals_one_at_a_time(pos):
    from fracturelab.train.evolve.batched import PopulationLoss, loop_losses

    m = _model(pos)
    ev = PopulationLoss(m)
    pop = ev.flat() + 0.3 * torch.randn(6, ev.n_params, generator=torch.Generator().manual_seed(0))
    batch = m.encode(_data()[0].train[:30])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast = ev(pop, batch)
    slow = loop_losses(m, pop, batch)
    torch.testing.assert_close(fast[0], slow[0], atol=1e-5, rtol=1e-5)
    assert torch.equal(fast[1], slow[1])


def test_bad_settings_are_one_line_errors():
    with pytest.raises(FracturelabError, match="unknown position encoding pos='rotary'"):
        _model("rotary")
    with pytest.raises(FracturelabError, match="must be even"):
        make_model("transformer", _data()[1], 0, pos="rope", d_model=6, n_head=2)


def test_setting_flows_through_runs_and_study_specs(tmp_path):
    from fracturelab.study.spec import parse_spec
    from fracturelab.train import load_run, train_run

    spec = parse_spec("""
seeds = [0]
[[tasks]]
name = "knowledge_graph"
models = ["transformer"]
[[scales]]
name = "learned"
[[scales]]
name = "alibi"
model_options = { transformer = { pos = "alibi" } }
[[scales]]
name = "learned-shift"
model_options = { transformer = { pos_shift = true } }
""")
    cells = [c for c in spec.cells() if c.regime == "scratch"]
    assert [(c.scale, c.model_options) for c in cells] == [
        ("learned", {}), ("alibi", {"pos": "alibi"}), ("learned-shift", {"pos_shift": True})]
    out = tmp_path / "run"
    m = train_run("knowledge_graph", "depth", "transformer", seed=1, outdir=out, task_options=KG,
                  model_options={"d_model": 16, "pos": "rope", "pos_shift": True}, max_steps=20, eval_every=10)
    net, data, config = load_run(out)
    assert config["model_settings"]["pos"] == "rope" and "wpe.weight" not in net.state_dict()
    assert m["id_acc"] == pytest.approx(float(torch.tensor(
        [p == e.tgt for p, e in zip(net.predict(net.encode(data.test_id)), data.test_id)]).float().mean()))
