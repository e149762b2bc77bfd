"""Position encodings against the control for untrained positions: test_id and test_ood of the transformer on
knowledge_graph (depth), multiplication (larger) and SCAN (length), for every encoding (fracturelab.models.transformer
POSITIONS), with and without pos_shift (training positions shifted by a random offset per row, so every position a
test example reaches is trained), over seeds. Prints a markdown table and writes OUTDIR/results.json, one line per
run appended as it finishes (rerunning skips the runs already there).

    python examples/positions_table.py OUTDIR                  # docs/testbed.md's table (reduced budgets, see BUDGETS)
    python examples/positions_table.py OUTDIR --quick          # a few steps per run: checks the script
    python examples/positions_table.py OUTDIR --tasks knowledge_graph --seeds 0
    python examples/positions_table.py OUTDIR --table          # only the table of the runs done so far
    python examples/positions_table.py OUT2 --tasks scan --max-steps 2000   # a larger budget, in its own folder

Several processes may share OUTDIR if they run different tasks or seeds (each appends whole lines).

pos_shift only moves absolute positions (learned, sinusoidal); RoPE, ALiBi and NoPE see relative positions only, so
their runs with it are the runs without it (the offsets are never drawn), and the script runs them once.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from fracturelab.models.transformer import ABSOLUTE, POSITIONS  # noqa: E402
from fracturelab.train import train_run  # noqa: E402

SPLITS = {"knowledge_graph": "depth", "multiplication": "larger", "scan": "length"}
BUDGETS = {  # reduced from the recipes (fracturelab.tasks.TASKS[task].recipe) so the whole table fits in well under an hour of CPU
    "knowledge_graph": {"task_options": {"novelty": False}, "max_steps": 1500},  # recipe: 4000 steps
    # recipe: train up to 3x1, test 2x2, 3 layers, 3000 steps (500 steps of it left test_id at 1 %); here the same
    # split one size down: train 1x1 and 2x1, test 3x1 (one more digit of a, the same row procedure)
    "multiplication": {"task_options": {"train_sizes": ((1, 1), (2, 1)), "ood_sizes": ((3, 1),),
                                        "n_ood_per_size": 300, "novelty": False},
                       "n_layer": 2, "max_steps": 800, "lr": 3e-3},
    "scan": {"task_options": {"novelty": False}, "n_layer": 2, "max_steps": 600},  # recipe: 3 layers, 5000 steps
}
QUICK = {"max_steps": 30, "eval_every": 10}


def run_one(task: str, pos: str, shift: bool, seed: int, quick: bool, max_steps: int | None = None) -> dict:
    kw = dict(BUDGETS[task])
    if max_steps:
        kw["max_steps"] = max_steps
    if quick:
        kw |= QUICK
    t0 = time.process_time()
    m = train_run(task, SPLITS[task], "transformer", "scratch", seed, None, pos=pos, pos_shift=shift,
                  score_train=1000, **kw)
    return {"task": task, "pos": pos, "shift": shift, "seed": seed, "id_acc": m["id_acc"], "ood_acc": m["ood_acc"],
            **{k: m[k] for k in m if k.endswith("_acc") and k not in ("id_acc", "ood_acc")},
            "steps": m["steps"], "cpu_seconds": round(time.process_time() - t0, 1)}


def table(rows: list[dict]) -> str:
    out = ["| task (split) | pos | control | test_id % (seeds) | test_ood % (seeds) | extra set % | CPU s per run |",
           "|---|---|---|---|---|---|---|"]
    for task in SPLITS:
        for pos in POSITIONS:
            for shift in (False, True):
                rs = sorted((r for r in rows if (r["task"], r["pos"], r["shift"]) == (task, pos, shift)),
                            key=lambda r: r["seed"])
                if not rs:
                    continue
                ids = " / ".join(f"{100 * r['id_acc']:.1f}" for r in rs)
                ood = " / ".join(f"{100 * r['ood_acc']:.1f}" for r in rs)
                extra = sorted(k for k in rs[0] if k.endswith("_acc") and k not in ("id_acc", "ood_acc", "train_acc",
                                                                                      "val_acc"))
                extra = "; ".join(f"{k[:-4]} " + " / ".join(f"{100 * r[k]:.1f}" for r in rs) for k in extra)
                cpu = f"{min(r['cpu_seconds'] for r in rs):.0f}–{max(r['cpu_seconds'] for r in rs):.0f}"
                out.append(f"| {task} ({SPLITS[task]}) | {pos} | {'pos_shift' if shift else '—'} | {ids} | {ood} "
                           f"| {extra} | {cpu} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--tasks", nargs="+", default=list(SPLITS), choices=list(SPLITS))
    ap.add_argument("--pos", nargs="+", default=list(POSITIONS), choices=list(POSITIONS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--quick", action="store_true", help="a few steps per run (checks the script, not the claims)")
    ap.add_argument("--max-steps", type=int, default=None, help="every run's step budget instead of BUDGETS' "
                    "(use another OUTDIR: runs already there are skipped whatever their budget)")
    ap.add_argument("--table", action="store_true", help="train nothing: print the table of the runs already done")
    a = ap.parse_args(argv)
    a.outdir.mkdir(parents=True, exist_ok=True)
    log = a.outdir / "results.json"
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
    done = {(r["task"], r["pos"], r["shift"], r["seed"]) for r in rows}
    # seeds innermost-last: every (task, pos, control) gets seed 0 before any gets seed 1, so a cut-short table is
    # still a whole table over fewer seeds
    for seed in [] if a.table else a.seeds:
        for task in a.tasks:
            for pos in a.pos:
                for shift in ((False, True) if pos in ABSOLUTE else (False,)):
                    if (task, pos, shift, seed) in done:
                        continue
                    r = run_one(task, pos, shift, seed, a.quick, a.max_steps)
                    print(json.dumps(r), file=sys.stderr, flush=True)
                    with log.open("a") as f:
                        f.write(json.dumps(r) + "\n")
                    rows.append(r)
    print(table(rows))
    if rows:
        print(f"\n{len(rows)} runs, {sum(r['cpu_seconds'] for r in rows) / 60:.1f} CPU minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
