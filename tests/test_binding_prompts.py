"""Binding prompts for probe-model: `fracturelab prompts export binding` writes the task's English prompt set with
its metadata; probe-model on it, with a tiny GPT-2 built here (no downloads), scores each answer in the same forward
pass (the greedy tokens read from it equal slow token-by-token decoding), classifies it with the binding taxonomy
and tables accuracy and binding share per n and position with intervals whose counts add up; with answers chosen
by hand, the table equals the hand count."""
import csv
import json
import math
import re
from collections import defaultdict

import pytest
import torch

from fracturelab.cli import main
from fracturelab.probes import reading
from fracturelab.probes.adapters import load_model
from fracturelab.probes.prompts import read_prompts
from fracturelab.tasks.binding import KINDS, QUESTIONS, WORDS, classify_answer

transformers = pytest.importorskip("transformers")
TINY = ["--set", "n_train=200", "--set", "n_test=40"]
META = ("n", "position", "novel_conjunction", "distractors", "absent", "chance_binding")


def _vocab() -> list[str]:
    """Every word and punctuation mark a binding prompt or answer holds."""
    text = " ".join(QUESTIONS.values()) + " The is in the . " + " ".join(w for k in KINDS for w in WORDS[k])
    return ["<pad>", "<bos>", "<eos>", "<unk>", *dict.fromkeys(re.findall(r"\w+|[^\w\s]+", text))]


