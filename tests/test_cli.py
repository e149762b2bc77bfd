"""The command line on good input."""
import json
import subprocess
import sys

import numpy as np
from PIL import Image

from fracturelab.cli import main
from fracturelab.cppn import load_cppn


def test_genome_json(picbreeder_dir, capsys):
    assert main(["genome", str(picbreeder_dir / "cppnx" / "576_Skull.xml"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["arch"] == "12;cache:15,gaussian:4,identity:2,sin:1" and d["n_params"] == 5478
    assert d["n_nodes"] == 23 and d["n_links"] == 57 and len(d["labels"]) == 57
    assert any(text.startswith("Mouth open close") for text in d["labels"].values())


def test_genome_text_and_builtins(capsys):
    assert main(["genome", "target"]) == 0
    assert "Ring frequency" in capsys.readouterr().out
    assert main(["builtins", "--json"]) == 0
    ds = json.loads(capsys.readouterr().out)
    assert {d["name"] for d in ds} == {"face", "target", "sunset"} and all(d["labels"] for d in ds)


def test_render_window_and_resolution(tmp_path):
    out = tmp_path / "sub" / "face.png"
    assert main(["render", "face", "-o", str(out), "--res", "40", "--window", "-2", "2", "-2", "2"]) == 0
    img = np.asarray(Image.open(out))
    assert img.shape == (40, 40, 4)
    assert [p.name for p in out.parent.iterdir()] == ["face.png"]


def test_replicate_writes_a_fer_net_folder(tmp_path):
    out = tmp_path / "sgd_face"
    assert main(["replicate", "face", "-o", str(out), "--res", "16", "--steps", "40", "--seed", "1"]) == 0
    assert {p.name for p in out.iterdir()} == {"arch.txt", "params.npy", "img.png", "losses.npy", "settings.json"}
    net = load_cppn(out)
    assert str(net.arch) == load_cppn("face").arch.__str__()
    img = np.asarray(Image.open(out / "img.png"))[..., :3] / 255.0
    assert np.abs(net.render(256) - img).max() <= 1 / 255 + 1e-6
    settings = json.loads((out / "settings.json").read_text())
    assert settings["seed"] == 1 and settings["steps"] == 40 and len(np.load(out / "losses.npy")) == 40


def test_replicate_other_arch_from_png(tmp_path):
    assert main(["render", "target", "-o", str(tmp_path / "t.png"), "--res", "16"]) == 0
    out = tmp_path / "relu"
    assert main(["replicate", str(tmp_path / "t.png"), "-o", str(out), "--res", "16", "--steps", "10",
                 "--arch", "4;relu:8"]) == 0
    assert load_cppn(out).arch.n_hidden == 4


def test_python_dash_m():
    r = subprocess.run([sys.executable, "-m", "fracturelab", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "replicate" in r.stdout
