"""The study report: analysis + claims from an output folder's results.sqlite, written as one self-contained HTML
file (figures as base64 PNG, no external resources) and summary.json with the claims' verdicts.

    build_report("out")   # -> {"report": out/report.html, "summary": out/summary.json, "store": ..., "claims": [...]}

Both files are written to a temporary name and renamed into place, so a crash never leaves half a report.
"""
from __future__ import annotations

import base64
import json
import math
import sys
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from ..errors import FracturelabError
from ..io import atomic_file
from . import study_figures as F

SECTIONS = ("overview", "claims", "cppn", "tasks", "analyses", "cells")


def _atomic_write(path: Path, data: str) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(data)


def _fmt(x):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, float):
        return f"{x:.3g}"
    return str(x)


def collect(outdir) -> dict:
    """Everything the report shows, from the store alone."""
    from ..study.analysis import analyze
    from ..study.claims import claims, cppn_analogue
    from ..study.runner import STORE
    from ..study.spec import spec_from_dict
    from ..study.store import Store

    out = Path(outdir)
    path = out / STORE
    if not path.is_file():
        raise FracturelabError(f"{out}: no {STORE} (run a study into this folder first)")
    with Store(path, create=False) as store:
        study = store.latest_study()
        if study is None:
            raise FracturelabError(f"{path}: holds no study yet")
        spec = spec_from_dict(study["spec"])
        keys = study["options"]["keys"]
        cells = store.cells(keys)
        metrics = store.metrics(keys)
        examples = store.examples(keys)
        renders = {c["key"]: store.blob(c["key"], "render.png") for c in cells
                   if c["params"]["kind"] == "cppn" and c["status"] == "done"}
        counts = store.counts()
    a = analyze(cells, metrics, examples, spec)
    return {"spec": spec, "study": study, "cells": cells, "analysis": a, "claims": claims(a, spec),
            "analogue": cppn_analogue(a), "renders": renders, "counts": counts}


def _cppn_gallery(d: dict) -> list[dict]:
    by_ref: dict[str, list] = {}
    for c in d["cells"]:
        p = c["params"]
        if p["kind"] != "cppn" or not d["renders"].get(c["key"]):
            continue
        m = next((r for r in d["analysis"]["rows"] if r["key"] == c["key"]), {})
        label = "reference" if p["regime"] == "reference" else f"{p['regime']} seed {p['seed']}"
        by_ref.setdefault(c["notes"].get("reference", p["reference"]), []).append(
            {"label": label, "img": base64.b64encode(d["renders"][c["key"]]).decode(),
             "maps": _fmt(m.get("cppn.novel_maps")), "mse": _fmt(m.get("cppn.fit_mse"))})
    return [{"name": k, "nets": v} for k, v in by_ref.items()]


def render_html(d: dict) -> str:
    a, spec = d["analysis"], d["spec"]
    rows = a["rows"]
    figs = {
        "fig-cppn": F.cppn_metrics(rows, list(spec.analysis.cppn_fracture_metrics)),
        "fig-cppn-costs": F.cppn_costs(rows),
        "fig-tasks": F.task_accuracy(rows),
        "fig-corr": F.interval_bars(a["correlations"], lambda i: f"{i['metric']} ~ {i['target']}",
                                    "fracture metrics vs OOD accuracy / gap (Spearman)", "r (95% CI over seeds)"),
        "fig-variance": F.variance(a["variance"]),
        "fig-examples": F.novelty_curves(a["examples"]),
        "fig-sparsity": F.sparsity(rows),
        "fig-regimes": F.interval_bars(
            [{"effect": c["effect"] if c["effect"] is not None else math.nan, "id": c["id"],
              "ci": [x if x is not None else math.nan for x in c["ci"]]} for c in d["claims"] if c["id"] in (5, 7)],
            lambda i: f"claim {i['id']}", "regime and exposure effects (claims 5, 7)", "effect (95% CI)"),
    }
    env = Environment(loader=PackageLoader("fracturelab.report", "templates"), autoescape=select_autoescape())
    env.filters["fmt"] = _fmt
    task_rows = [r for r in rows if r["kind"] == "task"]
    status = {}
    for c in d["cells"]:
        status[c["status"]] = status.get(c["status"], 0) + 1
    return env.get_template("study.html.j2").render(
        spec=spec, study=d["study"], claims=d["claims"], figs=figs, gallery=_cppn_gallery(d), a=a,
        task_rows=task_rows, cppn_rows=[r for r in rows if r["kind"] == "cppn"], status=status,
        analogue=d["analogue"], counts=d["counts"], sections=SECTIONS,
        picbreeder=d["study"]["options"].get("picbreeder"),
        seconds=sum(c["seconds"] or 0 for c in d["cells"]))


def build_report(outdir, progress: bool = False) -> dict:
    out = Path(outdir)
    d = collect(out)
    html = render_html(d)
    summary = {"study": d["spec"].name, "created": d["study"]["created"],
               "cells": {"total": len(d["cells"]), **{s: sum(c["status"] == s for c in d["cells"])
                                                     for s in ("done", "failed", "pending", "running")}},
               "claims": [{k: c[k] for k in ("id", "claim", "verdict", "effect", "ci", "n", "measure", "reason",
                                             "figure")} for c in d["claims"]]}
    try:
        _atomic_write(out / "report.html", html)
        _atomic_write(out / "summary.json", json.dumps(summary, indent=1))
    except OSError as e:
        raise FracturelabError(f"{out}: cannot write the report ({e.strerror})") from None
    if progress:
        print(f"fracturelab: report of {len(d['cells'])} cells written", file=sys.stderr)
    return {"report": out / "report.html", "summary": out / "summary.json", "store": out / "results.sqlite",
            "claims": summary["claims"]}
