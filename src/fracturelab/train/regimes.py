"""Training regimes (REGIMES: name -> function) and the per-task data they need.

- scratch: train on the task's train set from a fresh initialization.
- pretrain: first train on the task's primitives or sub-tasks (PRETRAIN_SETS below) until they are learned exactly
  or pretrain_steps pass, then fine-tune on the whole train set with a fresh optimizer.
- curriculum: the whole train set, ordered simple to composed (CURRICULUM_KEYS), brought in by a competence
  schedule (Platanios et al. 2019); early stopping starts once every example is in play.
- bimt: scratch plus a connection cost with neuron locality on every linear layer (Liu, Gan, Tegmark 2023), an
  intervention meant to lower fracture (train/intervene.py; settings in TrainSettings.intervention).

The SGD regimes are plans (PLANS: a list of PhasePlan each), run by `fit` one network at a time (REGIMES) or by
train.population for many networks at once, so both run exactly the same phases.

Pretraining sets, per task (never containing a test input; `pretrain_set` drops any that would):
- lookup: every single-function application f(v) (all 2^n_bits x n_funcs, from the task's tables).
- scan: the training commands without "and"/"after" (lone primitives, directions, twice/thrice: short commands).
- multiplication: the training problems of the smallest sizes (digits(a) x digits(b) <= 2: 1x1, 1x2, 2x1).
- leave_square_out: the full table of the other operation mod the same p ("a * b =" for an add task): every (a, b)
  pair, the square's included, but always with the other operator, so no test input is seen.
- factors: single-factor variation: the training images whose (shape, colour, position) differs from a reference
  combination (the first training one) in at most one factor.
- knowledge_graph: the 1-hop facts (the stored triples).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from ..errors import FracturelabError
from ..tasks.base import Example, TaskData
from ..tasks.leave_square_out import OPS
from .intervene import ConnectionCost, Penalty
from .loop import Context, Phase, curriculum_batches, fit, shuffled_batches


def _lookup(d: TaskData) -> list[Example]:
    tables = d.info["notes"]["tables"]
    vals = sorted(next(iter(tables.values())))
    return [Example((v, f), (table[i],), {"length": 1, "depth": 1, "start": v, "funcs": [f]})
            for f, table in tables.items() for i, v in enumerate(vals)]


def _scan(d: TaskData) -> list[Example]:
    return [e for e in d.train if "and" not in e.src and "after" not in e.src]


def _multiplication(d: TaskData) -> list[Example]:
    return [e for e in d.train if e.meta["size"][0] * e.meta["size"][1] <= 2]


def _leave_square_out(d: TaskData) -> list[Example]:
    s = d.info["settings"]
    other = next(k for k in OPS if k != s["op"])
    sym, fn = OPS[other]
    return [Example((str(a), sym, str(b), "="), (str(fn(a, b, s["p"])),), {"a": a, "b": b, "op": other})
            for a in range(s["p"]) for b in range(s["p"])]


def _factors(d: TaskData) -> list[Example]:
    ref = d.train[0].meta["factors"]
    return [e for e in d.train if sum(e.meta["factors"][k] != ref[k] for k in ref) <= 1]


def _knowledge_graph(d: TaskData) -> list[Example]:
    return [e for e in d.train if e.meta["hops"] == 1]


PRETRAIN_SETS: dict[str, Callable[[TaskData], list[Example]]] = {
    "lookup": _lookup, "scan": _scan, "multiplication": _multiplication, "leave_square_out": _leave_square_out,
    "factors": _factors, "knowledge_graph": _knowledge_graph,
}

CURRICULUM_KEYS: dict[str, Callable[[Example], tuple]] = {
    "lookup": lambda e: (e.meta["length"],),
    "scan": lambda e: (e.meta["length"], e.meta["cmd_len"]),
    "multiplication": lambda e: (e.meta["n_nodes"],),
    "knowledge_graph": lambda e: (e.meta["hops"],),
}
"""Simple-to-composed order per task (smaller key first). leave_square_out (one operation per example) and factors
(one image, three factors) have no such order, so the curriculum regime refuses them."""


def pretrain_set(d: TaskData) -> list[Example]:
    """The task's pretraining examples, without any whose input occurs in a test set."""
    if d.name not in PRETRAIN_SETS:
        raise FracturelabError(f"regime 'pretrain' has no pretraining set for task {d.name!r}")
    tests = {e.src for k, v in d.sets().items() if k != "train" for e in v}
    out = [e for e in PRETRAIN_SETS[d.name](d) if e.src not in tests]
    if not out:
        raise FracturelabError(f"task {d.name!r}: the pretraining set is empty for these settings")
    return out


