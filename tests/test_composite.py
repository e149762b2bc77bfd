"""The fracture composite declared once (fracture.py): every component is scored on planted structure and
carries a sign and a reason; a metric no probe produces is caught; the study's claim 2 reports every component
alone while its composite reads only those that enter; planted.md has a row per metric; the command warns when a
run disagrees with the declared composite."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fracturelab.errors import FracturelabError
from fracturelab.planted.scores import (
    auc_table,
    check_metrics,
    composite_warning,
    flat_scores,
    markdown,
    unproduced,
)
from fracturelab.fracture import (
    CANDIDATES,
    COMPONENTS,
    METRICS,
    PLANTED_MIN_PAIRS,
    TASK_COMPOSITE,
    Metric,
)


def test_every_metric_is_declared_once_with_a_sign_and_a_reason():
    names = [m.name for m in METRICS]
    assert len(set(names)) == len(names)
    check_metrics()
    for name, sign, reason in METRICS:
        assert sign in (1.0, -1.0) and len(reason.split()) >= 5, name
    # the composite: components only, one per probe (no probe weighed twice by near-copies)
    assert set(TASK_COMPOSITE) <= set(COMPONENTS)
    probes = [m.probe for m in TASK_COMPOSITE]
    assert len(set(probes)) == len(probes) and TASK_COMPOSITE


def test_the_study_reads_the_one_declaration():
    from fracturelab.study import measures
    from fracturelab.study import names as N

    assert measures.TASK_COMPOSITE is TASK_COMPOSITE and measures.COMPONENTS is COMPONENTS
    assert {N.DCI_C, N.CROSSTALK_SPREAD, N.NCUT_REL, N.EFF_RANK_RATIO, N.INFO_M} == {m.name for m in COMPONENTS}
    # AT_INIT names a component, and only one whose probe does not run at initialization
    from fracturelab.probes import PROBES

    for name in measures.AT_INIT:
        assert name in {m.name for m in COMPONENTS} and not PROBES[name.split(".")[0]].at_init


def test_every_composite_member_is_scored_on_planted_structure():
    components, candidates = auc_table([], n_boot=0)
    assert list(components) == [m.name for m in COMPONENTS] and list(candidates) == [m.name for m in CANDIDATES]
    table = {**components, **candidates}
    for m in TASK_COMPOSITE:
        assert table[m.name]["enters"] and table[m.name]["sign"] == m.sign
    assert sum(r["enters"] for r in table.values()) == len(TASK_COMPOSITE)


def test_a_metric_no_probe_produces_is_caught():
    """The probes at their tiny settings on a small factors MLP (every probe of the metrics applies) report every
    declared metric; a metric with a key its probe does not report, or a probe that does not exist, is refused."""
    from fracturelab.models import DataSpec, make_model
    from fracturelab.planted.scores import PROBE_NAMES
    from fracturelab.probes import PROBES, probe_settings, run_probes
    from fracturelab.tasks import make_task

    data = make_task("factors", seed=0, n_per_combo=2, n_noise=1)
    spec = DataSpec.of("factors", data.sets().values(), data.info["settings"])
    net = make_model("mlp", spec, seed=0, hidden=24, depth=2, input="embed", embed=4)
    settings = probe_settings({n: PROBES[n].tiny for n in PROBE_NAMES})
    results = run_probes(net, data, {}, list(PROBE_NAMES), seed=0, settings=settings)
    assert not any("skipped" in r for r in results.values()), results
    assert unproduced(results) == []
    scores = flat_scores(results)
    assert set(scores) == {m.name for m in METRICS}
    assert all(v is not None for v in scores.values()), scores
    typo = Metric("factorization.dci_completeness", -1.0, "a key the factorization probe never reports")
    assert unproduced(results, METRICS + (typo,)) == [typo.name]
    assert unproduced({"factorization": {"skipped": "no factors"}}, (typo,)) == []  # a skipped probe is not asked
    with pytest.raises(FracturelabError, match="no probe 'fracture'"):
        check_metrics((Metric("fracture.total", 1.0, "no probe of that name"),))
    with pytest.raises(FracturelabError, match="sign"):
        check_metrics((Metric(METRICS[0].name, 0.5, "a sign that is not +-1"),))


def test_flat_scores_refuses_a_metric_its_probe_does_not_report(monkeypatch):
    import fracturelab.planted.scores as S

    results = {"geometry": {"eff_rank_ratio": 0.5}}
    monkeypatch.setattr(S, "unproduced", lambda r: unproduced(r, (Metric("geometry.eff_rank_per_unit", 1.0, "x"),)))
    with pytest.raises(FracturelabError, match="geometry.eff_rank_per_unit"):
        S.flat_scores(results)


def _rows(n: int, separated: set[str], seed: int = 0) -> list[dict]:
    """n planted pairs of one task and width: the metrics in `separated` put every entangled net more fractured
    (signed) than every modular one; the others are noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        pair = {"task": "factors", "width": 48, "modular": {}, "entangled": {}}
        for name, sign, _ in METRICS:
            m, e = rng.normal(), rng.normal()
            if name in separated:
                m, e = sign * (rng.uniform(0, 1)), sign * (rng.uniform(2, 3))
            pair["modular"][name], pair["entangled"][name] = m, e
        rows.append(pair)
    return rows


