"""Bring your own model: the activation contract every probe reads, and adapters that make Hugging Face causal LMs,
TransformerLens HookedTransformers and any other nn.Module meet it.

The contract (the testbed's own models meet it already; `Probeable` spells it out):
- encode(examples: list[Example]) -> batch: a dict of tensors with at least "sep", (B,) long: the index of each
  row's last prompt token (the position that has read the whole prompt and predicts the answer's first token);
- named_activations(batch) -> {name: tensor}: (B, T, d) per position (read at "sep") or (B, d) per example, any
  device and dtype. Names: "embed"; "block{i}" the residual stream after block i; "block{i}.attn" and
  "block{i}.mlp" the attention and MLP outputs; "ln_f" the final normed state (what the unembedding reads: Jin et
  al.'s hidden_states[-1]); "input" and "logits" are never read as representations;
- loss(batch) -> (mean loss, (B,) bool exact match of the answer under teacher forcing): only for probes that score
  answers (coverage), which are skipped without it;
- optional read(batch) -> (activations, (B,) exact match or None, (B,) mean answer cross-entropy or None): all of
  the above from one forward call (every TokenAdapter has it; probe-model's one pass, probes.reading, uses it);
- optional attributes: batch_size (examples per forward pass), progress (a progress bar on stderr).
An example's prompt text is e.meta["prompt"] for a prompt set (probes.prompts), else its tokens joined by spaces
(base.prompt_text).

Plugging in any nn.Module that maps token ids (B, T) to logits: HookAdapter(module, {name: submodule}, tokenize),
e.g. HookAdapter(net, {"block0": net.blocks[0], "ln_f": net.norm}, tokenize=my_tokenizer): each named submodule's
output is read with a forward hook. Subclass TokenAdapter for anything else (its _run returns logits and the
activations). Models from the command line: load_model(spec).
"""
from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from ...errors import FracturelabError
from .base import HookAdapter, Probed, TokenAdapter, prompt_text


@runtime_checkable
class Probeable(Protocol):
    """The activation contract (see the module docstring); loss is optional."""

    def encode(self, examples: Sequence) -> dict: ...

    def named_activations(self, batch: dict) -> dict[str, torch.Tensor]: ...


def is_run_folder(path: Path) -> bool:
    cfg = path / "config.json"
    if not (cfg.is_file() and (path / "model.pt").is_file()):
        return False
    try:
        config = json.loads(cfg.read_text())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(config, dict) and {"task", "model", "data_spec"} <= set(config)


def _load_python(spec: str, device: str, batch_size: int | None):
    """FILE.py:FUNCTION -> FUNCTION() returns a model meeting the contract, a HookedTransformer, or a
    (transformers model, tokenizer) pair."""
    file, _, fn = spec.rpartition(":")
    path = Path(file)
    if not path.is_file():
        raise FracturelabError(f"{file}: no such Python file")
    mod_spec = importlib.util.spec_from_file_location(f"_fracturelab_user_{path.stem}", path)
    module = importlib.util.module_from_spec(mod_spec)
    try:
        mod_spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # noqa: BLE001 (a user's file may raise anything, exit too: one line, exit 2)
        raise FracturelabError(f"{file}: failed to import ({e.__class__.__name__}: {str(e)[:160]})") from None
    if not callable(getattr(module, fn, None)):
        raise FracturelabError(f"{file}: no function {fn!r}")
    try:
        built = getattr(module, fn)()
    except (Exception, SystemExit) as e:  # noqa: BLE001 (as its import: the user's code, one line naming it)
        raise FracturelabError(f"{spec}: the builder raised ({e.__class__.__name__}: {str(e)[:160]})") from None
    return wrap(built, device, batch_size)


def wrap(obj, device: str = "cpu", batch_size: int | None = None):
    """An adapter for what a user's builder returned: a contract model as is, a HookedTransformer, or a
    (transformers PreTrainedModel, tokenizer) pair."""
    if isinstance(obj, tuple) and len(obj) == 2:
        from .hf import HFAdapter
        return HFAdapter(obj[0].to(device), obj[1], batch_size=batch_size or 16)
    if type(obj).__name__ == "HookedTransformer":
        from .lens import LensAdapter
        return LensAdapter(obj.to(device), batch_size=batch_size or 16)
    if isinstance(obj, Probeable):
        return obj.to(device) if isinstance(obj, torch.nn.Module) and isinstance(obj, TokenAdapter) else obj
    raise FracturelabError(f"the builder returned a {type(obj).__name__}: not a model with encode and "
                           "named_activations, a HookedTransformer or a (model, tokenizer) pair")


def load_model(spec: str, device: str = "cpu", batch_size: int | None = None, dtype: str | None = None):
    """A model meeting the contract from a command-line spec:
    - a run folder written by `fracturelab train` (the testbed's model; CPU; prompts are its tokens by spaces);
    - a folder with a Hugging Face config.json (AutoModelForCausalLM + AutoTokenizer), or a hub name when online
      (NAME@REVISION for a branch, tag or commit: a training checkpoint published as a revision);
    - lens:NAME, an official TransformerLens model (from_pretrained_no_processing; needs the hub once);
    - FILE.py:FUNCTION, a Python function that returns a model (see wrap).
    dtype (e.g. "bfloat16") applies to Hugging Face and lens: models."""
    if dtype is not None and not (isinstance(getattr(torch, dtype, None), torch.dtype)
                                  and getattr(torch, dtype).is_floating_point):  # int8 etc.: weights, not a load dtype
        raise FracturelabError(f"dtype {dtype!r}: not a floating-point torch dtype (float32, float16, bfloat16)")
    path = Path(spec)
    if path.is_dir() and is_run_folder(path):
        from ...train import load_run
        model, _, _ = load_run(path)
        return model
    if spec.startswith("lens:"):
        from .lens import load_lens
        return load_lens(spec[len("lens:"):], device, batch_size or 16, dtype)
    if ".py:" in spec:
        return _load_python(spec, device, batch_size)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FracturelabError(f"{spec}: not a model folder (no config.json)")
        from .hf import load_hf
        return load_hf(spec, device, batch_size or 16, dtype)
    if path.exists() or spec.startswith((".", "/", "~")) or spec.count("/") > 1 or not spec.strip():
        raise FracturelabError(f"{spec}: no such model folder")
    from .hf import load_hf  # a hub name: transformers fetches it when online
    name, _, revision = spec.partition("@")  # NAME@REVISION: a branch, tag or commit of a hub model
    return load_hf(name, device, batch_size or 16, dtype, revision=revision or None)


__all__ = ["HookAdapter", "Probeable", "Probed", "TokenAdapter", "is_run_folder", "load_model", "prompt_text", "wrap"]
