"""The testbed for systematic generalization: seeded task generators giving train, test_id and test_ood sets.

    from fracturelab.tasks import make_task, describe, list_tasks
    data = make_task("scan", split="length", seed=0)
    data.train[0].src, data.train[0].tgt, data.train[0].meta

Tasks are plugged in through the registry TASKS (name -> TaskSpec); adding one is one module with a settings
dataclass, a make(settings) function and a SPEC line, plus its entry below.
"""
from __future__ import annotations

import dataclasses

from ..errors import FracturelabError
from ..settings import check_options
from . import factors, knowledge_graph, leave_square_out, lookup, multiplication, scan
from .base import EOS, PAD, Example, TaskData, TaskSpec, describe

TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in (
    lookup.SPEC, scan.SPEC, multiplication.SPEC, leave_square_out.SPEC, factors.SPEC, knowledge_graph.SPEC)}

__all__ = ["EOS", "PAD", "TASKS", "Example", "TaskData", "TaskSpec", "describe", "list_tasks", "make_task"]


def make_task(name: str, split: str | None = None, seed: int = 0, **options) -> TaskData:
    """Generate a task's data. Unknown task, split or option, or settings that cannot make the split, raise
    FracturelabError with a one-line message."""
    spec = TASKS.get(name)
    if spec is None:
        raise FracturelabError(f"unknown task {name!r} (tasks: {', '.join(TASKS)})")
    if split is not None and split not in spec.splits:
        raise FracturelabError(f"unknown split {split!r} for task {name!r} (splits: {', '.join(spec.splits)})")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise FracturelabError(f"seed must be an integer >= 0, got {seed!r}")
    kw = check_options(spec.settings_cls, options, f"task {name!r}", strings=True, skip=("split", "seed"))
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
