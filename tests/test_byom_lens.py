"""Bring your own model, TransformerLens: a GPT-2 with random final-norm (and block-norm) gains and biases gives the
same numbers through probe-model whether loaded with Hugging Face or as a HookedTransformer of the same weights
(read at unembed.hook_in, weights unprocessed, BOS as the tokenizer adds it); a folded model is refused."""
import json

import numpy as np
import pytest
import torch

from fracturelab.errors import FracturelabError
from fracturelab.probes.probe_model import probe_model

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # HookedTransformer warns of its 4.0 removal
pytest.importorskip("transformer_lens")
from test_probe_model import VOCAB, _hf_model, _prompt_lines

LENS_FROM_HF = '''
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformer_lens import HookedTransformer, HookedTransformerConfig
from transformer_lens.pretrained.weight_conversions import convert_gpt2_weights


def build(fold=False):
    hf = AutoModelForCausalLM.from_pretrained({folder!r}).eval()
    c = hf.config
    cfg = HookedTransformerConfig(n_layers=c.n_layer, d_model=c.n_embd, n_ctx=c.n_positions, n_heads=c.n_head,
                                  d_head=c.n_embd // c.n_head, d_mlp=4 * c.n_embd, d_vocab=c.vocab_size,
                                  act_fn="gelu_new", normalization_type="LN", eps=c.layer_norm_epsilon,
                                  original_architecture="GPT2LMHeadModel")
    model = HookedTransformer(cfg, tokenizer=AutoTokenizer.from_pretrained({folder!r}))
    model.load_and_process_state_dict(convert_gpt2_weights(hf, cfg), fold_ln=fold, center_writing_weights=fold,
                                      center_unembed=fold, fold_value_biases=fold)
    return model


def folded():
    return build(fold=True)
'''


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    root = tmp_path_factory.mktemp("byom_lens")
    t = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="<unk>"))
    t.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=t, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>",
                                  unk_token="<unk>")
    model = _hf_model("gpt2")
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # a fresh model has gain 1 and bias 0, which hides a reading before the gain
        for mod in model.modules():
            if isinstance(mod, torch.nn.LayerNorm):
                mod.weight.copy_(1 + 0.8 * torch.randn(mod.weight.shape, generator=g))
                mod.bias.copy_(0.5 * torch.randn(mod.bias.shape, generator=g))
    folder = root / "gpt2"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    builder = root / "lens_gpt2.py"
    builder.write_text(LENS_FROM_HF.format(folder=str(folder)))
    prompts = root / "p.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in _prompt_lines()))
    return folder, builder, prompts, root


def _table(out) -> dict[str, np.ndarray]:
    import csv

    with open(out / "prompts.csv") as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) if r[k] else np.nan for r in rows]) for k in rows[0] if "." in k}


def test_lens_and_hf_loads_of_random_gain_gpt2_agree(setup):
    folder, builder, prompts, root = setup
    probe_model(str(folder), prompts, root / "hf", probes=["sparsity"], progress=False, batch_size=5)
    probe_model(f"{builder}:build", prompts, root / "lens", probes=["sparsity"], progress=False, batch_size=5)
    hf, lens = _table(root / "hf"), _table(root / "lens")
    assert set(hf) == set(lens) and any(k.startswith("ln_f.") for k in hf)
    for k in hf:  # every prompt, every layer, every measure
        np.testing.assert_allclose(lens[k], hf[k], atol=1e-5, rtol=0, err_msg=k)
    sh = json.loads((root / "hf" / "summary.json").read_text())["measures"]
    sl = json.loads((root / "lens" / "summary.json").read_text())["measures"]
    for m in sh:
        for s in ("test_id", "test_ood"):
            assert sl[m][s]["mean"] == pytest.approx(sh[m][s]["mean"], abs=1e-5), m
    # the gains matter: the final norm's output differs from its normalized input by far more than the tolerance
    assert np.abs(hf["ln_f.eff_rank"] - hf["block1.eff_rank"]).max() > 1e-2


def test_folded_final_norm_is_refused(setup):
    _, builder, prompts, root = setup
    with pytest.raises(FracturelabError, match="final norm is folded"):
        probe_model(f"{builder}:folded", prompts, root / "folded", probes=["sparsity"], progress=False)
    assert not (root / "folded").exists()
