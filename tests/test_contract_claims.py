"""The contract every claim plug-in keeps (study/claims/), generated from the registry: a claim added there is checked
here without a line of its own. On a tiny synthetic store, each claim measures an Estimate whose values are finite or
explicitly missing; its figure renders a PNG with data, on a study without any run, and on one where no run
learned; its table (if it has one) is well formed; and the report page holds its figure under the anchor that the
claim (and summary.json) names."""
from __future__ import annotations

import base64
import dataclasses
import math
import re

import pytest
from study_helpers import synthetic_store
from synthetic_study import synthetic

from fracturelab.report.study_page import render_html
from fracturelab.study.claims import CLAIMS, Table
from fracturelab.study.results import load_study
from fracturelab.study.spec import AnalysisSettings
from fracturelab.study.stats import Estimate
from fracturelab.study.verdicts import decide, summarize

IDS = sorted(CLAIMS)
S = AnalysisSettings()
CASES = ("data", "no runs", "none learned")
"""The studies a claim's figure and table must render for: planted effects, a study with no finished run, and one
whose task runs all failed to learn (with a single CPPN reference), so that every claim's estimate is missing."""
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """{case: (StudyResults, summary)}: a real store with planted effects, and the same study's record with the rows
    of each missing case (their summaries decided from those rows)."""
    out = tmp_path_factory.mktemp("contract")
    synthetic_store(out, effect={i: 0.5 for i in IDS}, seeds=3)
    res = load_study(out)
    s = res.spec.analysis
    unlearned, ex = synthetic(seeds=3, learned=False, refs=1)
    made = {"data": res, "no runs": dataclasses.replace(res, rows=[], examples={}),
            "none learned": dataclasses.replace(res, rows=unlearned, examples=ex)}
    summaries = {"data": summarize(res)}
    for case in CASES[1:]:
        summaries[case] = summarize(res) | {"claims": decide(made[case].rows, made[case].examples, s)}
    return {case: (made[case], summaries[case]) for case in CASES}


def _entry(summary: dict, i: int) -> dict:
    return next(c for c in summary["claims"] if c["id"] == i)


def test_the_registry_keys_claims_by_their_ids_and_no_two_share_a_figure():
    assert all(k == c.id for k, c in CLAIMS.items())
    figures = [c.figure for c in CLAIMS.values()]
    assert len(set(figures)) == len(figures), figures
    for c in CLAIMS.values():
        assert c.text and c.source and c.measure and c.unit and c.control and c.why and c.caption and c.title, c.id
        assert c.sesoi > 0 and re.fullmatch(r"[a-z][a-z0-9-]*", c.figure), c.id


@pytest.mark.parametrize("i", IDS)
def test_each_claim_measures_a_tiny_study(i):
    rows, ex = synthetic(seeds=3, effect={i: 0.5}, rng=i)
    est = CLAIMS[i].fn(rows, ex, S)
    assert isinstance(est, Estimate) and not est.missing, (i, est.missing)
    assert all(math.isfinite(x) for x in (est.effect, est.se, *est.ci(0.95))) and est.se > 0, (i, est)
    assert est.n >= 2 and est.runs >= est.n and est.unit


@pytest.mark.parametrize("i", IDS)
def test_each_claim_says_why_it_has_no_estimate(i):
    for rows, ex in (([], {}), synthetic(seeds=3, learned=False, refs=1)):
        est = CLAIMS[i].fn(rows, ex, S)
        assert isinstance(est, Estimate) and est.missing and est.unit, i
        assert math.isnan(est.effect) and math.isnan(est.p()) and not any(map(math.isfinite, est.ci(0.95))), i


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("i", IDS)
def test_each_claim_figure_and_table_render(studies, i, case):
    res, summary = studies[case]
    entry = _entry(summary, i)
    assert (entry["effect"] is None) == (case != "data"), (i, case, entry["reason"])
    png = base64.b64decode(CLAIMS[i].draw(res, entry), validate=True)
    assert png.startswith(PNG) and len(png) > 1000, (i, case)
    if CLAIMS[i].table is not None:
        t = CLAIMS[i].table(res, entry)
        assert isinstance(t, Table) and t.id and t.header and t.empty
        assert all(len(r.cells) == len(t.header) for r in t.rows), (i, case)


@pytest.mark.parametrize("case", CASES)
def test_the_report_holds_every_claim_figure_where_its_claim_links(studies, case):
    res, summary = studies[case]
    html = render_html(res, summary)
    for i in IDS:
        fig = CLAIMS[i].figure
        assert html.count(f'<figure id="{fig}">') == 1, (i, fig)
        img = re.search(rf'<figure id="{fig}"><img class="fig" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
        assert img and base64.b64decode(img.group(1)).startswith(PNG), (i, fig)
        row = html[html.index(f'id="claim-{i}"'):]
        assert f'<a href="#{fig}">' in row[:row.index("</tr>")], (i, fig)
        assert _entry(summary, i)["figure"] == fig
        if CLAIMS[i].table is not None:
            assert f'<table id="{CLAIMS[i].table(res, _entry(summary, i)).id}">' in html, i


def test_claim8_reads_only_scales_where_architecture_and_regime_are_crossed():
    """A scale trained in one regime and one architecture only (the standard profile's small mlp) carries no
    contrast of regime against architecture: adding its runs leaves claim 8's effect as it was."""
    import numpy as np

    from fracturelab.study.claims.claim8_regime import claim8
    from fracturelab.study.measures import TASK_COMPOSITE
    from fracturelab.study.names import ID_ACC, init_name

    rng = np.random.default_rng(0)

    def row(model, regime, scale, seed):
        r = {"kind": "task", "task": "leave_square_out", "model": model, "regime": regime, "scale": scale,
             "seed": seed, ID_ACC: 1.0}
        for name, _, _ in TASK_COMPOSITE:
            r[name] = float(rng.normal() + (regime == "pretrain"))
            r[init_name(name)] = float(rng.normal())
        return r

    crossed = [row(m, g, "base", s) for m in ("mlp", "cppn") for g in ("scratch", "pretrain") for s in range(8)]
    small = [row("mlp", "scratch", "small", s) for s in range(30)]
    s = AnalysisSettings()
    alone, both = claim8(crossed, [], s), claim8(crossed + small, [], s)
    assert math.isfinite(alone.effect) and both.effect == pytest.approx(alone.effect)
    assert any("leave_square_out (base)" in c for c in both.caveats)
    assert not any("(small)" in c for c in both.caveats)
