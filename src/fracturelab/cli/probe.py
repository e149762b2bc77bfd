"""CLI command of the probes: fracturelab probe RUNDIR [--probes NAME,...] [--seed S]."""
from __future__ import annotations

import math

from .args import seed


def _cmd_probe(a):
    from ..probes import probe_run

    results = probe_run(a.rundir, a.probes.split(",") if a.probes is not None else None, a.seed)
    for probe, metrics in results.items():
        if "skipped" in metrics:
            print(f"{probe}: skipped ({metrics['skipped']})")
            continue
        main = {k: v for k, v in metrics.items() if "." not in k}
        print(f"{probe}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) and math.isfinite(v) else f"{k} {v}"
                                       for k, v in main.items()))
    print(f"wrote {a.rundir}/probes.json and {a.rundir}/probes/")


def register(sub) -> None:
    p = sub.add_parser("probe", help="measure fracture with the probes on a trained run folder: writes "
                       "RUNDIR/probes.json and figures")
    p.add_argument("rundir", help="a run folder written by `fracturelab train`")
    p.add_argument("--probes", default=None, help="comma-separated probe names (default: all)")
    p.add_argument("--seed", type=seed, default=0)
    p.set_defaults(fn=_cmd_probe)
