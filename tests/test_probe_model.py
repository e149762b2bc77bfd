"""probe-model: tiny Hugging Face (GPT-2, Llama) and TransformerLens models built from configs here (no downloads),
probed through the CLI; the activations read are the ones named; the testbed's knowledge_graph model gives the same
numbers through the adapter path as through the built-in probe; bad input gives one line, exit 2, nothing written."""
import json
import math

import numpy as np
import pytest
import torch

from fracturelab.cli import main
from fracturelab.probes import PROBES, _json_safe, run_probes
from fracturelab.probes.adapters import load_model
from fracturelab.probes.probe_model import _uncapped
from fracturelab.probes.prompts import read_prompts
from fracturelab.probes.sparsity import METRICS

try:
    import transformers
except ImportError:  # the test extra installs it; without it only the testbed's own path is tested
    transformers = None
needs_hf = pytest.mark.skipif(transformers is None, reason="needs transformers (pip install '.[test]')")

ENTITIES, RELATIONS = [f"e{i}" for i in range(12)], [f"r{i}" for i in range(4)]
VOCAB = ["<pad>", "<bos>", "<eos>", "<unk>", *ENTITIES, *RELATIONS]


def _prompt_lines() -> list[dict]:
    """Three familiarity levels of 2- to 4-token prompts with answers, novelty and a factor."""
    rng = np.random.default_rng(0)
    rows = []
    for level, split, n_rel in ((0, "train", 1), (1, "test_id", 2), (2, "test_ood", 3)):
        for i in range(8):
            rel = list(rng.choice(RELATIONS, n_rel))
            rows.append({"prompt": " ".join([ENTITIES[i]] + rel), "answer": " " + ENTITIES[(i * 5 + level) % 12],
                         "split": split, "level": level, "novelty": {"nn_dist": level / 2 + i / 100},
                         "factors": {"head": i % 4, "kind": ["a", "b"][i % 2]}})
    return rows


@pytest.fixture(scope="module")
def prompt_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("prompts") / "toy.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _prompt_lines()))
    return path


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    t = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="<unk>"))
    t.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=t, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>",
                                  unk_token="<unk>")
    out = tmp_path_factory.mktemp("tok")
    tok.save_pretrained(out)
    return out


def _hf_model(kind: str):
    torch.manual_seed(0)
    common = {"vocab_size": len(VOCAB), "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
    if kind == "gpt2":
        return transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=2, n_embd=16, n_head=2, n_positions=32,
                                                                   **common))
    return transformers.LlamaForCausalLM(transformers.LlamaConfig(
        num_hidden_layers=2, hidden_size=16, intermediate_size=32, num_attention_heads=2, num_key_value_heads=2,
        max_position_embeddings=32, **common))


def _save(kind: str, tmp_path_factory, tokenizer_dir):
    out = tmp_path_factory.mktemp(kind)
    _hf_model(kind).save_pretrained(out)
    transformers.AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory, tokenizer_dir):
    return _save("gpt2", tmp_path_factory, tokenizer_dir)


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def hf_dir(request, tmp_path_factory, tokenizer_dir):
    return request.getfixturevalue("gpt2_dir") if request.param == "gpt2" else \
        _save("llama", tmp_path_factory, tokenizer_dir)


def _summary_ok(res: dict) -> None:
    assert list(res) == [n for n, spec in PROBES.items() if spec.on_prompts]  # the default: every prompt probe
    for probe, m in res.items():
        assert "skipped" not in m, (probe, m)
    for m in METRICS:
        for k in (f"{m}_id", f"{m}_ood", f"{m}_gap", f"layer.block1.{m}_id", f"level.2.{m}", f"{m}_level_rho"):
            assert isinstance(res["sparsity"][k], float), k
    assert math.isfinite(res["sparsity"]["eff_rank_id"]) and math.isfinite(res["geometry"]["eff_rank"])
    assert 0 <= res["coverage"]["acc_id"] <= 1 and "dci_d" in res["factorization"]


