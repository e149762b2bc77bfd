"""What every adapter shares: prompts to token batches, teacher-forced answers, forward hooks on named submodules, and
the wrapper that picks layers. See the package docstring for the contract these implement."""
from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import FracturelabError
from ...models.data import IGNORE
from ...tasks.base import Example


def prompt_text(e: Example) -> tuple[str, str]:
    """(prompt, answer) text of an example: the raw text of a prompt set, or a task example's tokens joined."""
    if "prompt" in e.meta:
        return e.meta["prompt"], e.meta.get("answer", "")
    return " ".join(e.src), (" " + " ".join(e.tgt)) if e.tgt else ""


def first_output(o):
    """The tensor a submodule returns (the first element of a tuple, the logits of a model output)."""
    if isinstance(o, (tuple, list)):
        return o[0]
    return getattr(o, "logits", o)


class TokenAdapter(nn.Module):
    """A causal LM read on prompts: encode() tokenizes prompt + answer, named_activations() returns each layer at the
    last prompt token, loss() scores the answer under teacher forcing. Subclasses give the tokenizer
    (tokenize_prompt, tokenize_answer), pad_id, max_len and _run(x, mask) -> (logits, {name: (B, T, d)})."""

    pad_id: int = 0
    max_len: int | None = None
    batch_size: int = 16
    progress: bool = False

    def tokenize_prompt(self, text: str) -> list[int]:
        raise NotImplementedError

    def tokenize_answer(self, text: str) -> list[int]:
        raise NotImplementedError

    def _run(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        p = next(self.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def encode(self, examples: Sequence[Example]) -> dict:
        """x: (B, T) prompt + answer ids right-padded (so every position keeps its index), mask: (B, T) 1 on real
        tokens, y: (B, T) the answer's next tokens (IGNORE elsewhere), sep: (B,) the last prompt token."""
        rows, seps, ys, answered = [], [], [], []
        for e in examples:
            prompt, answer = prompt_text(e)
            p, a = self.tokenize_prompt(prompt), self.tokenize_answer(answer) if answer else []
            if not p:
                raise FracturelabError(f"prompt {prompt[:40]!r} has no tokens")
            ids = p + a
            if self.max_len and len(ids) > self.max_len:
                raise FracturelabError(f"prompt {prompt[:40]!r} (+ answer) is {len(ids)} tokens, longer than the "
                                       f"model's {self.max_len}")
            rows.append(ids)
            answered.append(bool(a))
            seps.append(len(p) - 1)
            ys.append([IGNORE] * (len(p) - 1) + a + [IGNORE])  # position t predicts token t + 1
        T = max(len(r) for r in rows)
        x = torch.full((len(rows), T), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), T), dtype=torch.long)
        y = torch.full((len(rows), T), IGNORE, dtype=torch.long)
        for i, (r, yy) in enumerate(zip(rows, ys)):
            x[i, : len(r)], mask[i, : len(r)], y[i, : len(r)] = torch.tensor(r), 1, torch.tensor(yy[: len(r)])
        return {"x": x, "mask": mask, "y": y, "sep": torch.tensor(seps), "answered": torch.tensor(answered)}

    def _go(self, batch: dict):
        with torch.no_grad():
            return self._run(batch["x"].to(self.device), batch["mask"].to(self.device))

    def forward(self, batch: dict) -> torch.Tensor:
        return self._go(batch)[0]

    def named_activations(self, batch: dict) -> dict[str, torch.Tensor]:
        return self._go(batch)[1]

    def loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean cross-entropy over answer tokens and (B,) exact match of every answer token's argmax."""
        if not bool(batch["answered"].all()):
            from ..common import Skip
            raise Skip("some prompts have no answer to score")
        logits = self(batch).float().cpu()
        y = batch["y"]
        scored = y != IGNORE
        loss = F.cross_entropy(logits[scored], y[scored]) if scored.any() else torch.tensor(0.0)
        return loss, ((logits.argmax(-1) == y) | ~scored).all(1)

    def read(self, batch: dict) -> tuple[dict[str, torch.Tensor], torch.Tensor | None, torch.Tensor | None]:
        """Everything the probes read from one forward pass: the activations, and per row the exact match of its
        answer (as loss) and its mean cross-entropy over answer tokens (None for both where a row has no answer)."""
        logits, acts = self._go(batch)
        if not bool(batch["answered"].all()):
            return acts, None, None
        logits, y = logits.float().cpu(), batch["y"]
        scored = y != IGNORE
        ce = F.cross_entropy(logits.transpose(1, 2), y.clamp(min=0), reduction="none") * scored
        return acts, ((logits.argmax(-1) == y) | ~scored).all(1), ce.sum(1) / scored.sum(1).clamp(min=1)