def _result(rows) -> dict:
    components, candidates = auc_table(rows, n_boot=20)
    return {"pairs": len(rows), "unequal": 0, "components": components, "candidates": candidates,
            "tasks": {"factors": len(rows)}}


def test_planted_md_has_a_row_per_metric():
    """The writer against a parse of its own table: one row per metric, in declaration order, with its kind, AUC
    and whether it enters."""
    inside = {m.name for m in TASK_COMPOSITE}
    result = _result(_rows(PLANTED_MIN_PAIRS, inside))
    text = markdown(result)
    table = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert header[:5] == ["metric", "kind", "AUC", "95 % CI", "n"] and header[-2:] == ["passes", "enters"]
    assert "factors" in header
    body = [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in table[2:]]
    assert [r["metric"] for r in body] == [m.name for m in METRICS]
    for r in body:
        entry = {**result["components"], **result["candidates"]}[r["metric"]]
        assert r["kind"] == ("component" if r["metric"] in {m.name for m in COMPONENTS} else "candidate")
        assert r["enters"] == ("yes" if r["metric"] in inside else "no")
        assert float(r["AUC"]) == pytest.approx(entry["auc"], abs=0.0051) and int(r["n"]) == PLANTED_MIN_PAIRS
        assert r["passes"] == ("yes" if r["metric"] in inside else "no")  # the noise metrics fall short of 0.9


def test_composite_warning_names_what_disagrees():
    inside = {m.name for m in TASK_COMPOSITE}
    agree = _result(_rows(PLANTED_MIN_PAIRS, inside))
    assert composite_warning(agree) is None
    # too few pairs: the same separation does not pass, and every member is named
    few = composite_warning(_result(_rows(PLANTED_MIN_PAIRS - 1, inside)))
    assert few is not None and "\n" not in few and all(m in few for m in inside)
    # a passing metric of a probe with no member (clusterability) is named; one of a covered probe is not
    out = {m.name for m in METRICS if m.probe not in {c.probe for c in TASK_COMPOSITE}}
    covered = next(m.name for m in CANDIDATES if m.probe in {c.probe for c in TASK_COMPOSITE})
    line = composite_warning(_result(_rows(PLANTED_MIN_PAIRS, inside | out | {covered})))
    assert line is not None and all(m in line for m in out) and covered not in line
    assert not any(m in line for m in inside)


def test_claim2_reports_every_component_alone_and_its_composite_reads_the_members():
    """Components out of the composite (in rows of a synthetic study) enter claim 2's breakdown, each alone, and
    leave its estimate as it was."""
    from synthetic_study import synthetic

    from fracturelab.study.claims.claim2_fracture_failure import claim2
    from fracturelab.study.spec import AnalysisSettings

    rows, ex = synthetic(seeds=3, effect={2: 0.5}, rng=2)
    out = [m for m in COMPONENTS if m not in TASK_COMPOSITE]
    assert out  # the planted rule left components out of the composite
    s = AnalysisSettings()
    before = claim2(rows, ex, s)
    rng = np.random.default_rng(0)
    for r in rows:
        for m in out:
            r[m.name] = float(rng.normal())
    after = claim2(rows, ex, s)
    assert after.effect == pytest.approx(before.effect) and math.isfinite(after.effect)
    assert set(after.breakdown["component"]) == {m.name for m in COMPONENTS}
    assert set(before.breakdown["component"]) == {m.name for m in TASK_COMPOSITE}
