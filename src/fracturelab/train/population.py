"""Population training: many networks of one shape trained in one vectorised run, each one a run of its own.

    from fracturelab.train.population import train_population
    metrics = train_population("leave_square_out", model="mlp", regime="scratch",
                               members=[{"seed": s, "outdir": f"runs/m{s}", "lr": lr} for s, lr in ...],
                               max_steps=2000)       # shared options; a member's own entries override them

Every member has its own seed (its data, init and data order, exactly as `train_run` with that seed), its own AdamW
state, learning-rate schedule, gradient clipping and early stopping on its own validation split; a member that stops
is taken out of the population with its best weights kept. Members may differ in any setting that keeps the shapes
(lr, weight_decay, grad_clip, warmup, max_steps, patience, init_scale, train_frac, the bimt and decay regimes'
strength, task options that keep the vocabulary); members whose parameter shapes differ are trained as separate
groups. Each member writes an ordinary run folder (run.finish: config.json, model.pt, metrics.json, results.csv,
curve.csv, curve.png), which load_run and the probes read like any other. In a population a phase's `seconds` are
the population's wall clock, shared by its members. Members of big networks train one after another by default
(VECTORISED and MAX_VECTORISED_PARAMS say why).

How: the members' weights are stacked (K, ...) per parameter and the model's own loss runs for all members at once
with torch.func.functional_call under torch.vmap, one batched kernel per layer, or through the model's own
`stacked_loss(params {name: (K, ...)}, batch (K, ...)) -> (loss (K,), exact (K, B))` where it has one (the CPPN
classifier: vmap's fixed cost per step was a large share of its population's step; the transformer: CPU attention has
no vmap batching rule, so under vmap it ran once per member); one backward pass gives every
member's gradient (the members are independent, so the gradient of the summed losses is each member's own); the
update is stacked.StackedAdam (torch's AdamW arithmetic with a learning rate, decay and clip per member; its update
in one pass of the compiled engine's Adam loop where that is available). Each member reads its own batch (the
indices its own run would read), gathered from its train set encoded once; batches are padded to a common shape with
rows and positions the loss ignores. Validation and checkpoints load a member's row into its own model and reuse
loop.record. tests/test_population.py checks members against separate runs.
"""
from __future__ import annotations

import contextlib
import copy
import math
import sys
import warnings
from typing import Mapping, Sequence

import numpy as np
import torch
from torch.func import functional_call
from tqdm.auto import tqdm

from ..cppn.fused import active as fused_active, adam_step
from ..errors import FracturelabError, diverged
from ..io import staged_dir
from ..limits import check_size
from ..models.data import IGNORE
from ..stacked import StackedAdam
from .evolve.batched import _LossOf
from .loop import EarlyStop, Phase, fit, lr_factor, record
from .regimes import PLANS, PhasePlan
from .run import Prepared, check_outdir, check_seed, finish, prepare, resolve


VECTORISED = ("mlp", "cppn", "transformer")
"""Models whose members train vectorised by default (up to MAX_VECTORISED_PARAMS), each through its stacked_loss or
vmap: faster per network than one network at a time (docs/speed.md's population speed table,
benchmarks/bench_population.py). The transformer's members are vectorised only through Transformer.stacked_loss:
under vmap, CPU attention ran once per member and the population was slower than one network at a time."""
MAX_VECTORISED_PARAMS = {"mlp": 200_000, "cppn": 200_000, "transformer": 450_000}
"""Per model, the most parameters per network whose members train vectorised by default; above it they train one
after another. The mlp's: the stacked weights and optimizer state of many networks leave the cache, and the population
gains little or loses (docs/speed.md's population speed table: leave_square_out's 416k-parameter mlp and factors'
636k one against a 23k one). The transformer's: its gain shrinks as width grows (the standard profile's knowledge_graph
transformer, 201k parameters at width 64, against the recipe's 412k at width 128; benchmarks/bench_population.py)."""
MAX_STACKED_TOKENS = 1024
"""Transformer members train vectorised by default only if a step reads at most this many positions per network
(batch_size x the model's block_size): beyond it the stacked activations leave the cache and the population is slower
than one network at a time (scan's and multiplication's sequences of 58 and 94 positions against lookup's 10 and
knowledge_graph's 7; benchmarks/bench_population.py)."""


