"""Bring your own model, one pass: probe-model runs the model once per batch of prompts (the forward calls are
counted), every probe reads from that pass, no probe caps the prompts on its own, and the one cap (max_prompts) is
recorded in model.json with what was read."""
import json
import math

import numpy as np
import pytest

from fracturelab.probes.probe_model import probe_model

transformers = pytest.importorskip("transformers")
from test_probe_model import ENTITIES, RELATIONS, _prompt_lines, _save
from test_probe_model import tokenizer_dir as _tokenizer_dir

tokenizer_dir = _tokenizer_dir  # the same fixture, here


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory, tokenizer_dir):
    return _save("gpt2", tmp_path_factory, tokenizer_dir)


@pytest.fixture
def count_forward(monkeypatch):
    """Counts GPT2LMHeadModel.forward calls (every model instance)."""
    calls = []
    real = transformers.GPT2LMHeadModel.forward

    def counted(self, *a, **k):
        calls.append(1)
        return real(self, *a, **k)

    monkeypatch.setattr(transformers.GPT2LMHeadModel, "forward", counted)
    return calls


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_one_forward_call_per_batch(gpt2, tmp_path, count_forward):
    prompts = _write(tmp_path / "p.jsonl", _prompt_lines())  # 8 train, 8 test_id, 8 test_ood, with answers
    probe_model(str(gpt2), prompts, tmp_path / "out", progress=False, batch_size=3)  # all four probes
    want = 3 * math.ceil(8 / 3)  # each set in batches of 3
    assert len(count_forward) == want
    info = json.loads((tmp_path / "out" / "model.json").read_text())
    assert info["forward_calls"] == want and info["prompts_read"] == {"train": 8, "test_id": 8, "test_ood": 8}
    res = json.loads((tmp_path / "out" / "probes.json").read_text())
    assert not any("skipped" in r for r in res.values())  # coverage scored answers from the same pass


def _many(n: int) -> list[dict]:
    rng = np.random.default_rng(1)
    return [{"prompt": " ".join([ENTITIES[i % 12], *rng.choice(RELATIONS, 1 + (split == "test_ood"))]),
             "split": split} for split in ("test_id", "test_ood") for i in range(n)]


def test_no_silent_cap_and_the_cap_is_a_flag(gpt2, tmp_path):
    prompts = _write(tmp_path / "many.jsonl", _many(1050))  # above the probes' own default cap of 1000
    probe_model(str(gpt2), prompts, tmp_path / "all", probes=["sparsity"], progress=False, batch_size=256)
    info = json.loads((tmp_path / "all" / "model.json").read_text())
    res = json.loads((tmp_path / "all" / "probes.json").read_text())["sparsity"]
    summary = json.loads((tmp_path / "all" / "summary.json").read_text())["measures"]
    assert info["prompts_read"] == {"test_id": 1050, "test_ood": 1050} and info["max_prompts"] is None
    assert res["level.test_id.n"] == 1050 and summary["hoyer"]["test_id"]["n"] == 1050
    # the summary keys and the level keys come from the same prompts
    assert res["eff_rank_id"] == pytest.approx(res["level.test_id.eff_rank"], abs=1e-12)
    assert summary["eff_rank"]["test_id"]["mean"] == pytest.approx(res["eff_rank_id"], abs=1e-12)
    probe_model(str(gpt2), prompts, tmp_path / "cap", probes=["sparsity"], progress=False, batch_size=256,
                max_prompts=100)
    info = json.loads((tmp_path / "cap" / "model.json").read_text())
    res = json.loads((tmp_path / "cap" / "probes.json").read_text())["sparsity"]
    assert info["prompts_read"] == {"test_id": 100, "test_ood": 100} and info["max_prompts"] == 100
    assert info["prompts"]["test_id"] == 1050 and res["level.test_id.n"] == 100
