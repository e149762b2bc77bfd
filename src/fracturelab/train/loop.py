"""The training loop: AdamW on minibatches, evaluation on a validation split carved from train, early stopping,
checkpoints and the training curve as rows of plain data.

Only the examples handed to `fit` are ever read: the training examples and the validation examples (both from the
task's train set). Test sets never reach this file, so they cannot influence when training stops.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..cppn.nets import FLOAT32_MAX
from ..errors import FracturelabError, diverged
from ..tasks.base import Example


@dataclass
class TrainSettings:
    """Settings of a training run (the regime's phases share them)."""

    lr: float = 1e-3
    """AdamW peak learning rate."""
    weight_decay: float = 0.01
    """AdamW weight decay on matrices (not on biases, norms)."""
    batch_size: int = 64
    """Examples per step (at most the limit max_task_items, fracturelab.limits)."""
    max_steps: int = 3000
    """Most optimizer steps of the main phase (fine-tuning in the pretrain regime)."""
    warmup: int = 100
    """Linear warmup steps at the start of each phase."""
    min_lr_frac: float = 0.1
    """After warmup the learning rate decays along a cosine to this fraction of lr at the phase's last step (1.0 =
    constant)."""
    grad_clip: float = 1.0
    """Clip the gradient's global L2 norm to this (0 = off)."""
    eval_every: int = 100
    """Steps between evaluations on the validation split (one curve row each)."""
    patience: int = 10
    """Stop after this many evaluations without a better validation score (exact match, then loss)."""
    stop_val_acc: float = 1.0
    """Also stop once validation exact match reaches this."""
    val_frac: float = 0.1
    """Fraction of train carved out (seeded) as the validation split for early stopping."""
    max_val: int = 1000
    """At most this many validation examples."""
    eval_batch: int = 256
    """Examples per evaluation batch (at most the limit max_task_items)."""
    score_train: int = 0
    """train_acc is measured on at most this many training examples (a seeded sample; 0 = all of them)."""
    bucket: bool = True
    """Group examples of similar length into batches (less padding for sequence models)."""
    pretrain_steps: int = 2000
    """pretrain regime: most steps on the pretraining set (stops earlier once it is learned exactly)."""
    curriculum_steps: int = 1000
    """curriculum regime: steps until every training example is in play (competence 1)."""
    curriculum_start: float = 0.2
    """curriculum regime: the easiest fraction of train available at step 0."""
    checkpoints: tuple[int, ...] = ()
    """Global steps (over all phases) at which to save ckpt_<step>.pt."""
    threads: int = 1
    """torch threads while training (the machine is shared: keep it small)."""
    max_seconds: float = 0.0
    """Wall-clock cap per phase in seconds (0 = none). A cap makes runs depend on machine speed: off by default."""
    train_frac: float = 1.0
    """Fraction of the fit examples (train minus the validation split) trained on: a seeded subset, the same for a
    given seed and fraction (the exposure axis; 1.0 = all)."""
    init_scale: float = 1.0
    """Multiplies every weight matrix (parameters of 2 or more dimensions) right after initialization (the rich (< 1)
    versus lazy (> 1) axis; 1.0 = the model's own init)."""
    intervention: str = ""
    """The intervention regimes' settings as "key=value,...": bimt's (fields of fracturelab.train.intervene.
    BIMTSettings, e.g. "strength=1e-4,locality=1.0") or decay's (DecaySettings, e.g. "strength=1.0")."""
    progress: bool = False
    """Show a progress bar per phase on stderr (tqdm): steps, running loss, last validation accuracy."""
    verbose: bool = False
    """Print each curve row to stderr as it is measured."""
    plot: bool = True
    """Draw the learning curve as curve.png in the run folder (a study's cells, whose run folders are temporary,
    skip it: a second of matplotlib per run)."""
    evolve: str = ""
    """Evolution regimes (es, cmaes, neat, neat-novelty): their settings as "key=value,..." (fields of
    fracturelab.train.evolve.ESSettings or NEATSettings, e.g. "population=128,sigma=0.1"); a generation counts as a
    step."""

    def check(self) -> None:
        ok = (0 < self.lr < math.inf and self.batch_size >= 1 and self.max_steps >= 1 and self.eval_every >= 1
              and self.patience >= 1 and 0 < self.val_frac < 1 and self.max_val >= 1 and self.threads >= 1
              and self.pretrain_steps >= 1 and self.score_train >= 0 and self.curriculum_steps >= 1
              and 0 < self.curriculum_start <= 1 and 0 < self.train_frac <= 1 and self.init_scale > 0
              and self.eval_batch >= 1)
        if not ok:
            raise FracturelabError(f"bad train settings: positive sizes, 0 < lr < inf, 0 < val_frac < 1, "
                                   f"0 < curriculum_start <= 1, 0 < train_frac <= 1, init_scale > 0 (got {self})")
        # written so that NaN fails too; a negative value here used to act as 0 (off) without a word
        for name, good, rule in (("warmup", self.warmup >= 0, ">= 0"), ("grad_clip", self.grad_clip >= 0, ">= 0"),
                                 ("max_seconds", self.max_seconds >= 0, ">= 0"),
                                 ("weight_decay", self.weight_decay >= 0, ">= 0"),
                                 ("min_lr_frac", 0 <= self.min_lr_frac <= 1, "in [0, 1]")):
            if not good:
                raise FracturelabError(f"train setting {name} must be {rule}, got {getattr(self, name)!r}")
        from ..limits import check_size

        # a batch never needs more examples than a task may generate (curriculum and population batches allocate it)
        check_size(self.batch_size, "max_task_items", "train setting batch_size")
        check_size(self.eval_batch, "max_task_items", "train setting eval_batch")
        for name in ("max_steps", "pretrain_steps", "curriculum_steps"):
            check_size(getattr(self, name), "max_steps", f"train setting {name}")
        if self.lr > FLOAT32_MAX:  # the optimizer holds it in float32: Adam fails in the first step ("overflow")
            raise FracturelabError(f"train setting lr {self.lr:g} overflows float32 (at most {FLOAT32_MAX:.3g})")
        if any(c < 1 for c in self.checkpoints):
            raise FracturelabError(f"checkpoints are training steps >= 1, got {list(self.checkpoints)}")
        self._check_texts()

    def _check_texts(self) -> None:
        """The regimes' settings texts, read whatever the regime (a typo must not pass unseen where they are unused):
        intervention as BIMTSettings; evolve's names as fields of ESSettings or NEATSettings (the regime's own class
        is checked in full by train.run.resolve)."""
        from ..settings import key_values
        from .evolve.settings import ESSettings, NEATSettings
        from .intervene import parse_settings

        parse_settings(self.intervention)
        known = {f.name for cls in (ESSettings, NEATSettings) for f in dataclasses.fields(cls)}
        unknown = sorted(set(key_values(self.evolve, ESSettings, "evolve")) - known)
        if unknown:
            raise FracturelabError(f"unknown evolve setting {unknown[0]!r} (fields: {', '.join(sorted(known))})")


@dataclass
class Phase:
    """What one call of `fit` did."""

    name: str
    """Phase name (curve rows carry it)."""
    steps: int
    """Optimizer steps taken."""
    best_step: int
    """Global step of the weights kept (the best validation score)."""
    best_val_acc: float
    """Validation exact match of the kept weights."""
    seconds: float
    """Wall-clock seconds of the phase."""
    examples: int
    """Training examples processed (summed batch sizes)."""
    stopped: str
    """Why it stopped: stop_val_acc, patience, max_steps or max_seconds."""


@dataclass
class Context:
    """The run-wide state the phases share: the global step, the curve rows and the checkpoint writer."""

    settings: TrainSettings
    seed: int
    step: int = 0
    curve: list = field(default_factory=list)
    save_checkpoint: Callable[[int], None] | None = None


class EarlyStop:
    """Early stopping on validation, one for every kind of phase (SGD here, evolution in train.evolve): keeps the
    best score (exact match, then loss), counts evaluations without a better one, and names why a phase stops."""

    def __init__(self, settings: TrainSettings, step: int):
        self.s, self.t0 = settings, time.perf_counter()
        self.best, self.best_step, self.bad, self.stopped = (-1.0, math.inf), step, 0, "max_steps"
        self.run_best = self.best  # what patience compares with: the best since the start or the last resume()

    def over_time(self) -> bool:
        return self.s.max_seconds > 0 and time.perf_counter() - self.t0 > self.s.max_seconds

    def update(self, val_acc: float, val_loss: float, step: int, counting: bool = True,
               over_time: bool | None = None) -> tuple[bool, bool]:
        """Record one evaluation at global `step` -> (it is the best so far, the phase should stop now).
        counting=False (a curriculum still bringing examples in) neither counts patience nor stops on accuracy."""
        improved = (val_acc, -val_loss) > (self.best[0], -self.best[1])
        if improved:
            self.best, self.best_step = (val_acc, val_loss), step
        if (val_acc, -val_loss) > (self.run_best[0], -self.run_best[1]):
            self.run_best, self.bad = (val_acc, val_loss), 0
        elif counting:
            self.bad += 1
        if counting and val_acc >= self.s.stop_val_acc:
            self.stopped = "stop_val_acc"
        elif self.bad >= self.s.patience:
            self.stopped = "patience"
        elif self.over_time() if over_time is None else over_time:
            self.stopped = "max_seconds"
        else:
            return improved, False
        return improved, True

    def resume(self) -> None:
        """Go on after a stop on patience (an evolution restart): patience counts from zero against the new run's own
        best; the best over all runs stays the one reported and kept."""
        self.bad, self.stopped, self.run_best = 0, "max_steps", (-1.0, math.inf)

    def phase(self, name: str, steps: int, examples: int) -> "Phase":
        return Phase(name, steps, self.best_step, self.best[0], round(time.perf_counter() - self.t0, 3), examples,
                     self.stopped)


def log_row(row: dict) -> None:
    """One curve row on stderr (the verbose setting)."""
    print(" ".join(f"{c} {v:.4g}" if isinstance(v, float) else f"{c} {v}" for c, v in row.items()), file=sys.stderr,
          flush=True)


def record(ctx: "Context", stop: EarlyStop, model, name: str, val, train_loss: float, train_acc: float,
           extra: dict | None = None, **update) -> tuple[float, bool, bool]:
    """One evaluation of every kind of phase: score the model on val, append the curve row {step, phase, train_loss,
    train_acc, val_loss, val_acc, **extra, seconds} (printed when verbose), update early stopping (update: its
    counting / over_time) -> (val_acc, it is the best so far, the phase should stop now)."""
    val_exact, val_loss = evaluate(model, val, ctx.settings.eval_batch)
    val_acc = float(val_exact.mean())
    ctx.curve.append({"step": ctx.step, "phase": name, "train_loss": train_loss, "train_acc": train_acc,
                      "val_loss": val_loss, "val_acc": val_acc, **(extra or {}),
                      "seconds": round(time.perf_counter() - stop.t0, 3)})
    if ctx.settings.verbose:
        log_row(ctx.curve[-1])
    return (val_acc, *stop.update(val_acc, val_loss, ctx.step, **update))


# ------------------------------------------------------------------------------------------------------------------
# Batches


def shuffled_batches(lengths: np.ndarray, bs: int, rng: np.random.Generator, bucket: bool) -> Iterator[np.ndarray]:
    """Endless epochs of random batches; with bucket, each run of 32 batches is sorted by length before cutting
    (similar lengths share a batch), and the batches are shuffled again."""
    n = len(lengths)
    while True:
        order = rng.permutation(n)
        if bucket:
            chunks = [order[i : i + 32 * bs] for i in range(0, n, 32 * bs)]
            order = np.concatenate([c[np.argsort(lengths[c], kind="stable")] for c in chunks])
        batches = [order[i : i + bs] for i in range(0, n, bs)]
        for k in rng.permutation(len(batches)):
            yield batches[k]


def curriculum_batches(order: np.ndarray, bs: int, rng: np.random.Generator, steps: int,
                       start: float) -> Iterator[np.ndarray]:
    """Competence-based curriculum (Platanios et al. 2019): at step t sample uniformly among the easiest
    c(t) = min(1, sqrt(start^2 + (1 - start^2) t / steps)) of the examples (order = easiest first)."""
    n, t = len(order), 0
    while True:
        c = min(1.0, math.sqrt(start**2 + (1 - start**2) * t / steps))
        yield order[rng.integers(0, max(1, math.ceil(c * n)), bs)]
        t += 1


# ------------------------------------------------------------------------------------------------------------------


@torch.no_grad()
@torch.no_grad()
def evaluate(model, examples: Sequence[Example], batch_size: int = 256) -> tuple[np.ndarray, float]:
    """Teacher-forced exact match per example (bool array, in order) and the mean loss over examples."""
    was = model.training
    model.eval()
    order = np.argsort([len(e.src) + len(e.tgt) for e in examples], kind="stable")
    exact = np.zeros(len(examples), bool)
    total = 0.0
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        loss, ex = model.loss(model.encode([examples[j] for j in idx]))
        exact[idx] = ex.numpy()
        total += float(loss) * len(idx)
    model.train(was)
    return exact, total / max(1, len(examples))


def make_optimizer(model, s: TrainSettings, weight_decay: float | None = None) -> torch.optim.Optimizer:
    """AdamW with weight decay (weight_decay, or s.weight_decay where None) on parameters of 2 or more dimensions
    only (nanoGPT's grouping)."""
    params = list(dict(model.named_parameters()).values())  # tied weights appear once
    decay = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    wd = s.weight_decay if weight_decay is None else weight_decay
    groups = [{"params": decay, "weight_decay": wd}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=s.lr, betas=(0.9, 0.98))


def lr_factor(k: int, total: int, s: TrainSettings) -> float:
    """Multiplier of lr at phase step k: linear warmup, then a cosine from 1 down to min_lr_frac at step total."""
    if k < s.warmup:
        return (k + 1) / s.warmup
    t = min(1.0, (k - s.warmup) / max(1, total - s.warmup))
    return s.min_lr_frac + (1 - s.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * t))


