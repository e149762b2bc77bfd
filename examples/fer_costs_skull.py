"""What fracture costs, on the Picbreeder skull: the reference (FER's layerized Picbreeder skull), FER's SGD skull
and SGD replicas trained here all draw the skull inside [-1, 1]^2. Do they extrapolate alike, complete a hidden
half alike, and follow a one-weight change (the mouth, weight 4371, +1) alike? Prints one table, saves one figure.

    python examples/fer_costs_skull.py fer_costs_skull.png [--picbreeder ../shared/data/picbreeder] [--threads 1]
    python examples/fer_costs_skull.py /tmp/smoke.png --quick   # a smoke test at res 32 with tiny budgets

Table columns (MSE on RGB in [0, 1]; "never" = not within the step budget):
  in_win / extrap   extrapolation vs the reference: inside [-1, 1]^2 / in the ring out to [-1.5, 1.5]^2
  hid_reg           the net's plain error on the hidden half (not a completion: it saw that half)
  adapt_*           this net fine-tuned (Adam lr 3e-4, --adapt-lr) toward the reference's mouth sweep: threshold,
                    start MSE, steps to the threshold, best MSE. Threshold = 1e-3 + the net's own MSE to the
                    unswept skull (adapt_relative)
  rev_*             the reference fine-tuned toward a one-weight sweep of this net (weight rev_wid, picked so its
                    mean |change| rev_chg matches the mouth sweep's); threshold = 1e-3 + the reference's MSE to this
                    net's render; self_steps = this net toward that same target (it is one weight away for it)
  compl / visible   completion replicas: error on the hidden half / on the half they were trained on
"""
import argparse
import math
import os
import time
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from fracturelab.cppn import load_cppn  # noqa: E402
from fracturelab.fer.costs import CostSettings, fracture_costs, replica_net, wide_grid  # noqa: E402

DEFAULT_PB = Path(os.environ.get("FRACTURELAB_PICBREEDER",
                                 Path(__file__).resolve().parents[2] / "shared" / "data" / "picbreeder"))
COLUMNS = [  # (row key, header, format)
    ("in_window_mse", "in_win", "e"), ("extrapolation_mse", "extrap", "e"), ("hidden_region_mse", "hid_reg", "e"),
    ("adapt_thresh", "adapt_thr", "e"), ("adapt_start_mse", "adapt_start", "e"), ("adapt_steps", "adapt_steps", "n"),
    ("adapt_final_mse", "adapt_best", "e"), ("reverse_wid", "rev_wid", "n"), ("reverse_change", "rev_chg", "e"),
    ("reverse_thresh", "rev_thr", "e"), ("reverse_start_mse", "rev_start", "e"), ("reverse_steps", "rev_steps", "n"),
    ("reverse_final_mse", "rev_best", "e"), ("reverse_self_steps", "self_steps", "n"),
    ("completion_mse", "compl", "e"), ("visible_mse", "visible", "e"), ("train_steps", "train_steps", "n"),
    ("seconds", "sec", "n"),
]


def cell(row: dict, key: str, fmt: str) -> str:
    if key not in row:
        return ""
    v = row[key]
    if math.isnan(v):
        return "never"
    return f"{v:.2e}" if fmt == "e" else f"{v:.0f}"


def table(rows: dict[str, dict]) -> str:
    names = list(rows)
    cells = [[cell(rows[n], k, f) for k, _, f in COLUMNS] for n in names]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h, _) in enumerate(COLUMNS)]
    name_w = max(map(len, names))
    lines = [" ".join([" " * name_w] + [h.rjust(w) for (_, h, _), w in zip(COLUMNS, widths)])]
    lines += [" ".join([n.ljust(name_w)] + [c.rjust(w) for c, w in zip(row, widths)]) for n, row in zip(names, cells)]
    return "\n".join(lines)


def figure(path: Path, names: list[str], images: dict, rows: dict, settings: CostSettings) -> None:
    r = wide_grid(settings.res, settings.wide)[1]  # the wide window's half-width, rounded to whole pixels
    x0, x1, y0, y1 = (0.0, 1.0, -1.0, 1.0) if settings.region == "right_half" else settings.rect
    seeds = [s for s in settings.seeds if f"completion/seed{s}" in images]
    n_cols = max(len(names), len(seeds) + 1)
    fig, axes = plt.subplots(2, n_cols, figsize=(2.4 * n_cols, 5.2), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, name in zip(axes[0], names):
        ax.imshow(images[f"wide/{name}"], extent=(-r, r, r, -r))  # y runs down, as in the renders
        ax.add_patch(Rectangle((-1, -1), 2, 2, fill=False, ec="cyan", lw=1, ls="--"))
        ax.set_title(f"{name}\nextrap MSE {rows[name]['extrapolation_mse']:.1e}", fontsize=8)
    hidden = images["completion/hidden"]
    shown = images["completion/target"].copy()
    shown[hidden] = 0.5 * shown[hidden] + 0.25  # wash out what the completion replicas never saw
    axes[1, 0].imshow(shown, extent=(-1, 1, 1, -1))
    axes[1, 0].set_title("target, hidden region washed out", fontsize=8)
    for ax, seed in zip(axes[1, 1:], seeds):
        ax.imshow(images[f"completion/seed{seed}"], extent=(-1, 1, 1, -1))
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="cyan", lw=1, ls="--"))
        ax.set_title(f"completion seed {seed}\nhidden MSE {rows[f'completion_seed{seed}']['completion_mse']:.1e}",
                     fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("figure", type=Path, help="where to save the figure (.png)")
    ap.add_argument("--picbreeder", type=Path, default=DEFAULT_PB, help="the shared Picbreeder data folder")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="replica and completion seeds")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 avoids oversubscription)")
    ap.add_argument("--adapt-thresh", type=float, default=CostSettings.adapt_thresh)
    ap.add_argument("--adapt-lr", type=float, default=CostSettings.adapt_lr,
                    help="fine-tuning Adam lr (FER trains at 3e-3, where the Picbreeder skull never adapts)")
    ap.add_argument("--quick", action="store_true", help="res 32 and tiny budgets: a smoke test, not the numbers")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    settings = CostSettings(seeds=tuple(args.seeds), adapt_thresh=args.adapt_thresh, adapt_lr=args.adapt_lr)
    if args.quick:
        settings = replace(settings, res=32, steps=100, adapt_steps=50, pick_res=16)
    nets_dir = args.picbreeder / "fer" / "nets"
    reference = load_cppn(nets_dir / "picbreeder_skull")
    nets = {"fer_sgd": load_cppn(nets_dir / "sgd_skull")}
    t_all = time.perf_counter()
    for seed in settings.seeds:
        t0 = time.perf_counter()
        nets[f"replica_s{seed}"] = replica_net(reference, settings, seed)
        print(f"trained replica_s{seed} in {time.perf_counter() - t0:.0f} s", flush=True)
    rows, images = fracture_costs(reference, nets, settings, log=lambda s: print(s, flush=True))
    print(f"\nsettings: {settings}")
    print(f"adaptation: fine-tune toward the reference with weight {settings.adapt_wid} moved by "
          f"{settings.adapt_delta:+g}; threshold MSE {settings.adapt_thresh:g} (+ own fit error), "
          f"budget {settings.adapt_steps} steps, Adam lr {settings.adapt_lr:g}\n")
    print(table(rows))
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s")
    figure(args.figure, ["reference", *nets], images, rows, settings)
    print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
