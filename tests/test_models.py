"""The testbed's models: shapes, named activations, causal masking, greedy decoding against teacher forcing,
determinism and bad input. Small task settings keep it fast."""
import functools

import pytest
import torch

from fracturelab.errors import FracturelabError
from fracturelab.models import MODELS, DataSpec, make_model
from fracturelab.models.cppn import COORDINATES
from fracturelab.tasks import TASKS, Example, make_task

torch.set_num_threads(1)
SMALL = {
    "lookup": {"n_train": 300, "n_test": 50, "novelty": False},
    "scan": {"novelty": False},
    "multiplication": {"train_sizes": ((1, 1), (2, 1)), "ood_sizes": ((2, 2),), "n_train_per_size": 40,
                       "n_test_per_size": 8, "n_ood_per_size": 10, "novelty": False},
    "leave_square_out": {"p": 13, "side": 4},
    "factors": {"n_per_combo": 2, "n_noise": 1},
    "knowledge_graph": {"n_entities": 20, "n_relations": 3, "n_test": 50, "novelty": False},
}


@functools.lru_cache(maxsize=None)
def _data(task):
    d = make_task(task, **SMALL.get(task, TASKS[task].tiny))  # a task without a row here: its registry's tiny
    return d, DataSpec.of(task, d.sets().values(), d.info["settings"])


def _model(name, task, seed=0, **kw):
    return make_model(name, _data(task)[1], seed, **kw)


CASES = [(m, t) for t in TASKS for m in MODELS if m != "cppn" or t in COORDINATES]


def test_registry_and_defaults():
    assert set(MODELS) == {"mlp", "transformer", "cppn"}
    assert {t.default_model for t in TASKS.values()} <= set(MODELS)


@pytest.mark.parametrize("name, task", CASES)
def test_shapes_loss_predict_and_activations(name, task):
    data, spec = _data(task)
    m = _model(name, task)
    exs = data.train[:5]
    batch = m.encode(exs)
    logits = m(batch)
    assert logits.shape[0] == 5
    loss, exact = m.loss(batch)
    assert loss.dim() == 0 and torch.isfinite(loss) and exact.shape == (5,) and exact.dtype == torch.bool
    preds = m.predict(batch)
    assert len(preds) == 5 and all(isinstance(p, tuple) for p in preds)
    acts = m.named_activations(exs)
    assert acts and all(v.shape[0] == 5 for v in acts.values())
    expected = {"mlp": {"layer1", "layer2", "logits"}, "cppn": {"layer1", "logits"},
                "transformer": {"embed", "block0.attn", "block0.mlp", "block0", "block1", "ln_f", "logits"}}[name]
    assert expected <= set(acts)
    if name == "transformer":
        T = batch["x"].shape[1]
        assert acts["block0"].shape == (5, T, m.wte.weight.shape[1]) and acts["block0.mlp"].shape[-1] == 4 * \
            m.wte.weight.shape[1]
    else:
        assert acts["layer1"].dim() == 2


def test_causal_masking():
    m = _model("transformer", "scan")
    m.eval()
    x = torch.randint(0, len(m.vocab), (4, 20), generator=torch.Generator().manual_seed(0))
    x2 = x.clone()
    x2[:, 6:] = (x2[:, 6:] + 1) % len(m.vocab)  # change every token from position 6 on
    with torch.no_grad():
        a, b = m({"x": x}), m({"x": x2})
    assert torch.equal(a[:, :6], b[:, :6])
    assert not torch.allclose(a[:, 6:], b[:, 6:])


@pytest.mark.parametrize("task", ["multiplication", "lookup"])
def test_greedy_decoding_matches_teacher_forcing(task):
    """Greedy decoding with the key/value cache writes what the full forward's argmax gives on its own output, and
    the true target is exact under teacher forcing iff decoding reproduces it."""
    data, _ = _data(task)
    m = _model("transformer", task, seed=3)
    m.eval()
    exs = data.train[:12]
    preds = m.predict(m.encode(exs))
    for e, p in zip(exs, preds):
        ids = [m.ids[t] for t in e.src] + [m.ids["<sep>"]] + [m.ids[t] for t in p]
        P = len(e.src) + 1
        with torch.no_grad():
            logits = m({"x": torch.tensor([ids[: m.block_size]])})[0]
        full = logits.argmax(-1)[P - 1 :].tolist()
        assert full[: len(p)] == ids[P:][: len(full)]
        if len(p) <= m.spec.max_tgt and len(full) > len(p):  # decoding stopped at eos
            assert full[len(p)] == m.ids["<eos>"]
    _, exact_true = m.loss(m.encode(exs))
    assert [bool(x) for x in exact_true] == [tuple(p) == tuple(e.tgt) for p, e in zip(preds, exs)]
    # and where the output is the target, teacher forcing agrees
    mine = [Example(e.src, p, {}) for e, p in zip(exs, preds) if len(p) <= m.spec.max_tgt]
    if mine:
        assert m.loss(m.encode(mine))[1].all()


