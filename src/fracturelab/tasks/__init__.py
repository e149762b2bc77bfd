"""The testbed for systematic generalization: seeded task generators giving train, test_id and test_ood sets.

    from fracturelab.tasks import make_task, describe, list_tasks
    data = make_task("scan", split="length", seed=0)
    data.train[0].src, data.train[0].tgt, data.train[0].meta

Tasks are plugged in through the registry TASKS (name -> TaskSpec); adding one is one module with a settings
dataclass, a make(settings) function and a SPEC line, plus its entry below.
"""
from __future__ import annotations

import ast
import dataclasses

from ..errors import FracturelabError
from . import factors, knowledge_graph, leave_square_out, lookup, multiplication, scan
from .base import EOS, PAD, Example, TaskData, TaskSpec, describe

TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in (
    lookup.SPEC, scan.SPEC, multiplication.SPEC, leave_square_out.SPEC, factors.SPEC, knowledge_graph.SPEC)}

__all__ = ["EOS", "PAD", "TASKS", "Example", "TaskData", "TaskSpec", "describe", "list_tasks", "make_task"]


def _plain(v):
    return tuple(_plain(x) for x in v) if isinstance(v, (list, tuple)) else v


def _coerce(task: str, f: dataclasses.Field, value):
    """Check one option's type against its default; a string for a non-string setting is read as a Python literal
    (so a CLI can pass "3" or "((3, 3),)")."""
    default = f.default
    if isinstance(value, str) and not isinstance(default, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise FracturelabError(f"option {f.name}={value!r} for task {task!r} is not a valid value") from None
    value = _plain(value)
    ok = (default is None or value is None and default is None or
          (isinstance(default, bool) and isinstance(value, bool)) or
          (isinstance(default, int) and not isinstance(default, bool) and isinstance(value, int)
           and not isinstance(value, bool)) or
          (isinstance(default, float) and isinstance(value, (int, float)) and not isinstance(value, bool)) or
          (isinstance(default, str) and isinstance(value, str)) or
          (isinstance(default, tuple) and isinstance(value, tuple)))
    if not ok:
        raise FracturelabError(f"option {f.name}={value!r} for task {task!r} should be like {default!r}")
    return float(value) if isinstance(default, float) else value


def make_task(name: str, split: str | None = None, seed: int = 0, **options) -> TaskData:
    """Generate a task's data. Unknown task, split or option, or settings that cannot make the split, raise
    FracturelabError with a one-line message."""
    spec = TASKS.get(name)
    if spec is None:
        raise FracturelabError(f"unknown task {name!r} (tasks: {', '.join(TASKS)})")
    fields = {f.name: f for f in dataclasses.fields(spec.settings_cls)}
    if split is not None and split not in spec.splits:
        raise FracturelabError(f"unknown split {split!r} for task {name!r} (splits: {', '.join(spec.splits)})")
    bad = [k for k in options if k not in fields or k in ("split", "seed")]
    if bad:
        opts = ", ".join(k for k in fields if k not in ("split", "seed"))
        raise FracturelabError(f"unknown option {bad[0]!r} for task {name!r} (options: {opts})")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise FracturelabError(f"seed must be an integer, got {seed!r}")
    kw = {k: _coerce(name, fields[k], v) for k, v in options.items()}
    if split is not None:
        kw["split"] = split
    return spec.make(spec.settings_cls(seed=seed, **kw))


def list_tasks() -> list[dict]:
    """One entry per task: name, splits, default split, the first line of its doc, and its options' defaults."""
    out = []
    for spec in TASKS.values():
        fields = dataclasses.fields(spec.settings_cls)
        out.append({"name": spec.name, "splits": list(spec.splits),
                     "default_split": next(f.default for f in fields if f.name == "split"),
                     "doc": spec.doc.strip().splitlines()[0],
                     "options": {f.name: f.default for f in fields if f.name not in ("split", "seed")}})
    return out