def _lengths(examples) -> np.ndarray:
    return np.array([len(e.src) + len(e.tgt) for e in examples])


def _rng(ctx: Context, purpose: int) -> np.random.Generator:
    return np.random.default_rng([ctx.seed, 1000 + purpose])


@dataclass
class PhasePlan:
    """One phase of an SGD regime, before it runs: what `fit` (one network) or train.population (many) is given."""

    name: str
    """Phase name (curve rows carry it)."""
    train: Sequence[Example]
    """Examples trained on."""
    val: Sequence[Example]
    """Examples early stopping is scored on."""
    max_steps: int
    """Most optimizer steps."""
    batches: Iterator[np.ndarray]
    """Endless seeded index batches into train."""
    score_from: int = 0
    """Phase step from which early stopping counts."""
    penalty: Penalty | None = None
    """A term added to the training loss (intervention regimes), or None."""


def scratch_plan(model, ctx: Context, data: TaskData, train, val) -> list[PhasePlan]:
    s = ctx.settings
    return [PhasePlan("train", train, val, s.max_steps, shuffled_batches(_lengths(train), s.batch_size, _rng(ctx, 1),
                                                                          s.bucket))]


def pretrain_plan(model, ctx: Context, data: TaskData, train, val) -> list[PhasePlan]:
    s = ctx.settings
    pre = pretrain_set(data)
    batches = shuffled_batches(_lengths(pre), min(s.batch_size, len(pre)), _rng(ctx, 2), s.bucket)
    # the pretraining phase is scored on the pretraining set itself (learned exactly -> move on)
    return [PhasePlan("pretrain", pre, pre, s.pretrain_steps, batches)] + scratch_plan(model, ctx, data, train, val)


def curriculum_plan(model, ctx: Context, data: TaskData, train, val) -> list[PhasePlan]:
    s = ctx.settings
    key = CURRICULUM_KEYS[data.name]  # run.resolve has refused tasks without an order
    order = np.array(sorted(range(len(train)), key=lambda i: key(train[i])))
    batches = curriculum_batches(order, s.batch_size, _rng(ctx, 3), s.curriculum_steps, s.curriculum_start)
    return [PhasePlan("curriculum", train, val, s.max_steps, batches, score_from=s.curriculum_steps)]


def bimt_plan(model, ctx: Context, data: TaskData, train, val) -> list[PhasePlan]:
    plan = scratch_plan(model, ctx, data, train, val)
    plan[0].penalty = ConnectionCost.of(model, ctx.settings.intervention)
    return plan


PLANS: dict[str, Callable] = {"scratch": scratch_plan, "pretrain": pretrain_plan, "curriculum": curriculum_plan,
                              "bimt": bimt_plan}
"""SGD regime name -> plan(model, ctx, task_data, train, val) -> [PhasePlan]: the regimes train.population runs."""


def _sgd(plan: Callable) -> Callable:
    def run(model, ctx: Context, data: TaskData, train, val) -> list[Phase]:
        return [fit(model, ctx, p.name, p.train, p.val, p.max_steps, p.batches, p.score_from, p.penalty)
                for p in plan(model, ctx, data, train, val)]
    run.__name__ = run.__qualname__ = plan.__name__.removesuffix("_plan")
    return run


from .evolve.task_regimes import TASK_REGIMES  # noqa: E402  (es, cmaes, neat, neat-novelty)

REGIMES: dict[str, Callable] = {**{name: _sgd(plan) for name, plan in PLANS.items()}, **TASK_REGIMES}
"""Regime name -> run(model, ctx, task_data, train, val) -> phases."""
