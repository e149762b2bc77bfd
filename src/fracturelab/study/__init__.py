"""Studies: many trained networks across tasks, models, regimes, scales and seeds, related by statistics.

    from fracturelab.study import profile, load_spec, run_study, ExecSettings
    run_study(profile("quick"), "out", ExecSettings("local", workers=2))   # out/results.sqlite, report.html, summary.json

spec (TOML -> dataclasses; profiles quick/full in profiles/), cell (one cell: a pure function of its params), store
(SQLite, WAL, one transaction per cell: resumable), executors (local process pool, Ray), runner (the whole run),
analysis and claims (statistics and verdicts), cppn_part (reference CPPNs and their SGD replicas). The report is
fracturelab.report.study_page.
"""
from .executors import ExecSettings
from .runner import run_study
from .spec import StudySpec, load_spec, parse_spec, profile

__all__ = ["ExecSettings", "StudySpec", "load_spec", "parse_spec", "profile", "run_study"]
