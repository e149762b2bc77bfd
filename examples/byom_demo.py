"""Bring your own model, end to end, on a tiny model trained here (no downloads; needs the `hf` extra):

    python examples/byom_demo.py OUTDIR     # about a minute on one core

A word-level tokenizer and a 2-layer GPT-2 (d = 32) trained for 200 steps on one-hop facts "e r -> e'"; ID prompts
are those facts, OOD prompts two-hop questions it never saw (prompt set OUTDIR/qa.jsonl, with an extra field
`difficulty`); checkpoints at steps 0, 20 and 200 (OUTDIR/ckpt-STEP, Hugging Face folders). Then the command the
README shows, `fracturelab probe-model` on the last checkpoint with all three as --checkpoint, into OUTDIR/out.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import torch

STEPS = (0, 20, 200)
"""The checkpoints saved (training steps)."""


def build(root: Path) -> None:
    """The tokenizer, the prompt set and the trained checkpoints under root."""
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    entities, relations = [f"e{i}" for i in range(40)], [f"r{i}" for i in range(4)]
    vocab = ["<pad>", "<bos>", "<eos>", "<unk>", *entities, *relations]
    t = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="<unk>"))
    t.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=t, pad_token="<pad>", bos_token="<bos>",
                                               eos_token="<eos>", unk_token="<unk>")
    rng = random.Random(0)
    fact = {(e, r): rng.choice(entities) for e in entities for r in relations}
    rows = []
    for i, e in enumerate(entities):
        r1, r2 = relations[i % 4], relations[(i + 1) % 4]
        rows.append({"id": f"id{i}", "prompt": f"{e} {r1}", "answer": " " + fact[e, r1], "split": "test_id",
                     "difficulty": "one-hop"})
        rows.append({"id": f"ood{i}", "prompt": f"{e} {r1} {r2}", "answer": " " + fact[fact[e, r1], r2],
                     "split": "test_ood", "difficulty": "two-hop"})
    (root / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        n_layer=2, n_embd=32, n_head=4, n_positions=16, vocab_size=len(vocab), bos_token_id=1, eos_token_id=2,
        pad_token_id=0))
    batch = tok([f"{e} {r} {fact[e, r]}" for e in entities for r in relations], return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(STEPS[-1] + 1):
        if step in STEPS:
            model.save_pretrained(root / f"ckpt-{step}")
            tok.save_pretrained(root / f"ckpt-{step}")
        if step < STEPS[-1]:
            loss = model(**batch, labels=labels).loss
            opt.zero_grad()
            loss.backward()
            opt.step()


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "byom-demo")
    root.mkdir(parents=True, exist_ok=True)
    build(root)
    cmd = [sys.executable, "-m", "fracturelab", "probe-model", str(root / f"ckpt-{STEPS[-1]}"), "--prompts",
           str(root / "qa.jsonl"), "-o", str(root / "out"), "--group-by", "difficulty", "--quiet",
           *[a for s in STEPS for a in ("--checkpoint", f"{s}={root / f'ckpt-{s}'}")]]
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
