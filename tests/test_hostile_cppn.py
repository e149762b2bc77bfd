"""Hostile input, the CPPN, evolve, probe and prompt commands (issue 28's fresh sweep, /tmp/hostile/sweep.py): each
case was accepted, failed late or reached the catch-all before its fix. The CLI runs in this process through
test_hostile.refused: one line, exit 2, no traceback, nothing under `watch` changed."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_hostile import netdir, refused, rundir  # noqa: F401  (the fixtures are test_hostile's)

from fracturelab.cppn.genome import GenomeError, load_genome

PROMPTS = '{"prompt": "a", "split": "id"}\n{"prompt": "b", "split": "ood"}\n'
"""The smallest prompt set probe-model reads (one ID and one OOD prompt)."""




# -- genomes and net folders ---------------------------------------------------------------------------------------

def test_genome_with_a_repeated_link_refused(tmp_path, capsys, picbreeder_dir):
    """A NEAT genome has one connection gene per node pair: 200,000 copies of one link (a cheap, large file) are
    refused at load, naming the pair; the shipped genome itself still loads."""
    src = picbreeder_dir / "cppnx" / "121_ShortSDCoif.xml"
    text = src.read_text()
    link = re.search(r"<link>.*?</link>", text, re.S).group(0)
    g = tmp_path / "g.xml"
    g.write_text(text.replace("</links>", link * 3 + "</links>", 1))
    refused(capsys, ["genome", g], "appears twice", watch=[tmp_path])
    with pytest.raises(GenomeError, match="appears twice"):
        load_genome(g)
    assert len(load_genome(src).links) == text.count("<link>")


@pytest.mark.parametrize("dtype", [bool, np.int32])
def test_net_folder_params_not_floats_refused(tmp_path, capsys, netdir, dtype):
    p = netdir / "params.npy"
    np.save(p, (np.load(p) > 0).astype(dtype))
    refused(capsys, ["genome", netdir], "params.npy", "floating-point")
    refused(capsys, ["render", netdir, "-o", tmp_path / "a.png", "--res", "8"], "floating-point", watch=[tmp_path])


# -- render, replicate, fer ------------------------------------------------------------------------------------------

def test_render_window_over_float32_refused(tmp_path, capsys):
    refused(capsys, ["render", "face", "-o", tmp_path / "a.png", "--res", "8", "--window", "1e39", "2e39", "-1", "1"],
            "--window", "float32", watch=[tmp_path])


def test_replicate_empty_arch_refused(tmp_path, capsys):
    """--arch '' is a bad arch, not the target's own (that is --arch left out)."""
    from fracturelab.cppn.replicate import ReplicateSettings
    from fracturelab.errors import FracturelabError

    refused(capsys, ["replicate", "face", "-o", tmp_path / "out", "--res", "8", "--steps", "2", "--arch", ""],
            "bad arch string", watch=[tmp_path])
    with pytest.raises(FracturelabError, match="bad arch"):
        ReplicateSettings(arch="").check()
    ReplicateSettings(arch=None).check()


def test_fer_replicas_over_max_runs_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FRACTURELAB_MAX_RUNS", "5")
    refused(capsys, ["fer", "face", "-o", tmp_path / "out", "--quick", "--res", "8", "--replicas", "6"],
            "--replicas", "max_runs", watch=[tmp_path])


# -- evolve ----------------------------------------------------------------------------------------------------------

EVOLVE = ["evolve", "face", "--res", "8", "--generations", "1", "--population", "4"]


@pytest.mark.parametrize("extra, words", [
    (["--set", ""], ("--set is empty",)),
    (["--set", "node_add_prob=2"], ("node_add_prob", "[0, 1]")),
    (["--set", "node_add_prob=-0.5"], ("node_add_prob", "[0, 1]")),
    (["--set", "conn_add_prob=1.5"], ("conn_add_prob", "[0, 1]")),
    (["--set", "elitism=-1"], ("elitism >= 0",)),
    (["--method", "es", "--set", "sigma=1e300"], ("sigma", "finite")),
    (["--method", "cmaes", "--novelty", "k=3"], ("--novelty applies to --method neat-novelty",)),
    (["--method", "neat-novelty", "--novelty", " "], ("--novelty is empty",)),
])
def test_evolve_bad_settings_refused(tmp_path, capsys, extra, words):
    refused(capsys, [*EVOLVE, "-o", tmp_path / "out", *extra], *words, watch=[tmp_path])