def train_population(task: str, split: str | None = None, model: str | None = None, regime: str = "scratch",
                     members: Sequence[Mapping] = (), *, task_options: dict | None = None,
                     model_options: dict | None = None, overwrite: bool = False, vectorise: bool | None = None,
                     **options) -> list[dict]:
    """Train one network per member in vectorised groups and return each member's train_run metrics (with "curve"),
    in order. members: mappings with "seed" (required), "outdir" (optional run folder) and any flat train_run
    options for that member only; **options apply to every member. vectorise: None = as VECTORISED and
    MAX_VECTORISED_PARAMS say; True / False forces it."""
    if regime not in PLANS:
        raise FracturelabError(f"population training runs the SGD regimes ({', '.join(PLANS)}), not {regime!r}")
    if not members:
        raise FracturelabError("a population needs at least one member")
    cfgs, outs = _resolve_members(members, (task, split, model, regime, task_options, model_options), options,
                                  overwrite)
    random_forward = _random_forward(cfgs)
    if random_forward and vectorise:
        raise FracturelabError("vectorised population training needs dropout = 0 and pos_shift off (their random "
                               "draws in the forward pass could not follow each member's separate run)")
    threads = torch.get_num_threads()
    torch.set_num_threads(max(cfg["train"].threads for cfg, _ in cfgs))
    try:
        with contextlib.ExitStack() as stack:  # every folder appears at the end, or none does
            tmps = [stack.enter_context(staged_dir(o, replace=True)) if o is not None else None for o in outs]
            runs = [prepare(cfg, seed, tmp) for (cfg, seed), tmp in zip(cfgs, tmps)]
            batched = vectorise if vectorise is not None else not random_forward and _vectorised(runs[0])
            phases = _train_groups(runs, regime, batched)
            return [finish(r, ph, tmp) for r, ph, tmp in zip(runs, phases, tmps)]
    finally:
        torch.set_num_threads(threads)


def _resolve_members(members, where: tuple, options: dict, overwrite: bool) -> tuple[list, list]:
    """Each member's (resolved train_run config, seed) and checked run folder (None: none); where = (task, split,
    model, regime, task_options, model_options), as train_run takes them; a member's own options override options."""
    cfgs, outs = [], []
    for m in members:
        m = dict(m)
        if "seed" not in m:
            raise FracturelabError(f"population member {m} has no seed")
        seed, outdir = m.pop("seed"), m.pop("outdir", None)
        check_seed(seed)
        cfg = resolve(*where, **{**options, **m})
        cfgs.append((cfg, seed))
        outs.append(check_outdir(outdir, overwrite, cfg["train"].checkpoints))
    named = [o.resolve() for o in outs if o is not None]
    if len(set(named)) < len(named):
        raise FracturelabError("population members share a run folder; give each its own outdir")
    return cfgs, outs


def _random_forward(cfgs: list) -> bool:
    """Whether a member draws random numbers inside the forward pass (dropout, the transformer's pos_shift): those
    come from one model's generator, so such members cannot be vectorised."""
    return any(cfg["model_options"].get("dropout", 0) or cfg["model_options"].get("pos_shift") for cfg, _ in cfgs)


def _vectorised(run: Prepared) -> bool:
    """The default: vectorise the models in VECTORISED up to their MAX_VECTORISED_PARAMS parameters per network, and
    transformers up to MAX_STACKED_TOKENS positions per network and step."""
    model = run.cfg["model"]
    if model == "transformer" and run.cfg["train"].batch_size * run.net.block_size > MAX_STACKED_TOKENS:
        return False
    return model in VECTORISED and sum(p.numel() for p in run.net.parameters()) <= MAX_VECTORISED_PARAMS[model]


