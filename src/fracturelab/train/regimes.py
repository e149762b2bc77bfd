"""Training regimes (REGIMES: name -> function) and the per-task data they need.

- scratch: train on the task's train set from a fresh initialization.
- pretrain: first train on the task's primitives or sub-tasks (its TaskSpec.pretrain_set) until they are learned
  exactly or pretrain_steps pass, then fine-tune on the whole train set with a fresh optimizer.
- curriculum: the whole train set, ordered simple to composed (its TaskSpec.curriculum_key), brought in by a
  competence schedule (Platanios et al. 2019); early stopping starts once every example is in play.
- bimt: scratch plus a connection cost with neuron locality on every linear layer (Liu, Gan, Tegmark 2023), an
  intervention meant to lower fracture (train/intervene.py; settings in TrainSettings.intervention).
- modular: scratch on the mlp made block-diagonal (models/mlp.py, blocks): the model's own blocks if it has them,
  else one block per factor slot the task declares (TaskSpec.factor_keys; leave_square_out: a and b), else
  MODULAR_BLOCKS, in every hidden layer but the last, where the blocks meet (a one-layer mlp: its one layer); an
  architecture meant to lower fracture, paired with scratch by seed (same init before masking, same data order).
  Why the last layer stays dense: where the answer is an interaction of the factors ((a + b) mod p), blocks that meet
  only in the linear head can only add per-block scores, and such a net learned nothing (leave_square_out seed 0:
  test_id 0.02).
- decay: scratch with strong decoupled weight decay (AdamW's decay on the weight matrices raised from
  TrainSettings.weight_decay to the strength in TrainSettings.intervention, "strength=1.0"); nothing else differs
  from scratch (same init, data order, steps). A penalty meant to lower fracture, argued from grokking (weight decay
  moves a net from memorising to the structured, generalising circuit): train/intervene.py, DecaySettings.

The SGD regimes are plans (PLANS: a list of PhasePlan each), run by `fit` one network at a time (REGIMES) or by
train.population for many networks at once, so both run exactly the same phases.

Each task's pretraining set is defined beside the task (tasks/<task>.py: pretrain_set); `pretrain_set` below drops
any example whose input occurs in a test set. A task without one (or without a curriculum order) is refused by the
regime with a one-line error (run.resolve).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from ..errors import FracturelabError
from ..tasks import TASKS
from ..tasks.base import Example, TaskData
from .intervene import ConnectionCost, DecaySettings, Penalty, parse_settings
from .loop import Context, Phase, curriculum_batches, fit, shuffled_batches


def pretrain_set(d: TaskData) -> list[Example]:
    """The task's pretraining examples, without any whose input occurs in a test set."""
    make = TASKS[d.name].pretrain_set if d.name in TASKS else None
    if make is None:
        raise FracturelabError(f"regime 'pretrain' has no pretraining set for task {d.name!r}")
    tests = {e.src for k, v in d.sets().items() if k != "train" for e in v}
    out = [e for e in make(d) if e.src not in tests]
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
    weight_decay: float | None = None
    """AdamW's decay on the weight matrices in this phase (the decay regime); None: TrainSettings.weight_decay."""


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
    key = TASKS[data.name].curriculum_key  # run.resolve has refused tasks without an order
    order = np.array(sorted(range(len(train)), key=lambda i: key(train[i])))
    batches = curriculum_batches(order, s.batch_size, _rng(ctx, 3), s.curriculum_steps, s.curriculum_start)
    return [PhasePlan("curriculum", train, val, s.max_steps, batches, score_from=s.curriculum_steps)]


def bimt_plan(model, ctx: Context, data: TaskData, train, val) -> list[PhasePlan]:
    plan = scratch_plan(model, ctx, data, train, val)
    plan[0].penalty = ConnectionCost.of(model, ctx.settings.intervention)
    return plan


def decay_plan(model, ctx: Context, data: TaskData, train, val) -> list[PhasePlan]:
    plan = scratch_plan(model, ctx, data, train, val)
    plan[0].weight_decay = parse_settings(ctx.settings.intervention, DecaySettings).strength
    return plan


MODULAR_BLOCKS = 4
"""Blocks of the modular regime on a task that declares no factor slots (factors: four bands of image rows)."""


def modular_plan(model, ctx: Context, data: TaskData, train, val) -> list[PhasePlan]:
    from ..models.mlp import MLP

    if not isinstance(model, MLP):
        raise FracturelabError(f"regime 'modular' trains the mlp, not {type(model).__name__}")
    if model.masks is None:
        keys = TASKS[data.name].factor_keys if data.name in TASKS else ()
        model.set_blocks(len(keys) if len(keys) > 1 else MODULAR_BLOCKS, max(1, len(model.layers) - 1))
    return scratch_plan(model, ctx, data, train, val)


PLANS: dict[str, Callable] = {"scratch": scratch_plan, "pretrain": pretrain_plan, "curriculum": curriculum_plan,
                              "bimt": bimt_plan, "modular": modular_plan, "decay": decay_plan}
"""SGD regime name -> plan(model, ctx, task_data, train, val) -> [PhasePlan]: the regimes train.population runs."""


def _sgd(plan: Callable) -> Callable:
    def run(model, ctx: Context, data: TaskData, train, val) -> list[Phase]:
        return [fit(model, ctx, p.name, p.train, p.val, p.max_steps, p.batches, p.score_from, p.penalty,
                    p.weight_decay) for p in plan(model, ctx, data, train, val)]
    run.__name__ = run.__qualname__ = plan.__name__.removesuffix("_plan")
    return run


from .evolve.task_regimes import TASK_REGIMES  # noqa: E402  (es, cmaes, neat, neat-novelty)

REGIMES: dict[str, Callable] = {**{name: _sgd(plan) for name, plan in PLANS.items()}, **TASK_REGIMES}
"""Regime name -> run(model, ctx, task_data, train, val) -> phases."""
