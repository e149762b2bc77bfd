"""From a study's results to its verdicts: summary.json, the scientific result of a study. The report only renders it.

    summary = write_summary("out", load_study("out"))   # -> out/summary.json; summary["claims"][i] has the fields below
    claims = decide(rows, examples_by_cell, spec.analysis)   # the same from plain rows (tests, calibration)

Per claim: id, claim (as measured), source, verdict, reason, effect, ci (at the corrected level), se and df (of its
t reference), p, p_holm, n and unit (independent units: clusters of runs that share a seed's data), runs (training
runs or networks behind the estimate), sesoi (smallest effect of interest), level (the corrected interval level), alpha,
power (of this claim's test at its level, its n and its standard error, against an effect equal to the SESOI),
breakdown (per task, architecture or reference), control, caveats, measure, control_text, why, reworded, figure.

Beside the claims, `provenance` (provenance_summary): what produced the study, and whether its cells mix code.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from ..errors import FracturelabError
from ..io import atomic_file
from .claims import CLAIMS
from .records import STATUSES
from .results import StudyResults, sources
from .stats import holm, power, verdict

SUMMARY = "summary.json"


def decide(rows: list[dict], examples: dict, s, ids=None) -> list[dict]:
    """Every claim's estimate, Holm's correction across the claims that have one, and the verdicts."""
    ids = sorted(CLAIMS) if ids is None else ids
    ests = {i: CLAIMS[i].fn(rows, examples, s) for i in ids}
    p = {i: e.p() for i, e in ests.items()}
    adj = holm(p)
    m = max(1, len(adj))
    order = sorted(adj, key=lambda i: p[i])
    out = []
    for i in ids:
        c, e = CLAIMS[i], ests[i]
        sesoi = float(s.sesoi.get(str(i), c.sesoi))
        # the interval at the level Holm used for this claim's rank: alpha / (m - rank)
        level = 1 - s.alpha / (m - order.index(i)) if i in adj else 1 - s.alpha / m
        v, reason = verdict(e, adj.get(i, math.nan), s.alpha, level, sesoi)
        out.append({"id": i, "claim": c.text, "source": c.source, "verdict": v, "reason": reason,
                    "effect": _num(e.effect), "ci": [_num(x) for x in e.ci(level)], "se": _num(e.se), "df": _num(e.df),
                    "p": _num(p[i]),
                    "p_holm": _num(adj.get(i, math.nan)), "n": e.n, "unit": e.unit, "runs": e.runs, "sesoi": sesoi,
                    "level": round(level, 6), "alpha": s.alpha, "power": _num(_power(e, sesoi, level)),
                    "breakdown": _clean(e.breakdown),
                    "control": _clean(e.control), "caveats": list(e.caveats), "measure": c.measure,
                    "control_text": c.control, "why": c.why, "reworded": c.reworded, "figure": c.figure})
    return out


def _power(e, sesoi: float, level: float) -> float:
    """Power at the SESOI: the chance the claim's t test at its Holm level rejects when the true effect is the
    SESOI, with the standard error the data gave (a design's sensitivity, not the observed effect's power)."""
    if e.missing or not (e.df > 0 and math.isfinite(e.se) and e.se > 0):
        return math.nan
    return power(sesoi, e.se, e.df, 1 - level)


def provenance_summary(res: StudyResults) -> dict:
    """summary.json's `provenance`: `study`, the study's provenance as recorded when it started (provenance.collect:
    fracturelab version, source identity, library versions, Python, platform, CPU, threads, executor, workers; the
    string "unknown" for a store written before it was recorded); `sources`, {source identity: done cells it
    computed}; `mixed`, whether the done cells come from more than one source identity (a study resumed with
    --allow-mixed-versions)."""
    by_source = sources(res.cells)
    return {"study": res.provenance, "sources": by_source, "mixed": len(by_source) > 1}


def summarize(res: StudyResults) -> dict:
    spec = res.spec
    claims = decide(res.rows, res.examples, spec.analysis)
    return {"study": spec.name, "created": res.study["created"], "profile_note": spec.note,
            "cells": {"total": len(res.cells), **{s: sum(c.status == s for c in res.cells) for s in STATUSES}},
            "alpha": spec.analysis.alpha, "correction": "Holm across the claims with an estimate",
            "provenance": provenance_summary(res), "claims": claims}


def summary_text(summary: dict) -> str:
    """summary.json's text (one format wherever it is written: here and with the report's other files)."""
    return json.dumps(summary, indent=1)


def write_summary(outdir, res: StudyResults) -> dict:
    """Write the summary of `res` (results.load_study) to OUTDIR/summary.json atomically; returns the summary."""
    summary = summarize(res)
    try:
        with atomic_file(Path(outdir) / SUMMARY) as tmp:
            tmp.write_text(summary_text(summary))
    except OSError as e:
        raise FracturelabError(f"{outdir}: cannot write {SUMMARY} ({e.strerror})") from None
    return summary


def _num(x):
    return None if x is None or not isinstance(x, (int, float)) or not math.isfinite(x) else round(float(x), 6)


def _clean(d):
    if isinstance(d, dict):
        return {str(k): _clean(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return [_clean(v) for v in d]
    if isinstance(d, float):
        return _num(d)
    return d
