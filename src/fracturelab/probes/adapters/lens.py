"""TransformerLens HookedTransformer models (transformer-lens 2.x and 3.x; 4.0 removed HookedTransformer).

Activations, (B, T, d) each, from the model's own hook points (run_with_cache):
- embed = blocks.0.hook_resid_pre (token + positional embeddings);
- block{i} = blocks.{i}.hook_resid_post (the residual stream after block i);
- block{i}.attn = blocks.{i}.hook_attn_out, block{i}.mlp = blocks.{i}.hook_mlp_out;
- ln_f = ln_final.hook_normalized (the final norm's output, what the unembedding reads; Jin et al.'s reading).
Prompts are tokenized by the model's to_tokens (with its default BOS), answers without a BOS.
"""
from __future__ import annotations

from ...errors import FracturelabError
from .base import TokenAdapter

HOOKS = {"hook_attn_out": ".attn", "hook_mlp_out": ".mlp", "hook_resid_post": ""}


class LensAdapter(TokenAdapter):
    """A HookedTransformer (with its tokenizer set) read through the activation contract."""

    def __init__(self, model, batch_size: int = 16):
        super().__init__()
        if getattr(model, "tokenizer", None) is None:
            raise FracturelabError("the HookedTransformer has no tokenizer (pass tokenizer= or call set_tokenizer)")
        self.model, self.batch_size = model, batch_size
        self.pad_id = int(model.tokenizer.pad_token_id or 0)
        self.max_len = model.cfg.n_ctx
        self.model.eval()

    def tokenize_prompt(self, text: str) -> list[int]:
        return self.model.to_tokens(text, truncate=False)[0].tolist()

    def tokenize_answer(self, text: str) -> list[int]:
        return self.model.to_tokens(text, prepend_bos=False, truncate=False)[0].tolist()

    def _run(self, x, mask):
        names = {"blocks.0.hook_resid_pre": "embed", "ln_final.hook_normalized": "ln_f"}
        for i in range(self.model.cfg.n_layers):
            names.update({f"blocks.{i}.{h}": f"block{i}{s}" for h, s in HOOKS.items()})
        # right padding: pads follow every real token, so causal attention never lets them change one
        logits, cache = self.model.run_with_cache(x, names_filter=lambda n: n in names)
        acts = {"embed": cache["blocks.0.hook_resid_pre"]}
        for i in range(self.model.cfg.n_layers):
            for h, s in HOOKS.items():
                if f"blocks.{i}.{h}" in cache:  # attention-only models have no MLP output
                    acts[f"block{i}{s}"] = cache[f"blocks.{i}.{h}"]
        if "ln_final.hook_normalized" in cache:  # models without a final norm have no such hook
            acts["ln_f"] = cache["ln_final.hook_normalized"]
        return logits, acts


def load_lens(name: str, device: str = "cpu", batch_size: int = 16, dtype: str | None = None) -> LensAdapter:
    """HookedTransformer.from_pretrained(name) (an official TransformerLens model name; needs the hub once)."""
    try:
        from transformer_lens import HookedTransformer
    except ImportError:
        raise FracturelabError("TransformerLens models need transformer-lens<4: pip install 'fracturelab[lens]'") \
            from None
    try:
        model = HookedTransformer.from_pretrained(name, device=device, **({"dtype": dtype} if dtype else {}))
    except Exception as e:  # noqa: BLE001 (the hub, a name, a config: one line for all)
        raise FracturelabError(f"lens:{name}: cannot load ({str(e).splitlines()[0][:160] if str(e) else e!r})") \
            from None
    return LensAdapter(model, batch_size=batch_size)
