"""Hostile input, round six (issue 28, a fresh sweep of 647 cases: docs/reliability.md): the breaks of the command
line and of settings, each with the guard that now holds it. Every test failed on the code before its fix. The CLI runs
in this process through test_hostile.refused: one line, exit 2, no traceback, nothing under `watch` changed. (The
task options and run folders of the same sweep: test_hostile7_tasks.py; report on odd stores: test_hostile7_report.py.)
"""
from __future__ import annotations

import pytest
from test_hostile import refused

from fracturelab.cli import main


@pytest.mark.parametrize("argv, words", [
    (["evolve", "face", "--res", "8", "--population", "4", "--generations", "9000000000"], "evolution generations"),
    (["replicate", "face", "--res", "8", "--steps", "90000000000"], "replicate steps"),
    (["train", "--task", "factors", "--set", "max_steps=100000000000"], "train setting max_steps"),
])
def test_step_counts_over_the_limit_refused(tmp_path, capsys, argv, words):
    """`evolve --generations 9000000000` ran until the tester's CPU limit killed it: no limit bounded steps or
    generations, while every size had one. Now limits.max_steps does (FRACTURELAB_MAX_STEPS)."""
    refused(capsys, [*argv, "-o", tmp_path / "o"], words, "max_steps", watch=[tmp_path])


def test_the_step_limit_is_settable(tmp_path, capsys, monkeypatch):
    """The other side: the limit is the user's to set, as every other limit."""
    monkeypatch.setenv("FRACTURELAB_MAX_STEPS", "5")
    refused(capsys, ["replicate", "face", "--res", "8", "--steps", "6", "-o", tmp_path / "o"], "max_steps = 5",
            watch=[tmp_path])


@pytest.mark.parametrize("argv, words", [
    (["replicate", "face", "--res", "8", "--steps", "2", "--lr", "1e308"], "overflows float32"),
    (["train", "--task", "factors", "--set", "lr=1e308"], "overflows float32"),
])
def test_a_learning_rate_past_float32_refused(tmp_path, capsys, argv, words):
    """`replicate --lr 1e308` printed its progress bar and then "diverged at step 1" (four lines); a spec's
    `lr = 1e308` failed in every cell inside Adam ("cannot be converted to type float without overflow")."""
    refused(capsys, [*argv, "-o", tmp_path / "o"], words, watch=[tmp_path])


def test_a_spec_learning_rate_past_float32_refused_at_load(tmp_path, capsys):
    from study_helpers import TINY, write_spec

    spec = write_spec(tmp_path, TINY.replace("batch_size = 64 }", "batch_size = 64, lr = 1e308 }"))
    refused(capsys, ["study", spec, "-o", tmp_path / "out", "-q"], "overflows float32", watch=[tmp_path])
    assert not (tmp_path / "out").exists()


def test_genome_link_with_two_weights_refused(tmp_path, capsys):
    """A link with two <weight> elements was read silently with the first."""
    from fracturelab.cppn.picbreeder import resolve

    text = resolve("121_ShortSDCoif").read_text()
    i = text.index("<weight>")
    g = tmp_path / "g.xml"
    g.write_text(text[:i] + "<weight>0.5</weight>" + text[i:])
    refused(capsys, ["genome", g], "has 2 weights", watch=[tmp_path])


def test_novelty_threshold_below_zero_refused(tmp_path, capsys):
    """A novelty is an RMS distance (>= 0): threshold=-1 read as 0 unseen, while k=0 and k=nan were refused."""
    refused(capsys, ["evolve", "face", "-o", tmp_path / "o", "--res", "8", "--generations", "1", "--population", "4",
                     "--method", "neat-novelty", "--novelty", "threshold=-1"], "threshold >= 0", watch=[tmp_path])


@pytest.fixture(scope="module")
def scan_run(tmp_path_factory):
    from fracturelab.train import train_run

    out = tmp_path_factory.mktemp("scan") / "run"
    train_run("scan", seed=0, outdir=out, max_steps=2, eval_every=2, prim_repeats=1, d_model=16, n_layer=1,
              progress=False)
    return out


def test_prompts_export_into_its_run_folder_refused(tmp_path, capsys, scan_run):
    """`prompts export RUN -o RUN/model.pt` replaced the run's model with prompt lines."""
    import shutil

    run = shutil.copytree(scan_run, tmp_path / "run")
    refused(capsys, ["prompts", "export", run, "-o", run / "model.pt"], "lies inside", watch=[tmp_path])


def test_prompts_export_over_an_earlier_export_of_a_task_accepted(tmp_path, capsys, monkeypatch):
    """The other side: a task name is no input path, so `-o` may name a file called like the task."""
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        assert main(["prompts", "export", "scan", "--set", "prim_repeats=1", "-o", "scan"]) == 0, \
            capsys.readouterr().err


def test_render_reads_a_builtin_by_the_name_builtins_lists(tmp_path, capsys):
    """`fracturelab builtins` lists `face  (builtin:face)`; `render builtin:face` was refused as no such file."""
    out = tmp_path / "f.png"
    assert main(["render", "builtin:face", "--res", "8", "-o", str(out)]) == 0, capsys.readouterr().err
    assert out.stat().st_size > 0
