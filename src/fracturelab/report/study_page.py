"""The study report: one self-contained HTML file (figures as base64 PNG, no external resources) that renders what
study/verdicts.py decided (summary.json) and the descriptive tables of study/analysis.py. Each claim's section (its
figure, and its table where it has one) is drawn by the claim's own module (study/claims/), in the summary's order.

    build_report("out")   # -> {"report": out/report.html, "summary": out/summary.json, "store": ..., "claims": [...]}

The page is written to a temporary name and renamed into place, so a crash never leaves half a report.
"""
from __future__ import annotations

import base64
import sys
from pathlib import Path

from jinja2 import Environment, PackageLoader

from ..errors import FracturelabError
from ..io import atomic_file, output_file
from ..study import analysis as A
from ..study.cell import CppnCell
from ..study.claims import CLAIMS, UNIT_BREAKDOWNS
from ..study.claims.drawing import fmt
from ..study.measures import CPPN_COMPOSITE, TASK_COMPOSITE
from ..study.names import FIT_MSE, NOVEL_MAPS
from ..study.results import StudyResults, load_study
from ..study.store import STORE
from ..study.verdicts import SUMMARY, write_summary
from . import study_figures as F

SECTIONS = ("overview", "claims", "cppn", "tasks", "analyses", "cells")


def _cppn_gallery(res: StudyResults) -> list[dict]:
    """Per reference: each done CPPN cell's render with its label, novel-map count and render MSE."""
    by_ref: dict[str, list] = {}
    rows = {r["key"]: r for r in res.rows}
    for c in res.cells:
        p = c.params
        if c.kind != CppnCell.kind or not res.renders.get(c.key):
            continue
        m = rows.get(c.key, {})
        label = "reference" if p["regime"] == "reference" else f"{p['regime']} seed {p['seed']}"
        by_ref.setdefault(c.notes.get("reference", p["reference"]), []).append(
            {"label": label, "img": base64.b64encode(res.renders[c.key]).decode(),
             "maps": fmt(m.get(NOVEL_MAPS)), "mse": fmt(m.get(FIT_MSE))})
    return [{"name": k, "nets": v} for k, v in by_ref.items()]


def claim_views(res: StudyResults, claims: list[dict]) -> list[dict]:
    """Per claim of the summary that the registry knows, in the summary's order: its section of the report (id,
    title, its table or None, its figure's id, caption and base64 PNG), each drawn by the claim's own module."""
    out = []
    for entry in claims:
        c = CLAIMS.get(entry["id"])
        if c is not None:
            out.append({"id": c.id, "title": c.title, "table": c.table(res, entry) if c.table else None,
                        "figure": c.figure, "caption": c.caption, "img": c.draw(res, entry)})
    return out


def mixed_note(provenance: dict) -> str | None:
    """One line saying that a study's done cells were computed by more than one source identity, with the cells of
    each (summary.json's provenance; None when they were not)."""
    if not provenance.get("mixed"):
        return None
    each = ", ".join(f"{n} by {s}" for s, n in provenance["sources"].items())
    return f"this study mixes code versions: its done cells were computed by different fracturelab code ({each})"


def render_html(res: StudyResults, summary: dict, explorer: str | None = None) -> str:
    """The report page of `res` and its decided `summary` (summary.json); `explorer`: the live explorer's path
    relative to the page, or None."""
    spec, rows = res.spec, res.rows
    claims = summary["claims"]
    figs = {"fig-cppn-costs": F.cppn_costs(rows), "fig-tasks": F.task_accuracy(rows),
            "fig-claims": F.claim_effects(claims)}
    # every template escapes every value (select_autoescape() went by the name, and ".html.j2" is not ".html"): names,
    # notes, file names and error messages come from users, files and stores; base64 figures hold no HTML to escape
    env = Environment(loader=PackageLoader("fracturelab.report", "templates"), autoescape=True)
    env.filters["fmt"] = fmt
    status: dict = {}
    for c in res.cells:
        status[c.status] = status.get(c.status, 0) + 1
    return env.get_template("study.html.j2").render(
        spec=spec, study=res.study, summary=summary, claims=claims, figs=figs, gallery=_cppn_gallery(res),
        views=claim_views(res, claims), task_rows=[r for r in rows if r["kind"] == "task"],
        cppn_rows=[r for r in rows if r["kind"] == "cppn"], status=status, counts=res.counts, sections=SECTIONS,
        components=[m for m, _, _ in TASK_COMPOSITE], composite=TASK_COMPOSITE, cppn_composite=CPPN_COMPOSITE,
        failed=A.failed(res.cells), picbreeder=res.study["options"].get("picbreeder"),
        seconds=sum(c.seconds or 0 for c in res.cells), explorer=explorer, unit_breakdowns=UNIT_BREAKDOWNS,
        provenance=summary.get("provenance", {}), mixed=mixed_note(summary.get("provenance", {})))


def build_report(outdir, progress: bool = False, summary: dict | None = None, dest=None) -> dict:
    """Write report.html (and summary.json, decided anew unless `summary` is given) of OUTDIR's store into dest
    (default OUTDIR; another folder for an archived, read-only study: the store is only read)."""
    res = load_study(outdir)  # the store is read here, once: nothing below opens it
    out = Path(dest) if dest is not None else Path(outdir)
    from .explorer import STUDY_EXPLORER

    for name in ("report.html", SUMMARY, STUDY_EXPLORER):  # all refused before any is written: none half-done
        output_file(out / name)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FracturelabError(f"{out}: cannot create ({e.strerror})") from None
    summary = summary or write_summary(out, res)
    from .explorer import study_explorer_link  # the CPPN section links to the live explorer (issue 15)
    explorer = study_explorer_link(res, out)  # beside the report that links to it, wherever that is
    html = render_html(res, summary, explorer)
    if mixed := mixed_note(summary.get("provenance", {})):  # said even when quiet: it qualifies every verdict
        print(f"fracturelab: warning: {out / 'report.html'}: {mixed}", file=sys.stderr)
    try:
        with atomic_file(out / "report.html") as tmp:
            tmp.write_text(html)
    except OSError as e:
        raise FracturelabError(f"{out}: cannot write the report ({e.strerror})") from None
    if progress:
        print(f"fracturelab: report of {len(res.cells)} cells written", file=sys.stderr)
    return {"report": out / "report.html", "summary": out / SUMMARY, "store": Path(outdir) / STORE,
            "explorer": out / explorer if explorer else None, "claims": summary["claims"]}