def _train_groups(runs: list[Prepared], regime: str, batched: bool) -> list[list[Phase]]:
    """Every member's phases of the regime's plan, the members trained in groups of equal shapes (batched) or one
    at a time."""
    plans = [PLANS[regime](r.net, r.ctx, r.data, r.train, r.val) for r in runs]
    phases: list[list[Phase]] = [[] for _ in runs]
    for group in _groups(runs) if batched else [[j] for j in range(len(runs))]:
        for i in range(len(plans[group[0]])):
            group_plans = [plans[j][i] for j in group]
            if len(group) == 1:  # nothing to vectorise: the one-network loop, as train_run
                r, p = runs[group[0]], group_plans[0]
                found = [fit(r.net, r.ctx, p.name, p.train, p.val, p.max_steps, p.batches, p.score_from, p.penalty,
                             p.weight_decay)]
            else:
                found = fit_population([runs[j] for j in group], group_plans)
            for j, ph in zip(group, found):
                phases[j].append(ph)
    return phases


def _signature(run: Prepared) -> tuple:
    return (type(run.net), run.cfg["train"].batch_size,
            tuple((n, tuple(p.shape)) for n, p in dict(run.net.named_parameters()).items()),
            tuple((n, tuple(b.shape)) for n, b in run.net.named_buffers()))


def _groups(runs: list[Prepared]) -> list[list[int]]:
    """Member indices grouped by what must be shared: parameter shapes, buffers (equal values) and batch size."""
    groups: list[list[int]] = []
    for i, r in enumerate(runs):
        for g in groups:
            t = runs[g[0]]
            if _signature(t) == _signature(r) and all(torch.equal(a, b) for a, b in zip(t.net.buffers(),
                                                                                          r.net.buffers())):
                g.append(i)
                break
        else:
            groups.append([i])
    return groups


def _gather(encoded: dict, idx: np.ndarray, rows: int) -> dict:
    """Rows idx of a member's encoded train set, padded to `rows` with rows whose targets are all IGNORE."""
    t = torch.as_tensor(idx)
    out = {}
    for k, v in encoded.items():
        b = v[t]
        if len(idx) < rows:
            pad = b[:1].expand(rows - len(idx), *b.shape[1:]).clone()
            if k == "y":
                pad.fill_(IGNORE)
            b = torch.cat([b, pad])
        out[k] = b
    return out


def _stack(batches: list[dict]) -> dict:
    """Members' batches -> one batch with a leading member dim. Sequence columns after every row's last scored
    position (y != IGNORE) are padding the loss ignores, so they are cut (what encode would give the longest batch)."""
    y = torch.stack([b["y"] for b in batches])
    if y.dim() == 3:
        scored = (y != IGNORE).any(0).any(0)
        width = int(torch.nonzero(scored).max()) + 1 if scored.any() else y.shape[2]
        full = y.shape[2]
        return {k: torch.stack([b[k] for b in batches])[:, :, :width] if b0.dim() == 2 and b0.shape[1] == full
                else torch.stack([b[k] for b in batches]) for k, b0 in batches[0].items()}
    return {k: torch.stack([b[k] for b in batches]) for k in batches[0]}


class _Members:
    """The active members' stacked weights and optimizer, and the copy of a member's row into its own model."""

    def __init__(self, nets: list[torch.nn.Module]):
        self.template = nets[0]
        named = dict(self.template.named_parameters())  # tied weights appear once
        self.names = list(named)
        self.decay = [named[n].dim() >= 2 for n in self.names]  # AdamW decays matrices only (loop.make_optimizer)
        self.buffers = {f"model.{n}": b for n, b in self.template.named_buffers()}
        stacked = [torch.stack([dict(m.named_parameters())[n].detach() for m in nets]).requires_grad_()
                   for n in self.names]
        engine = fused_active() and all(p.dtype == torch.float32 for p in stacked)  # the engine is float32 only
        self.opt = StackedAdam(stacked, betas=(0.9, 0.98), kernel=adam_step if engine else None)
        self.wrapped = _LossOf(self.template)

    @property
    def params(self) -> list[torch.Tensor]:
        return self.opt.params

    @torch.no_grad()
    def load(self, row: int, net: torch.nn.Module) -> None:
        own = dict(net.named_parameters())
        for n, p in zip(self.names, self.params):
            own[n].copy_(p[row])


def fit_population(runs: list[Prepared], plans: list[PhasePlan]) -> list[Phase]:
    """`loop.fit` for every member of a group at once (one phase each); each member's model ends with its best
    weights, in eval mode. Returns each member's Phase."""
    group = _Group(runs, plans)
    for k in range(1, group.total_steps + 1):
        if not group.step(k):
            break
    return group.close()


