"""CLI commands of the study: run."""
from __future__ import annotations


def _cmd_run(a):
    from ..study.preview import MISSING, run_preview

    out = run_preview(a.out, a.picbreeder, steps=a.steps)
    print(f"wrote {out / 'index.html'}")
    print("The full study is not built yet; missing:\n  " + "\n  ".join(MISSING))
    print("Fracture measurements on CPPNs exist: fracturelab fer REFERENCE -o OUTDIR; fracturelab labels DIR -o OUTDIR")


def register(sub) -> None:
    s = sub.add_parser("run", help="the main job (for now: what exists, and what is missing)")
    s.add_argument("-o", "--out", default="fracturelab-out")
    s.add_argument("--picbreeder", default=None, help="folder with Picbreeder data (cppnx/*.xml)")
    s.add_argument("--steps", type=int, default=2000, help="SGD steps of the preview replica")
    s.set_defaults(fn=_cmd_run)
