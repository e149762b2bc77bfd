"""The verdict rule's error rates on synthetic studies shaped like real ones (tests/synthetic_study.py): the rate of
supported/contradicted verdicts with no effect, and the power (rate of "supported") with an effect planted at 1x and
3x each claim's smallest effect of interest, at several numbers of seeds per configuration (the quick profile has 3;
four configurations x two regimes x seeds runs per claim).

    python examples/claims_power.py --reps 200 --seeds 3 5 10      # prints a markdown table (a few minutes)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fracturelab.study.claims import CLAIMS  # noqa: E402
from fracturelab.study.spec import AnalysisSettings  # noqa: E402
from fracturelab.study.stats import verdict  # noqa: E402
from synthetic_study import synthetic  # noqa: E402


def rates(seeds: int, scale: float, reps: int) -> dict:
    """{claim: (rate of supported, rate of supported or contradicted, mean effect, units)} at planted SESOI x scale,
    each claim judged alone at alpha = 0.05 (Holm across 8 claims makes each stricter: see docs/study.md)."""
    s = AnalysisSettings()
    out = {i: [] for i in CLAIMS}
    for rep in range(reps):
        effect = {i: c.sesoi * scale for i, c in CLAIMS.items()}
        rows, ex = synthetic(seeds=seeds, effect=effect, rng=10_000 * seeds + rep)
        for i, c in CLAIMS.items():
            e = c.fn(rows, ex, s)
            v, _ = verdict(e, e.p(), 0.05, 0.95, c.sesoi)
            out[i].append((v == "supported", v in ("supported", "contradicted"), e.effect, e.n))
    return {i: tuple(np.nanmean([x[k] for x in v]) for k in range(4)) for i, v in out.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--seeds", type=int, nargs="+", default=[3, 5, 10])
    a = ap.parse_args()
    print("| claim | SESOI | seeds | units | false verdicts, no effect | power at 1x SESOI | power at 3x SESOI |")
    print("|---|---|---|---|---|---|---|")
    for seeds in a.seeds:
        null, one, three = (rates(seeds, k, a.reps) for k in (0.0, 1.0, 3.0))
        for i, c in CLAIMS.items():
            print(f"| {i} | {c.sesoi:g} | {seeds} | {one[i][3]:.0f} | {null[i][1]:.3f} | {one[i][0]:.2f} | "
                  f"{three[i][0]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
