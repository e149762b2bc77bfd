"""Networks trained per CPU-minute: a vectorised population (train.population, cppn.population) against the same
networks trained one at a time (loop.fit, replicate.fit), with one torch thread.

    python benchmarks/bench_population.py                  # every task's default model, the small mlp, the cppn
                                                           # classifier, CPPN replicas at 32 and 64 px
    python benchmarks/bench_population.py --k 8 --steps 20 --only lookup leave_square_out/mlp-64

For each configuration, K networks (seeds 0..K-1, each with its own init and data order; the task data of seed 0 is
shared, so its generation is not timed) take the same number of timed optimizer steps both ways, with the same
machinery a real run uses (batches, clipping, AdamW and the schedule, one validation at the end). Times are CPU
seconds of this process (time.process_time), which a busy machine inflates less than wall clock. A step's cost is the
difference between runs of --steps and --steps // 4 steps, divided by the steps between them, so what a run spends
once (a population encodes each member's whole train set up front; one network encodes each batch as it goes, which
counts) does not count as training; each path is timed --repeats times, alternating, and the least kept. CPPN
replicas take --replica-steps (a replica's step is a fraction of a millisecond). networks/CPU-min = 60 / (CPU seconds
per network-step x the recipe's max_steps): training only, at full length, before early stopping. `uptime`'s load is
printed with the numbers: the machine is shared.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import time

import torch

from fracturelab.cppn import ReplicateSettings, builtin_net
from fracturelab.cppn.color import to_rgb
from fracturelab.cppn.fused import active as fused_active, rgb_mse_fn
from fracturelab.cppn.module import DEFAULT_WINDOW, forward
from fracturelab.cppn.population import fit_population as fit_replicas
from fracturelab.cppn.replicate import INITS, fit as fit_replica, fit_problem
from fracturelab.models import make_model
from fracturelab.tasks import TASKS
from fracturelab.train.loop import Context, fit
from fracturelab.train.population import fit_population
from fracturelab.train.regimes import scratch_plan
from fracturelab.train.run import prepare, resolve

CONFIGS = {f"{t}/{TASKS[t].default_model}": (t, TASKS[t].default_model, {}) for t in TASKS}
CONFIGS |= {"leave_square_out/mlp-64": ("leave_square_out", "mlp", {"hidden": 64}),
            "leave_square_out/cppn": ("leave_square_out", "cppn", {}),
            "knowledge_graph/transformer-standard": ("knowledge_graph", "transformer", dict(  # the standard profile's
                split="crossed", n_entities=8, n_relations=6, n_heldout_rel_pairs=6, train_2hop_frac=0.7,
                train_deep_fracs=[0.5, 0.4], intermediate=False, n_layer=4, d_model=64, pos="rope", lr=3e-3,
                weight_decay=0.1))}
REPLICAS = {"cppn replicas 32 px": 32, "cppn replicas 64 px": 64}


def _base(task: str, model: str, options: dict, steps: int):
    """Seed 0's prepared run (its data is shared by every network of the benchmark)."""
    opts = dict(options, max_steps=steps, eval_every=steps, patience=10**6)
    split = opts.pop("split", None)
    if "novelty" in {f.name for f in dataclasses.fields(TASKS[task].settings_cls)}:
        opts["novelty"] = False  # novelty metadata is not needed to time training
    return prepare(resolve(task, split, model, "scratch", **opts), 0)


def _members(base, k: int):
    """k fresh networks (seeds 0..k-1: their own init, data order and context) on base's data."""
    cfg = base.cfg
    return [dataclasses.replace(base, seed=seed, net=make_model(cfg["model"], base.spec, seed, **cfg["model_options"]),
                                ctx=Context(cfg["train"], seed)) for seed in range(k)]


