"""Time the command line's start: the least CPU seconds (user + sys of the child process) of `fracturelab --help` and
of every command's `--help` over 5 runs each, with the date, load average and thread settings.

    python benchmarks/bench_cli.py [--runs 5]

The budget is 0.5 s of CPU per `--help` (the least of the runs: the noise of a busy machine only adds); the exit code
is 1 when any command exceeds it. CPU, not wall time: other work on a shared machine stretches wall time, not CPU.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

from fracturelab.cli import command_paths

BUDGET_S = 0.5
"""Most CPU seconds (user + sys) one `--help` may cost."""


def cpu_seconds(argv: list[str]) -> float:
    """CPU seconds (user + sys) of one child process running argv to its end (its exit code must be 0)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per command; the least CPU time counts")
    a = ap.parse_args()
    threads = {k: os.environ.get(k, "unset") for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, load average {os.getloadavg()[0]:.2f}, "
          f"os.cpu_count() {os.cpu_count()}, " + ", ".join(f"{k}={v}" for k, v in threads.items())
          + f", Python {sys.version.split()[0]}", flush=True)
    over = []
    for path in command_paths():
        name = " ".join(("fracturelab", *path, "--help"))
        best = min(cpu_seconds([sys.executable, "-m", "fracturelab", *path, "--help"]) for _ in range(a.runs))
        print(f"{name:<38} {best:.3f} s CPU (least of {a.runs})", flush=True)
        if best > BUDGET_S:
            over.append(name)
    print(f"load average at the end {os.getloadavg()[0]:.2f}; budget {BUDGET_S} s: "
          + (f"exceeded by {', '.join(over)}" if over else "all within"))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
