"""Contract tests generated from the task registry (scikit-learn's parametrize_with_checks as the model): every
TASKS entry, shipped or registered, makes its tiny splits with per-example metadata, its default model builds and
takes a training step on them, and each capability the entry declares holds (recipe, pretraining set, curriculum
order, text form, factor keys). A new task gets every check here by being registered; nothing is listed by hand."""
import ast
import functools
import json
import math
from pathlib import Path

import pytest

from fracturelab.errors import FracturelabError
from fracturelab.models import MODELS
from fracturelab.probes.common import factor_table
from fracturelab.probes.prompts import export_rows, read_prompts, write_jsonl
from fracturelab.tasks import TASKS, Example, make_task, text_tasks
from fracturelab.train import pretrain_set, resolve, train_run

NAMES = list(TASKS)
ONE_STEP = {"max_steps": 1, "eval_every": 1, "warmup": 0, "max_val": 50, "score_train": 50}


@functools.lru_cache(maxsize=None)
def _tiny(name):
    return make_task(name, seed=0, **TASKS[name].tiny)


@pytest.mark.parametrize("name", NAMES)
def test_tiny_splits_carry_metadata(name):
    d = _tiny(name)
    assert d.name == name and d.split in TASKS[name].splits
    assert all(len(v) > 0 for v in (d.train, d.test_id, d.test_ood))
    vocab = (set(d.src_vocab), set(d.tgt_vocab))
    for examples in d.sets().values():
        for e in examples:
            assert isinstance(e, Example) and isinstance(e.meta, dict), e
            assert isinstance(e.src, tuple) and isinstance(e.tgt, tuple) and e.src and e.tgt, e
            assert set(e.src) <= vocab[0] and set(e.tgt) <= vocab[1], e
    json.dumps([e.meta for v in d.sets().values() for e in v])  # plain JSON, as run folders write it


@pytest.mark.parametrize("name", NAMES)
def test_default_model_builds_and_takes_a_training_step(name):
    spec = TASKS[name]
    assert spec.default_model in MODELS and set(spec.recipe.model_options) <= set(MODELS)
    resolve(name, None, None, "scratch")  # the recipe's options are all accepted
    m = train_run(name, seed=0, task_options=spec.tiny, **ONE_STEP)
    assert m["model"] == spec.default_model and m["steps"] == 1
    assert math.isfinite(m["curve"][-1]["train_loss"]) and 0.0 <= m["id_acc"] <= 1.0


@pytest.mark.parametrize("name", NAMES)
def test_declared_training_capabilities_hold(name):
    """A pretraining set is non-empty and holds no test input; a curriculum key orders every train example; and
    the regimes refuse, in one line, a task that declares neither."""
    spec, d = TASKS[name], _tiny(name)
    if spec.pretrain_set is None:
        with pytest.raises(FracturelabError, match="no pretraining set") as err:
            train_run(name, regime="pretrain", task_options=spec.tiny, **ONE_STEP)
        assert "\n" not in str(err.value)
    else:
        pre = pretrain_set(d)
        tests = {e.src for k, v in d.sets().items() if k != "train" for e in v}
        assert pre and all(isinstance(e, Example) for e in pre) and not any(e.src in tests for e in pre)
    if spec.curriculum_key is None:
        with pytest.raises(FracturelabError, match="no simple-to-composed order") as err:
            train_run(name, regime="curriculum", task_options=spec.tiny, **ONE_STEP)
        assert "\n" not in str(err.value)
    else:
        keys = [spec.curriculum_key(e) for e in d.train]
        assert all(isinstance(k, tuple) for k in keys) and sorted(keys)


@pytest.mark.parametrize("name", NAMES)
def test_declared_data_capabilities_hold(name, tmp_path):
    """A text task round-trips through a prompt file; declared factor keys give the factorization probe its
    factors."""
    spec, d = TASKS[name], _tiny(name)
    assert (name in text_tasks()) == spec.text
    if spec.text:
        back = read_prompts(write_jsonl(export_rows(d, ["test_id", "test_ood"]), tmp_path / f"{name}.jsonl"))
        assert [e.src for e in back.test_id] == [e.src for e in d.test_id]
        assert [e.tgt for e in back.test_ood] == [e.tgt for e in d.test_ood]
    if spec.factor_keys:
        names, codes = factor_table(d.train, name)
        assert names == list(spec.factor_keys) and codes.shape == (len(d.train), len(spec.factor_keys))


def test_tasks_import_nothing_above_them():
    """Layer order: tasks/ imports nothing from models/, train/, probes/ or study/, so an entry's capabilities are
    plain functions and values that any layer above may read."""
    above = {"models", "train", "probes", "study", "cli", "report"}
    for path in (Path(__file__).resolve().parents[1] / "src" / "fracturelab" / "tasks").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [f"{'.' * node.level}{node.module or ''}"] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                parts = name.lstrip(".").split(".")
                top = parts[1] if name.startswith("fracturelab.") else parts[0] if name.startswith("..") else None
                assert top not in above, f"{path.name} imports {name}"
