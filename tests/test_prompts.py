"""The JSONL prompt-set format: the testbed's text tasks export to it and read back unchanged; every malformed line
is named."""
import json

import pytest

from fracturelab.cli import main
from fracturelab.errors import FracturelabError
from fracturelab.probes.prompts import export_rows, read_prompts, write_jsonl
from fracturelab.tasks import text_tasks
from fracturelab.tasks import make_task

SMALL = {"knowledge_graph": {"n_test": 30, "n_entities": 30}, "scan": {"novelty": False},
         "multiplication": {"n_train_per_size": 10, "n_test_per_size": 5, "n_ood_per_size": 5},
         "lookup": {"n_train": 100, "n_test": 20}}


@pytest.mark.parametrize("task", text_tasks())
def test_text_task_exports_and_reads_back(task, tmp_path):
    data = make_task(task, seed=0, **SMALL[task])
    path = write_jsonl(export_rows(data), tmp_path / f"{task}.jsonl")
    back = read_prompts(path)
    assert back.sizes() == data.sizes()
    assert list(back.level_values) == [str(i) for i in range(len(data.sets()))]  # train 0, test_id 1, ...
    for name, exs in data.sets().items():
        got = back.sets()[name]
        assert [(e.src, e.tgt) for e in got] == [(e.src, e.tgt) for e in exs]
        assert [e.meta.get("nn_dist") for e in got] == [e.meta.get("nn_dist") for e in exs]
    first = json.loads(path.read_text().splitlines()[0])
    assert first["answer"].startswith(" ") and first["split"] == "train" and first["level"] == 0


def test_levels_aliases_and_factors(tmp_path):
    lines = [{"prompt": "a b", "answer": " x", "level": 0, "factors": {"colour": "red"}},
             {"prompt": "a c", "level": 2.5, "factors": {"colour": "blue"}, "novelty": {"nn_dist": 1.5}},
             {"prompt": "b c", "level": 1, "split": "ood", "factors": {"colour": "red"}, "depth": 3}]
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    d = read_prompts(path)
    assert [e.src for e in d.test_id] == [("a", "b")]  # the lowest level, no split given
    assert [e.src for e in d.test_ood] == [("a", "c"), ("b", "c")]  # above it, and the alias
    assert list(d.levels()) == ["0", "1", "2.5"] and [len(v) for v in d.levels().values()] == [1, 1, 1]
    assert [e.meta["factors"]["colour"] for e in d.test_id + d.test_ood] == [1, 0, 1]  # blue 0, red 1
    assert d.test_ood[0].meta["nn_dist"] == 1.5 and d.test_ood[1].meta["depth"] == 3
    assert d.test_id[0].meta["answer"] == " x" and d.test_ood[0].meta["answer"] == ""


BAD = [("[1, 2]", "line 2: not a JSON object"), ("{bad", "line 2: not JSON"),
       ('{"prompt": "a", "split": "test_id", "promt": 1}', "line 2: unknown field 'promt'"),
       ('{"split": "test_id"}', "line 2: missing field 'prompt'"),
       ('{"prompt": "a"}', "line 2: missing field 'split' or 'level'"),
       ('{"prompt": "a", "level": "high"}', "line 2: 'level' must be a finite number"),
       ('{"prompt": "a", "split": "test_id", "answer": 3}', "line 2: 'answer' must be a string"),
       ('{"prompt": "a", "split": "test_id", "novelty": {"nn_dist": "far"}}', "line 2: 'novelty'"),
       ('{"prompt": "a", "split": "test_id", "factors": {"k": 1}}', "line 2: factors ['k'] differ"),
       ('{"prompt": "  ", "split": "test_id"}', "line 2: 'prompt' must be a non-empty string")]


@pytest.mark.parametrize("line,msg", BAD)
def test_bad_lines_are_named(line, msg, tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"prompt": "x y", "split": "test_ood"}) + "\n" + line + "\n")
    with pytest.raises(FracturelabError, match=msg.replace("[", r"\[").replace("]", r"\]")):
        read_prompts(path)


def test_empty_and_one_sided_sets(tmp_path):
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n")
    with pytest.raises(FracturelabError, match="empty prompt set"):
        read_prompts(empty)
    one = tmp_path / "o.jsonl"
    one.write_text(json.dumps({"prompt": "a", "split": "id"}) + "\n")
    with pytest.raises(FracturelabError, match="no test_ood prompts"):
        read_prompts(one)
    mixed = tmp_path / "m.jsonl"
    mixed.write_text(json.dumps({"prompt": "a", "level": 0}) + "\n" + json.dumps({"prompt": "b", "split": "ood"}))
    with pytest.raises(FracturelabError, match="line 2: missing 'level'"):
        read_prompts(mixed)


def test_cli_export_bad_source(tmp_path, capsys):
    assert main(["prompts", "export", "factors", "-o", str(tmp_path / "f.jsonl")]) == 2
    assert "unknown text task or run folder 'factors'" in capsys.readouterr().err
    assert main(["prompts", "export", "lookup", "--set", "n_train=100", "--set", "n_test=20", "--sets", "test_id,nope",
                 "-o", str(tmp_path / "f.jsonl")]) == 2
    assert "no set 'nope'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
