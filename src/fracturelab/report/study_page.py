"""The study report: one self-contained HTML file (figures as base64 PNG, no external resources) that renders what
study/verdicts.py decided (summary.json) and the descriptive tables of study/analysis.py.

    build_report("out")   # -> {"report": out/report.html, "summary": out/summary.json, "store": ..., "claims": [...]}

The page is written to a temporary name and renamed into place, so a crash never leaves half a report.
"""
from __future__ import annotations

import base64
import math
import sys
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from ..errors import FracturelabError
from ..io import atomic_file
from ..study import analysis as A
from ..study.measures import CPPN_COMPOSITE, TASK_COMPOSITE
from ..study.verdicts import STORE, StudyResults, load, write_summary
from . import study_figures as F

SECTIONS = ("overview", "claims", "cppn", "tasks", "analyses", "cells")


def _fmt(x):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, float):
        return f"{x:.3g}"
    return str(x)


def _cppn_gallery(res: StudyResults) -> list[dict]:
    by_ref: dict[str, list] = {}
    rows = {r["key"]: r for r in res.rows}
    for c in res.cells:
        p = c["params"]
        if p["kind"] != "cppn" or not res.renders.get(c["key"]):
            continue
        m = rows.get(c["key"], {})
        label = "reference" if p["regime"] == "reference" else f"{p['regime']} seed {p['seed']}"
        by_ref.setdefault(c["notes"].get("reference", p["reference"]), []).append(
            {"label": label, "img": base64.b64encode(res.renders[c["key"]]).decode(),
             "maps": _fmt(m.get("cppn.novel_maps")), "mse": _fmt(m.get("cppn.fit_mse"))})
    return [{"name": k, "nets": v} for k, v in by_ref.items()]


def render_html(res: StudyResults, summary: dict, explorer: str | None = None) -> str:
    spec, rows, s = res.spec, res.rows, res.spec.analysis
    claims = summary["claims"]
    by_id = {c["id"]: c for c in claims}
    comp = {c["id"]: c for c in claims}[2]["breakdown"].get("component", {}) if 2 in by_id else {}
    per_task9 = by_id[9]["breakdown"].get("task", {}) if 9 in by_id else {}
    figs = {
        "fig-cppn": F.cppn_metrics(rows, [m for m, _, _ in CPPN_COMPOSITE] + ["cppn.novel_maps"]),
        "fig-cppn-costs": F.cppn_costs(rows),
        "fig-tasks": F.task_accuracy(rows),
        "fig-corr": F.interval_bars([{"effect": v["effect"] if v["effect"] is not None else math.nan,
                                      "ci": [math.nan, math.nan], "name": k} for k, v in comp.items()],
                                    lambda i: i["name"], "claim 2 by component (partial Spearman with OOD error)",
                                    "r"),
        "fig-variance": F.variance(A.variance(rows, s)),
        "fig-examples": F.accuracy_grid(A.accuracy_grid(rows, res.examples, s)),
        "fig-sparsity": F.sparsity(rows),
        "fig-intervention": F.intervention(per_task9, s.intervention),
        "fig-claims": F.interval_bars(
            [{"effect": c["effect"] if c["effect"] is not None else math.nan, "id": c["id"],
              "ci": [x if x is not None else math.nan for x in c["ci"]], "sesoi": c["sesoi"]} for c in claims],
            lambda i: f"claim {i['id']} (±{i['sesoi']:g})", "effects at the corrected level", "effect"),
    }
    env = Environment(loader=PackageLoader("fracturelab.report", "templates"), autoescape=select_autoescape())
    env.filters["fmt"] = _fmt
    status: dict = {}
    for c in res.cells:
        status[c["status"]] = status.get(c["status"], 0) + 1
    return env.get_template("study.html.j2").render(
        spec=spec, study=res.study, summary=summary, claims=claims, figs=figs, gallery=_cppn_gallery(res),
        task_rows=[r for r in rows if r["kind"] == "task"], cppn_rows=[r for r in rows if r["kind"] == "cppn"],
        status=status, counts=res.counts, sections=SECTIONS, components=[m for m, _, _ in TASK_COMPOSITE],
        composite=TASK_COMPOSITE, cppn_composite=CPPN_COMPOSITE, layers=A.per_layer_sparsity(rows, s),
        grid=A.accuracy_grid(rows, res.examples, s), failed=A.failed(res.cells),
        picbreeder=res.study["options"].get("picbreeder"), seconds=sum(c["seconds"] or 0 for c in res.cells),
        explorer=explorer, claim9=by_id.get(9), per_task9=per_task9)


def build_report(outdir, progress: bool = False, summary: dict | None = None, dest=None) -> dict:
    """Write report.html (and summary.json, decided anew unless `summary` is given) of OUTDIR's store into dest
    (default OUTDIR; another folder for an archived, read-only study: the store is only read)."""
    res = load(Path(outdir))
    out = Path(dest) if dest is not None else Path(outdir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FracturelabError(f"{out}: cannot create ({e.strerror})") from None
    summary = summary or write_summary(out, res)
    from .explorer import study_explorer_link  # the CPPN section links to the live explorer (issue 15)
    html = render_html(res, summary, study_explorer_link(out))
    try:
        with atomic_file(out / "report.html") as tmp:
            tmp.write_text(html)
    except OSError as e:
        raise FracturelabError(f"{out}: cannot write the report ({e.strerror})") from None
    if progress:
        print(f"fracturelab: report of {len(res.cells)} cells written", file=sys.stderr)
    return {"report": out / "report.html", "summary": out / "summary.json", "store": Path(outdir) / STORE,
            "claims": summary["claims"]}
