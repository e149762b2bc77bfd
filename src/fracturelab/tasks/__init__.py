"""The testbed for systematic generalization: seeded task generators giving train, test_id and test_ood sets.

    from fracturelab.tasks import make_task, describe, list_tasks
    data = make_task("scan", split="length", seed=0)
    data.train[0].src, data.train[0].tgt, data.train[0].meta

Tasks are plugged in through the registry TASKS (name -> TaskSpec). Adding one is one module with a settings
dataclass (with `split` and `seed` fields), a make(settings) function and a SPEC line, whose entry carries what the
rest of fracturelab may do with the task (default model, recipe, pretraining set, curriculum order, text form, factor
keys, size estimate: see TaskSpec); then either its SPEC in the tuple below (shipped tasks) or `register_task(SPEC)`
from outside the package (a plug-in: fracturelab.plugins loads it in worker processes too).
"""
from __future__ import annotations

import dataclasses

from .. import plugins
from ..errors import FracturelabError
from ..settings import check_options
from . import binding, factors, knowledge_graph, leave_square_out, lookup, multiplication, scan
from .base import EOS, PAD, Example, Recipe, TaskData, TaskSpec, describe

TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in (
    lookup.SPEC, scan.SPEC, multiplication.SPEC, leave_square_out.SPEC, factors.SPEC, knowledge_graph.SPEC,
    binding.SPEC)}

__all__ = ["EOS", "PAD", "TASKS", "Example", "Recipe", "TaskData", "TaskSpec", "check_task_size", "describe",
           "list_tasks", "make_task", "register_task", "text_tasks"]


def _problem(spec: TaskSpec) -> str | None:
    """What is wrong with an entry, in words (None: nothing)."""
    if not isinstance(spec, TaskSpec):
        return f"expected a fracturelab.tasks.TaskSpec, got {type(spec).__name__}"
    if not isinstance(spec.name, str) or not spec.name.isidentifier():
        return f"task name must be a Python identifier, got {spec.name!r}"
    if spec.name in TASKS:
        return f"task {spec.name!r} is already registered"
    if not dataclasses.is_dataclass(spec.settings_cls) or not isinstance(spec.settings_cls, type):
        return f"task {spec.name!r}: settings_cls must be a dataclass"
    fields = {f.name: f for f in dataclasses.fields(spec.settings_cls)}
    if "split" not in fields or "seed" not in fields:
        return f"task {spec.name!r}: its settings dataclass needs `split` and `seed` fields"
    if not spec.splits or fields["split"].default not in spec.splits:
        return f"task {spec.name!r}: the settings' default split {fields['split'].default!r} is not in splits"
    if not isinstance(spec.doc, str) or not spec.doc.strip():
        return f"task {spec.name!r}: doc must be a non-empty string"
    if not isinstance(spec.default_model, str) or not isinstance(spec.recipe, Recipe):
        return f"task {spec.name!r}: default_model must be a model name and recipe a fracturelab.tasks.Recipe"
    for what in ("make", "pretrain_set", "curriculum_key", "items"):
        fn = getattr(spec, what)
        if not callable(fn) and (fn is not None or what == "make"):
            return f"task {spec.name!r}: {what} must be a function" + ("" if what == "make" else " or None")
    if not isinstance(spec.factor_keys, tuple) or not all(isinstance(k, str) for k in spec.factor_keys):
        return f"task {spec.name!r}: factor_keys must be a tuple of metadata keys"
    if not isinstance(spec.tiny, dict):
        return f"task {spec.name!r}: tiny must be a dict of task options"
    return None


def register_task(spec: TaskSpec) -> TaskSpec:
    """Add a task to TASKS (and so to every command, study spec and regime that reads it); a bad or duplicate entry
    raises FracturelabError with a one-line message. Returns the entry."""
    problem = _problem(spec)
    if problem is not None:
        raise FracturelabError(f"register_task: {problem}")
    for what, options in (("recipe.task_options", spec.recipe.task_options), ("tiny", spec.tiny)):
        check_options(spec.settings_cls, options, f"register_task: task {spec.name!r}, {what}", skip=("split", "seed"))
    TASKS[spec.name] = spec
    return spec


def text_tasks() -> tuple[str, ...]:
    """The registered tasks with a text form (TaskSpec.text): exportable as prompt sets."""
    return tuple(name for name, spec in TASKS.items() if spec.text)


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
    settings = spec.settings_cls(seed=seed, **kw)
    check_task_size(name, settings)
    key = (name, repr(settings))
    if key not in _MADE:
        if len(_MADE) >= MADE_KEPT:
            _MADE.pop(next(iter(_MADE)))
        _MADE[key] = spec.make(settings)
    return _MADE[key]


MADE_KEPT = 32
"""make_task keeps the data of its last this many settings in this process: a study worker makes a run's data to
train it and again to probe it (train.load_run), and a population's members, each its own seed, one after another.
The data is read, never changed, after make (tests/test_tasks.py checks that a second call returns equal data)."""
_MADE: dict = {}


def check_task_size(name: str, settings) -> None:
    """Refuse, before anything is generated, settings whose TaskSpec.items estimate exceeds limits.max_task_items
    (a task without an estimate is not checked; settings the estimate cannot read are left to make's own checks)."""
    from ..limits import check_size

    estimate = TASKS[name].items
    if estimate is None:
        return
    try:
        n = int(estimate(settings))
    except (TypeError, ValueError, IndexError, OverflowError):  # malformed sizes: make names what is wrong
        return
    check_size(n, "max_task_items", f"task {name!r}: items its settings generate")


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


plugins.load_env()  # last: a plug-in imports this module to register its tasks
