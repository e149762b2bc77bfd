"""Hostile input, round seven (issue 28): task options refused where they are read, not in every cell afterwards.

A study spec's [[tasks]].options were checked by value only for the tasks with a TaskSpec.check_settings (binding,
leave_square_out): bad options of the others passed the spec check and every cell then failed (exit 0). And
`fracturelab probe` on a run folder whose config.json was edited crashed through the catch-all. Every test failed on
the code before its fix but the last three, which guard what the fixes keep (counts moved out of make, a bad run
option refused as before, a pretrain run still loading); the CLI runs in this process through test_hostile.refused
(one line, exit 2, no traceback, nothing under `watch` changed).
"""
from __future__ import annotations

import json
import shutil

import pytest
from test_hostile import refused, rundir  # noqa: F401 - rundir is a fixture

from fracturelab.tasks import TASKS

NAMES = list(TASKS)

SPEC = """
name = "t"
seeds = [0]
regimes = ["scratch"]
probes = []
[[tasks]]
name = "{task}"
models = ["{model}"]
options = {{ max_steps = 2, {option} }}
"""


@pytest.mark.parametrize("task, model, option, words", [
    ("lookup", "mlp", "n_bits = 0", ("n_bits", "1..8")),
    ("scan", "transformer", "id_frac = 2.0", ("id_frac", "(0, 1)")),
    ("multiplication", "transformer", "ood_sizes = []", ("ood_sizes", "empty")),
    ("factors", "mlp", "grid = 0", ("grid", "at least 2")),
    ("knowledge_graph", "transformer", "n_entities = 1", ("2 entities",)),
    ("factors", "mlp", "grid = 2, n_noise = 60", ("n_noise", "at most 55")),  # numpy's "larger sample" in make
])
def test_bad_task_option_refused_at_load(tmp_path, capsys, task, model, option, words):
    """Each passed the spec check; the study exited 0 with its cell failed and its store and report written."""
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC.format(task=task, model=model, option=option))
    refused(capsys, ["study", spec, "-o", tmp_path / "out", "-q", "--workers", "1", "--no-picbreeder"],
            f"spec.tasks[0] ({task}", *words, watch=[tmp_path])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", NAMES)
def test_every_task_checks_its_settings_and_its_defaults_pass(name):
    """The contract a study spec relies on: every task refuses at load what its make would refuse."""
    spec = TASKS[name]
    assert callable(spec.check_settings), f"task {name!r} registers no check_settings"
    for split in spec.splits:
        spec.check_settings(spec.settings_cls(split=split))
        spec.check_settings(spec.settings_cls(split=split, **spec.recipe.task_options))
        spec.check_settings(spec.settings_cls(split=split, **spec.tiny))


def _edited(tmp_path, rundir, section: str, key: str, value):  # noqa: F811
    run = shutil.copytree(rundir, tmp_path / "run")
    config = json.loads((run / "config.json").read_text())
    config[section][key] = value
    (run / "config.json").write_text(json.dumps(config))
    return run


@pytest.mark.parametrize("section, key, value, words", [
    ("task_options", "op", "mul", ("data_spec.info op", "'mul'", "task_options")),  # was KeyError: '*'
    ("data_spec", "max_src", -1, ("data_spec.max_src", "-1")),  # was "tensor with negative dimension"
    ("data_spec", "max_tgt", 7, ("data_spec.max_tgt", "7")),
    ("data_spec", "src_vocab", ["<pad>", "0", "1"], ("data_spec.src_vocab", "lacks")),
    ("task_options", "p", 13, ("data_spec.info p", "13")),
])
def test_probe_on_an_edited_run_config_refused(tmp_path, capsys, rundir, section, key, value, words):  # noqa: F811
    run = _edited(tmp_path, rundir, section, key, value)
    refused(capsys, ["probe", run, "--probes", "sparsity"], "config.json", *words, watch=[tmp_path])
    assert not (run / "probes.json").exists()


def test_probe_on_a_run_config_with_a_bad_task_option_refused(tmp_path, capsys, rundir):  # noqa: F811
    """The run's task options go through the task's own settings types and check_settings."""
    run = _edited(tmp_path, rundir, "task_options", "side", 0)
    refused(capsys, ["probe", run, "--probes", "sparsity"], "config.json", "side", watch=[tmp_path])


def test_moved_counts_match_what_make_builds():
    """factors' new_triple and knowledge_graph's trained 2-hop counts are now known before make (check_settings
    reads them): make builds exactly that many."""
    from fracturelab.tasks import make_task

    for split in ("shape_colour", "shape_position", "colour_position"):
        d = make_task("factors", split=split, **TASKS["factors"].tiny)
        combos = {tuple(e.meta["factors"].values()) for e in d.extra["new_triple"]}
        assert len(combos) == int(round(0.1 * len({tuple(e.meta["factors"].values()) for e in d.train} | combos)))
    for split in ("depth", "composition"):
        d = make_task("knowledge_graph", split=split, **TASKS["knowledge_graph"].tiny)
        assert d.info["notes"]["n_2hop_trained"] == sum(e.meta["hops"] == 2 for e in d.train)


def test_pretrain_run_folder_still_loads(tmp_path):
    """A pretrain run's data_spec holds its pretraining set's tokens too (the other operator): load_run rebuilds it
    the way train_run wrote it."""
    from fracturelab.train import load_run, train_run

    out = tmp_path / "run"
    train_run("leave_square_out", regime="pretrain", seed=0, outdir=out, max_steps=2, pretrain_steps=2, eval_every=2,
              p=11, side=3, hidden=8, progress=False)
    model, data, config = load_run(out)
    assert "*" in config["data_spec"]["src_vocab"] and data.name == "leave_square_out"
