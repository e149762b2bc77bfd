"""The testbed's headline numbers: every task's default model (test_id and test_ood), leave-square-out inside versus
outside the square and by novelty, multiplication's per-node error types and accuracy by depth and coverage, and
pretraining versus scratch over seeds. Prints markdown tables and writes figures, results.md and results.json to
OUTDIR; the run folders go to OUTDIR/runs and are reused when run again (delete them to retrain).

    python examples/tasks_results.py OUTDIR            # everything, one seed per default run: ~30 min on 2 cores
    python examples/tasks_results.py OUTDIR --default-seeds 0 1 2   # docs/testbed.md's table: about an hour
    python examples/tasks_results.py OUTDIR --quick    # tiny settings, a couple of minutes: checks the script
    python examples/tasks_results.py OUTDIR --sections defaults lso
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fracturelab.tasks import TASKS  # noqa: E402
from fracturelab.tasks.multiplication import ERROR_TYPES  # noqa: E402
from fracturelab.tasks import TASKS  # noqa: E402
from fracturelab.train import train_run  # noqa: E402
from fracturelab.train.breakdown import (accuracy_by, error_type_table, log_bin, multiplication_nodes,  # noqa: E402
                                         read_results)

QUICK = {  # task options and step counts that make every run take seconds (checks the script, not the claims)
    "lookup": {"n_train": 1500, "n_test": 200, "novelty": False},
    "scan": {"novelty": False},
    "multiplication": {"train_sizes": ((1, 1), (2, 1)), "ood_sizes": ((2, 2),), "n_train_per_size": 300,
                       "n_test_per_size": 40, "n_ood_per_size": 30},
    "leave_square_out": {"p": 23, "side": 5},
    "factors": {"n_per_combo": 2},
    "knowledge_graph": {"n_entities": 20, "n_relations": 4, "n_test": 100, "novelty": False},
}


class Runner:
    """Trains (or reuses) run folders under outdir/runs."""

    def __init__(self, outdir: Path, quick: bool):
        self.runs, self.quick = outdir / "runs", quick

    def __call__(self, task, name, regime="scratch", seed=0, split=None, **kw) -> tuple[dict, Path]:
        rundir = self.runs / name
        if (rundir / "metrics.json").is_file():
            return json.loads((rundir / "metrics.json").read_text()), rundir
        if self.quick:
            kw = {"task_options": QUICK[task], "max_steps": 100, "eval_every": 25, "pretrain_steps": 50, **kw}
        print(f"training {name} ...", file=sys.stderr, flush=True)
        m = train_run(task, split=split, regime=regime, seed=seed, outdir=rundir, **kw)
        m.pop("curve", None)
        return m, rundir


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


# ------------------------------------------------------------------------------------------------------------------


def defaults(run: Runner, seeds: list[int]) -> tuple[str, dict]:
    rows, res = [], {}
    for task in TASKS:
        for seed in seeds:
            m, _ = run(task, f"{task}_scratch_s{seed}", seed=seed)
            extra = ", ".join(f"{k[:-4]} {pct(m[k])}" for k in m if k.endswith("_acc")
                              and k not in ("train_acc", "val_acc", "id_acc", "ood_acc"))
            rows.append([task, m["split"], m["model"], seed, pct(m["id_acc"]), pct(m["ood_acc"]), extra or "",
                         m["steps"], f"{m['seconds']:.0f}", TASKS[task].recipe.budget])
            res[f"{task}/s{seed}"] = {k: m[k] for k in ("id_acc", "ood_acc", "train_acc", "steps", "seconds")}
    md = table(["task", "split", "model", "seed", "test_id %", "test_ood %", "extra sets %", "steps", "seconds",
                "budget"], rows)
    return md, res


def lso(run: Runner, out: Path) -> tuple[str, dict]:
    md, res = [], {}
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for split, ax in zip(("square", "random"), axes[:2]):
        name = "leave_square_out_scratch_s0" if split == "square" else "leave_square_out_random_s0"
        m, rundir = run("leave_square_out", name, split=split)
        rows = read_results(rundir)
        inside = [r for r in rows if r["inside"] is True]
        outside = [r for r in rows if r["inside"] is False]
        acc_in = float(np.mean([r["correct"] for r in inside])) if inside else float("nan")
        acc_out = float(np.mean([r["correct"] for r in outside]))
        by_d = accuracy_by(rows, "nn_dist")
        res[split] = {"inside": acc_in, "outside": acc_out, "test_id": m["id_acc"], "test_ood": m["ood_acc"],
                      "by_nn_dist": by_d}
        md.append(f"**{split} split** (test_ood = {'the removed square' if split == 'square' else 'random pairs'}):"
                  f" test examples inside the square {pct(acc_in) if inside else '-'} % (n={len(inside)}), outside "
                  f"{pct(acc_out)} % (n={len(outside)}); test_id {pct(m['id_acc'])} %, test_ood {pct(m['ood_acc'])} %")
        md.append(table(["nn_dist (L-inf to nearest training pair)", "n", "accuracy %"],
                        [[d, n, pct(a)] for d, n, a in by_d]))
        p = max(max(r["a"], r["b"]) for r in rows) + 1
        grid = np.full((p, p), np.nan)  # train cells grey; test cells: 1 correct, 0 wrong
        for r in rows:
            grid[r["a"], r["b"]] = r["correct"]
        cmap = plt.get_cmap("RdYlGn").copy()
        cmap.set_bad("lightgrey")
        ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=1, origin="lower")
        ax.set(title=f"{split}: test green = right, red = wrong", xlabel="b", ylabel="a")
        axes[2].plot([d for d, _, _ in by_d], [a for _, _, a in by_d], "o-", label=split)
    axes[2].set(xlabel="nn_dist", ylabel="accuracy", ylim=(-0.02, 1.02), title="accuracy by novelty")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(out / "leave_square_out.png", dpi=100)
    plt.close(fig)
    return "\n\n".join(md), res


def mult(run: Runner, out: Path) -> tuple[str, dict]:
    m, rundir = run("multiplication", "multiplication_scratch_s0")
    nodes = multiplication_nodes(rundir)
    types = error_type_table(nodes)
    md = [f"Run: test_id {pct(m['id_acc'])} %, test_ood {pct(m['ood_acc'])} % exact match.",
          "Per-node error types (fraction of operation nodes):",
          table(["split", "nodes", *ERROR_TYPES], [[s, t["n"], *(pct(t[e]) for e in ERROR_TYPES)]
                                                   for s, t in types.items()])]
    by_depth = {s: accuracy_by(nodes, "depth", split=s) for s in types}
    by_cov = {s: accuracy_by(nodes, lambda r: log_bin(r["coverage"]), split=s) for s in types}
    by_size = {s: accuracy_by(read_results(rundir), lambda r: str(r["size"]).replace(" ", "x"), split=s)
               for s in types}
    depths = sorted({n["depth"] for n in nodes})
    cell = {(s, d): f"{pct(a)} ({n})" for s, v in by_depth.items() for d, n, a in v}
    md += ["Node accuracy % (fully correct; node count) by node depth:",
           table(["split", *[f"depth {d}" for d in depths]], [[s, *(cell.get((s, d), "-") for d in depths)]
                                                               for s in by_depth]),
           "Node accuracy by subgraph coverage (training scratchpads holding the node's step and all its ancestors'):",
           table(["split", "coverage", "nodes", "accuracy %"], [[s, c, n, pct(a)] for s, v in by_cov.items()
                                                               for c, n, a in v]),
           "Example accuracy by size (digits of a, digits of b):",
           table(["split", "size", "n", "accuracy %"], [[s, z, n, pct(a)] for s, v in by_size.items()
                                                        for z, n, a in v])]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    bottom = np.zeros(len(types))
    for e in ERROR_TYPES:
        vals = np.array([t[e] for t in types.values()])
        axes[0].bar(list(types), vals, bottom=bottom, label=e)
        bottom += vals
    axes[0].set(title="per-node error types", ylabel="fraction of nodes")
    axes[0].legend(fontsize=7)
    for s, v in by_depth.items():
        axes[1].plot([d for d, _, _ in v], [a for _, _, a in v], "o-", label=s)
    axes[1].set(title="node accuracy by depth", xlabel="node depth", ylim=(-0.02, 1.02))
    axes[1].legend()
    bins = sorted({c for v in by_cov.values() for c, _, _ in v}, key=lambda b: int(b.split("-")[0]))
    for s, v in by_cov.items():
        acc = dict((c, a) for c, _, a in v)
        axes[2].plot(range(len(bins)), [acc.get(b, np.nan) for b in bins], "o-", label=s)
    axes[2].set(title="node accuracy by subgraph coverage", xlabel="training scratchpads with the subgraph",
                xticks=range(len(bins)), xticklabels=bins, ylim=(-0.02, 1.02))
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(out / "multiplication_nodes.png", dpi=100)
    plt.close(fig)
    return "\n\n".join(md), {"types": types, "by_depth": by_depth, "by_coverage": by_cov, "by_size": by_size}


def pretrain(run: Runner, out: Path, tasks: list[str], seeds: list[int]) -> tuple[str, dict]:
    rows, res = [], {}
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.4), squeeze=False)
    for task, ax in zip(tasks, axes[0]):
        for k, regime in enumerate(("scratch", "pretrain")):
            ms = [run(task, f"{task}_{regime}_s{s}", regime=regime, seed=s)[0] for s in seeds]
            ids, oods = [m["id_acc"] for m in ms], [m["ood_acc"] for m in ms]
            sd = (lambda v: statistics.stdev(v) if len(v) > 1 else 0.0)
            rows.append([task, regime, len(seeds), f"{pct(np.mean(ids))} ± {pct(sd(ids))}",
                         f"{pct(np.mean(oods))} ± {pct(sd(oods))}", f"{pct(min(oods))}–{pct(max(oods))}",
                         f"{np.mean([m['steps'] for m in ms]):.0f}", f"{np.mean([m['seconds'] for m in ms]):.0f}"])
            res[f"{task}/{regime}"] = {"id": ids, "ood": oods, "steps": [m["steps"] for m in ms]}
            ax.scatter([k - 0.05] * len(ids), ids, marker="o", color=f"C{k}", label=f"{regime} test_id")
            ax.scatter([k + 0.05] * len(oods), oods, marker="x", color=f"C{k}", label=f"{regime} test_ood")
        ax.set(title=task, xticks=[0, 1], xticklabels=["scratch", "pretrain"], ylim=(-0.02, 1.02), ylabel="accuracy")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "pretrain_vs_scratch.png", dpi=100)
    plt.close(fig)
    md = table(["task", "regime", "seeds", "test_id % (mean ± sd)", "test_ood % (mean ± sd)", "test_ood range",
                "steps", "seconds"], rows)
    return md, res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--quick", action="store_true", help="tiny settings: checks the script, not the numbers")
    ap.add_argument("--sections", nargs="*", default=["defaults", "lso", "mult", "pretrain"],
                    choices=["defaults", "lso", "mult", "pretrain"])
    ap.add_argument("--default-seeds", type=int, nargs="*", default=[0])
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2], help="seeds of pretrain vs scratch")
    ap.add_argument("--pretrain-tasks", nargs="*", default=["leave_square_out", "knowledge_graph"],
                    choices=list(TASKS))
    a = ap.parse_args()
    out = Path(a.outdir)
    out.mkdir(parents=True, exist_ok=True)
    run = Runner(out, a.quick)
    parts, res = [], {}
    titles = {"defaults": "Default model per task", "lso": "Leave-square-out", "mult": "Multiplication",
              "pretrain": "Pretraining versus scratch"}
    for sec in a.sections:
        if sec == "defaults":
            md, r = defaults(run, a.default_seeds)
        elif sec == "lso":
            md, r = lso(run, out)
        elif sec == "mult":
            md, r = mult(run, out)
        else:
            md, r = pretrain(run, out, a.pretrain_tasks, a.seeds)
        parts.append(f"## {titles[sec]}\n\n{md}")
        res[sec] = r
        print(parts[-1] + "\n", flush=True)
    (out / "results.md").write_text("\n\n".join(parts) + "\n")
    (out / "results.json").write_text(json.dumps(res, indent=1, default=str))
    print(f"wrote {out / 'results.md'}, figures in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
