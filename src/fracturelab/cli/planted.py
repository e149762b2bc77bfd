"""CLI command of planted structure: fracturelab planted -o DIR [--quick] [--tasks T,...] [--workers N] [--force]."""
from __future__ import annotations

import sys
from pathlib import Path

from .args import add_force, declared, int_at_least


def _cmd_planted(a):
    from ..planted import PlantedSettings, run_planted

    s = PlantedSettings(workers=a.workers, quick=a.quick)
    if a.tasks is not None:
        s.tasks = tuple(t.strip() for t in a.tasks.split(",") if t.strip())
    result = run_planted(a.out, s, force=a.force)
    print((Path(a.out) / "planted.md").read_text(), end="")  # the table as written, to paste as it is
    print(f"wrote {a.out}/planted.json, planted.png and planted.md")
    if result["composite_warning"]:
        print(f"fracturelab: warning: {result['composite_warning']}", file=sys.stderr)


def register(sub) -> None:
    tasks = declared("planted.nets", "PLANTED_TASKS")
    p = sub.add_parser("planted", help="score the fracture metrics on task networks with planted structure: "
                       "modular vs entangled nets computing the same function (writes DIR/planted.json)")
    p.add_argument("-o", "--out", required=True, help="output folder (new or empty)")
    p.add_argument("--tasks", default=None, help=f"comma-separated tasks (default and choices: {', '.join(tasks)})")
    p.add_argument("--workers", type=int_at_least(1), default=2, help="processes (default 2)")
    p.add_argument("--quick", action="store_true", help="one tiny pair per task with the probes' tiny settings "
                   "(tests, smoke runs)")
    add_force(p)
    p.set_defaults(fn=_cmd_planted)
