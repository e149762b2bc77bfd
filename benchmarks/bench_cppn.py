"""CPPN throughput: fracturelab (its fused engine) against JAX's best (FER's framework), on Picbreeder's skull and apple.

    XLA_FLAGS=... python benchmarks/bench_cppn.py --threads 1   # full run, 15-30 minutes on 2 busy cores
    python benchmarks/bench_cppn.py --threads 1 --quick          # smoke run, a few minutes (mostly JAX compiling)
    python benchmarks/bench_cppn.py --threads 1 --profile        # also: where fracturelab's time goes

Operations, per net (skull, apple):
- render: one net's RGB at 256x256 (no autograd), for FER's genome net (2-3 % non-zero weights) and its SGD net
  (dense). JAX: one jitted render.
- batch: many weight vectors (the genome's plus noise, so dense) evaluated at 64x64 and 256x256, nets per second.
  JAX: a Python loop over a jitted one-net forward, and jit(vmap(forward)) over the batch.
- SGD: FER's recipe (forward, HSV->RGB, MSE, backward, gradient scaled to unit norm, Adam) fitting the genome's
  image from LeCun-normal init at 64x64 and 256x256, reading each step's loss back; one net (fracturelab:
  `replicate.fit`) and R = 8 replicas per step (fracturelab: `replicate.fit_many`, one batched step), in replica
  steps per second. JAX: a jitted step (one net); for replicas a loop of 8 jitted steps, and jit(vmap(step)).

The ratio is fracturelab against the faster of JAX's loop and vmap. Each figure is the median of repeats that run
the frameworks interleaved (fracturelab, JAX loop, JAX vmap, fracturelab, ...) in this one process, so a machine
shared with other jobs loads both alike; warm-ups first (JAX's include jit compilation). The header prints
`uptime`. JAX is the `bench` extra (pip install 'jax[cpu]'). With --threads 1, XLA is also held to one thread.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

if "--threads" in sys.argv and "XLA_FLAGS" not in os.environ:  # before jax is imported
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

import numpy as np  # noqa: E402
import torch  # noqa: E402

from fracturelab.cppn import fused  # noqa: E402
from fracturelab.cppn.module import coord_grid, rgb  # noqa: E402
from fracturelab.cppn.nets import load_cppn  # noqa: E402
from fracturelab.cppn.replicate import INITS, ReplicateSettings, fit, fit_many  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
try:
    import jax
    import jax.numpy as jnp

    import _jax_cppn as jc
except ImportError:
    jax = None

PICBREEDER = Path(os.environ.get("FRACTURELAB_PICBREEDER",  # as tests/conftest.py: beside the checkout by default
                                 Path(__file__).resolve().parents[2] / "shared" / "data" / "picbreeder"))
FER = PICBREEDER / "fer"
NETS = ("skull", "apple")
REPLICAS = 8
FRAMEWORKS = ("fracturelab", "jax loop", "jax vmap")


def median_time(fn, repeats: int, warm=None, clock=time.perf_counter) -> float:
    """Median time (wall by default) of fn() over `repeats` calls, after one untimed call of warm (default: fn)."""
    (warm or fn)()
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def interleaved(fns: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """{name: (median wall time, median CPU time of this process)} of each fn, the fns taking turns repeat by repeat
    (each warmed up once first). CPU time is what another job on the machine cannot inflate, short of contention for
    caches and memory; wall time is what a user waits."""
    for fn in fns.values():
        fn()
    times = {k: ([], []) for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            times[k][0].append(time.perf_counter() - t0)
            times[k][1].append(time.process_time() - c0)
    return {k: (statistics.median(w), statistics.median(c)) for k, (w, c) in times.items()}


def weight_batch(params: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """n weight vectors near the net's own: (n, P) float32."""
    rng = np.random.default_rng(seed)
    return (params + 0.1 * rng.standard_normal((n, params.size))).astype(np.float32)


def image(arch, params, res: int) -> np.ndarray:
    return rgb(arch, torch.as_tensor(params), coord_grid(res)).reshape(res, res, 3).numpy()


