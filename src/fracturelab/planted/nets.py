"""Planted pairs: two task networks that compute the same function, one modular by construction, one not.

*Modular* net: the task's MLP (models.mlp, depth 2) whose weights are confined to blocks (`Plan`): the hidden units
of each layer are split into named blocks of near-equal size, and a weight entry may be nonzero only where its input
unit belongs to a block its output unit's block reads. Trained on the task's training set (cross-entropy, Adam) with
the masks applied at every step (gradients masked, weights re-masked), so every entry outside the blocks is exactly
0 from initialization to the end. The plans (TASK_PLANS):
- factors: one block per answer part (shape, colour, position); each block reads the whole image, every hidden
  layer is block-diagonal and answer part j is read from block j only: three separate sub-networks side by side;
- lookup (chains of length 2, intermediate values v1 = f1(start), v2 = f2(v1)): one block per intermediate value;
  block v1 reads only the start and f1 input slots, block v2 every slot; block-diagonal hidden layers; answer part j
  from block j;
- leave_square_out (c = a + b mod p): the first hidden layer has one block per operand, each reading only its own
  operand's input slot (a, or b); the second hidden layer combines them (dense: a + b mod p needs both), the head
  reads it. The planted structure lies in layer1 only.
*Entangled* partner: FER's replica on a task (Kumar et al. 2025, after their SGD replicas of Picbreeder CPPNs): a
plain MLP of the same size, seeded differently, trained by distillation (full-batch Adam on KL(modular || replica) of
the output distributions at every scored output position) on every input the task generates (train, test_id,
test_ood and its extra sets), its hidden units free. Same function within a stated tolerance: max_tv, the largest
total-variation distance between the two nets' output distributions over every input and scored position (answer
parts and EOS), is at most TrainSettings.tv_tol (0.05), which implies the same answer wherever the modular net's
top two probabilities differ by more than 2 tv_tol. No exact mixing is used: with ReLU only permutations and
positive scalings of units preserve the function, and they leave the blocks separate.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import FracturelabError
from ..models import DataSpec, make_model
from ..models.data import IGNORE
from ..tasks import make_task
from ..tasks.base import Example, TaskData


@dataclass(frozen=True)
class Plan:
    """Which units of a modular net may connect (the module docstring)."""

    blocks: tuple[str, ...]
    """Block names of the blocked hidden layers."""
    reads: dict = field(default_factory=dict)
    """Block -> the input slots (token positions) it reads; a block not named reads every slot."""
    blocked_layers: int = 2
    """How many hidden layers (from the first) are split into blocks; later ones are dense."""
    part_blocks: bool = True
    """Answer part j is read from block j only (False: the head reads every unit)."""


PLANTED_TASKS = ("factors", "lookup", "leave_square_out")
"""The tasks with a plan (TASK_PLANS' keys; a literal, so `fracturelab planted --help` reads it unimported)."""

TASK_PLANS = {
    "factors": (Plan(("shape", "colour", "position")), {"n_per_combo": 6, "n_noise": 1}, {"input": "rgba"}),
    "lookup": (Plan(("v1", "v2"), {"v1": (0, 1)}),
               {"train_lengths": (2,), "intermediate": True, "n_heldout_pairs": 8, "n_test": 64, "novelty": False}, {}),
    "leave_square_out": (Plan(("a", "b"), {"a": (0,), "b": (2,)}, blocked_layers=1, part_blocks=False),
                         {"p": 23, "side": 5}, {}),
}
"""Task -> (its Plan, the task options, the MLP options) of the planted pairs."""


def task_data(task: str, seed: int) -> TaskData:
    """The task's data for a planted pair. lookup's examples get meta["factors"] = {v1, v2} (the intermediate values
    as ints: the sub-computations' ground truth, which factorization reads)."""
    if task not in TASK_PLANS:
        raise FracturelabError(f"planted: no plan for task {task!r} (tasks: {', '.join(TASK_PLANS)})")
    data = make_task(task, seed=seed, **TASK_PLANS[task][1])
    if task == "lookup":
        def with_factors(e: Example) -> Example:
            vals = [int(v, 2) for v in e.meta["values"]]
            return Example(e.src, e.tgt, {**e.meta, "factors": {"v1": vals[1], "v2": vals[2]}})
        data = replace(data, train=[with_factors(e) for e in data.train],
                       test_id=[with_factors(e) for e in data.test_id],
                       test_ood=[with_factors(e) for e in data.test_ood],
                       extra={k: [with_factors(e) for e in v] for k, v in data.extra.items()})
    return data


def every_input(data: TaskData) -> list[Example]:
    """Every example the task generates (all its sets): the inputs a pair must agree on."""
    return [e for s in data.sets().values() for e in s]


def _unit_blocks(width: int, n: int) -> np.ndarray:
    """(width,) block index of each unit: n near-equal contiguous blocks."""
    return np.concatenate([np.full(len(c), i) for i, c in enumerate(np.array_split(np.arange(width), n))])


def block_masks(model, plan: Plan) -> dict[str, torch.Tensor]:
    """{parameter name: (out, in) 0/1 mask} of the modular net's weights (the Plan), for every weight it restricts."""
    width = model.layers[0].out_features
    if width < len(plan.blocks):
        raise FracturelabError(f"planted: width {width} is below the {len(plan.blocks)} blocks of the plan")
    unit = _unit_blocks(width, len(plan.blocks))
    n_in = model.layers[0].in_features
    per_slot = n_in // model.spec.max_src
    slot = np.arange(n_in) // per_slot
    masks = {}
    first = np.ones((width, n_in), dtype=bool)
    for b, name in enumerate(plan.blocks):
        if name in plan.reads:
            first[unit == b] = np.isin(slot, plan.reads[name])[None, :]
    masks["layers.0.weight"] = first
    for i in range(1, min(plan.blocked_layers, len(model.layers))):
        masks[f"layers.{i}.weight"] = unit[:, None] == unit[None, :]
    if plan.part_blocks and plan.blocked_layers >= len(model.layers):
        head = np.zeros((model.n_pos, model.n_out, width), dtype=bool)  # EOS / PAD positions: bias only
        for j in range(min(len(plan.blocks), model.n_pos)):
            head[j] = (unit == j)[None, :]
        masks["head.weight"] = head.reshape(model.n_pos * model.n_out, width)
    return {k: torch.as_tensor(v, dtype=torch.float32) for k, v in masks.items()}


@dataclass
class TrainSettings:
    """How the modular net is trained and its replica distilled."""

    steps: int = 1500
    """Full-batch Adam steps of the modular net on the training set."""
    lr: float = 3e-3
    """Adam's learning rate (both nets)."""
    distill_steps: int = 6000
    """Most full-batch Adam steps of the replica; it stops earlier once the pair is equal within tv_tol."""
    check_every: int = 250
    """Replica steps between equality checks."""
    tv_tol: float = 0.05
    """The pair's equality tolerance: the largest total-variation distance between the two nets' output
    distributions over every input of the task and every output position."""


def _batch(model, examples) -> dict:
    return model.encode(examples)


def train_modular(model, data: TaskData, masks: dict, s: TrainSettings, seed: int):
    """Train `model` in place on data.train with its weights held to `masks` (exact zeros outside the blocks)."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for k, m in masks.items():
            params[k].mul_(m)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=s.lr)
    batch = _batch(model, data.train)
    model.train()
    for _ in range(s.steps):
        opt.zero_grad()
        loss, _ = model.loss(batch)
        loss.backward()
        for k, m in masks.items():
            params[k].grad.mul_(m)
        opt.step()
        with torch.no_grad():
            for k, m in masks.items():
                params[k].mul_(m)
    model.eval()
    return model


def _scored(model, batch: dict) -> torch.Tensor:
    """(B, positions) bool: the output positions a target scores (answer parts and EOS)."""
    return batch["y"] != IGNORE


def max_tv(a, b, examples) -> float:
    """The largest total-variation distance between two nets' output distributions over the examples' scored
    positions: the pair's equality statistic (equal when at most TrainSettings.tv_tol)."""
    batch = _batch(a, examples)
    with torch.no_grad():
        pa, pb = F.softmax(a(batch), -1), F.softmax(b(batch), -1)
    tv = 0.5 * (pa - pb).abs().sum(-1)
    return float(tv[_scored(a, batch)].max())


def answers_equal(a, b, examples) -> float:
    """Fraction of the examples' scored positions where the two nets give the same answer (argmax)."""
    batch = _batch(a, examples)
    with torch.no_grad():
        same = a(batch).argmax(-1) == b(batch).argmax(-1)
    return float(same[_scored(a, batch)].double().mean())


def distill(teacher, data: TaskData, s: TrainSettings, seed: int):
    """The replica: a plain net of the teacher's size (seed `seed`) distilled on every input of the task; returns
    (replica, max TV, steps taken)."""
    st = teacher.settings
    student = make_model("mlp", teacher.spec, seed, hidden=st.hidden, depth=st.depth, scale=st.scale,
                         input=st.input, embed=st.embed)
    exs = every_input(data)
    batch = _batch(teacher, exs)
    scored = _scored(teacher, batch)
    with torch.no_grad():
        target = F.log_softmax(teacher(batch), -1)[scored]
    torch.manual_seed(seed)
    opt = torch.optim.Adam(student.parameters(), lr=s.lr)
    tv, step = float("inf"), 0
    while step < s.distill_steps:
        student.train()
        for _ in range(s.check_every):
            opt.zero_grad()
            logp = F.log_softmax(student(batch), -1)[scored]
            F.kl_div(logp, target, log_target=True, reduction="batchmean").backward()
            opt.step()
        step += s.check_every
        student.eval()
        tv = max_tv(teacher, student, exs)
        if tv <= s.tv_tol:
            break
    return student, tv, step


def make_pair(task: str, seed: int, width: int, s: TrainSettings | None = None):
    """One planted pair: (task data, modular net, its masks, entangled replica, facts of the pair as a dict)."""
    s = s or TrainSettings()
    plan, _, model_options = TASK_PLANS[task]
    data = task_data(task, seed)
    spec = DataSpec.of(task, data.sets().values(), data.info["settings"])
    modular = make_model("mlp", spec, seed, hidden=width, depth=2, **model_options)
    masks = block_masks(modular, plan)
    train_modular(modular, data, masks, s, seed)
    replica, tv, steps = distill(modular, data, s, seed + 10_000)
    acc = {}
    for name in ("train", "test_id", "test_ood"):
        batch = _batch(modular, data.sets()[name])
        with torch.no_grad():
            acc[name] = float(modular.loss(batch)[1].double().mean())
    facts = {"task": task, "seed": seed, "width": width, "max_tv": tv, "distill_steps": steps,
             "equal": tv <= s.tv_tol, "answers_equal": answers_equal(modular, replica, every_input(data)),
             "inputs": len(every_input(data)), **{f"acc_{k}": v for k, v in acc.items()}}
    return data, modular, masks, replica, facts