def _penalty(plans: list[PhasePlan]):
    """The bimt connection cost the members share (None: none) and each member's strength, (K,)."""
    pens = [p.penalty for p in plans]
    pen = next((p for p in pens if p is not None), None)
    if pen is not None and any(p is None or (p.settings.locality, p.settings.swap_every)
                               != (pen.settings.locality, pen.settings.swap_every) for p in pens):
        raise FracturelabError("population members of a bimt run must share the locality and swap_every settings")
    return pen, torch.tensor([p.strength if p is not None else 0.0 for p in pens])


class _Group:
    """One phase of a group of members: their stacked weights (_Members), batches, running scores since the last
    evaluation, best weights and early stopping. Member m is row r of the stacked weights while it is active."""

    def __init__(self, runs: list[Prepared], plans: list[PhasePlan]):
        K = len(runs)
        self.nets, self.ctxs, self.ss = [r.net for r in runs], [r.ctx for r in runs], [r.ctx.settings for r in runs]
        self.plans = plans
        self.mem = _Members(self.nets)
        self.pen, self.strength = _penalty(plans)
        self.encoded = [net.encode(p.train) for net, p in zip(self.nets, plans)]
        self.stops = [EarlyStop(s, c.step) for s, c in zip(self.ss, self.ctxs)]
        self.best: list[dict | None] = [None] * K
        self.last_k, self.seen = [0] * K, [0] * K
        self.run = [[0.0, 0, 0] for _ in range(K)]  # running loss sum, exact count, examples since the last evaluation
        self.active = list(range(K))
        self.clip = torch.tensor([s.grad_clip for s in self.ss])
        self.wd = torch.tensor([s.weight_decay if p.weight_decay is None else p.weight_decay  # decay regime: its own
                                for s, p in zip(self.ss, plans)], dtype=torch.float64)
        self.rows = max(s.batch_size for s in self.ss)
        self.losses = self._stacked if hasattr(self.mem.template, "stacked_loss") else torch.vmap(self._one)
        self.mem.template.train()
        self.total_steps = max(p.max_steps for p in plans)
        self.bar = tqdm(total=self.total_steps, desc=f"{plans[0].name} x{K}", unit="step", leave=False,
                        file=sys.stderr, disable=not any(s.progress for s in self.ss), mininterval=1.0)

    def _one(self, params, batch):
        """One member's (loss, exact, connection cost), run under vmap."""
        mem = self.mem
        full = {f"model.{n}": p for n, p in zip(mem.names, params)}
        loss, exact = functional_call(mem.wrapped, {**full, **mem.buffers}, (batch,))
        cost = self.pen.cost(dict(zip(mem.names, params))) if self.pen is not None else torch.zeros(())
        return loss, exact, cost

    def _stacked(self, params, batch):
        """Every member's (loss, exact, connection cost) from the model itself (module docstring)."""
        named = dict(zip(self.mem.names, params))
        loss, exact = self.mem.template.stacked_loss(named, batch)
        return loss, exact, self.pen.cost(named) if self.pen is not None else None

    def step(self, k: int) -> bool:
        """Optimizer step k of every active member, then their evaluations; False once no member is left."""
        active = self.active
        idx = [next(self.plans[m].batches) for m in active]
        act = torch.tensor(active)
        loss, exact, grads = self._gradients(idx, act)
        lr = torch.tensor([self.ss[m].lr * lr_factor(k - 1, self.plans[m].max_steps, self.ss[m]) for m in active],
                          dtype=torch.float64)  # LambdaLR's float: base lr x factor
        decay = [self.wd[act] if d else torch.zeros(len(active)) for d in self.mem.decay]
        self.mem.opt.step(list(grads), lr, decay, self.clip[act])
        if self.pen is not None and self.pen.layout is not None and self.pen.settings.swap_every \
                and k % self.pen.settings.swap_every == 0:
            for r in range(len(active)):  # bimt's neuron swaps, each member its own (loop.fit: after_step)
                self.pen.swap_row(self.mem.params, [self.mem.opt.m, self.mem.opt.v], self.mem.names, r)
        losses, exact = loss.tolist(), exact.numpy()
        self.bar.update()
        done = [r for r, m in enumerate(active) if self._after_step(k, r, m, len(idx[r]), losses[r], exact[r])]
        return self._drop(done)

    def _gradients(self, idx: list, act: torch.Tensor):
        """The active members' (loss (K,), exact (K, B)) on their batches idx and the gradient of the summed losses
        (each member's own)."""
        batch = _stack([_gather(self.encoded[m], i, self.rows) for m, i in zip(self.active, idx)])
        with warnings.catch_warnings():  # CPU attention has no vmap batching rule: it runs per member (batched.py)
            warnings.filterwarnings("ignore", message="There is a performance drop because we have not yet")
            loss, exact, cost = self.losses(self.mem.params, batch)
            total = loss.sum() + (self.strength[act] * cost).sum() if self.pen is not None else loss.sum()
            return loss, exact, torch.autograd.grad(total, self.mem.params)

    def _after_step(self, k: int, r: int, m: int, n: int, loss: float, exact: np.ndarray) -> bool:
        """Member m (row r) after step k on n examples: counts, checkpoint, evaluation when due; True if it is done."""
        ctx, s, plan, run = self.ctxs[m], self.ss[m], self.plans[m], self.run[m]
        ctx.step += 1
        if not math.isfinite(loss):  # as loop.fit: a member that diverged stops the run with one line, nothing written
            raise diverged(ctx.step)
        self.seen[m] += n
        run[0] += loss * n
        run[1] += int(exact[:n].sum())
        run[2] += n
        if ctx.save_checkpoint and ctx.step in s.checkpoints:
            self.mem.load(r, self.nets[m])
            ctx.save_checkpoint(ctx.step)
        over_time = self.stops[m].over_time()
        self.last_k[m] = k
        if k % s.eval_every and k != plan.max_steps and not over_time:
            return False
        return self._evaluate(k, r, m, over_time)

    def _evaluate(self, k: int, r: int, m: int, over_time: bool) -> bool:
        """loop.record for member m (row r) at step k, keeping its best weights; True if it is done."""
        net, plan, run = self.nets[m], self.plans[m], self.run[m]
        self.mem.load(r, net)
        _, improved, stop = record(self.ctxs[m], self.stops[m], net, plan.name, plan.val, run[0] / run[2],
                                   run[1] / run[2], counting=k >= plan.score_from, over_time=over_time)
        self.run[m] = [0.0, 0, 0]
        if improved:
            self.best[m] = copy.deepcopy(net.state_dict())
        return stop or k == plan.max_steps

    def _drop(self, done: list[int]) -> bool:
        """Take the rows in done out of the population; False once none is left."""
        if not done:
            return True
        keep = [r for r in range(len(self.active)) if r not in done]
        self.active = [self.active[r] for r in keep]
        if not self.active:
            return False
        self.mem.opt.keep(torch.tensor(keep))
        return True

    def close(self) -> list[Phase]:
        """Every member's model with its best weights, in eval mode; each member's Phase."""
        self.bar.close()
        for m, net in enumerate(self.nets):
            if self.best[m] is not None:
                net.load_state_dict(self.best[m])
            net.eval()
        return [self.stops[m].phase(self.plans[m].name, self.last_k[m], self.seen[m]) for m in range(len(self.nets))]


def parse_seeds(text: str) -> list[int]:
    """'0-7' -> [0, ..., 7]; '0,3,5-6' -> [0, 3, 5, 6] (the CLI's --seeds)."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        lo, dash, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi if dash else lo)  # an empty part ('0,,1', '0,') fails here too
        except ValueError:
            raise FracturelabError(f"--seeds takes integers and ranges like 0-7 or 0,2,5-6, got {text!r}") from None
        check_size(len(out) + max(0, last - first + 1), "max_runs", f"--seeds {text!r}: seeds")  # before listing them
        out += list(range(first, last + 1))
    if not out or len(set(out)) < len(out):
        raise FracturelabError(f"--seeds {text!r}: give at least one seed, each once")
    return out


__all__ = ["MAX_STACKED_TOKENS", "MAX_VECTORISED_PARAMS", "VECTORISED", "fit_population", "parse_seeds",
           "train_population"]
