"""The pilot behind the standard profile's bimt strengths: for each task, one seed outside the profile's (100) trained
by scratch and by bimt at several strengths, with the fracture composite's probes; prints a markdown table. The
profile takes, per task, the largest strength whose test_id accuracy stays within analysis.match_id_acc (0.05) of
scratch's, so that claim 9's seed pairs can match.

    python examples/bimt_pilot.py                   # docs/study.md's table (about 8 CPU-minutes)
    python examples/bimt_pilot.py --seed 101 --tasks factors
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

from fracturelab.study.cell import TaskCell, run_cell  # noqa: E402
from fracturelab.study.measures import TASK_COMPOSITE  # noqa: E402
from fracturelab.study.spec import profile  # noqa: E402

PILOT = {  # task: (model, max_steps, strengths tried): the standard profile's budgets
    "factors": ("mlp", 800, (1e-4, 3e-4, 1e-3)),
    "leave_square_out": ("mlp", 2000, (1e-6, 1e-5, 1e-4)),
}
PROBES = tuple(dict.fromkeys(name.split(".")[0] for name, _, _ in TASK_COMPOSITE))  # the fracture composite's probes
PROBE_OPTIONS = profile("standard").probe_options  # measured as the profile measures them
SHOW = ("train.id_acc", "train.ood_acc", "factorization.dci_c", "crosstalk.spread", "clusterability.ncut_rel",
        "geometry.eff_rank_ratio")


def run(task: str, seed: int, strength: float | None) -> dict:
    model, steps, _ = PILOT[task]
    opts = {"max_steps": steps} | ({"intervention": f"strength={strength:g},locality=1.0"} if strength else {})
    cell = TaskCell(task, None, model, "bimt" if strength else "scratch", "base", seed, {}, opts, PROBES, (), 1,
                    probe_options=PROBE_OPTIONS)
    return run_cell(cell)["metrics"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--tasks", nargs="+", default=list(PILOT), choices=list(PILOT))
    a = ap.parse_args(argv)
    print("| task | regime | test_id | test_ood | " + " | ".join(SHOW[2:]) + " |")
    print("|---|---|" + "---|" * len(SHOW))
    for task in a.tasks:
        for strength in (None, *PILOT[task][2]):
            m = run(task, a.seed, strength)
            cells = " | ".join(f"{m[k]:.3g}" if k in m else "–" for k in SHOW)
            print(f"| {task} | {'bimt ' + format(strength, 'g') if strength else 'scratch'} | {cells} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
