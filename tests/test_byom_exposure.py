"""Bring your own model, claims 6 and 7 over its own checkpoints: tiny GPT-2s trained here for a few steps are read
at each checkpoint; the per-checkpoint gaps and the claims' effects equal a direct recomputation from
hidden_states[-1], one prompt at a time; the verdicts follow the study's statistics (synthetic cases with known
answers); bad checkpoint lists give one line."""
import json

import numpy as np
import pytest
import torch

from fracturelab.errors import FracturelabError
from fracturelab.probes.exposure import parse_checkpoints
from fracturelab.probes.probe_model import probe_model
from fracturelab.probes.sparsity import hoyer
from fracturelab.study.exposure_claims import claims
from fracturelab.study.stats import VERDICTS

transformers = pytest.importorskip("transformers")
from test_probe_model import _hf_model, _jin_last_token, _prompt_lines
from test_probe_model import tokenizer_dir as _tokenizer_dir

tokenizer_dir = _tokenizer_dir
STEPS = (0, 4, 30)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tokenizer_dir):
    """Checkpoints of one tiny GPT-2 trained on the train and test_id prompts with their answers."""
    root = tmp_path_factory.mktemp("byom_exposure")
    tok = transformers.AutoTokenizer.from_pretrained(tokenizer_dir)
    rows = _prompt_lines()
    texts = [r["prompt"] + r["answer"] for r in rows if r["split"] != "test_ood"]
    batch = tok(texts, return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    model = _hf_model("gpt2")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    folders = {}
    for step in range(STEPS[-1] + 1):
        if step in STEPS:
            folders[step] = root / f"step{step}"
            model.save_pretrained(folders[step])
            tok.save_pretrained(folders[step])
        if step < STEPS[-1]:
            model.train()
            loss = model(**batch, labels=labels).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    prompts = root / "p.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folders, prompts, root, rows


def _gap(folder, rows) -> tuple[float, np.ndarray, np.ndarray]:
    model = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    h = {s: hoyer(_jin_last_token(model, tok, [r["prompt"] for r in rows if r["split"] == s])[2])
         for s in ("test_id", "test_ood")}
    return float(h["test_ood"].mean() - h["test_id"].mean()), h["test_id"], h["test_ood"]


def test_checkpoints_gaps_and_claims(trained):
    folders, prompts, root, rows = trained
    probe_model(str(folders[STEPS[-1]]), prompts, root / "out", probes=["sparsity"], progress=False,
                checkpoints=[f"{s}={folders[s]}" for s in reversed(STEPS)], decide=claims)  # any order: by step
    expo = json.loads((root / "out" / "exposure.json").read_text())
    assert expo["layer"] == "ln_f" and [c["step"] for c in expo["checkpoints"]] == list(STEPS)
    gaps = {s: _gap(folders[s], rows)[0] for s in STEPS}
    for c in expo["checkpoints"]:
        g = c["gaps"]["hoyer"]["ood_minus_id"]
        assert g["value"] == pytest.approx(gaps[c["step"]], abs=1e-6) and g["ci"][0] <= g["value"] <= g["ci"][1]
    assert len({round(g, 6) for g in gaps.values()}) == 3  # training moved the gap: the comparison can fail
    c6, c7 = expo["claims"]["6"], expo["claims"]["7"]
    assert c6["steps"] == [0, 30] and c7["steps"] == [4, 30]
    assert c6["effect"] == pytest.approx(gaps[30] - gaps[0], abs=1e-6)
    assert c7["effect"] == pytest.approx(gaps[30] - gaps[4], abs=1e-6)
    for c in (c6, c7):
        assert c["verdict"] in VERDICTS and c["unit"] == "prompt" and c["n"] == 16 and c["caveats"] == []
        assert c["ci"][0] <= c["effect"] <= c["ci"][1]
    assert (root / "out" / "figures" / "exposure.png").is_file()
    assert "claim 6" in (root / "out" / "index.html").read_text()


def _synthetic(growth: float, noise: float, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Hoyer per checkpoint (steps 0, 10, 100) x prompt: OOD prompts' gap grows by `growth` per checkpoint."""
    rng = np.random.default_rng(3)
    is_ood = np.arange(2 * n) >= n
    base = rng.normal(0.3, noise, 2 * n)
    H = np.stack([base + is_ood * growth * k + rng.normal(0, noise / 10, 2 * n) for k in range(3)])
    return H, is_ood


@pytest.mark.parametrize("growth,want", [(0.05, "supported"), (-0.05, "contradicted"), (0.0, "no effect")])
def test_verdicts_follow_the_study_statistics(growth, want):
    H, is_ood = _synthetic(growth, 0.01)
    out = claims([0, 10, 100], H, is_ood)
    assert out["6"]["verdict"] == want and out["7"]["verdict"] == want, out
    gap = lambda k: H[k][is_ood].mean() - H[k][~is_ood].mean()
    assert out["6"]["effect"] == pytest.approx(gap(2) - gap(0)) and out["7"]["effect"] == pytest.approx(gap(2) - gap(1))


def test_claim7_needs_a_checkpoint_during_training_and_step0_is_named():
    H, is_ood = _synthetic(0.05, 0.01)
    out = claims([0, 100], H[[0, 2]], is_ood)
    assert out["7"]["verdict"] == "inconclusive" and "no checkpoint after step 0" in out["7"]["reason"]
    assert out["6"]["verdict"] == "supported" and out["6"]["caveats"] == []
    out = claims([5, 100], H[[0, 2]], is_ood)  # as the study: the first checkpoint after step 0 is step 5
    assert "no step 0" in out["6"]["caveats"][0] and out["7"]["steps"] == [5, 100]


@pytest.mark.parametrize("items,msg", [(["0=a"], "1 checkpoint"), (["0=a", "x=b"], "expected STEP=MODEL"),
                                       (["0=a", "0=b"], "step 0 given twice"), (["0=a", "5="], "expected STEP")])
def test_bad_checkpoint_lists(items, msg):
    with pytest.raises(FracturelabError, match=msg):
        parse_checkpoints(items)


def test_hub_revision_is_passed_on(monkeypatch):
    """NAME@REVISION (a checkpoint published as a branch or tag) reaches transformers as revision=."""
    from fracturelab.probes.adapters import hf, load_model

    seen = []
    monkeypatch.setattr(hf, "load_hf", lambda name, *a, revision=None: seen.append((name, revision)) or "m")
    assert load_model("org/model@step1000") == "m" and load_model("org/model") == "m"
    assert seen == [("org/model", "step1000"), ("org/model", None)]