def measure(name: str, cfg) -> list[tuple[str, dict[str, float]]]:
    """[(operation, {framework: units per second})] for one net; JAX's entries are absent without JAX."""
    genome, sgd = load_cppn(FER / "genomes" / f"{name}.zip"), load_cppn(FER / "nets" / f"sgd_{name}")
    arch, block = genome.arch, (jax.block_until_ready if jax else None)
    rows = []

    def add(op, units, fns):
        t = interleaved(fns, cfg.repeats)
        rows.append((op, {k: (units / w, units / c) for k, (w, c) in t.items()}))
        print(f"  {op:30s} " + "  ".join(f"{k} {w:9.2f}/s" for k, (w, c) in rows[-1][1].items()), flush=True)

    x = coord_grid(256)
    for label, net in (("genome", genome), ("SGD", sgd)):
        p = torch.as_tensor(net.params)
        fns = {"fracturelab": lambda: rgb(arch, p, x)}
        if jax:
            render, pj, xj = jc.make_render(arch), jnp.asarray(net.params), jnp.asarray(x.numpy())
            err = np.abs(np.asarray(render(pj, xj)) - rgb(arch, p, x).numpy()).max()
            assert err < 1e-4, f"JAX and fracturelab renders differ by {err:.2e}"
            fns["jax loop"] = lambda: block(render(pj, xj))
        add(f"render 256x256, {label} net", 1, fns)

    for res, n in ((64, cfg.batch), (256, cfg.batch_256)):
        x = coord_grid(res)
        batch = torch.as_tensor(weight_batch(genome.params, n))
        fns = {"fracturelab": lambda: rgb(arch, batch, x)}
        if jax:
            one = jax.jit(lambda q, xx: jc.to_rgb(jc.forward(arch, q, xx)))
            many = jax.jit(jax.vmap(lambda q, xx: jc.to_rgb(jc.forward(arch, q, xx)), in_axes=(0, None)))
            bj, xj = jnp.asarray(batch.numpy()), jnp.asarray(x.numpy())
            fns["jax loop"] = lambda: block([one(bj[i], xj) for i in range(n)])
            fns["jax vmap"] = lambda: block(many(bj, xj))
        add(f"batch of {n}, {res}x{res} (nets)", n, fns)

    for res, steps in ((64, cfg.steps), (256, cfg.steps_256)):
        target = image(arch, genome.params, res)
        settings = ReplicateSettings(res=res, steps=steps)
        seeds = list(range(REPLICAS))
        fns1 = {"fracturelab": lambda: fit(arch, target, settings, progress=False)}
        fnsR = {"fracturelab": lambda: fit_many(arch, target, settings, seeds, progress=False)}
        if jax:
            xj, yj = jnp.asarray(coord_grid(res).numpy()), jnp.asarray(target.reshape(-1, 3))
            step, stepR = jc.make_train_step(arch), jc.make_train_step(arch, replicas=True)
            inits = jnp.asarray(np.stack([INITS[settings.init](arch, torch.Generator().manual_seed(s)).numpy()
                                          for s in seeds]))

            def run_loop(n_nets):  # like fit: each step's loss read back
                states = [jc.adam_init(inits[r]) for r in range(n_nets)]
                for _ in range(steps):
                    for r in range(n_nets):
                        states[r], loss = step(states[r], xj, yj)
                        float(loss)

            def run_vmap():
                state = jc.adam_init(inits)
                for _ in range(steps):
                    state, losses = stepR(state, xj, yj)
                    np.asarray(losses)

            if res == 64:  # same init, same recipe: the first losses must agree
                ref = fit(arch, target, ReplicateSettings(res=res, steps=5), progress=False).losses
                state, ours = jc.adam_init(inits[0]), []
                for _ in range(5):
                    state, loss = step(state, xj, yj)
                    ours.append(float(loss))
                assert np.allclose(ours, ref, rtol=1e-3), f"JAX losses {ours} != fracturelab's {ref}"
            fns1["jax loop"] = lambda: run_loop(1)
            fnsR["jax loop"], fnsR["jax vmap"] = (lambda: run_loop(REPLICAS)), run_vmap
        add(f"SGD steps, {res}x{res}, one net", steps, fns1)
        add(f"SGD steps, {res}x{res}, R={REPLICAS}", steps * REPLICAS, fnsR)
    return rows


