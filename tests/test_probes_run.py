"""The probe registry, run_probes on the task models, probe_run on a run folder and the `probe` command."""
import json
import math

import pytest

from fracturelab.cli import main
from fracturelab.errors import FracturelabError
from fracturelab.models import DataSpec, make_model
from fracturelab.probes import PROBES, run_probes
from fracturelab.probes.masks import MaskSettings
from fracturelab.probes.subnetworks import SubnetworkSettings, subnetworks_probe
from fracturelab.tasks import make_task
from fracturelab.train import train_run

NAMES = ["subnetworks", "reuse", "sparsity", "factorization", "clusterability", "crosstalk", "geometry", "coverage"]
SUMMARY = {"sparsity": ["hoyer_id", "hoyer_ood", "hoyer_gap", "hoyer_novelty_rho"],
           "factorization": ["dci_d", "dci_c", "dci_i", "info_m", "info_c", "info_e", "probe_acc"],
           "clusterability": ["ncut", "ncut_z"], "crosstalk": ["spread"],
           "geometry": ["eff_rank", "participation_ratio"],
           "coverage": ["acc_seen", "acc_unseen", "acc_by_coverage_slope", "novelty_auc"]}
FAST = ["sparsity", "factorization", "clusterability", "crosstalk", "geometry", "coverage"]


def _model(task, model, **task_options):
    data = make_task(task, seed=0, **task_options)
    spec = DataSpec.of(task, data.sets().values(), data.info["settings"])
    options = {"hidden": 32, "input": "embed", "embed": 4} if model == "mlp" else {"d_model": 16, "n_layer": 1}
    return make_model(model, spec, seed=0, **options), data


def test_registry_names_and_docs():
    assert list(PROBES) == NAMES
    assert all(p.doc and p.applies and callable(p.fn) for p in PROBES.values())


def test_run_probes_on_factors_mlp():
    net, data = _model("factors", "mlp", n_per_combo=2, n_noise=1)
    checkpoints = {0: net.state_dict(), 5: net.state_dict()}
    res = run_probes(net, data, {"task": "factors", "split": "shape_colour"}, names=FAST, seed=0,
                     checkpoints=checkpoints)
    assert list(res) == FAST
    for probe, keys in SUMMARY.items():
        for k in keys:
            assert isinstance(res[probe][k], float), (probe, k)
    assert all(isinstance(v, float) for m in res.values() for v in m.values())
    assert res["sparsity"]["hoyer_gap"] == pytest.approx(res["sparsity"]["hoyer_ood"] - res["sparsity"]["hoyer_id"])
    assert res["sparsity"]["hoyer_gap_init"] == res["sparsity"]["hoyer_gap_final"]  # the same weights twice
    assert 0 <= res["crosstalk"]["spread"] <= 1 and res["geometry"]["eff_rank"] >= 1
    assert "layer.layer1.dci_d" in res["factorization"]


def test_subnetworks_on_factors_mlp_keys():
    net, data = _model("factors", "mlp", n_per_combo=2, n_noise=1)
    s = SubnetworkSettings(mask=MaskSettings(steps=20), max_train=200, max_test=100)
    r = subnetworks_probe(net, data, {"split": "shape_colour"}, seed=0, settings=s)
    assert {"sub", "abl", "mask_frac", "random_sub", "random_abl", "sub.shape", "abl.colour"} <= set(r)
    assert 0 <= r["mask_frac"] <= 1


def test_probes_that_do_not_apply_say_so():
    net, data = _model("lookup", "transformer", n_train=200, n_test=50)
    res = run_probes(net, data, {"task": "lookup"}, names=["factorization", "crosstalk", "subnetworks", "sparsity",
                                                            "clusterability"])
    for p in ("factorization", "crosstalk", "subnetworks"):
        assert set(res[p]) == {"skipped"} and isinstance(res[p]["skipped"], str)
    assert isinstance(res["sparsity"]["hoyer_id"], float)
    assert "layer.block0@all.hoyer_id" in res["sparsity"]  # sequence models: all positions too
    assert res["clusterability"]["n_chains"] == 1.0  # the block's c_fc -> c_proj


def test_unknown_probe_name():
    net, data = _model("factors", "mlp", n_per_combo=2, n_noise=1)
    with pytest.raises(FracturelabError, match="unknown probe 'nope'"):
        run_probes(net, data, {}, names=["nope"])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "f"
    train_run("leave_square_out", seed=0, outdir=out, max_steps=30, checkpoints=(10, 30), p=11, side=3)
    return out


def test_cli_probe_writes_probes_json(tiny_run, capsys):
    assert main(["probe", str(tiny_run), "--probes", "sparsity,factorization,crosstalk,geometry"]) == 0
    res = json.loads((tiny_run / "probes.json").read_text())
    assert list(res) == ["sparsity", "factorization", "crosstalk", "geometry"]
    assert set(res["crosstalk"]) == {"skipped"}  # one answer token: no parts to spread over
    assert "dci_d" in res["factorization"]  # leave_square_out's factors: the operands a and b
    assert {"ckpt.0.hoyer_gap", "ckpt.10.hoyer_gap", "ckpt.30.hoyer_gap", "hoyer_gap_init"} <= set(res["sparsity"])
    assert all(v is None or math.isfinite(v) for v in res["sparsity"].values())
    assert (tiny_run / "probes" / "geometry_layers.png").is_file()
    assert (tiny_run / "probes" / "sparsity_checkpoints.png").is_file()
    assert "sparsity: hoyer_id" in capsys.readouterr().out


def test_cli_probe_bad_input_writes_nothing(tiny_run, tmp_path, capsys):
    before = sorted(p.name for p in tiny_run.iterdir())
    assert main(["probe", str(tiny_run), "--probes", "sparsity,nope"]) == 2
    assert sorted(p.name for p in tiny_run.iterdir()) == before
    err = capsys.readouterr().err
    assert "unknown probe 'nope'" in err and len(err.strip().splitlines()) == 1
    assert main(["probe", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err and list(tmp_path.iterdir()) == []
