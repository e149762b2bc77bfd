"""`fracturelab fer` and `fracturelab labels` end to end (short budgets)."""
import csv
import json

import pytest

from fracturelab.cli import main
from fracturelab.cppn import builtin_net, save_netdir


@pytest.mark.slow
def test_fer_writes_metrics_figures_and_page(tmp_path):
    replica = builtin_net("face")
    replica.name = "sgd_face"
    replica.params = replica.params * 1.01  # a stand-in replica: nearly the same output, other weights
    save_netdir(tmp_path / "sgd_face", replica)
    out = tmp_path / "fer"
    assert main(["fer", "face", "--replica", str(tmp_path / "sgd_face"), "-o", str(out), "--res", "32",
                 "--quick"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["reference"] == "face" and set(m["nets"]) == {"face", "sgd_face"}
    for net in m["nets"].values():
        for key in ("novel_maps", "roughness", "effective_dim_ratio_max", "effective_dim_ratio_mean",
                    "symmetric_fraction", "in_window_mse", "extrapolation_mse", "sweeps"):
            assert key in net
    assert m["nets"]["face"]["in_window_mse"] == 0 and m["nets"]["sgd_face"]["in_window_mse"] > 0
    la = m["nets"]["face"]["label_agreement"]
    assert {"auc_quiet_smaller", "within_label_corr", "between_label_corr", "p_value"} <= set(la)
    page = (out / "index.html").read_text()
    for fig in ("images.png", "extrapolation.png", "maps_0.png", "strips_1.png", "effects_1.png"):
        assert (out / fig).is_file() and fig in page


def test_fer_refuses_a_nonempty_outdir_and_keeps_it(tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    assert main(["fer", "face", "-o", str(out), "--replicas", "1"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


@pytest.mark.slow
def test_labels_table_json_and_csv(picbreeder_dir, tmp_path):
    out = tmp_path / "labels"
    assert main(["labels", str(picbreeder_dir / "cppnx"), "-o", str(out), "--res", "32", "--n-perm", "100"]) == 0
    rows = json.loads((out / "labels.json").read_text())
    assert len(rows) == 15 and rows[-1]["name"] == "pooled"
    assert rows[-1]["auc_quiet_smaller"] > 0.8
    with open(out / "labels.csv") as f:
        assert len(list(csv.DictReader(f))) == 15