def _jin_last_token(model, tok, prompts: list[str]) -> dict[str, np.ndarray]:
    """Jin et al.'s reading, one prompt at a time: hidden_states[-1] at the last token, and every hidden state."""
    rows = []
    with torch.no_grad():
        for p in prompts:
            out = model(**tok(p, return_tensors="pt"), output_hidden_states=True)
            rows.append([h[0, -1].double().numpy() for h in out.hidden_states])
    return {i: np.stack([r[i] for r in rows]) for i in range(len(rows[0]))}


@needs_hf
def test_hf_model_through_cli(hf_dir, prompt_file, tmp_path):
    out = tmp_path / "out"
    assert main(["probe-model", str(hf_dir), "--prompts", str(prompt_file), "-o", str(out), "--quiet",
                 "--batch-size", "5"]) == 0
    res = json.loads((out / "probes.json").read_text())
    _summary_ok(res)
    info = json.loads((out / "model.json").read_text())
    assert info["layers"] == ["embed", "block0.attn", "block0.mlp", "block0", "block1.attn", "block1.mlp", "block1",
                              "ln_f"] and info["summary_layer"] == "ln_f"
    assert {"sparsity_levels.png", "sparsity_gap.png"} <= {p.name for p in (out / "figures").iterdir()}
    assert "sparsity_levels.png" in (out / "index.html").read_text()
    # the numbers are Jin et al.'s metrics of hidden_states[-1] at the last prompt token, each prompt alone
    model = transformers.AutoModelForCausalLM.from_pretrained(hf_dir).eval()
    tok = transformers.AutoTokenizer.from_pretrained(hf_dir)
    data = read_prompts(prompt_file)
    hs = {s: _jin_last_token(model, tok, [e.meta["prompt"] for e in getattr(data, s)]) for s in ("test_id",
                                                                                                 "test_ood")}
    for m, fn in METRICS.items():
        for s, suffix in (("test_id", "id"), ("test_ood", "ood")):
            assert res["sparsity"][f"{m}_{suffix}"] == pytest.approx(float(np.mean(fn(hs[s][2]))), abs=1e-5), m
            assert res["sparsity"][f"layer.block0.{m}_{suffix}"] == pytest.approx(float(np.mean(fn(hs[s][1]))),
                                                                                abs=1e-5), m


@needs_hf
def test_hf_activations_are_the_named_ones(hf_dir, prompt_file):
    adapter = load_model(str(hf_dir), batch_size=4)
    exs = read_prompts(prompt_file).test_ood + read_prompts(prompt_file).train[:3]  # lengths differ: padding
    batch = adapter.encode(exs)
    acts = adapter.named_activations(batch)
    at = {k: v[torch.arange(len(exs)), batch["sep"]].double().numpy() for k, v in acts.items()}
    hs = _jin_last_token(adapter.module, adapter.tokenizer, [e.meta["prompt"] for e in exs])
    np.testing.assert_allclose(at["embed"], hs[0], atol=1e-5)
    np.testing.assert_allclose(at["block0"], hs[1], atol=1e-5)  # the residual stream after block 0
    np.testing.assert_allclose(at["ln_f"], hs[2], atol=1e-5)  # the final normed state = hidden_states[-1]
    norm = adapter.module.base_model.ln_f if hasattr(adapter.module.base_model, "ln_f") else \
        adapter.module.base_model.norm
    with torch.no_grad():
        np.testing.assert_allclose(norm(acts["block1"]).double().numpy(), acts["ln_f"].double().numpy(), atol=1e-5)
    assert not np.allclose(at["block1"], at["ln_f"], atol=1e-3)  # before and after the final norm differ
    # attention and MLP outputs are what the block adds to the stream: block0 = embed + attn + mlp
    np.testing.assert_allclose(at["embed"] + at["block0.attn"] + at["block0.mlp"], at["block0"], atol=1e-5)


LENS_BUILDER = '''
from transformers import AutoTokenizer
from transformer_lens import HookedTransformer, HookedTransformerConfig


def build():
    cfg = HookedTransformerConfig(n_layers=2, d_model=16, n_ctx=32, d_head=4, n_heads=4, d_vocab={n}, act_fn="gelu",
                                  normalization_type="LN", seed=0)
    return HookedTransformer(cfg, tokenizer=AutoTokenizer.from_pretrained({tok!r}))
'''