def fit(model, ctx: Context, name: str, train: Sequence[Example], val: Sequence[Example], max_steps: int,
        batches: Iterator[np.ndarray], score_from: int = 0, penalty=None, weight_decay: float | None = None) -> Phase:
    """Train until max_steps, stop_val_acc, patience or max_seconds; keep (restore) the weights with the best
    validation score. Validation is scored every eval_every steps; `score_from` (phase steps) delays early stopping
    (e.g. until a curriculum has brought in every example). `val` may be train itself (pretraining). penalty
    (train.intervene.Penalty): strength * penalty.cost(named parameters) is added to the loss that is minimised; the
    curve's train_loss stays the task loss. weight_decay: AdamW's decay in this phase in place of the settings' (the
    decay regime; None: TrainSettings.weight_decay)."""
    s = ctx.settings
    opt = make_optimizer(model, s, weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: lr_factor(k, max_steps, s))
    stop, best_state = EarlyStop(s, ctx.step), None
    run_loss, run_exact, run_n, seen = 0.0, 0, 0, 0
    model.train()
    bar = tqdm(total=max_steps, desc=name, unit="step", disable=not s.progress, leave=False, file=sys.stderr,
               mininterval=1.0)
    for k in range(1, max_steps + 1):
        idx = next(batches)
        loss, exact = model.loss(model.encode([train[i] for i in idx]))
        opt.zero_grad(set_to_none=True)
        if penalty is not None and penalty.strength:
            (loss + penalty.strength * penalty.cost(dict(model.named_parameters()))).backward()
        else:
            loss.backward()
        if s.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
        opt.step()
        if penalty is not None and hasattr(penalty, "after_step"):  # bimt's neuron swaps (train/intervene.py)
            penalty.after_step(model, opt, k)
        sched.step()
        ctx.step += 1
        bar.update()
        seen += len(idx)
        if not math.isfinite(loss.item()):
            raise diverged(ctx.step)
        run_loss, run_exact, run_n = run_loss + loss.item() * len(idx), run_exact + int(exact.sum()), run_n + len(idx)
        if ctx.save_checkpoint and ctx.step in s.checkpoints:
            ctx.save_checkpoint(ctx.step)
        over_time = stop.over_time()
        if k % s.eval_every and k != max_steps and not over_time:
            continue
        val_acc, improved, done = record(ctx, stop, model, name, val, run_loss / run_n, run_exact / run_n,
                                         counting=k >= score_from, over_time=over_time)
        bar.set_postfix(loss=f"{run_loss / run_n:.3g}", val_acc=f"{val_acc:.3f}")
        run_loss, run_exact, run_n = 0.0, 0, 0
        if improved:
            best_state = copy.deepcopy(model.state_dict())
        if done:
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):  # the last update overflowed them
        raise diverged(ctx.step)
    model.eval()
    return stop.phase(name, k, seen)