@pytest.fixture(scope="module")
def prompt_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("binding") / "binding.jsonl"
    assert main(["prompts", "export", "binding", "-o", str(path), *TINY]) == 0
    return path


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = _vocab()
    t = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="<unk>"))
    t.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=t, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>",
                                  unk_token="<unk>")
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=len(vocab), n_layer=2, n_embd=16, n_head=2, n_positions=128, bos_token_id=1, eos_token_id=2,
        pad_token_id=0))
    out = tmp_path_factory.mktemp("gpt2")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _lines(path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def _csv(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_export_writes_the_binding_prompt_set(prompt_file, tmp_path, capsys):
    lines = _lines(prompt_file)
    by_split = defaultdict(int)
    for r in lines:
        by_split[r["split"]] += 1
        assert set(META) <= set(r) and r["answer"].startswith(" ") and r["prompt"].startswith("The ")
        assert r["answer"].strip() not in r["distractors"].split() + r["absent"].split()
    assert dict(by_split) == {"train": 200, "test_id": 40, "test_ood": 40, "segregation": 40}
    assert all(r["novel_conjunction"] == 1 for r in lines if r["split"] == "test_ood")  # conjunction is test_ood
    seg = tmp_path / "seg.jsonl"
    assert main(["prompts", "export", "binding", "-o", str(seg), "--split", "segregation", "--sets",
                 "test_ood", *TINY]) == 0
    assert {r["n"] for r in _lines(seg)} == {4, 5} and {r["split"] for r in _lines(seg)} == {"test_ood"}
    capsys.readouterr()
    assert main(["prompts", "export", "factors", "-o", str(tmp_path / "f.jsonl")]) == 2  # other non-text tasks
    assert "unknown text task or run folder 'factors'" in capsys.readouterr().err
    assert not (tmp_path / "f.jsonl").exists()


def test_probe_model_tables_binding_in_the_one_pass(prompt_file, gpt2_dir, tmp_path, monkeypatch):
    calls = []
    real = transformers.GPT2LMHeadModel.forward
    monkeypatch.setattr(transformers.GPT2LMHeadModel, "forward",
                        lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    out = tmp_path / "out"
    assert main(["probe-model", str(gpt2_dir), "--prompts", str(prompt_file), "-o", str(out), "--quiet",
                 "--probes", "sparsity,coverage", "--batch-size", "16"]) == 0
    sizes = {"train": 200, "test_id": 40, "test_ood": 40, "segregation": 40}
    assert len(calls) == sum(math.ceil(v / 16) for v in sizes.values())  # scoring rode in the reading pass
    prompts = _csv(out / "prompts.csv")
    lines = _lines(prompt_file)
    assert len(prompts) == len(lines)
    for p, line in zip(prompts, lines):
        assert p["target"] == line["answer"].strip() and p["answer"] != ""
        assert p["error"] == classify_answer(p["answer"], p["target"], line["distractors"], line["absent"])
        assert p["correct"] == str(int(p["answer"] == p["target"]))
    rows = _csv(out / "binding.csv")
    summary = json.loads((out / "summary.json").read_text())["binding"]
    assert len(summary["rows"]) == len(rows) and "not independent replications" in summary["note"]
    assert (out / "figures" / "binding.png").is_file()
    for by in ("n", "position"):
        for split, size in [*sizes.items(), ("all", len(lines))]:
            rs = [r for r in rows if r["by"] == by and r["split"] == split]
            assert rs and sum(int(r["prompts"]) for r in rs) == size, (by, split)
            for r in rs:
                k = {c: int(r[c]) for c in ("prompts", "correct", "wrong", "binding", "absent", "other")}
                assert k["correct"] + k["wrong"] == k["prompts"] == k["correct"] + k["binding"] + k["absent"] \
                    + k["other"]
                assert float(r["accuracy_lo"]) <= float(r["accuracy"]) <= float(r["accuracy_hi"])
                if k["wrong"]:
                    assert float(r["binding_share"]) == pytest.approx(k["binding"] / k["wrong"])
                    assert float(r["binding_share_lo"]) <= float(r["binding_share"]) <= float(r["binding_share_hi"])
    assert {r["value"] for r in rows if r["by"] == "n"} == {"2", "3", "4", "5"}


def test_greedy_tokens_equal_slow_decoding(prompt_file, gpt2_dir, tmp_path):
    """The oracle: token-by-token greedy decoding, one forward call per token, stopping at the first token that
    leaves the target; half the targets are the model's own two greedy tokens, so agreement is exercised."""
    adapter = load_model(str(gpt2_dir))
    hf, tok = adapter.module, adapter.tokenizer

    def slow(prompt: str, target: list[int]) -> list[int]:
        ids, out = tok(prompt)["input_ids"], []
        for j in range(len(target) + 1):
            with torch.no_grad():
                g = int(hf(torch.tensor([ids])).logits[0, -1].argmax())
            out.append(g)
            if j == len(target) or g != target[j]:
                return out
            ids = ids + [g]

    rows = _lines(prompt_file)[200:215] + _lines(prompt_file)[240:255]  # test_id and test_ood lines
    for r in rows[::2]:
        r["answer"] = " " + tok.decode(_two(hf, tok, r["prompt"]))
    path = tmp_path / "own.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = read_prompts(path)
    exs = data.test_id + data.test_ood
    batch = adapter.encode(exs)
    fast = reading.greedy(adapter._go(batch)[0].argmax(-1), batch)
    want = [slow(e.meta["prompt"], adapter.tokenize_answer(e.meta["answer"])) for e in exs]
    assert fast == want
    assert any(len(w) == 3 for w in want)  # the model's own answers: both tokens agreed, then one more


def _two(hf, tok, prompt: str) -> list[int]:
    """The model's first two greedy tokens after the prompt."""
    ids = tok(prompt)["input_ids"]
    for _ in range(2):
        with torch.no_grad():
            ids = ids + [int(hf(torch.tensor([ids])).logits[0, -1].argmax())]
    return ids[-2:]


def test_binding_share_equals_the_hand_count(prompt_file, gpt2_dir, tmp_path, monkeypatch):
    """Answers chosen by hand (a distractor, an absent value, another word or the target, by line) replace the
    model's: each prompt's error type and every row's counts, shares and chance equal the hand count."""
    lines = _lines(prompt_file)
    tok = load_model(str(gpt2_dir)).tokenizer
    chosen, kinds = [], []
    for i, r in enumerate(lines):
        d, a = r["distractors"].split(), r["absent"].split()
        word, kind = {0: (d[-1] if d else None, "binding"), 1: (a[0] if a else None, "absent"),
                      2: ("thing", "other")}.get(i % 4, (None, None))
        if word is None:
            word, kind = r["answer"].strip(), "correct"
        chosen.append(tok(" " + word, add_special_tokens=False)["input_ids"])
        kinds.append(kind)
    queue = list(chosen)
    monkeypatch.setattr(reading, "greedy", lambda argmax, batch: [queue.pop(0) for _ in batch["sep"]])
    out = tmp_path / "hand"
    assert main(["probe-model", str(gpt2_dir), "--prompts", str(prompt_file), "-o", str(out), "--quiet",
                 "--probes", "sparsity"]) == 0
    assert not queue and [p["error"] for p in _csv(out / "prompts.csv")] == kinds
    rows = {(r["by"], r["value"], r["split"]): r for r in _csv(out / "binding.csv")}
    hand = defaultdict(lambda: defaultdict(list))
    for r, kind in zip(lines, kinds):
        for by in ("n", "position"):
            for split in (r["split"], "all"):
                hand[(by, str(r[by]), split)][kind].append(r["chance_binding"])
    assert set(rows) == set(hand)
    for key, h in hand.items():
        wrong = [c for k in ("binding", "absent", "other") for c in h[k]]
        got = rows[key]
        assert int(got["prompts"]) == len(wrong) + len(h["correct"]) and int(got["wrong"]) == len(wrong)
        assert float(got["accuracy"]) == pytest.approx(len(h["correct"]) / int(got["prompts"]))
        if wrong:
            assert float(got["binding_share"]) == pytest.approx(len(h["binding"]) / len(wrong))
            assert float(got["chance_share"]) == pytest.approx(sum(wrong) / len(wrong))
        else:
            assert got["binding_share"] == got["chance_share"] == ""
