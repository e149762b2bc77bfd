"""Hostile input, round three (issue 28, "tried again with a fresh set"): the cases of the fresh sweep
(/tmp/hostile2/sweep.py) that broke, each with the guard that now holds it. Every test failed on the code before
its fix. The CLI runs in this process through test_hostile.refused: one line, exit 2, no traceback, nothing under
`watch` changed.
"""
from __future__ import annotations

import json
import os

import pytest
from test_hostile import refused, rundir, study_dir  # noqa: F401 (fixtures)

from fracturelab.cli import main


def test_render_window_empty_in_float32_refused(tmp_path, capsys):
    """0 < 1e-46 in float64, but both are 0 in float32, where nets render: a window of no width."""
    refused(capsys, ["render", "face", "-o", tmp_path / "a.png", "--res", "8", "--window", "0", "1e-46", "-1", "1"],
            "--window", "float32", watch=[tmp_path])


def test_output_file_with_trailing_slash_refused(tmp_path, capsys):
    """`-o a.png/` names a folder; pathlib drops the slash, so it used to write the file a.png."""
    refused(capsys, ["render", "face", "-o", f"{tmp_path / 'a.png'}/", "--res", "8"], "names a folder",
            watch=[tmp_path])


def test_labels_json_has_no_nan(tmp_path, capsys):
    """A genome without quiet links has undefined quiet-link statistics: null in labels.json, never `NaN` (which is
    not JSON)."""
    from fracturelab.cppn import picbreeder

    d = tmp_path / "g"
    d.mkdir()
    (d / "g.xml").write_bytes((picbreeder.ROOT / "cppnx" / "121_ShortSDCoif.xml").read_bytes())
    assert main(["labels", str(d), "-o", str(tmp_path / "out"), "--res", "8", "--n-perm", "2"]) == 0
    capsys.readouterr()
    rows = json.loads((tmp_path / "out" / "labels.json").read_text(),
                      parse_constant=lambda c: pytest.fail(f"labels.json holds {c}"))
    assert rows[0]["effect_quiet_median"] is None


def test_neat_elitism_over_population_refused_before_a_generation(tmp_path, capsys):
    """neat-python raised its own RuntimeError after the first generation (the catch-all's "internal error")."""
    refused(capsys, ["evolve", "face", "-o", tmp_path / "out", "--res", "8", "--generations", "1", "--population",
                     "4", "--set", "elitism=1000"], "elitism <= population", watch=[tmp_path])


def test_neat_species_conflict_one_line(monkeypatch):
    """More species than the population can keep at their minimum (it can happen mid-run with any settings): one
    line saying what to change, not neat-python's RuntimeError."""
    import neat

    from fracturelab.errors import FracturelabError
    from fracturelab.train.evolve import neat_cppn

    def conflict(self, *a, **k):
        raise RuntimeError("Configuration conflict: population size 4 is less than num_species * min_species_size")

    monkeypatch.setattr(neat.Population, "run", conflict)
    config = neat_cppn.make_config(neat_cppn.NEATSettings(population=4), 1)
    with pytest.raises(FracturelabError, match="Raise the population"):
        neat_cppn.run_population(config, 0, lambda genomes, config: None, 1)


def test_neat_initial_hidden_size_refused(tmp_path, capsys, monkeypatch):
    """initial_hidden = 10**9 built a billion nodes per genome (the sweep's case ran out its 120 s); here the same
    at a small scale: 4 genomes x 1000 hidden x 8 inputs and outputs are over a max_params of 10,000."""
    monkeypatch.setenv("FRACTURELAB_MAX_PARAMS", "10000")
    refused(capsys, ["evolve", "face", "-o", tmp_path / "out", "--res", "8", "--generations", "1", "--population",
                     "4", "--set", "initial_hidden=1000"], "max_params", "initial_hidden", watch=[tmp_path])


@pytest.mark.parametrize("argv", [["tasks", "show", "factors", "--set", "seed=3"],
                                  ["prompts", "export", "scan", "-o", "p.jsonl", "--set", "split=length"]])
def test_task_flag_given_as_set_refused(tmp_path, capsys, monkeypatch, argv):
    """--set seed=... or split=... reached make_task beside --seed/--split: a TypeError (the catch-all)."""
    monkeypatch.chdir(tmp_path)
    refused(capsys, argv, "give it as --", watch=[tmp_path])