@pytest.fixture(scope="module")
def lens_builder(tmp_path_factory, tokenizer_dir):
    pytest.importorskip("transformer_lens")
    path = tmp_path_factory.mktemp("lens") / "tiny_lens.py"
    path.write_text(LENS_BUILDER.format(n=len(VOCAB), tok=str(tokenizer_dir)))
    return f"{path}:build"


@needs_hf
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_lens_model_through_cli(lens_builder, prompt_file, tmp_path):
    out = tmp_path / "out"
    assert main(["probe-model", lens_builder, "--prompts", str(prompt_file), "-o", str(out), "--quiet",
                 "--layers", "block*,ln_f"]) == 0
    res = json.loads((out / "probes.json").read_text())
    _summary_ok(res)
    assert json.loads((out / "model.json").read_text())["layers"] == [
        "block0.attn", "block0.mlp", "block0", "block1.attn", "block1.mlp", "block1", "ln_f"]  # no embed: --layers
    adapter = load_model(lens_builder)
    exs = read_prompts(prompt_file).test_ood + read_prompts(prompt_file).train[:3]
    batch = adapter.encode(exs)
    acts = adapter.named_activations(batch)
    for i, e in enumerate(exs):  # each prompt alone, through TransformerLens' own cache, tokenized as the
        ids = adapter.tokenizer(e.meta["prompt"], return_tensors="pt")["input_ids"]  # model's own tokenizer does
        _, cache = adapter.model.run_with_cache(ids)
        for name, hook in (("ln_f", "unembed.hook_in"), ("block1", "blocks.1.hook_resid_post"),
                           ("block0.mlp", "blocks.0.hook_mlp_out")):
            torch.testing.assert_close(acts[name][i, batch["sep"][i]], cache[hook][0, -1], atol=1e-5, rtol=0)


def test_knowledge_graph_adapter_path_equals_builtin_probe(tmp_path):
    """One code path, two entry points: the testbed's run folder probed by `probe` and, after exporting its task to
    JSONL, by `probe-model` gives the same numbers, bit for bit."""
    from fracturelab.train import load_run, train_run

    run = tmp_path / "kg"
    train_run("knowledge_graph", seed=0, outdir=run, max_steps=20, task_options={"n_test": 60, "n_entities": 30},
              model_options={"d_model": 32})
    assert main(["prompts", "export", str(run), "-o", str(tmp_path / "kg.jsonl")]) == 0
    assert main(["probe-model", str(run), "--prompts", str(tmp_path / "kg.jsonl"), "-o", str(tmp_path / "out"),
                 "--quiet", "--probes", "sparsity,geometry,coverage"]) == 0
    theirs = json.loads((tmp_path / "out" / "probes.json").read_text())
    model, data, config = load_run(run)
    names = ["sparsity", "geometry", "coverage"]  # probe-model reads every prompt: the built-in probe uncapped too
    ours = _json_safe(run_probes(model, data, config, names, settings={n: _uncapped(n) for n in names}))
    names = list(data.sets())  # exported levels are the sets' positions: 0 = train, 1 = test_id, ...
    for probe in ours:
        renamed = {}
        for k, v in theirs[probe].items():
            for i, n in enumerate(names):
                k = k.replace(f"level.{i}.", f"level.{n}.") if k.startswith(f"level.{i}.") else k
                k = k[: -len(f"@{i}")] + f"@{n}" if k.endswith(f"@{i}") else k
            renamed[k] = v
        common = set(ours[probe]) & set(renamed)
        assert len(common) >= 0.95 * len(ours[probe]) - 2 * 8  # all but the @all (every position) readings
        assert {k: ours[probe][k] for k in common} == {k: renamed[k] for k in common}, probe
    assert ours["sparsity"]["eff_rank_id"] != ours["sparsity"]["eff_rank_ood"]  # numbers that could differ


