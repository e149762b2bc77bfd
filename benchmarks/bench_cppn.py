"""CPPN throughput: fracturelab's torch code against a JAX + jit port (FER's framework), on Picbreeder's skull and apple.

    python benchmarks/bench_cppn.py            # full run, a few minutes on 2 cores
    python benchmarks/bench_cppn.py --quick    # smoke run, about a minute (mostly JAX compiling)
    python benchmarks/bench_cppn.py --profile  # also: where torch's time goes (SGD step at 64x64, batched eval)

Measured per net: renders per second at 256x256 (one net, no autograd); 64 weight vectors (the net's weights plus
noise) evaluated in one batched forward call against the same 64 one at a time in a Python loop, at 64x64 and 256x256
(nets per second); SGD steps per second with FER's recipe (forward, HSV->RGB, MSE, backward, gradient scaled to unit
norm, Adam) at 64x64 and 256x256 -- for torch, `replicate.fit` itself. Each figure is the median of several timed
repeats after a warm-up (JAX's warm-up includes jit compilation). JAX is optional: pip install 'jax[cpu]'.

On a machine that other processes share, torch's OpenMP threads (which by default spin-wait for each other) can run
10-50x slower than one thread: compare --threads 1, or set OMP_WAIT_POLICY=PASSIVE. The header prints the load average.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from fracturelab.cppn.color import to_rgb
from fracturelab.cppn.module import coord_grid, forward, lecun_normal
from fracturelab.cppn.nets import load_cppn
from fracturelab.cppn.replicate import ReplicateSettings, fit

sys.path.insert(0, str(Path(__file__).resolve().parent))
try:
    import jax
    import jax.numpy as jnp

    import _jax_cppn as jc
except ImportError:
    jax = None

PICBREEDER = Path(os.environ.get("FRACTURELAB_PICBREEDER",  # as tests/conftest.py: beside the checkout by default
                                 Path(__file__).resolve().parents[2] / "shared" / "data" / "picbreeder"))
GENOMES = PICBREEDER / "fer" / "genomes"
NETS = ("skull", "apple")


def median_time(fn, repeats: int, warm=None) -> float:
    """Median wall time of fn() over `repeats` calls, after one untimed call of warm (default: fn itself)."""
    (warm or fn)()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def weight_batch(params: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """n weight vectors near the net's own: (n, P) float32."""
    rng = np.random.default_rng(seed)
    return (params + 0.1 * rng.standard_normal((n, params.size))).astype(np.float32)


def target_image(arch, params, res: int) -> np.ndarray:
    with torch.no_grad():
        return to_rgb(forward(arch, torch.as_tensor(params), coord_grid(res))).reshape(res, res, 3).numpy()


# ---- torch -------------------------------------------------------------------------------------------------------

def torch_rates(arch, params: np.ndarray, cfg) -> dict[str, float]:
    p = torch.as_tensor(params)
    batch = torch.as_tensor(weight_batch(params, cfg.batch))
    out = {}
    with torch.no_grad():
        x = coord_grid(256)
        out["render/s 256x256"] = 1 / median_time(lambda: to_rgb(forward(arch, p, x)), cfg.repeats)
        for res in (64, 256):
            x = coord_grid(res)
            reps, n_loop = (cfg.repeats, cfg.batch) if res == 64 else (cfg.repeats_256, cfg.loop_256)
            warm = lambda: forward(arch, batch[:4], x)  # noqa: E731  (at 256x256 a full batch costs seconds)
            out[f"batch nets/s {res}"] = cfg.batch / median_time(lambda: forward(arch, batch, x), reps, warm)
            t = median_time(lambda: [forward(arch, batch[i], x) for i in range(n_loop)], reps, warm)
            out[f"loop nets/s {res}"] = n_loop / t
    for res in (64, 256):
        steps = cfg.steps if res == 64 else cfg.steps_256
        target = target_image(arch, params, res)
        run = lambda n: fit(arch, target, ReplicateSettings(res=res, steps=n), progress=False)  # noqa: E731
        t = median_time(lambda: run(steps), cfg.repeats if res == 64 else cfg.repeats_256, lambda: run(2))
        out[f"SGD steps/s {res}"] = steps / t
    return out


# ---- JAX ---------------------------------------------------------------------------------------------------------

