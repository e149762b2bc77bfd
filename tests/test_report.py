"""The study report renders summary.json's verdicts, on synthetic stores with planted effects (no training)."""
from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
import study_helpers
import statsmodels.api as sm
from scipy import stats as sps
from study_helpers import synthetic_store
from synthetic_study import synthetic

from fracturelab.report.study_page import SECTIONS, build_report
from fracturelab.study.claims import CLAIMS
from fracturelab.study.measures import TASK_COMPOSITE
from fracturelab.study.stats import VERDICTS

FIELDS = {"id", "claim", "verdict", "reason", "effect", "ci", "p", "p_holm", "n", "unit", "sesoi", "level", "alpha",
          "breakdown", "control", "caveats", "measure"}


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
    rows = re.findall(r'<tr class="(supported|contradicted|inconclusive|no-effect)" id="claim-(\d+)">', table)
    assert [int(i) for _, i in rows] == sorted(CLAIMS)
    assert table.count('class="sesoi"') == len(CLAIMS)       # the smallest effect of interest beside each verdict
    assert "leave_square_out:" in table and "knowledge_graph:" in table   # the per-task breakdown
    assert "http://" not in html and "https://" not in html  # self-contained: nothing fetched
    assert html.count("data:image/png;base64,") >= 8
    summary = json.loads(res["summary"].read_text())
    assert [c["id"] for c in summary["claims"]] == sorted(CLAIMS)
    for c in summary["claims"]:
        assert FIELDS <= set(c), FIELDS - set(c)
        assert c["verdict"] in VERDICTS and c["unit"] and c["sesoi"] > 0 and 0.9 < c["level"] < 1
    header = html[html.index('<p id="power">'):]
    assert all(f"claim {i}: " in header[:header.index("</p>")] for i in CLAIMS)
    assert table.count('class="power"') == len(CLAIMS)


def test_power_at_the_sesoi_matches_statsmodels(tmp_path):
    """Each claim's power: its two-sided t test at its Holm level, n units and the standard error the data gave,
    against an effect equal to the SESOI; statsmodels' one-sample t power is the oracle where df = n - 1."""
    from statsmodels.stats.power import TTestPower

    synthetic_store(tmp_path / "out", seeds=5)
    build_report(tmp_path / "out")
    checked = 0
    for c in _claims(tmp_path / "out").values():
        if c["power"] is None:
            continue
        assert 0 < c["power"] <= 1
        if c["df"] == c["n"] - 1:
            sd = c["se"] * c["n"] ** 0.5
            want = TTestPower().power(effect_size=c["sesoi"] / sd, nobs=c["n"], alpha=1 - c["level"])
            if not np.isfinite(want):  # statsmodels' noncentral t gives NaN far in the tail (stats._upper_tail)
                continue
            assert abs(c["power"] - want) < 1e-4, (c["id"], c["power"], want)  # summary rounds to 6 places
            checked += 1
    assert checked >= 2


def test_planted_effects_are_found_through_the_store(tmp_path):
    strong = {1: 2.0, 2: 0.9, 3: 2.0, 4: 0.4, 5: 0.2, 6: 0.06, 7: 0.06, 8: 2.0, 9: 0.2, 10: 0.5, 11: 1.0}
    synthetic_store(tmp_path / "a", effect=strong, seeds=8)
    build_report(tmp_path / "a")
    c = _claims(tmp_path / "a")
    # claim 1 has 3 references here (the built-ins), claim 10 8 binding seeds (it needs about 20: its positive control
    # is in test_placebo_binding.py): too few units to decide, but the sign holds
    for i in CLAIMS:
        assert c[i]["verdict"] == "supported" or (i in (1, 10) and c[i]["effect"] > 0), (i, c[i]["reason"], c[i]["ci"])
    assert set(c[1]["breakdown"]["reference"]) == {"face", "target", "sunset"}
    assert c[1]["control"]["untrained_same_arch"] > c[1]["effect"]   # untrained nets are further from the reference