class HookAdapter(TokenAdapter):
    """Any nn.Module that maps token ids (B, T) to logits (B, T, V): activations are the outputs of named submodules,
    read with forward hooks. `layers` maps an activation name to a submodule; `call(module, x, mask)` runs it
    (default: module(x)); `tokenize(text) -> ids` serves prompts and answers alike unless `tokenize_answer` is
    given."""

    def __init__(self, module: nn.Module, layers: dict[str, nn.Module], tokenize: Callable[[str], list[int]],
                 call: Callable | None = None, tokenize_answer: Callable[[str], list[int]] | None = None,
                 pad_id: int = 0, max_len: int | None = None):
        super().__init__()
        self.module, self.layers = module, dict(layers)
        self._tok, self._tok_answer = tokenize, tokenize_answer or tokenize
        self._call = call or (lambda m, x, mask: m(x))
        self.pad_id, self.max_len = pad_id, max_len

    def tokenize_prompt(self, text: str) -> list[int]:
        return list(self._tok(text))

    def tokenize_answer(self, text: str) -> list[int]:
        return list(self._tok_answer(text))

    def _hooked(self, x, mask, call) -> tuple[object, dict[str, torch.Tensor]]:
        acts: dict[str, torch.Tensor] = {}
        handles = [mod.register_forward_hook(lambda m, i, o, n=name: acts.__setitem__(n, first_output(o)))
                   for name, mod in self.layers.items()]
        try:
            out = call(self.module, x, mask)
        finally:
            for h in handles:
                h.remove()
        return out, acts

    def _run(self, x, mask):
        out, acts = self._hooked(x, mask, self._call)
        return first_output(out), acts


class Probed(nn.Module):
    """A model that meets the contract, with the layers to read picked (names or fnmatch patterns; None = all),
    its batch size and a progress bar on stderr. Everything else passes through unchanged."""

    def __init__(self, model, layers: Sequence[str] | None = None, batch_size: int | None = None,
                 progress: bool = False):
        super().__init__()
        self.model, self.patterns = model, list(layers) if layers else None
        self.batch_size = batch_size or getattr(model, "batch_size", None)
        self.progress = progress

    def encode(self, examples):
        return self.model.encode(examples)

    def forward(self, batch, *args):
        return self.model(batch, *args)

    def loss(self, batch):
        if not hasattr(self.model, "loss"):
            from ..common import Skip
            raise Skip("the model has no loss(batch) to score answers")
        return self.model.loss(batch)

    def keep(self, name: str) -> bool:
        return self.patterns is None or name in ("input", "logits") or any(
            fnmatch.fnmatchcase(name, p) for p in self.patterns)

    def named_activations(self, batch) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.model.named_activations(batch).items() if self.keep(k)}

    def check_layers(self, names: Sequence[str]) -> None:
        """FracturelabError unless every requested name or pattern matches one of the model's layers."""
        for p in self.patterns or []:
            if not any(fnmatch.fnmatchcase(n, p) for n in names):
                raise FracturelabError(f"the model has no layer {p!r} (layers: {', '.join(names)})")