def jax_rates(arch, params: np.ndarray, cfg) -> dict[str, float]:
    block = jax.block_until_ready
    p = jnp.asarray(params)
    batch = jnp.asarray(weight_batch(params, cfg.batch))
    render, batched = jc.make_render(arch), jc.make_batched(arch)
    single = jax.jit(lambda q, x: jc.forward(arch, q, x))

    x = jnp.asarray(coord_grid(256).numpy())
    ours = np.asarray(render(p, x))
    theirs = to_rgb(forward(arch, torch.as_tensor(params), coord_grid(256))).numpy()
    err = np.abs(ours - theirs).max()
    assert err < 1e-4, f"JAX and torch renders differ by {err:.2e}"

    out = {"render/s 256x256": 1 / median_time(lambda: block(render(p, x)), cfg.repeats)}
    for res in (64, 256):
        x = jnp.asarray(coord_grid(res).numpy())
        reps, n_loop = (cfg.repeats, cfg.batch) if res == 64 else (cfg.repeats_256, cfg.loop_256)
        compiled = batched.lower(batch, x).compile()  # compiling is the batch's warm-up
        out[f"batch nets/s {res}"] = cfg.batch / median_time(lambda: block(compiled(batch, x)), reps, lambda: 0)
        t = median_time(lambda: block([single(batch[i], x) for i in range(n_loop)]), reps,
                        lambda: block(single(batch[0], x)))
        out[f"loop nets/s {res}"] = n_loop / t

    for res in (64, 256):
        steps = cfg.steps if res == 64 else cfg.steps_256
        x = jnp.asarray(coord_grid(res).numpy())
        y = jnp.asarray(target_image(arch, params, res).reshape(-1, 3))
        train_step = jc.make_train_step(arch, lr=3e-3)
        init = jnp.asarray(lecun_normal(arch, torch.Generator().manual_seed(0)).numpy())

        def run(n):  # like fit: read each step's loss back (fit tracks the best weights)
            state, losses = jc.adam_init(init), []
            for _ in range(n):
                state, loss = train_step(state, x, y)
                losses.append(float(loss))
            return losses

        if res == 64:  # same init, same recipe: the first losses must agree with torch's
            ref = fit(arch, np.array(y).reshape(res, res, 3), ReplicateSettings(res=res, steps=5), progress=False)
            ours = run(5)
            assert np.allclose(ours, ref.losses, rtol=1e-3), f"JAX losses {ours} != torch {ref.losses}"
        t = median_time(lambda: run(steps), cfg.repeats if res == 64 else cfg.repeats_256, lambda: run(2))
        out[f"SGD steps/s {res}"] = steps / t
    return out


# ---- profile -----------------------------------------------------------------------------------------------------

CATEGORIES = {  # aten op (without "aten::") -> kind; ops not listed are elementwise math
    **dict.fromkeys(("bmm", "mm", "matmul", "addmm", "baddbmm"), "matmul"),
    **dict.fromkeys(("cat", "split_with_sizes", "split", "narrow", "slice", "copy_", "_to_copy", "clone", "to"),
                    "cat/split/copy"),
    **dict.fromkeys(("transpose", "t", "view", "reshape", "_reshape_alias", "_unsafe_view", "as_strided", "expand",
                     "select", "permute", "squeeze", "unsqueeze", "detach", "detach_", "numpy_T", "alias", "empty",
                     "empty_like", "empty_strided", "resolve_conj", "lift_fresh", "result_type", "item",
                     "_local_scalar_dense", "scalar_tensor", "zeros", "ones_like", "zero_"), "views/allocation"),
}


def _category(ev) -> str:
    parent = ev.cpu_parent
    while parent is not None:
        if "Adam.step" in parent.name:
            return "Adam"
        parent = parent.cpu_parent
    return CATEGORIES.get(ev.name.removeprefix("aten::"), "elementwise (activations, colour, loss)")


def profile_torch(name: str, arch, params: np.ndarray, n_batch: int) -> None:
    from torch.profiler import ProfilerActivity, profile

    target = torch.as_tensor(target_image(arch, params, 64)).reshape(-1, 3)
    x64 = coord_grid(64)
    w = torch.nn.Parameter(lecun_normal(arch, torch.Generator().manual_seed(0)))
    opt = torch.optim.Adam([w], lr=3e-3)

    def sgd_step():  # replicate.fit's loop body
        opt.zero_grad(set_to_none=True)
        loss = ((to_rgb(forward(arch, w, x64)) - target) ** 2).mean()
        loss.backward()
        w.grad /= w.grad.norm() + 1e-12
        loss.item()
        opt.step()

    batch = torch.as_tensor(weight_batch(params, n_batch))

    def batched():
        with torch.no_grad():
            forward(arch, batch, x64)

    for label, fn, n in (("SGD step 64x64", sgd_step, 20), (f"batched eval {n_batch} nets 64x64", batched, 3)):
        fn()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            wall = (time.perf_counter() - t0) / n
        shares: dict[str, float] = {}
        for ev in prof.events():
            if ev.name.startswith("aten::"):
                cat = _category(ev)
                shares[cat] = shares.get(cat, 0.0) + ev.self_cpu_time_total / 1e6 / n
        shares["python/autograd overhead"] = max(0.0, wall - sum(shares.values()))
        parts = ", ".join(f"{k} {v / wall:.0%}" for k, v in sorted(shares.items(), key=lambda kv: -kv[1]))
        print(f"  {name:6s} {label:28s} {wall * 1e3:8.1f} ms (profiled): {parts}")