def test_no_effect_and_untrained_through_the_store(tmp_path):
    # one fixed null study: any single one decides some claim with probability up to alpha (the rate is
    # tests/test_calibration.py's job); rng 5 is such a study under the current generator (claim 9, p_holm 0.003)
    synthetic_store(tmp_path / "b", seeds=8, rng=6)
    build_report(tmp_path / "b")
    assert all(c["verdict"] in ("no effect", "inconclusive") for c in _claims(tmp_path / "b").values())
    synthetic_store(tmp_path / "c", effect={i: 1.0 for i in CLAIMS}, seeds=4, learned=False)
    build_report(tmp_path / "c")
    c = _claims(tmp_path / "c")
    for i in (2, 3, 4, 5, 6, 7, 8, 9):
        assert c[i]["verdict"] == "inconclusive" and c[i]["n"] == 0 and "learned" in c[i]["reason"], c[i]


def _oracle9(rows, match: float, alpha: float = 0.05) -> dict:
    """Claim 9 per task, computed directly from the generated rows: learned runs; the fracture composite = mean over
    the components of sign x value z-scored within the task (population sd); seed pairs scratch/bimt of one task, model
    and seed, matched when test_id accuracies differ by <= match; per task the check is the mean over models of each
    model's mean pair difference (a single-model task's t-interval and t-test p: one pair per seed), and the effect the
    OOD change at zero ID change (statsmodels OLS of OOD change on a dummy per model and the ID change: the mean of the
    models' intercepts); n counts seeds (the pairs of one seed share its data)."""
    rs = [r for r in rows if r["kind"] == "task" and r["train.id_acc"] >= 0.9]
    frac = {}
    for t in {r["task"] for r in rs}:
        own = [r for r in rs if r["task"] == t]
        z = []
        for name, sign, _ in TASK_COMPOSITE:
            v = sign * np.array([r[name] for r in own])
            z.append((v - v.mean()) / v.std())
        frac |= {r["key"]: float(f) for r, f in zip(own, np.mean(z, axis=0))}
    runs = {(r["task"], r["model"], r["seed"], r["regime"]): r for r in rs}
    out = {}
    for t in sorted({r["task"] for r in rs}):
        diffs, left = {}, 0
        for (tt, m, seed, reg), b in runs.items():
            if tt != t or reg != "bimt" or (t, m, seed, "scratch") not in runs:
                continue
            a = runs[(t, m, seed, "scratch")]
            if abs(b["train.id_acc"] - a["train.id_acc"]) > match:
                left += 1
                continue
            diffs.setdefault(m, []).append((frac[a["key"]] - frac[b["key"]], b["train.ood_acc"] - a["train.ood_acc"],
                                            b["train.id_acc"] - a["train.id_acc"], seed))
        if not diffs and not left:  # a task bimt was not trained on (binding)
            continue
        o = {"left_out": left, "pairs": sum(map(len, diffs.values())), "models": len(diffs),
             "n": len({d[3] for v in diffs.values() for d in v})}
        o["lowered"] = float(np.mean([np.mean([d[0] for d in v]) for v in diffs.values()]))
        models = sorted(diffs)
        X = np.array([[float(m == mm) for mm in models] + [d[2]] for m in models for d in diffs[m]])
        y = np.array([d[1] for m in models for d in diffs[m]])
        o["gained"] = float(sm.OLS(y, X).fit().params[:-1].mean())
        if len(diffs) == 1:
            v = np.array([d[0] for d in next(iter(diffs.values()))])
            o["lowered_half"] = sps.t.ppf(1 - alpha / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
            o["lowered_p"] = sps.ttest_1samp(v, 0).pvalue
        out[t] = o
    return out


def test_claim9_per_task_check_and_effect_match_a_direct_computation(tmp_path, monkeypatch):
    # bimt raises fracture on factors (its check must fail there) and lowers it far on the other tasks; a tight
    # test_id match leaves some pairs out
    lower = {"factors": -2.0, "knowledge_graph": 8.0, "leave_square_out": 8.0}
    monkeypatch.setattr(study_helpers, "SYNTHETIC_SPEC",
                        study_helpers.SYNTHETIC_SPEC.replace("[analysis]\n", "[analysis]\nmatch_id_acc = 0.01\n"))
    synthetic_store(tmp_path / "i", effect={9: 0.2}, seeds=10, lower=lower)
    res = build_report(tmp_path / "i")
    c = _claims(tmp_path / "i")[9]
    rows, _ = synthetic(seeds=10, effect={9: 0.2}, rng=0, refs=3, lower=lower)  # what the store was filled with
    want = _oracle9(rows, match=0.01)
    got = c["breakdown"]["intervention"]["bimt"]["task"]
    assert set(got) == set(want) == {"factors", "knowledge_graph", "leave_square_out"}
    assert sum(w["left_out"] for w in want.values()) > 0               # the unmatched case is exercised
    for t, w in want.items():
        g, m = got[t], got[t]["manipulation"]
        assert (g["n"], m["n"], g["left_out"]) == (w["n"], w["n"], w["left_out"]), t
        assert len(g["pairs"]) == w["pairs"] + w["left_out"]
        assert sum(not p["matched"] for p in g["pairs"]) == w["left_out"]
        assert g["effect"] == pytest.approx(w["gained"], abs=2e-6), t
        assert m["lowered_by"] == pytest.approx(w["lowered"], abs=2e-6), t
        if w["n"] >= 3:  # fewer clusters give no interval (stats.MIN_CLUSTERS)
            assert g["ci"][0] < g["effect"] < g["ci"][1] and m["ci"][0] < m["lowered_by"] < m["ci"][1]
        else:
            assert g["ci"] == [None, None] or not all(map(np.isfinite, g["ci"])), t
        if w["models"] == 1 and w["n"] >= 3:  # a jackknife of a mean of one value per cluster: the t-interval exactly
            assert (m["ci"][1] - m["ci"][0]) / 2 == pytest.approx(w["lowered_half"], rel=1e-6), t
            assert m["passed"] == (w["lowered"] > 0 and w["lowered_p"] <= 0.05), t
    assert not got["factors"]["manipulation"]["passed"] and got["factors"]["manipulation"]["lowered_by"] < 0
    assert got["knowledge_graph"]["manipulation"]["passed"] and got["leave_square_out"]["manipulation"]["passed"]
    assert c["breakdown"]["intervention"]["bimt"]["manipulation"]["passed"]   # over all tasks: the check passes
    assert c["breakdown"]["pooled"] == ["bimt"] and c["figure"] == "fig-intervention"

    html = res["report"].read_text()
    table = html[html.index('id="claim9-table"'):]
    table = table[:table.index("</table>")]
    rows9 = {t: check for check, t in re.findall(r'<tr class="check-(passed|failed)" id="claim9-bimt-(\w+)">', table)}
    assert rows9 == {"factors": "failed", "knowledge_graph": "passed", "leave_square_out": "passed"}
    for t, w in want.items():
        row = table[table.index(f'id="claim9-bimt-{t}"'):]
        row = row[:row.index("</tr>")]
        assert f"({w['n']})</td>" in row and f"<td>{w['left_out']}</td>" in row
    fig = re.search(r'<figure id="fig-intervention"><img class="fig" src="data:image/png;base64,([A-Za-z0-9+/=]+)"',
                    html)
    assert fig and base64.b64decode(fig.group(1))[:8] == b"\x89PNG\r\n\x1a\n"
    assert '<a href="#fig-intervention">' in html[html.index('id="claim-9"'):]


def test_claim9_failed_check_keeps_its_pairs_and_stays_inconclusive(tmp_path):
    """When the intervention does not lower fracture anywhere, claim 9 is inconclusive with that reason, and still
    says how many matched seed pairs stood behind it."""
    lower = {"factors": -2.0, "knowledge_graph": -2.0, "leave_square_out": -2.0}
    synthetic_store(tmp_path / "f", effect={9: 0.2}, seeds=5, lower=lower)
    build_report(tmp_path / "f")
    c = _claims(tmp_path / "f")[9]
    assert c["verdict"] == "inconclusive" and "manipulation check failed" in c["reason"]
    bimt = c["breakdown"]["intervention"]["bimt"]
    assert c["effect"] is None and c["n"] == bimt["manipulation"]["n"] > 0 and c["breakdown"]["pooled"] == []
    assert c["n"] == sum(t["n"] for t in bimt["task"].values())