@pytest.mark.parametrize("name, task", [("mlp", "scan"), ("mlp", "lookup"), ("cppn", "leave_square_out")])
def test_fixed_output_models_exact_matches_decoding(name, task):
    data, _ = _data(task)
    m = _model(name, task, seed=1)
    exs = data.train[:32]
    preds = m.predict(m.encode(exs))
    mine = [Example(e.src, p, {}) for e, p in zip(exs, preds) if len(p) <= m.spec.max_tgt]
    _, exact = m.loss(m.encode(mine))
    assert exact.all()


@pytest.mark.parametrize("name, task", [("mlp", "factors"), ("transformer", "lookup"), ("cppn", "leave_square_out")])
def test_same_seed_same_weights(name, task):
    a, b, c = _model(name, task, 5), _model(name, task, 5), _model(name, task, 6)
    for (k, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), k
    assert any(not torch.equal(p, q) for p, q in zip(a.state_dict().values(), c.state_dict().values()))


def test_scale_changes_width():
    def width(m):
        return m.named_activations(_data("lookup")[0].train[:2])["block0"].shape[-1]
    assert width(_model("transformer", "lookup", scale=2.0)) == 2 * width(_model("transformer", "lookup"))
    small, big = _model("mlp", "factors"), _model("mlp", "factors", scale=0.5)
    assert big.layers[0].out_features == small.layers[0].out_features // 2
    assert _model("cppn", "leave_square_out", scale=2.0).arch.width == 2 * _model("cppn", "leave_square_out").arch.width


@pytest.mark.parametrize("call, words", [
    (lambda: _model("nope", "lookup"), "unknown model"),
    (lambda: _model("mlp", "lookup", bogus=1), "unknown option"),
    (lambda: _model("mlp", "lookup", hidden=0), "bad mlp settings"),
    (lambda: _model("transformer", "lookup", n_layer="two"), "not a valid value"),
    (lambda: _model("cppn", "lookup"), "coordinate inputs"),
    (lambda: _model("cppn", "leave_square_out", arch="2;swish:3"), "bad arch string"),
])
def test_bad_input_raises_one_line(call, words):
    with pytest.raises(FracturelabError, match=words) as err:
        call()
    assert "\n" not in str(err.value)


def test_cppn_inputs_are_coordinates():
    data, _ = _data("leave_square_out")
    m = _model("cppn", "leave_square_out")
    x = m.encode(data.train[:10])["x"]
    assert x.shape == (10, 4) and x[:, :2].abs().max() <= 1 and torch.all(x[:, 3] == 1)


def test_mlp_input_modes():
    data, spec = _data("factors")
    exs = data.train[:3]
    S = spec.max_src
    assert _model("mlp", "factors").named_activations(exs)["input"].shape == (3, S * len(spec.src_vocab))
    assert _model("mlp", "factors", input="embed", embed=5).named_activations(exs)["input"].shape == (3, S * 5)
    rgba = _model("mlp", "factors", input="rgba").named_activations(exs)["input"].view(3, S, 4)
    drawn = torch.tensor([[t != "." for t in e.src] for e in exs])
    assert torch.equal(rgba[..., 3] == 1, drawn)  # alpha marks the drawn pixels
    with pytest.raises(FracturelabError, match="factors"):
        _model("mlp", "lookup", input="rgba")
    with pytest.raises(FracturelabError, match="unknown mlp input"):
        _model("mlp", "lookup", input="pixels")


def test_pad_rows_equals_the_row_by_row_padding():
    import random

    from fracturelab.models.data import pad_rows

    rng = random.Random(0)
    for n in (0, 1, 7, 50):
        rows = [[rng.randrange(9) for _ in range(rng.randrange(6))] for _ in range(n)]
        slow = torch.full((n, 5), -1, dtype=torch.long)
        for i, r in enumerate(rows):
            slow[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        assert torch.equal(pad_rows(rows, 5, -1), slow)
    with pytest.raises(ValueError):
        pad_rows([[1, 2, 3]], 2, 0)
