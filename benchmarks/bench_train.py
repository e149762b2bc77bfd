"""Training throughput of each task's default model: examples per second of optimizer steps (forward, loss,
backward, clip, AdamW), with the task's recipe (task options, model size, batch size) and length-bucketed batches,
as `train_run` trains them.

    python benchmarks/bench_train.py              # every task, 60 timed steps each (about a minute on 2 cores)
    python benchmarks/bench_train.py --steps 20   # quicker
    python benchmarks/bench_train.py --threads 2

Each figure is the median over timed chunks of steps after a few warm-up steps. The thread count is printed: the
machine docs/speed.md's numbers come from is shared, so its figures are lower bounds.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import numpy as np
import torch

from fracturelab.models import DataSpec, make_model
from fracturelab.tasks import TASKS, make_task
from fracturelab.train import TrainSettings
from fracturelab.train.loop import make_optimizer, shuffled_batches


def bench(task: str, steps: int, warmup: int = 5, chunks: int = 3) -> dict:
    recipe = TASKS[task].recipe
    model_name = TASKS[task].default_model
    opts = dict(recipe.task_options)
    if "novelty" in {f.name for f in dataclasses.fields(TASKS[task].settings_cls)}:
        opts["novelty"] = False  # novelty metadata is not needed to time training
    data = make_task(task, **opts)
    spec = DataSpec.of(task, data.sets().values(), data.info["settings"])
    model = make_model(model_name, spec, 0, **recipe.model_options.get(model_name, {}))
    s = TrainSettings(**recipe.train)
    opt = make_optimizer(model, s)
    batches = shuffled_batches(np.array([len(e.src) + len(e.tgt) for e in data.train]), s.batch_size,
                               np.random.default_rng(0), s.bucket)
    model.train()

    def step():
        idx = next(batches)
        loss, _ = model.loss(model.encode([data.train[i] for i in idx]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
        opt.step()
        return len(idx)

    for _ in range(warmup):
        step()
    rates = []
    per = max(1, steps // chunks)
    for _ in range(chunks):
        t0, n = time.perf_counter(), 0
        for _ in range(per):
            n += step()
        rates.append(n / (time.perf_counter() - t0))
    return {"task": task, "model": model_name, "params": sum(p.numel() for p in model.parameters()),
            "batch": s.batch_size, "train": len(data.train), "ex_per_s": statistics.median(rates),
            "steps_per_s": statistics.median(rates) / s.batch_size}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60, help="timed steps per task")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--tasks", nargs="*", default=list(TASKS), choices=list(TASKS))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {a.steps} timed steps per task")
    print("| task | model | params | batch | train examples | examples/s | steps/s |")
    print("|---|---|---|---|---|---|---|")
    for t in a.tasks:
        r = bench(t, a.steps)
        print(f"| {r['task']} | {r['model']} | {r['params']:,} | {r['batch']} | {r['train']:,} | "
              f"{r['ex_per_s']:,.0f} | {r['steps_per_s']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