@needs_hf
@pytest.mark.parametrize("case", ["model", "field", "empty", "layers", "probe", "nonempty"])
def test_bad_input_one_line_exit_2_nothing_written(case, gpt2_dir, prompt_file, tmp_path, capsys):
    model, prompts, extra = str(gpt2_dir), prompt_file, []
    if case == "model":
        model = str(tmp_path / "no_such_model")
    elif case == "field":
        prompts = tmp_path / "bad.jsonl"
        prompts.write_text(prompt_file.read_text() + json.dumps({"answer": " e1", "split": "test_id"}) + "\n")
    elif case == "empty":
        prompts = tmp_path / "empty.jsonl"
        prompts.write_text("".join(json.dumps(r) + "\n" for r in _prompt_lines() if r["split"] != "test_ood"))
    elif case == "layers":
        extra = ["--layers", "block0,block7"]
    elif case == "probe":
        extra = ["--probes", "sparsity,subnetworks"]
    out = tmp_path / "out"
    if case == "nonempty":
        out.mkdir()
        (out / "keep.txt").write_text("x")
    rc = main(["probe-model", model, "--prompts", str(prompts), "-o", str(out), "--quiet", *extra])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert {"model": "no such model folder", "field": "line 25: missing field 'prompt'", "empty": "no test_ood",
            "layers": "no layer 'block7'", "probe": "'subnetworks' needs the testbed",
            "nonempty": "not empty"}[case] in err
    assert (not out.exists()) if case != "nonempty" else [p.name for p in out.iterdir()] == ["keep.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no staging folder left behind


PLAIN_BUILDER = '''
import torch
from torch import nn
from fracturelab.probes.adapters import HookAdapter

WORDS = {words!r}


class Net(nn.Module):
    """No framework: embeddings, two residual MLP blocks, a final norm, a head."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(len(WORDS), 12)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(12, 24), nn.GELU(), nn.Linear(24, 12)) for _ in range(2))
        self.norm, self.head = nn.LayerNorm(12), nn.Linear(12, len(WORDS))

    def forward(self, x):
        h = self.emb(x).cumsum(1)  # causal: a position sees itself and those before
        for b in self.blocks:
            h = h + b(h)
        return self.head(self.norm(h))


def build():
    net = Net().eval()
    return HookAdapter(net, {{"block0.mlp": net.blocks[0], "ln_f": net.norm}},
                       tokenize=lambda t: [WORDS.index(w) for w in t.split()])
'''


@needs_hf
def test_any_module_through_cli(prompt_file, tmp_path):
    """The contract for any nn.Module: HookAdapter reads named submodules with forward hooks."""
    builder = tmp_path / "plain.py"
    builder.write_text(PLAIN_BUILDER.format(words=VOCAB))
    out = tmp_path / "out"
    assert main(["probe-model", f"{builder}:build", "--prompts", str(prompt_file), "-o", str(out), "--quiet"]) == 0
    res = json.loads((out / "probes.json").read_text())
    assert json.loads((out / "model.json").read_text())["layers"] == ["block0.mlp", "ln_f"]
    adapter = load_model(f"{builder}:build")
    net = adapter.module
    for split, suffix in (("test_id", "id"), ("test_ood", "ood")):
        rows = []
        for e in getattr(read_prompts(prompt_file), split):
            x = torch.tensor([[VOCAB.index(w) for w in e.meta["prompt"].split()]])
            with torch.no_grad():
                h = net.emb(x).cumsum(1)
                for b in net.blocks:
                    h = h + b(h)
                rows.append(net.norm(h)[0, -1].double().numpy())
        for m, fn in METRICS.items():
            assert res["sparsity"][f"{m}_{suffix}"] == pytest.approx(float(np.mean(fn(np.stack(rows)))), abs=1e-6)
    # sublayers alone: the summary reads the last one picked, and every probe still runs
    assert main(["probe-model", f"{builder}:build", "--prompts", str(prompt_file), "-o", str(tmp_path / "mlp"),
                 "--quiet", "--layers", "*.mlp"]) == 0
    assert json.loads((tmp_path / "mlp" / "model.json").read_text())["summary_layer"] == "block0.mlp"
    res = json.loads((tmp_path / "mlp" / "probes.json").read_text())
    assert not any("skipped" in m for m in res.values()) and (tmp_path / "mlp" / "figures" / "sparsity_gap.png").is_file()
