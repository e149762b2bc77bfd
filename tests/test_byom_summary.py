"""Bring your own model, per-prompt data and the interval summary: prompts.csv holds every prompt's measures at every
layer (checked one prompt at a time against Jin et al.'s reading), extra JSONL fields are kept and group the
summary, and the summary's means, bootstrap intervals and direction words are checked against slow recomputations."""
import csv
import json
import math

import numpy as np
import pytest

from fracturelab.errors import FracturelabError
from fracturelab.probes.probe_model import probe_model
from fracturelab.probes.prompt_table import BOOTSTRAP, LEVEL, SPLITS, direction
from fracturelab.probes.sparsity import METRICS, SPARSER

transformers = pytest.importorskip("transformers")
from test_probe_model import _jin_last_token, _prompt_lines, _save
from test_probe_model import tokenizer_dir as _tokenizer_dir

tokenizer_dir = _tokenizer_dir


@pytest.fixture(scope="module")
def run(tmp_path_factory, tokenizer_dir):
    root = tmp_path_factory.mktemp("byom_summary")
    gpt2 = _save("gpt2", tmp_path_factory, tokenizer_dir)
    rows = _prompt_lines()
    for i, r in enumerate(rows):  # metadata the format did not know: kept, and a field to group by
        r["difficulty"] = ["easy", "hard"][i % 2]
        r["id"] = f"q{i}"
        if i % 3 == 0:
            r["source"] = None
    prompts = root / "p.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    probe_model(str(gpt2), prompts, root / "out", probes=["sparsity"], progress=False, batch_size=4,
                group_by=["difficulty"])
    with open(root / "out" / "prompts.csv") as f:
        table = list(csv.DictReader(f))
    return gpt2, prompts, root, table, json.loads((root / "out" / "summary.json").read_text())


def test_per_prompt_table_is_jin_reading_prompt_by_prompt(run):
    gpt2, _, _, table, _ = run
    assert [r["id"] for r in table] == [f"q{i}" for i in range(24)]  # the file's order: train, test_id, test_ood
    assert [r["difficulty"] for r in table] == ["easy", "hard"] * 12 and table[0]["source"] == ""
    assert {r["split"] for r in table} == {"train", "test_id", "test_ood"} and table[0]["level"] == "0"
    assert {"embed.hoyer", "block0.hoyer", "block1.attn.top5_l1", "ln_f.l1_norm"} <= set(table[0])
    model = transformers.AutoModelForCausalLM.from_pretrained(gpt2).eval()
    tok = transformers.AutoTokenizer.from_pretrained(gpt2)
    hs = _jin_last_token(model, tok, [r["prompt"] for r in table])
    for m, fn in METRICS.items():
        for layer, i in (("embed", 0), ("block0", 1), ("ln_f", 2)):
            got = np.array([float(r[f"{layer}.{m}"]) if r[f"{layer}.{m}"] else np.nan for r in table])
            np.testing.assert_allclose(got, fn(hs[i]), rtol=1e-5, atol=1e-6, err_msg=f"{layer}.{m}")


def _slow_bootstrap(values: dict, i: int, seed: int = 0) -> dict:
    """The summary's intervals one resample at a time (same generator, same draws)."""
    rng = np.random.default_rng([seed, 41, i])
    boots = {}
    for s in SPLITS:
        x = values[s]
        boots[s] = np.array([x[rng.integers(0, len(x), len(x))].mean() for _ in range(BOOTSTRAP)])
    q = [(1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2]
    return {s: np.quantile(boots[s], q) for s in SPLITS} | {"diff": np.quantile(boots["test_ood"] - boots["test_id"],
                                                                                q)}


def test_summary_means_intervals_and_directions(run):
    *_, table, summary = run
    assert summary["layer"] == "ln_f" and summary["unit"] == "prompt"
    for i, m in enumerate(METRICS):
        e = summary["measures"][m]
        values = {s: np.array([float(r[f"ln_f.{m}"]) for r in table if r["split"] == s and r[f"ln_f.{m}"]])
                  for s in SPLITS}
        slow = _slow_bootstrap(values, i)
        for s in SPLITS:
            assert e[s]["n"] == len(values[s]) and e[s]["mean"] == pytest.approx(values[s].mean(), abs=1e-12)
            np.testing.assert_allclose(e[s]["ci"], slow[s], atol=1e-12)
        assert e["ood_minus_id"]["value"] == pytest.approx(values["test_ood"].mean() - values["test_id"].mean())
        np.testing.assert_allclose(e["ood_minus_id"]["ci"], slow["diff"], atol=1e-12)
        assert e["direction"] == direction(m, list(slow["diff"]))


def test_direction_words():
    assert direction("hoyer", [0.1, 0.3]) == "sparser on OOD" and direction("hoyer", [-0.3, -0.1]) == "denser on OOD"
    assert direction("eff_rank", [0.1, 0.3]) == "denser on OOD"  # lower effective rank is sparser
    assert direction("eff_rank", [-0.3, -0.1]) == "sparser on OOD"
    assert direction("top5", [-0.1, 0.3]) == "no difference" and direction("top5", [math.nan, 1]) == "no difference"
    assert direction("l1_norm", [0.1, 0.3]) == "larger on OOD" and SPARSER["l1_norm"] == 0


def test_group_by_extra_field(run):
    *_, summary = run
    groups = summary["groups"]["difficulty"]
    assert set(groups) == {"easy", "hard"}
    for s in SPLITS:
        assert sum(g["measures"]["hoyer"][s]["n"] for g in groups.values()) == summary["measures"]["hoyer"][s]["n"]
    assert groups["easy"]["measures"]["hoyer"]["test_id"]["n"] == 4


def test_unknown_group_by_field_is_one_line(run, tmp_path):
    gpt2, prompts, *_ = run
    with pytest.raises(FracturelabError, match="--group-by 'topic': no prompt has that field") as e:
        probe_model(str(gpt2), prompts, tmp_path / "o", probes=["sparsity"], progress=False, group_by=["topic"])
    assert "\n" not in str(e.value) and not (tmp_path / "o").exists()


@pytest.mark.parametrize("extra,msg", [({"difficulty": {"a": 1}}, "metadata field 'difficulty' must be a string"),
                                       ({"correct": 1}, "unknown field 'correct'"),
                                       ({"answr": " x"}, "unknown field 'answr'"),
                                       ({"id": [1]}, "'id' must be a string or a number")])
def test_extra_fields_bad_values_are_named(extra, msg, tmp_path):
    from fracturelab.probes.prompts import read_prompts

    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"prompt": "x y", "split": "test_ood"}) + "\n"
                    + json.dumps({"prompt": "a", "split": "test_id", **extra}) + "\n")
    with pytest.raises(FracturelabError, match=f"line 2: {msg}"):
        read_prompts(path)
