"""The Ray executor gives the same numbers as the local process pool (skipped where ray is not installed), with the
task cells trained as a population (spec `population`: both executors schedule populations as one job)."""
from __future__ import annotations

import pytest
from study_helpers import TINY, cli, store_rows, write_spec

pytestmark = pytest.mark.slow


def test_ray_and_local_identical(tmp_path):
    pytest.importorskip("ray")
    spec = write_spec(tmp_path, TINY.replace("probes = []", "probes = []\npopulation = 2"))
    local, ray = tmp_path / "local", tmp_path / "ray"
    r = cli("study", spec, "-o", local, "--workers", "2", "-q")
    assert r.returncode == 0, r.stderr
    r = cli("study", spec, "-o", ray, "--workers", "2", "--executor", "ray", "-q", timeout=400)
    assert r.returncode == 0, r.stderr
    a, b = store_rows(local), store_rows(ray)
    assert set(b["status"].values()) == {"done"}
    assert a["metrics"] == b["metrics"] and len(a["metrics"]) == a["counts"]["cells"]
    assert a["examples"] == b["examples"]
    from fracturelab.study.store import Store

    with Store(ray / "results.sqlite", create=False) as st:  # the two task cells (seeds 0, 1) as one population
        assert sorted(tuple(c.notes.get("population", ())) for c in st.cells() if c.kind == "task") == [(0, 1)] * 2
