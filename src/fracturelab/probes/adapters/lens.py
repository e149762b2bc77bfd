"""TransformerLens HookedTransformer models (transformer-lens 2.x and 3.x; 4.0 removed HookedTransformer).

Activations, (B, T, d) each, from the model's own hook points (run_with_cache):
- embed = blocks.0.hook_resid_pre (token + positional embeddings);
- block{i} = blocks.{i}.hook_resid_post (the residual stream after block i);
- block{i}.attn = blocks.{i}.hook_attn_out, block{i}.mlp = blocks.{i}.hook_mlp_out;
- ln_f = unembed.hook_in: the final norm's output with its gain and bias, what the unembedding reads — Hugging
  Face's hidden_states[-1] of the same weights, Jin et al.'s reading. (ln_final.hook_normalized is before the gain
  and bias.) That holds only for weights loaded without processing: fold_ln moves the final gain into the
  unembedding and center_writing_weights shifts every residual site, so load_lens uses from_pretrained_no_processing
  and a model whose final norm was folded (normalization_type LNPre or RMSPre) is refused. A model without a final
  norm has no ln_f.
Prompts are tokenized by the model's own Hugging Face tokenizer with its defaults (a BOS exactly where that tokenizer
adds one: Llama yes, GPT-2 no), answers without special tokens: the token ids HFAdapter reads for the same model.
HookedTransformer.set_tokenizer replaces the tokenizer with one that always adds a BOS, so the own one is loaded
again from model.tokenizer.name_or_path (a folder, or the hub cache from_pretrained filled).
"""
from __future__ import annotations

from ...errors import FracturelabError
from .base import TokenAdapter

HOOKS = {"hook_attn_out": ".attn", "hook_mlp_out": ".mlp", "hook_resid_post": ""}
FINAL = "unembed.hook_in"
"""The hook point read as ln_f (see the module docstring)."""


def _own_tokenizer(tok):
    """The tokenizer as its model's authors saved it (see the module docstring)."""
    from transformers import AutoTokenizer

    name = getattr(tok, "name_or_path", "")
    try:
        return AutoTokenizer.from_pretrained(name, local_files_only=True)  # a folder, or the hub cache
    except Exception as e:  # noqa: BLE001 (transformers raises OSError, ValueError, ...: one line for all)
        raise FracturelabError(f"cannot reload the HookedTransformer's own tokenizer from {name!r} (TransformerLens' "
                               f"copy always adds a BOS): {str(e).splitlines()[0][:120] if str(e) else e!r}") \
            from None


class LensAdapter(TokenAdapter):
    """A HookedTransformer (with its tokenizer set, weights not processed) read through the activation contract."""

    def __init__(self, model, batch_size: int = 16):
        super().__init__()
        if getattr(model, "tokenizer", None) is None:
            raise FracturelabError("the HookedTransformer has no tokenizer (pass tokenizer= or call set_tokenizer)")
        norm = model.cfg.normalization_type
        if norm in ("LNPre", "RMSPre"):
            raise FracturelabError(f"the HookedTransformer's final norm is folded (normalization_type {norm}): its "
                                   "gain sits in the unembedding, so no hook holds hidden_states[-1]; load it with "
                                   "HookedTransformer.from_pretrained_no_processing")
        self.model, self.batch_size = model, batch_size
        self.has_final_norm = norm in ("LN", "RMS")
        self.tokenizer = _own_tokenizer(model.tokenizer)
        self.pad_id = int(model.tokenizer.pad_token_id or 0)
        self.max_len = model.cfg.n_ctx
        self.model.eval()

    def tokenize_prompt(self, text: str) -> list[int]:
        return list(self.tokenizer(text)["input_ids"])

    def tokenize_answer(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _run(self, x, mask):
        names = {"blocks.0.hook_resid_pre": "embed"}
        if self.has_final_norm:
            names[FINAL] = "ln_f"
        for i in range(self.model.cfg.n_layers):
            names.update({f"blocks.{i}.{h}": f"block{i}{s}" for h, s in HOOKS.items()})
        # right padding: pads follow every real token, so causal attention never lets them change one
        logits, cache = self.model.run_with_cache(x, names_filter=lambda n: n in names)
        acts = {"embed": cache["blocks.0.hook_resid_pre"]}
        for i in range(self.model.cfg.n_layers):
            for h, s in HOOKS.items():
                if f"blocks.{i}.{h}" in cache:  # attention-only models have no MLP output
                    acts[f"block{i}{s}"] = cache[f"blocks.{i}.{h}"]
        if FINAL in cache:
            acts["ln_f"] = cache[FINAL]
        return logits, acts


def load_lens(name: str, device: str = "cpu", batch_size: int = 16, dtype: str | None = None) -> LensAdapter:
    """HookedTransformer.from_pretrained_no_processing(name) (an official TransformerLens model name; needs the hub
    once): the weights as Hugging Face holds them, so every site equals the Hugging Face model's."""
    try:
        from transformer_lens import HookedTransformer
    except ImportError:
        raise FracturelabError("TransformerLens models need transformer-lens<4: pip install 'fracturelab[lens]'") \
            from None
    try:
        model = HookedTransformer.from_pretrained_no_processing(name, device=device,
                                                                **({"dtype": dtype} if dtype else {}))
    except Exception as e:  # noqa: BLE001 (the hub, a name, a config: one line for all)
        raise FracturelabError(f"lens:{name}: cannot load ({str(e).splitlines()[0][:160] if str(e) else e!r})") \
            from None
    return LensAdapter(model, batch_size=batch_size)
