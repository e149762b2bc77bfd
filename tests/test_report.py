"""The study report and the claims' statistics, on synthetic stores with planted effects (no training)."""
from __future__ import annotations

import json
import re

from study_helpers import synthetic_store

from fracturelab.report.study_page import SECTIONS, build_report
from fracturelab.study.analysis import partial_spearman, spearman
from fracturelab.study.claims import CLAIMS


def _claims(out):
    return {c["id"]: c for c in json.loads((out / "summary.json").read_text())["claims"]}


def test_report_has_every_section_and_claim(tmp_path):
    synthetic_store(tmp_path / "out")
    res = build_report(tmp_path / "out")
    html = res["report"].read_text()
    for s in SECTIONS:
        assert f'<section id="{s}">' in html
    table = html[html.index('id="claims-table"'):]
    table = table[:table.index("</table>")]
    assert len(re.findall(r"<tr class=\"(supported|contradicted|inconclusive)\">", table)) == len(CLAIMS)
    assert "http://" not in html and "https://" not in html  # self-contained: nothing fetched
    assert html.count("data:image/png;base64,") >= 8
    summary = json.loads(res["summary"].read_text())
    assert [c["id"] for c in summary["claims"]] == list(CLAIMS)
    for c in summary["claims"]:
        assert {"id", "claim", "verdict", "effect", "ci", "n"} <= set(c)
        assert c["verdict"] in ("supported", "contradicted", "inconclusive")


def test_planted_effects_are_found(tmp_path):
    synthetic_store(tmp_path / "a", planted=1.0)
    build_report(tmp_path / "a")
    c = _claims(tmp_path / "a")
    assert c[2]["verdict"] == "supported" and c[2]["ci"][0] > 0      # fracture -> OOD failure, given ID acc
    assert c[1]["verdict"] == "supported"                             # replicas: more maps, same image
    assert c[3]["verdict"] == "supported"                             # seen_frac = 1 examples more often right
    assert c[4]["verdict"] == "supported"                             # novelty, not depth, drives errors
    assert c[8]["verdict"] == "supported"                             # spread planted by regime, not by model
    for i in (5, 6, 7):                                               # no probe data for these: said so
        assert c[i]["verdict"] == "inconclusive" and c[i]["n"] == 0 and c[i]["reason"]


def test_no_effect_is_not_supported(tmp_path):
    synthetic_store(tmp_path / "b", planted=0.0)
    build_report(tmp_path / "b")
    assert _claims(tmp_path / "b")[2]["verdict"] != "supported"


def test_too_few_seeds_is_inconclusive(tmp_path):
    synthetic_store(tmp_path / "c", planted=1.0, seeds=range(1))
    build_report(tmp_path / "c")
    c = _claims(tmp_path / "c")
    assert c[2]["verdict"] == "inconclusive" and c[2]["n"] < 6


def test_partial_correlation_removes_the_shared_cause():
    import numpy as np

    rng = np.random.default_rng(0)
    z = rng.normal(size=200)
    x, y = z + 0.3 * rng.normal(size=200), z + 0.3 * rng.normal(size=200)
    assert spearman(x, y) > 0.7
    assert abs(partial_spearman(x, y, z)) < 0.2