def profile(name: str) -> None:
    """Where fracturelab's time goes, in this process's CPU time (another job's load inflates wall time): the
    engine's arithmetic rate, and an SGD step split into the fused pass and the rest (Adam, bookkeeping)."""
    genome = load_cppn(FER / "genomes" / f"{name}.zip")
    arch = genome.arch
    macs = 4 * arch.width + (arch.n_hidden - 1) * arch.width ** 2 + 3 * arch.width  # multiply-adds per pixel
    for res in (64, 256):
        x = coord_grid(res)
        batch = torch.as_tensor(weight_batch(genome.params, 8))
        cpu = time.process_time
        t_fwd = median_time(lambda: fused.forward(arch, batch, x), 3, clock=cpu) / 8
        y = torch.as_tensor(image(arch, genome.params, res)).reshape(-1, 3)
        w = torch.full((res * res,), 1 / (3 * res * res))
        t_grad = median_time(lambda: fused.rgb_mse(arch, batch[:1], x, y, w), 3, clock=cpu)
        steps = 20 if res == 64 else 3
        t_step = median_time(lambda: fit(arch, image(arch, genome.params, res), ReplicateSettings(res=res, steps=steps),
                                         progress=False), 3, clock=cpu) / steps
        gflop = 2 * macs * res * res / 1e9
        print(f"  {name:6s} {res:3d}x{res:<3d} forward {gflop / t_fwd:5.1f} GFLOP/s; gradient pass {3 * gflop / t_grad:5.1f} "
              f"GFLOP/s ({t_grad * 1e3:.2f} ms, {t_grad / t_step:.0%} of an SGD step of {t_step * 1e3:.2f} ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer repeats, nets and steps")
    ap.add_argument("--profile", action="store_true", help="also: where fracturelab's time goes")
    ap.add_argument("--no-jax", action="store_true", help="skip JAX even if it is installed")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (and XLA on one thread)")
    ap.add_argument("--nets", nargs="+", default=list(NETS), choices=NETS)
    cfg = ap.parse_args()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    cfg.repeats, cfg.batch, cfg.batch_256, cfg.steps, cfg.steps_256 = (2, 16, 4, 5, 1) if cfg.quick else (3, 64, 16, 20, 1)
    global jax
    jax = None if cfg.no_jax else jax

    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; uptime: {uptime}")
    print(f"torch {torch.__version__}, torch threads {torch.get_num_threads()}, os.cpu_count() {os.cpu_count()}, "
          f"fused engine {'on' if fused.active() else 'OFF (torch reference)'}, "
          f"jax {jax.__version__ + ' ' + str(jax.devices()) if jax else 'not used'}, "
          f"XLA_FLAGS {os.environ.get('XLA_FLAGS', 'unset')!r}")
    print(f"medians of {cfg.repeats} interleaved repeats after warm-ups; SGD over {cfg.steps} / {cfg.steps_256} steps")

    table = []
    for name in cfg.nets:
        print(f"{name}:")
        table += [(name, op, rates) for op, rates in measure(name, cfg)]

    print(f"\n{'net':6s} {'operation':32s} " + " ".join(f"{f:>12s}" for f in FRAMEWORKS)
          + f" {'ratio':>7s} {'CPU ratio':>9s} {'fl CPU/s':>9s}")
    for name, op, rates in table:
        ratios = []
        for i in (0, 1):  # wall, CPU
            best = max((v[i] for k, v in rates.items() if k != "fracturelab"), default=None)
            ratios.append(rates["fracturelab"][i] / best if best else float("nan"))
        cells = " ".join(f"{rates[f][0]:12.2f}" if f in rates else f"{'-':>12s}" for f in FRAMEWORKS)
        print(f"{name:6s} {op:32s} {cells} {ratios[0]:7.2f} {ratios[1]:9.2f} {rates['fracturelab'][1]:9.2f}")
    print("units per second of wall time (renders, nets, replica steps); ratio: fracturelab / the faster of JAX's loop "
          "and vmap; CPU ratio: the same in this process's CPU time; fl CPU/s: fracturelab's units per CPU second")
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"uptime at the end: {uptime}")

    if cfg.profile:
        print("\nwhere fracturelab's time goes:")
        for name in cfg.nets:
            profile(name)


if __name__ == "__main__":
    main()
