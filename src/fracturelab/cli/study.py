"""CLI commands of the study: run (the default study), study (any spec), report (rebuild from the store)."""
from __future__ import annotations

from ..errors import FracturelabError
from .args import declared, int_at_least


def _finish(res: dict) -> None:
    print(f"{res['cells']} cells ({res['ran']} run now, {res['failed']} failed)")
    if "report" in res:
        print(f"wrote {res['report']}, {res['summary']} and {res['store']}")
        for c in res.get("claims", []):
            print(f"  claim {c['id']}: {c['verdict']:<13} {c['claim']}")


def _exec(a):
    from ..study.executors import ExecSettings

    if a.workers is not None and a.workers < 1:
        raise FracturelabError(f"--workers must be at least 1, got {a.workers}")
    if a.address and a.executor != "ray":
        raise FracturelabError("--address is for --executor ray")
    return ExecSettings(a.executor, a.workers or 0, a.address)


def _picbreeder(a):
    """--picbreeder DIR / --no-picbreeder -> run_study's picbreeder (None = the shipped networks)."""
    if a.no_picbreeder and a.picbreeder:
        raise FracturelabError("--picbreeder and --no-picbreeder exclude each other")
    return False if a.no_picbreeder else a.picbreeder


def _run(spec, a):
    import os
    from pathlib import Path

    from ..report.study_page import build_report
    from ..study.runner import run_study
    from ..study.store import STORE

    store = Path(a.out) / STORE
    if store.is_symlink() and not store.exists():  # else taken for a new store: made beside, then failing there
        raise FracturelabError(f"{store}: a link to {os.readlink(store)}, which does not exist; refused")
    res = run_study(spec, a.out, _exec(a), _picbreeder(a), progress=not a.quiet, force=a.force,
                    allow_mixed_versions=a.allow_mixed_versions)
    res |= build_report(a.out, progress=not a.quiet, summary=res["summary_data"])
    _finish(res)


def _cmd_run(a):
    from ..study.spec import profile

    _run(profile(a.profile), a)


def _cmd_study(a):
    from ..study.spec import load_spec

    _run(load_spec(a.spec), a)


def _cmd_report(a):
    from ..report.study_page import build_report

    if a.out is not None and not a.out.strip():  # '' is no folder: Path('') would write into the current one
        raise FracturelabError("-o is empty: name the folder for report.html or leave -o out")
    res = build_report(a.outdir, progress=not a.quiet, dest=a.out)
    wrote = [str(res[k]) for k in ("report", "summary", "explorer") if res[k] is not None]
    print(f"wrote {', '.join(wrote[:-1])} and {wrote[-1]}")


def _common(s, out_default=None):
    if out_default is None:
        s.add_argument("-o", "--out", required=True, help="output folder (results.sqlite, report.html, summary.json)")
    else:
        s.add_argument("-o", "--out", default=out_default, help=f"output folder (default {out_default})")
    s.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local process pool (default) or a Ray cluster")
    s.add_argument("--address", default=None, help="Ray cluster to join (default: start a local one)")
    s.add_argument("--workers", type=int_at_least(1), default=None, help="worker processes (default: one per core)")
    s.add_argument("--picbreeder", default=None, metavar="DIR",
                   help="read the CPPN part's Picbreeder networks from this data folder (default: the shipped copy)")
    s.add_argument("--no-picbreeder", action="store_true",
                   help="leave the Picbreeder networks out of the CPPN part (built-in CPPNs only)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    s.add_argument("--force", action="store_true",
                   help="write into a non-empty folder that holds no results store (refused otherwise)")
    s.add_argument("--allow-mixed-versions", action="store_true",
                   help="resume a study whose done cells other fracturelab code computed (refused otherwise); "
                        "summary.json and the report flag the mix")


def register(sub) -> None:
    s = sub.add_parser("run", help="the main job, start here: run the default study and write its report (resumable)")
    _common(s, "fracturelab-out")
    s.add_argument("--profile", choices=declared("study.spec", "PROFILES"), default="quick",
                   help="quick (a smoke run: 2 cores, <= 10 minutes), standard (the power to decide: 2 cores, "
                        "<= 60 minutes) or full (a cluster)")
    s.set_defaults(fn=_cmd_run)

    s = sub.add_parser("study", help="run a study spec of your own (TOML) into -o OUT and write its report (resumable)")
    s.add_argument("spec", help="study spec, TOML (see fracturelab/study/profiles/quick.toml)")
    _common(s)
    s.set_defaults(fn=_cmd_study)

    s = sub.add_parser("report", help="rebuild report.html and summary.json of OUTDIR from its results.sqlite")
    s.add_argument("outdir")
    s.add_argument("-o", "--out", default=None,
                   help="write report.html and summary.json here (default OUTDIR; the store is only read)")
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(fn=_cmd_report)