# ---- main --------------------------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: one repeat, few steps")
    ap.add_argument("--profile", action="store_true", help="also break torch's time down by kind of op")
    ap.add_argument("--no-jax", action="store_true", help="skip JAX even if it is installed")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    cfg = ap.parse_args()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    cfg.repeats, cfg.repeats_256, cfg.steps, cfg.steps_256, cfg.loop_256, cfg.batch = (
        (1, 1, 5, 2, 4, 8) if cfg.quick else (5, 2, 30, 4, 8, 64))
    use_jax = jax is not None and not cfg.no_jax

    print(f"torch {torch.__version__}, torch threads {torch.get_num_threads()}, os.cpu_count() {os.cpu_count()}, "
          f"jax {jax.__version__ + ' ' + str(jax.devices()) if jax is not None else 'not installed'}, "
          f"OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY', 'unset')}, load average {os.getloadavg()[0]:.1f}")
    if torch.get_num_threads() > 1 and os.getloadavg()[0] > 0.5 and os.environ.get("OMP_WAIT_POLICY") is None:
        print("warning: other processes are using the CPUs; torch's OpenMP threads spin-wait for each other, which can "
              "make it 10-50x slower then: use --threads 1 or OMP_WAIT_POLICY=PASSIVE")
    print(f"medians of {cfg.repeats} repeats (64x64, renders) and {cfg.repeats_256} (256x256), after warm-ups; "
          f"SGD over {cfg.steps} / {cfg.steps_256} steps; batches of {cfg.batch} nets, the 256x256 loop times "
          f"{cfg.loop_256} of them")
    if jax is None:
        print("jax not installed, skipped")

    rows = []
    for name in NETS:
        net = load_cppn(GENOMES / f"{name}.zip")
        print(f"{name}: arch {net.arch}, {net.arch.n_params} weights ...", end=" ", flush=True)
        t0 = time.perf_counter()
        t = torch_rates(net.arch, net.params, cfg)
        print(f"torch {time.perf_counter() - t0:.0f} s", end=" ", flush=True)
        t0 = time.perf_counter()
        j = jax_rates(net.arch, net.params, cfg) if use_jax else {}
        print(f"jax {time.perf_counter() - t0:.0f} s" if use_jax else "", flush=True)
        for res in (64, 256):  # what batching buys over the loop, in each framework
            key = f"batch speed-up {res}"
            t[key] = t[f"batch nets/s {res}"] / t[f"loop nets/s {res}"]
            if j:
                j[key] = j[f"batch nets/s {res}"] / j[f"loop nets/s {res}"]
        rows += [(name, k, v, j.get(k)) for k, v in t.items()]

    print(f"\n{'net':6s} {'measurement':24s} {'torch':>10s} {'jax':>10s} {'torch/jax':>10s}")
    order = ["render/s 256x256"] + [f"{m} {r}" for r in (64, 256)
                                    for m in ("batch nets/s", "loop nets/s", "batch speed-up")]
    order += ["SGD steps/s 64", "SGD steps/s 256"]
    for name in NETS:
        by_key = {k: (tv, jv) for n, k, tv, jv in rows if n == name}
        for k in order:
            tv, jv = by_key[k]
            jax_txt = f"{jv:10.2f}" if jv is not None else f"{'-':>10s}"
            ratio = f"{tv / jv:10.2f}" if jv else f"{'-':>10s}"
            print(f"{name:6s} {k.replace('speed-up', 'speed-up x'):24s} {tv:10.2f} {jax_txt} {ratio}")

    if cfg.profile:
        print("\nwhere torch's time goes (self CPU time of aten ops by kind; the rest is Python and autograd):")
        for name in NETS:
            net = load_cppn(GENOMES / f"{name}.zip")
            profile_torch(name, net.arch, net.params, cfg.batch)


if __name__ == "__main__":
    main()
