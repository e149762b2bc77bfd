"""The study report: one self-contained HTML file (figures as base64 PNG, no external resources) that renders what
study/verdicts.py decided (summary.json) and the descriptive tables of study/analysis.py. Each claim's section (its
figure, and its table where it has one) is drawn by the claim's own module (study/claims/), in the summary's order.

    build_report("out")   # -> {"report": out/report.html, "summary": out/summary.json, "store": ..., "claims": [...]}

Every file (report.html, summary.json, explorer.html) is built in memory first, then each is written to a temporary
name and all are renamed into place: a failure on the way leaves no file, and no folder, that was not there before.
"""
from __future__ import annotations

import base64
import shutil
import sys
from contextlib import ExitStack
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
from ..study.verdicts import SUMMARY, summarize, summary_text
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


def claim_views(res: StudyResults, claims: list[dict], fig_res: StudyResults, fig_claims: list[dict]) -> list[dict]:
    """Per claim of the summary that the registry knows, in the summary's order: its section of the report (id,
    title, its table or None, its figure's id, caption and base64 PNG), each drawn by the claim's own module; tables
    read `res` and `claims`, figures their drawable views (study_figures.drawable)."""
    out = []
    for entry, fig_entry in zip(claims, fig_claims):
        c = CLAIMS.get(entry["id"])
        if c is not None:
            out.append({"id": c.id, "title": c.title, "table": c.table(res, entry) if c.table else None,
                        "figure": c.figure, "caption": c.caption, "img": c.draw(fig_res, fig_entry)})
    return out


def mixed_note(provenance: dict) -> str | None:
    """One line saying that a study's done cells were computed by more than one source identity, with the cells of
    each (summary.json's provenance; None when they were not)."""
    if not provenance.get("mixed"):
        return None
    each = ", ".join(f"{n} by {s}" for s, n in provenance["sources"].items())
    return f"this study mixes code versions: its done cells were computed by different fracturelab code ({each})"


def _undrawn_note(n: int) -> str | None:
    """One line saying that `n` values are too large for the figures (study_figures.drawable); None when none is."""
    if not n:
        return None
    return (f"{n} value(s) beyond ±{F.PLOT_MAX:g} (metrics, or estimates derived from them) are left out of the "
            "figures, whose axes cannot hold them; the tables show them")


def render_html(res: StudyResults, summary: dict, explorer: str | None = None) -> str:
    """The page of `res` and its decided `summary` (summary.json); `explorer`: the live explorer's path relative to
    the page, or None. Figures draw from study_figures.drawable's view, the tables from `res` and `summary`."""
    spec, rows = res.spec, res.rows
    claims = summary["claims"]
    fig_res, fig_claims, undrawn = F.drawable(res, claims)
    figs = {"fig-cppn-costs": F.cppn_costs(fig_res.rows), "fig-tasks": F.task_accuracy(fig_res.rows),
            "fig-claims": F.claim_effects(fig_claims)}
    # every template escapes every value (select_autoescape() went by the name, and ".html.j2" is not ".html"): names,
    # notes, file names and error messages come from users, files and stores; base64 figures hold no HTML to escape
    env = Environment(loader=PackageLoader("fracturelab.report", "templates"), autoescape=True)
    env.filters["fmt"] = fmt
    status: dict = {}
    for c in res.cells:
        status[c.status] = status.get(c.status, 0) + 1
    return env.get_template("study.html.j2").render(
        spec=spec, study=res.study, summary=summary, claims=claims, figs=figs, gallery=_cppn_gallery(res),
        views=claim_views(res, claims, fig_res, fig_claims), task_rows=[r for r in rows if r["kind"] == "task"],
        cppn_rows=[r for r in rows if r["kind"] == "cppn"], status=status, counts=res.counts, sections=SECTIONS,
        components=[m for m, _, _ in TASK_COMPOSITE], composite=TASK_COMPOSITE, cppn_composite=CPPN_COMPOSITE,
        failed=A.failed(res.cells), picbreeder=res.study["options"].get("picbreeder"),
        seconds=sum(c.seconds or 0 for c in res.cells), explorer=explorer, unit_breakdowns=UNIT_BREAKDOWNS,
        provenance=summary.get("provenance", {}), mixed=mixed_note(summary.get("provenance", {})),
        undrawn=_undrawn_note(undrawn))


def _write_all(out: Path, files: dict[str, str]) -> None:
    """Write every {name: text} into OUT: each to a temporary name first, then all renamed into place (io.atomic_file);
    on a failure every temporary file is removed, and so is OUT (with the folders above it) if this call created it."""
    created = next((p for p in reversed([out, *out.parents]) if not p.exists()), None)  # the topmost one made here
    try:
        out.mkdir(parents=True, exist_ok=True)
        with ExitStack() as stack:
            tmps = {name: stack.enter_context(atomic_file(out / name)) for name in files}
            for name, text in files.items():
                tmps[name].write_text(text, encoding="utf-8")
    except BaseException as e:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        if isinstance(e, OSError):
            raise FracturelabError(f"{out}: cannot write the report ({e.strerror}); nothing was written") from None
        raise


def build_report(outdir, progress: bool = False, summary: dict | None = None, dest=None) -> dict:
    """Write report.html (and summary.json, decided anew unless `summary` is given) of OUTDIR's store into dest
    (default OUTDIR; another folder for an archived, read-only study: the store is only read). Every file is built
    before any is written, and they are written all or none."""
    res = load_study(outdir)  # the store is read here, once: nothing below opens it
    out = Path(dest) if dest is not None else Path(outdir)
    from .explorer import STUDY_EXPLORER, study_explorer_page

    for name in ("report.html", SUMMARY, STUDY_EXPLORER):  # all refused before any is built: none half-done
        output_file(out / name)
    files = {}
    if summary is None:  # decided here; a study just run has written its own
        summary = summarize(res)
        files[SUMMARY] = summary_text(summary)
    # the CPPN section links to the live explorer (issue 15), beside the report wherever that is
    if (page := study_explorer_page(res)) is not None:
        files[STUDY_EXPLORER] = page
    files["report.html"] = render_html(res, summary, STUDY_EXPLORER if page is not None else None)
    _write_all(out, files)
    if mixed := mixed_note(summary.get("provenance", {})):  # said even when quiet: it qualifies every verdict
        print(f"fracturelab: warning: {out / 'report.html'}: {mixed}", file=sys.stderr)
    if progress:
        print(f"fracturelab: report of {len(res.cells)} cells written", file=sys.stderr)
    return {"report": out / "report.html", "summary": out / SUMMARY, "store": Path(outdir) / STORE,
            "explorer": out / STUDY_EXPLORER if page is not None else None, "claims": summary["claims"]}