def _cpu(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def _best_of(repeats: int, one, pop) -> tuple[float, float]:
    """one() and pop(), each timed `repeats` times, alternating, the least of each kept: on a shared machine other
    jobs only ever add time (cache misses, frequency), so the minimum is the closest to the code's own."""
    ones, pops = [], []
    for _ in range(repeats):
        ones.append(one())
        pops.append(pop())
    return min(ones), min(pops)


def _per_step(seconds, steps: int) -> float:
    """CPU seconds per step from the difference of a run of `steps` steps and one of steps // 4: what a run spends
    once (encoding a member's whole train set, the last validation, allocations) cancels, as it does in a run of the
    recipe's full length."""
    short = max(1, steps // 4)
    return (seconds(steps) - seconds(short)) / (steps - short)


def bench_task(task: str, model: str, options: dict, k: int, steps: int, repeats: int) -> dict:
    base = _base(task, model, options, steps)
    full = TASKS[task].recipe.train.get("max_steps", 3000)

    def plans(runs, n):
        return [dataclasses.replace(scratch_plan(r.net, r.ctx, r.data, r.train, r.val)[0], max_steps=n) for r in runs]

    def alone(runs, n):
        for r, p in zip(runs, plans(runs, n)):
            fit(r.net, r.ctx, p.name, p.train, p.val, p.max_steps, p.batches)

    def together(runs, n):
        fit_population(runs, plans(runs, n))

    def seconds(train, n):  # fresh members each time (training changes them), made outside the clock
        runs = _members(base, k)
        return _cpu(lambda: train(runs, n))

    together(_members(base, 2), 2)  # first calls of both paths (imports, allocations, kernel choice) are not timed
    alone(_members(base, 1), 2)
    one, pop = _best_of(repeats, lambda: _per_step(lambda n: seconds(alone, n), steps),
                        lambda: _per_step(lambda n: seconds(together, n), steps))
    return {"one": one / k, "pop": pop / k, "full": full, "params": sum(p.numel() for p in base.net.parameters())}


def bench_replicas(res: int, k: int, steps: int, repeats: int) -> dict:
    face = builtin_net("face")
    target = face.render(res)

    def settings(n):
        return [ReplicateSettings(res=res, steps=n, seed=s) for s in range(k)]

    fit_replicas(face.arch, target, settings(2)[:2])  # first calls are not timed
    fit_replica(face.arch, target, settings(2)[0], progress=False)
    one, pop = _best_of(
        repeats, lambda: _per_step(lambda n: _cpu(lambda: [fit_replica(face.arch, target, s, progress=False)
                                                           for s in settings(n)]), steps),
        lambda: _per_step(lambda n: _cpu(lambda: fit_replicas(face.arch, target, settings(n))), steps))
    compute = min(_engine_call(face.arch, target, res, steps) for _ in range(repeats))
    return {"one": one / k, "pop": pop / k, "full": 6000, "params": face.arch.n_params, "compute": compute}


def _engine_call(arch, target, res: int, calls: int) -> float:
    """CPU seconds of one net's loss-and-gradient call alone: the part of a replica's step that is not per-step
    overhead (with the fused engine; the torch path's forward and backward otherwise)."""
    inputs, y, m = fit_problem(target, res, None, DEFAULT_WINDOW)
    params = INITS["truncated"](arch, torch.Generator().manual_seed(0))[None].contiguous()
    if fused_active():
        call = functools.partial(rgb_mse_fn(arch, inputs, y, (m / (m.sum() * 3)).reshape(-1)), params)
    else:
        leaf = params[0].clone().requires_grad_()
        call = lambda: (((to_rgb(forward(arch, leaf, inputs)) - y) ** 2 * m).mean()).backward()  # noqa: E731
    call()
    return _cpu(lambda: [call() for _ in range(calls)]) / calls


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=16, help="networks per population")
    ap.add_argument("--steps", type=int, default=40, help="timed steps per network (and a quarter of them)")
    ap.add_argument("--replica-steps", type=int, default=300,
                    help="timed steps per CPPN replica (a replica's step is short: its setup must not dominate)")
    ap.add_argument("--repeats", type=int, default=3, help="times each path is timed (the least is kept)")
    ap.add_argument("--only", nargs="*", default=None, help="configurations to run (default: all)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    names = a.only or [*CONFIGS, *REPLICAS]
    print(f"torch {torch.__version__}, 1 thread, K = {a.k}, runs of {a.steps} and {max(1, a.steps // 4)} steps "
          f"(CPPN replicas: {a.replica_steps} and {max(1, a.replica_steps // 4)}), least of {a.repeats} timings, "
          f"fused CPPN engine {'on' if fused_active() else 'off'}; "
          f"load before: {os.getloadavg()[0]:.2f}")
    print("| configuration | params | ms per network-step, one at a time | ms per network-step, population | speed-up |"
          " networks/CPU-min, one at a time | networks/CPU-min, population | steps (full run) |")
    print("|---|---|---|---|---|---|---|---|")
    rows = {}
    for name in names:
        r = rows[name] = (bench_replicas(REPLICAS[name], a.k, a.replica_steps, a.repeats) if name in REPLICAS
             else bench_task(*CONFIGS[name], a.k, a.steps, a.repeats))
        print(f"| {name} | {r['params']:,} | {1e3 * r['one']:.2f} | {1e3 * r['pop']:.2f} | {r['one'] / r['pop']:.1f}x "
              f"| {60 / (r['one'] * r['full']):.2f} | {60 / (r['pop'] * r['full']):.2f} | {r['full']} |", flush=True)
    for name in names:
        if name in REPLICAS:
            r = rows[name]
            print(f"{name}: one net's loss-and-gradient call takes {1e3 * r['compute']:.2f} of its "
                  f"{1e3 * r['one']:.2f} ms step ({100 * r['compute'] / r['one']:.0f} %); the rest is per-step overhead")
    print(f"load after (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