@pytest.mark.parametrize("out", [".", "sub/.."])
def test_output_folder_without_a_name_refused(tmp_path, capsys, monkeypatch, out):
    """train -o . --force trained, then failed renaming "." (the catch-all); -o .. --force would have replaced the
    parent folder whole."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("mine")
    refused(capsys, ["train", "--task", "leave_square_out", "-o", out, "--force", "-q", "--set", "max_steps=2",
                     "--set", "p=11", "--set", "side=3", "--set", "hidden=8"], "names no folder", watch=[tmp_path])


def _run_copy(rundir, tmp_path):
    import shutil

    return shutil.copytree(rundir, tmp_path / "run")


def test_run_config_with_empty_vocab_one_line(tmp_path, rundir):
    """An edited config.json with an empty src_vocab built zero-size layers: torch's warning on stderr beside ours."""
    from study_helpers import cli
    from test_hostile import refused_proc

    run = _run_copy(rundir, tmp_path)
    cfg = json.loads((run / "config.json").read_text())
    cfg["data_spec"]["src_vocab"] = []
    (run / "config.json").write_text(json.dumps(cfg))
    r = cli("probe", run, "--probes", "sparsity")
    refused_proc(r, "src_vocab")
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_model_pt_that_runs_code_one_line_without_advice_to_run_it(tmp_path, rundir):
    """A pickle whose load would call os.system: refused (weights only, as before), now in one line (torch's
    protocol warning was printed too) that does not advise loading it with weights_only=False, as torch's did."""
    import pickle

    from study_helpers import cli
    from test_hostile import refused_proc

    run = _run_copy(rundir, tmp_path)

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    (run / "model.pt").write_bytes(pickle.dumps(Evil()))
    r = cli("probe", run, "--probes", "sparsity")
    refused_proc(r, "nothing was run")
    assert len(r.stderr.strip().splitlines()) == 1 and "weights_only" not in r.stderr, r.stderr
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_report_outputs_checked_before_any_is_written(tmp_path, capsys, study_dir, kind):
    """report.html a FIFO, or summary.json a folder: refused as before, but only after summary.json and
    explorer.html had been written beside it."""
    target = study_dir / ("report.html" if kind == "fifo" else "summary.json")
    target.unlink(missing_ok=True)
    os.mkfifo(target) if kind == "fifo" else target.mkdir()
    refused(capsys, ["report", study_dir, "-q"], target.name, watch=[study_dir])


def test_report_store_with_a_studies_row_not_text_refused(tmp_path, capsys, study_dir):
    """studies.created as a blob reached json.dumps of summary.json: a TypeError (the catch-all), after the output
    folder had been made."""
    import sqlite3

    with sqlite3.connect(study_dir / "results.sqlite") as con:
        con.execute("UPDATE studies SET created = x'ff00'")
    con.close()
    refused(capsys, ["report", study_dir, "-q", "-o", tmp_path / "o"], "created", watch=[tmp_path])


@pytest.mark.parametrize("edit, words", [
    (("batch_size = 64 }", 'batch_size = 64, split = "random" }'), ("'split' is not an option",)),
    (("probes = []", 'probes = ["sparsity"]\nprobe_options = { sparsity = { max_examples = -1 } }'),
     ("max_examples", "at least 1")),
])
def test_spec_errors_found_at_load(tmp_path, capsys, edit, words):
    """A task option named like one of train.resolve's own arguments was a TypeError (the catch-all); a negative
    probe setting failed in every cell, with exit 0 and a report of failed cells."""
    from study_helpers import TINY, write_spec

    assert edit[0] in TINY
    spec = write_spec(tmp_path, TINY.replace(*edit))
    refused(capsys, ["study", spec, "-o", tmp_path / "out", "-q", "--no-picbreeder"], *words, watch=[tmp_path])


def test_plugin_that_exits_at_import_refused(tmp_path, capsys):
    """sys.exit(0) in a plug-in ended `study` with exit 0, nothing run and nothing said."""
    from study_helpers import TINY, write_spec

    (tmp_path / "p.py").write_text("import sys\nsys.exit(0)\n")
    spec = write_spec(tmp_path, f'plugins = ["{tmp_path / "p.py"}"]\n' + TINY)
    refused(capsys, ["study", spec, "-o", tmp_path / "out", "-q", "--no-picbreeder"], "exited at import",
            watch=[tmp_path])


def test_study_store_that_is_a_dangling_link_refused_untouched(tmp_path, capsys):
    """OUT/results.sqlite a link to nowhere was taken for a new store: a temporary file was made in OUT, the write
    through the link failed, and OUT was changed (its temporary file come and gone) before the refusal."""
    from study_helpers import TINY, write_spec

    out = tmp_path / "out"
    out.mkdir()
    (out / "results.sqlite").symlink_to("/nonexistent/r.sqlite")
    spec = write_spec(tmp_path, TINY)
    err = refused(capsys, ["study", spec, "-o", out, "-q", "--no-picbreeder"], "does not exist", watch=[tmp_path])
    assert "results.sqlite" in err
