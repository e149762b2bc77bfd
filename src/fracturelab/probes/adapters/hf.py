"""Hugging Face causal LMs (transformers' AutoModelForCausalLM: GPT-2, Pythia, Llama, Qwen, ...).

Activations, (B, T, d) each, read with forward hooks and the model's own output_hidden_states:
- embed = hidden_states[0] (the embeddings the first block reads);
- block{i} = the residual stream after decoder layer i (the layer module's output; equals hidden_states[i + 1] for
  every layer but the last, where hidden_states holds the normed state instead);
- block{i}.attn, block{i}.mlp = the outputs of layer i's attention and MLP submodules (before the residual add);
- ln_f = hidden_states[-1]: Jin et al.'s reading, the state after the final norm for GPT-2, Pythia, Llama and Qwen.
The decoder layers are the model's ModuleList of config.num_hidden_layers modules; a layer's attention and MLP are its
children named in ATTN_NAMES and MLP_NAMES (absent ones are left out).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ...errors import FracturelabError
from .base import HookAdapter

ATTN_NAMES = ("attn", "self_attn", "attention", "self_attention")
MLP_NAMES = ("mlp", "feed_forward", "ffn")


def _decoder_layers(model: nn.Module) -> nn.ModuleList:
    n = getattr(model.config, "num_hidden_layers", None)
    for _, mod in model.named_modules():
        if isinstance(mod, nn.ModuleList) and len(mod) == n:
            return mod
    raise FracturelabError(f"cannot find the {n} decoder layers of {type(model).__name__}")


def _child(layer: nn.Module, names) -> nn.Module | None:
    kids = dict(layer.named_children())
    return next((kids[n] for n in names if n in kids), None)


class HFAdapter(HookAdapter):
    """A transformers causal LM and its tokenizer, read through the activation contract (see the module docstring).
    The prompt is tokenized as the tokenizer does by default (special tokens such as Llama's BOS included, as Jin et
    al. do), the answer without special tokens."""

    def __init__(self, model: nn.Module, tokenizer, batch_size: int = 16):
        layers = {}
        for i, layer in enumerate(_decoder_layers(model)):
            for suffix, mod in ((".attn", _child(layer, ATTN_NAMES)), (".mlp", _child(layer, MLP_NAMES))):
                if mod is not None:
                    layers[f"block{i}{suffix}"] = mod
            layers[f"block{i}"] = layer
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
        cfg = model.config
        max_len = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
        super().__init__(model, layers, lambda t: tokenizer(t)["input_ids"],
                         tokenize_answer=lambda t: tokenizer(t, add_special_tokens=False)["input_ids"],
                         pad_id=int(pad), max_len=max_len)
        self.tokenizer, self.batch_size = tokenizer, batch_size
        self.module.eval()

    def _run(self, x, mask):
        def call(m, x, mask):
            return m(input_ids=x, attention_mask=mask, output_hidden_states=True, use_cache=False)

        out, hooked = self._hooked(x, mask, call)
        acts = {"embed": out.hidden_states[0]}
        for name in self.layers:  # embed, then each block's attn, mlp and residual stream, then the final norm
            acts[name] = hooked[name]
        acts["ln_f"] = out.hidden_states[-1]
        return out.logits, acts


def load_hf(spec: str, device: str = "cpu", batch_size: int = 16, dtype: str | None = None,
            revision: str | None = None) -> HFAdapter:
    """AutoModelForCausalLM + AutoTokenizer from a local folder (or a hub name at a revision, when online)."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError:
        raise FracturelabError("Hugging Face models need transformers: pip install 'fracturelab[hf]'") from None
    hf_logging.disable_progress_bar()  # loading is quick next to probing; bad input must stay one line on stderr
    hf_logging.set_verbosity_error()
    local = Path(spec).is_dir()
    rev = {"revision": revision} if revision else {}
    try:
        tok = AutoTokenizer.from_pretrained(spec, local_files_only=local, **rev)
    except Exception as e:  # noqa: BLE001 (transformers raises OSError, ValueError, ...: one line for all)
        raise FracturelabError(f"{spec}: cannot load a tokenizer ({str(e).splitlines()[0][:160]})") from None
    try:
        kw = {"dtype": getattr(torch, dtype)} if dtype else {}
        model = AutoModelForCausalLM.from_pretrained(spec, local_files_only=local, **rev, **kw)
    except Exception as e:  # noqa: BLE001 (as above)
        raise FracturelabError(f"{spec}: cannot load a causal LM ({str(e).splitlines()[0][:160]})") from None
    return HFAdapter(model.to(device), tok, batch_size=batch_size)
