"""The evolution table: `fracturelab evolve` with its default budget on FER's three targets at 32x32, for cmaes and
neat, against the best constant image (the target's mean colour). Writes OUT/evolution.json, OUT/evolution.md (the
docs/evolution.md's table) and OUT/evolution_curves.png (best MSE so far per generation, each method's curve over the constant
image's line and half of it).

    OMP_NUM_THREADS=1 python examples/evolution_table.py -o evo [--jobs 2] [--generations N] [--methods cmaes]

Each run is the command a user types (`fracturelab evolve NAME -o DIR --method M --seed 0`), one torch thread, so
seconds are wall time of that command on this machine, as loaded as it was (the script prints `uptime`).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

TARGETS = ("skull", "butterfly", "apple")
METHODS = ("cmaes", "neat")
RES = 32


def run_one(out: Path, target: str, method: str, extra: list[str]) -> dict:
    folder = out / f"{target}_{method}"
    cmd = [sys.executable, "-m", "fracturelab", "evolve", target, "-o", str(folder), "--method", method,
           "--seed", "0", "--res", str(RES), *extra]
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    seconds = time.time() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr.strip()[-500:]}")
    settings = json.loads((folder / "settings.json").read_text())
    curve = np.minimum.accumulate(np.load(folder / "losses.npy")).tolist()  # best MSE so far, per generation
    print(f"{target} {method}: MSE {settings['final_mse']:.4f} in {settings['generations']} generations, "
          f"{seconds:.0f} s", flush=True)
    return {"target": target, "method": method, "mse": settings["final_mse"], "generations": settings["generations"],
            "seconds": seconds, "curve": curve, "command": " ".join(cmd[2:])}


def constant_mse(target: str) -> float:
    from fracturelab.cppn.nets import load_cppn

    img = load_cppn(target).render(RES)
    return float(((img - img.reshape(-1, 3).mean(0)) ** 2).mean())


def table(rows: list[dict]) -> str:
    lines = ["| target | method | MSE | constant image MSE | MSE / constant | ≤ half? | generations | seconds |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = r["mse"] / r["constant"]
        lines.append(f"| {r['target']} | {r['method']} | {r['mse']:.4f} | {r['constant']:.4f} | {ratio:.3f} | "
                     f"{'yes' if ratio <= 0.5 else 'no'} | {r['generations']} | {r['seconds']:.0f} |")
    return "\n".join(lines)


def figure(rows: list[dict], path: Path, overlay: list[dict] = ()) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(TARGETS), figsize=(4 * len(TARGETS), 3.2))
    for ax, target in zip(axes, TARGETS):
        mine = [r for r in rows if r["target"] == target]
        if not mine:
            continue
        longer = [o for o in overlay if o["target"] == target]
        # a longer run of the same method and seed repeats the shorter one's generations first: draw only the longer
        drawn = [r for r in mine if not any(o["method"] == r["method"] for o in longer)] + longer
        for r in sorted(drawn, key=lambda r: r["method"]):
            ax.plot(np.arange(1, len(r["curve"]) + 1), r["curve"], label=f"{r['method']}, {r['generations']} gen.")
        c = mine[0]["constant"]
        ax.axhline(c, color="grey", ls="--", lw=1, label="constant image")
        ax.axhline(c / 2, color="black", ls=":", lw=1, label="half of it")
        ax.set_title(f"{target} at {RES}x{RES}")
        ax.set_xlabel("generation")
        ax.set_ylabel("best MSE so far")
        ax.set_ylim(0, max(c * 1.3, max(max(r["curve"][:1]) for r in mine) * 1.05))
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--jobs", type=int, default=2, help="runs at once (each one thread)")
    ap.add_argument("--generations", type=int, default=None, help="override the default budget (default: none)")
    ap.add_argument("--targets", nargs="+", default=list(TARGETS))
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--overlay", type=Path, nargs="+", default=[],
                    help="other runs' evolution.json whose curves the figure adds (e.g. longer budgets)")
    ap.add_argument("--plot-only", action="store_true", help="redraw OUT's figure and table from OUT/evolution.json")
    a = ap.parse_args()
    overlay = [r for path in a.overlay for r in json.loads(path.read_text())]
    if a.plot_only:
        rows = json.loads((a.out / "evolution.json").read_text())
        figure(rows, a.out / "evolution_curves.png", overlay)
        (a.out / "evolution.md").write_text(table(rows + overlay) + "\n")
        print(table(rows + overlay))
        return
    a.out.mkdir(parents=True, exist_ok=True)
    extra = ["--generations", str(a.generations)] if a.generations else []
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
    jobs = [(t, m) for t in a.targets for m in a.methods]
    with ThreadPoolExecutor(a.jobs) as pool:
        rows = list(pool.map(lambda tm: run_one(a.out, *tm, extra), jobs))
    for r in rows:
        r["constant"] = constant_mse(r["target"])
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
    (a.out / "evolution.json").write_text(json.dumps(rows, indent=1))
    (a.out / "evolution.md").write_text(table(rows) + "\n")
    figure(rows, a.out / "evolution_curves.png", overlay)
    print(table(rows))


if __name__ == "__main__":
    main()
