"""Population evaluations per second: batched (one vmap/functional_call, or the CPPN module's batched weight vectors)
versus one individual at a time (load the weights, call the model).

    OMP_NUM_THREADS=1 python benchmarks/bench_evolve.py [--pop 64] [--repeats 3] [--examples 64 256]

Cases: an MLP and a CPPN classifier on leave_square_out, a small transformer on lookup (fitness = training loss on
64 examples, the task regimes' default batch_size, and on 256), and CPPN renders of a built-in's arch at 32x32 (the
image-fitting path of CMA-ES). Batching can only remove per-call overhead: once one individual's tensors fill the
kernels (more examples, wider layers), both paths are bound by the same arithmetic and the speed-up falls.
"""
from __future__ import annotations

import argparse
import time

import torch

from fracturelab.cppn.builtins import builtin_net
from fracturelab.models import DataSpec, make_model
from fracturelab.tasks import make_task
from fracturelab.train.evolve import PopulationLoss, loop_losses
from fracturelab.train.evolve.matched import cppn_losses


def _rate(fn, n: int, repeats: int) -> float:
    fn()  # warm-up (vmap tracing, allocations)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return n / best


def model_case(task, model, task_opts, model_opts, examples, pop, repeats):
    d = make_task(task, seed=0, **task_opts)
    m = make_model(model, DataSpec.of(task, d.sets().values(), d.info["settings"]), 0, **model_opts)
    ev = PopulationLoss(m)
    P = ev.flat() + 0.05 * torch.randn(pop, ev.n_params, generator=torch.Generator().manual_seed(0))
    batch = m.encode(d.train[:examples])
    fast, slow = _rate(lambda: ev(P, batch), pop, repeats), _rate(lambda: loop_losses(m, P, batch), pop, repeats)
    return ev.n_params, len(batch["y"]), fast, slow


def cppn_case(name, res, pop, repeats):
    net = builtin_net(name)
    P = torch.as_tensor(net.params) + 0.05 * torch.randn(pop, net.arch.n_params)
    losses = cppn_losses(net.arch, net.render(res))  # CMA-ES's image fitness: (N, P) -> (N,) render MSEs
    return (net.arch.n_params, res * res, _rate(lambda: losses(P), pop, repeats),
            _rate(lambda: torch.cat([losses(p[None]) for p in P]), pop, repeats))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pop", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--examples", type=int, nargs="+", default=[64, 256])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    square, lookup = ("leave_square_out", {"p": 17, "side": 3}), ("lookup", {"n_train": 300, "n_test": 20})
    models = [("mlp h64 L2, leave_square_out p=17", *square, "mlp", {"hidden": 64, "depth": 2}),
              ("cppn 1;sin:16, leave_square_out p=17", *square, "cppn", {"arch": "1;sin:16"}),
              ("transformer d16 L1, lookup", *lookup, "transformer", {"d_model": 16, "n_layer": 1})]
    rows = [(name, model_case(task, model, t_opts, m_opts, n, a.pop, a.repeats))
            for name, task, t_opts, model, m_opts in models for n in a.examples]
    rows.append(("CPPN face arch, render (examples = pixels)", cppn_case("face", 32, a.pop, a.repeats)))
    print(f"population {a.pop}, torch threads {torch.get_num_threads()}, best of {a.repeats}")
    print("| case | params | examples | batched (evals/s) | one at a time (evals/s) | speed-up |")
    print("|---|---|---|---|---|---|")
    for name, (n, examples, fast, slow) in rows:
        print(f"| {name} | {n} | {examples} | {fast:.0f} | {slow:.0f} | {fast / slow:.1f}x |")


if __name__ == "__main__":
    main()
