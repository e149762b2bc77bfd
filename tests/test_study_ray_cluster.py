"""Ray at more than one node: a local two-node cluster (ray.cluster_utils.Cluster) runs a small study through the
Ray executor joining it by address; cells run on both nodes, each on one thread in every library it
loaded, and every number equals a local run's (skipped where ray is not installed)."""
from __future__ import annotations

import pytest
from study_helpers import TINY, store_rows

pytestmark = pytest.mark.slow


def test_two_node_cluster_uses_both_nodes_and_matches_a_local_run(tmp_path):
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    from fracturelab.study.executors import ExecSettings
    from fracturelab.study.runner import run_study
    from fracturelab.study.spec import parse_spec
    from fracturelab.study.store import Store

    spec = parse_spec(TINY)
    run_study(spec, tmp_path / "local", ExecSettings("local", 2), progress=False)
    small = {"num_cpus": 1, "object_store_memory": 80 * 2**20}
    cluster = Cluster(initialize_head=True, head_node_args={**small, "include_dashboard": False})
    try:
        cluster.add_node(**small)
        cluster.wait_for_nodes()
        nodes = {n.node_id for n in cluster.list_all_nodes()}
        assert len(nodes) == 2
        run_study(spec, tmp_path / "ray", ExecSettings("ray", 2, cluster.address), progress=False)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
    with Store(tmp_path / "ray" / "results.sqlite", create=False) as st:
        cells = st.cells()
    assert all(c.done for c in cells) and len(cells) >= 4
    assert {c.notes["node"] for c in cells} == nodes  # both nodes ran cells
    for c in cells:  # one thread per worker in every library the cell had loaded (torch, numpy's and scipy's BLAS)
        assert any(k.startswith("openblas") for k in c.notes["threads"]), c.notes["threads"]
        assert set(c.notes["threads"].values()) == {1}, c.notes["threads"]
    a, b = store_rows(tmp_path / "local"), store_rows(tmp_path / "ray")
    assert a["metrics"] == b["metrics"] and len(a["metrics"]) == a["counts"]["cells"]
    assert a["examples"] == b["examples"]