@pytest.mark.parametrize("field", ["sigma", "lr"])
def test_es_settings_infinite_refused_in_python(field):
    """Settings built in Python skip the command line's parser (which refuses inf): check() holds them too."""
    from fracturelab.errors import FracturelabError
    from fracturelab.train.evolve.settings import ESSettings

    with pytest.raises(FracturelabError, match="finite"):
        ESSettings(**{field: float("inf")}).check()


def test_evolve_settings_bounds_are_inclusive():
    """The edges stay legal: chances 0 and 1, elitism 0."""
    from fracturelab.train.evolve.settings import ESSettings, NEATSettings

    NEATSettings(node_add_prob=0.0, conn_add_prob=1.0, elitism=0).check()
    ESSettings(sigma=1e30).check()


# -- probe, probe-model, prompts -------------------------------------------------------------------------------------

def test_probe_empty_probe_list_refused(tmp_path, capsys, rundir):
    run = Path(shutil.copytree(rundir, tmp_path / "run"))
    refused(capsys, ["probe", run, "--probes", ""], "no probe named", watch=[tmp_path])


def test_probe_output_that_is_a_folder_refused_before_the_figures(tmp_path, capsys, rundir):
    """probes.json a folder: refused before any probe runs, so probes/ (the figures) is never written."""
    run = Path(shutil.copytree(rundir, tmp_path / "run"))
    (run / "probes.json").mkdir()
    refused(capsys, ["probe", run, "--probes", "sparsity"], "probes.json", "is a folder", watch=[tmp_path])
    assert not (run / "probes").exists()


def test_probe_empty_weights_file_named(tmp_path, capsys, rundir):
    """An empty model.pt: torch raises an exception with no message; the line names the file, not a catch-all."""
    run = Path(shutil.copytree(rundir, tmp_path / "run"))
    (run / "model.pt").write_bytes(b"")
    err = refused(capsys, ["probe", run], "model.pt", "not a readable torch weights file", watch=[tmp_path])
    assert "internal error" not in err


@pytest.mark.parametrize("extra, words", [
    (["--layers", ""], ("no layer named",)),
    (["--layers", " , "], ("no layer named",)),
    (["--dtype", "int8"], ("int8", "floating-point")),
    (["--dtype", "bool"], ("bool", "floating-point")),
])
def test_probe_model_bad_layers_or_dtype_refused(tmp_path, capsys, extra, words):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(PROMPTS)
    refused(capsys, ["probe-model", "m", "--prompts", prompts, "-o", tmp_path / "out", *extra], *words,
            watch=[tmp_path])


@pytest.mark.parametrize("where", ["import", "builder"])
def test_probe_model_builder_that_exits_refused(tmp_path, capsys, where):
    """A user's FILE.py calling sys.exit(0), on import or in its builder, is one refusal, never a silent exit 0."""
    builder = tmp_path / "m.py"
    builder.write_text("import sys\n" + ("sys.exit(0)\n" if where == "import" else "def f():\n    sys.exit(0)\n"))
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(PROMPTS)
    refused(capsys, ["probe-model", f"{builder}:f", "--prompts", prompts, "-o", tmp_path / "out"], "m.py",
            "SystemExit", watch=[tmp_path])


def test_prompts_export_empty_sets_refused(tmp_path, capsys):
    refused(capsys, ["prompts", "export", "scan", "-o", tmp_path / "p.jsonl", "--sets", ""], "no set named",
            watch=[tmp_path])


def test_arch_deeper_than_max_depth_refused(monkeypatch):
    """A million one-unit layers fit in max_params but take hours a step: depth has a limit of its own."""
    from fracturelab.cppn.arch import Arch
    from fracturelab.errors import FracturelabError

    assert Arch.parse("1000;sin:1").n_hidden == 1000
    with pytest.raises(FracturelabError, match="max_depth") as err:
        Arch.parse("1000000;sin:1")
    assert "\n" not in str(err.value)
    monkeypatch.setenv("FRACTURELAB_MAX_DEPTH", "2000000")
    assert Arch.parse("1001;sin:1").n_hidden == 1001


def test_bad_limit_in_the_environment_refused_by_every_command():
    """A FRACTURELAB_MAX_* that is not an integer >= 1 stops even a command that never reads that limit."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "FRACTURELAB_MAX_FILE_BYTES": "abc"}
    r = subprocess.run([sys.executable, "-m", "fracturelab", "builtins"], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 2 and "max_file_bytes" in r.stderr and len(r.stderr.strip().splitlines()) == 1
