"""Population training: many networks of one shape trained in one vectorised run, each one a run of its own.

    from fracturelab.train.population import train_population
    metrics = train_population("leave_square_out", model="mlp", regime="scratch",
                               members=[{"seed": s, "outdir": f"runs/m{s}", "lr": lr} for s, lr in ...],
                               max_steps=2000)       # shared options; a member's own entries override them

Every member has its own seed (its data, init and data order, exactly as `train_run` with that seed), its own AdamW
state, learning-rate schedule, gradient clipping and early stopping on its own validation split; a member that stops
is taken out of the population with its best weights kept. Members may differ in any setting that keeps the shapes
(lr, weight_decay, grad_clip, warmup, max_steps, patience, init_scale, train_frac, the bimt regime's strength, task
options that keep the vocabulary); members whose parameter shapes differ are trained as separate groups. Each member
writes an ordinary run folder (run.finish: config.json, model.pt, metrics.json, results.csv, curve.csv, curve.png),
which load_run and the probes read like any other. In a population a phase's `seconds` are the population's wall
clock, shared by its members. Transformer members, and those of big networks, train one after another by default
(VECTORISED and MAX_VECTORISED_PARAMS say why).

How: the members' weights are stacked (K, ...) per parameter and the model's own loss runs for all members at once
with torch.func.functional_call under torch.vmap, one batched kernel per layer, or through the model's own
`stacked_loss(params {name: (K, ...)}, batch (K, ...)) -> (loss (K,), exact (K, B))` where it has one (the CPPN
classifier: vmap's fixed cost per step was a large share of its population's step); one backward pass gives every
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
import sys
import warnings
from typing import Mapping, Sequence

import numpy as np
import torch
from torch.func import functional_call
from tqdm.auto import tqdm

from ..cppn.fused import active as fused_active, adam_step
from ..errors import FracturelabError
from ..io import staged_dir
from ..models.data import IGNORE
from ..stacked import StackedAdam
from .evolve.batched import _LossOf
from .loop import EarlyStop, Phase, fit, lr_factor, record
from .regimes import PLANS, PhasePlan
from .run import Prepared, check_outdir, check_seed, finish, prepare, resolve


VECTORISED = ("mlp", "cppn")
"""Models whose members train vectorised by default (up to MAX_VECTORISED_PARAMS). The transformer's do not: CPU
attention has no vmap batching rule, so a vectorised transformer population is slower than one network at a time
(README's population speed table, benchmarks/bench_population.py); its members train one after another with
loop.fit, exactly as separate runs."""
MAX_VECTORISED_PARAMS = 200_000
"""Above this many parameters per network, members train one after another by default: the stacked weights and
optimizer state of many networks leave the cache, and the population gains little or loses (README's population
speed table: leave_square_out's 416k-parameter mlp and factors' 636k one against a 23k one)."""


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
    cfgs, outs = [], []
    for m in members:
        m = dict(m)
        if "seed" not in m:
            raise FracturelabError(f"population member {m} has no seed")
        seed, outdir = m.pop("seed"), m.pop("outdir", None)
        check_seed(seed)
        cfg = resolve(task, split, model, regime, task_options, model_options, **{**options, **m})
        cfgs.append((cfg, seed))
        outs.append(check_outdir(outdir, overwrite, cfg["train"].checkpoints))
    named = [o.resolve() for o in outs if o is not None]
    if len(set(named)) < len(named):
        raise FracturelabError("population members share a run folder; give each its own outdir")
    # random draws inside the forward pass (dropout, the transformer's pos_shift) come from one model's generator
    random_forward = any(cfg["model_options"].get("dropout", 0) or cfg["model_options"].get("pos_shift")
                         for cfg, _ in cfgs)
    if random_forward and vectorise:
        raise FracturelabError("vectorised population training needs dropout = 0 and pos_shift off (their random "
                               "draws in the forward pass could not follow each member's separate run)")
    threads = torch.get_num_threads()
    torch.set_num_threads(max(cfg["train"].threads for cfg, _ in cfgs))
    try:
        with contextlib.ExitStack() as stack:  # every folder appears at the end, or none does
            tmps = [stack.enter_context(staged_dir(o, replace=True)) if o is not None else None for o in outs]
            runs = [prepare(cfg, seed, tmp) for (cfg, seed), tmp in zip(cfgs, tmps)]
            plans = [PLANS[regime](r.net, r.ctx, r.data, r.train, r.val) for r in runs]
            phases: list[list[Phase]] = [[] for _ in runs]
            batched = vectorise if vectorise is not None else (
                not random_forward and cfgs[0][0]["model"] in VECTORISED
                and sum(p.numel() for p in runs[0].net.parameters()) <= MAX_VECTORISED_PARAMS)
            for group in _groups(runs) if batched else [[j] for j in range(len(runs))]:
                for i in range(len(plans[group[0]])):
                    if len(group) == 1:  # nothing to vectorise: the one-network loop, as train_run
                        r, p = runs[group[0]], plans[group[0]][i]
                        found = [fit(r.net, r.ctx, p.name, p.train, p.val, p.max_steps, p.batches, p.score_from,
                                     p.penalty)]
                    else:
                        found = fit_population([runs[j] for j in group], [plans[j][i] for j in group])
                    for j, ph in zip(group, found):
                        phases[j].append(ph)
            return [finish(r, ph, tmp) for r, ph, tmp in zip(runs, phases, tmps)]
    finally:
        torch.set_num_threads(threads)


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
    K = len(runs)
    nets, ctxs, ss = [r.net for r in runs], [r.ctx for r in runs], [r.ctx.settings for r in runs]
    mem = _Members(nets)
    pens = [p.penalty for p in plans]
    pen = next((p for p in pens if p is not None), None)
    if pen is not None and any(p is None or p.settings.locality != pen.settings.locality for p in pens):
        raise FracturelabError("population members of a bimt run must share the locality setting")
    strength = torch.tensor([p.strength if p is not None else 0.0 for p in pens])
    encoded = [net.encode(p.train) for net, p in zip(nets, plans)]
    stops = [EarlyStop(s, c.step) for s, c in zip(ss, ctxs)]
    best: list[dict | None] = [None] * K
    last_k, seen = [0] * K, [0] * K
    run = [[0.0, 0, 0] for _ in range(K)]  # running loss sum, exact count, examples since the last evaluation
    active = list(range(K))
    clip = torch.tensor([s.grad_clip for s in ss])
    wd = torch.tensor([s.weight_decay for s in ss], dtype=torch.float64)
    rows = max(s.batch_size for s in ss)

    def one(params, batch):
        full = {f"model.{n}": p for n, p in zip(mem.names, params)}
        loss, exact = functional_call(mem.wrapped, {**full, **mem.buffers}, (batch,))
        cost = pen.cost(dict(zip(mem.names, params))) if pen is not None else torch.zeros(())
        return loss, exact, cost

    def stacked(params, batch):  # the model runs its K networks itself (module docstring)
        named = dict(zip(mem.names, params))
        loss, exact = mem.template.stacked_loss(named, batch)
        return loss, exact, pen.cost(named) if pen is not None else None

    vone = stacked if hasattr(mem.template, "stacked_loss") else torch.vmap(one, in_dims=(0, 0))
    mem.template.train()
    total_steps = max(p.max_steps for p in plans)
    bar = tqdm(total=total_steps, desc=f"{plans[0].name} x{K}", unit="step", leave=False, file=sys.stderr,
               disable=not any(s.progress for s in ss), mininterval=1.0)
    for k in range(1, total_steps + 1):
        idx = [next(plans[m].batches) for m in active]
        batch = _stack([_gather(encoded[m], i, rows) for m, i in zip(active, idx)])
        with warnings.catch_warnings():  # CPU attention has no vmap batching rule: it runs per member (batched.py)
            warnings.filterwarnings("ignore", message="There is a performance drop because we have not yet")
            loss, exact, cost = vone(mem.params, batch)
            act = torch.tensor(active)
            total = loss.sum() + (strength[act] * cost).sum() if pen is not None else loss.sum()
            grads = torch.autograd.grad(total, mem.params)
        lr = torch.tensor([ss[m].lr * lr_factor(k - 1, plans[m].max_steps, ss[m]) for m in active],
                          dtype=torch.float64)  # LambdaLR's float: base lr x factor
        mem.opt.step(list(grads), lr, [wd[act] if d else torch.zeros(len(active)) for d in mem.decay], clip[act])
        losses, exact = loss.tolist(), exact.numpy()
        bar.update()
        done = []
        for r, m in enumerate(active):
            n = len(idx[r])
            ctxs[m].step += 1
            seen[m] += n
            run[m][0] += losses[r] * n
            run[m][1] += int(exact[r, :n].sum())
            run[m][2] += n
            s, ctx = ss[m], ctxs[m]
            if ctx.save_checkpoint and ctx.step in s.checkpoints:
                mem.load(r, nets[m])
                ctx.save_checkpoint(ctx.step)
            over_time = stops[m].over_time()
            last_k[m] = k
            if k % s.eval_every and k != plans[m].max_steps and not over_time:
                continue
            mem.load(r, nets[m])
            _, improved, stop = record(ctx, stops[m], nets[m], plans[m].name, plans[m].val, run[m][0] / run[m][2],
                                       run[m][1] / run[m][2], counting=k >= plans[m].score_from, over_time=over_time)
            run[m] = [0.0, 0, 0]
            if improved:
                best[m] = copy.deepcopy(nets[m].state_dict())
            if stop or k == plans[m].max_steps:
                done.append(r)
        if done:
            keep = [r for r in range(len(active)) if r not in done]
            active = [active[r] for r in keep]
            if not active:
                break
            mem.opt.keep(torch.tensor(keep))
    bar.close()
    for m in range(K):
        if best[m] is not None:
            nets[m].load_state_dict(best[m])
        nets[m].eval()
    return [stops[m].phase(plans[m].name, last_k[m], seen[m]) for m in range(K)]


def parse_seeds(text: str) -> list[int]:
    """'0-7' -> [0, ..., 7]; '0,3,5-6' -> [0, 3, 5, 6] (the CLI's --seeds)."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, dash, hi = part.partition("-")
        try:
            out += list(range(int(lo), int(hi) + 1)) if dash else [int(lo)]
        except ValueError:
            raise FracturelabError(f"--seeds takes integers and ranges like 0-7 or 0,2,5-6, got {text!r}") from None
    if not out or len(set(out)) < len(out):
        raise FracturelabError(f"--seeds {text!r}: give at least one seed, each once")
    return out


__all__ = ["MAX_VECTORISED_PARAMS", "VECTORISED", "fit_population", "parse_seeds", "train_population"]
