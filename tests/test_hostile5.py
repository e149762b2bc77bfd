"""Hostile input, round five (issue 28, a fresh sweep: /tmp/hostile5/sweep.py): the cases of the fresh sweep that
broke, each with the guard that now holds it. Every test failed on the code before its fix. The CLI runs in this
process through test_hostile.refused: one line, exit 2, no traceback, nothing under `watch` changed.
"""
from __future__ import annotations

import pytest
from study_helpers import tampered_store
from test_hostile import refused

from fracturelab.cli import main


def test_planted_task_listed_twice_refused(tmp_path, capsys):
    """`planted --tasks lookup,lookup` was accepted and built, scored and counted every lookup pair twice. The output
    is a regular file here, so the code before the fix stops at once (on the output, not on the repeat)."""
    (tmp_path / "out").write_text("x")
    refused(capsys, ["planted", "-o", tmp_path / "out", "--quick", "--tasks", "lookup,lookup"], "'lookup'",
            "listed twice", watch=[tmp_path])


def test_prompts_export_sets_are_stripped(tmp_path, capsys):
    """`--sets ' test_id '` names the set test_id, as `planted --tasks` and `--group-by` read their lists: the blank
    parts were already skipped, the padding of the others was kept and refused as an unknown set."""
    out = tmp_path / "p.jsonl"
    assert main(["prompts", "export", "binding", "-o", str(out), "--set", "n_train=60", "--set", "n_test=8",
                 "--sets", " test_id , "]) == 0, capsys.readouterr().err
    assert "test_id 8" in capsys.readouterr().out and out.exists()


def test_a_bare_word_where_a_tuple_of_strings_goes(capsys):
    """`--set given=colour` is the one-element tuple ("colour",), as `given = "colour"` is in a spec (the settings
    rule: one value where a tuple is expected); it was refused as "not a valid value" (not a Python literal)."""
    assert main(["tasks", "show", "binding", "--set", "n_train=60", "--set", "n_test=8", "--set", "given=object",
                 "--json"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert '"given": "object"' in out and '"given": "colour"' not in out and '"given": "place"' not in out


def test_a_bare_word_still_refused_where_no_string_goes(capsys):
    """The other side: a word where a tuple of numbers goes is still refused."""
    refused(capsys, ["train", "--task", "multiplication", "-o", "never", "--set", "train_sizes=big"],
            "train_sizes='big'")


def test_analysis_match_id_acc_below_zero_refused_at_load(tmp_path, capsys):
    """`match_id_acc = -1` was accepted and the study started: no seed pair can differ by less than 0, so claim 9
    would never have a matched pair."""
    from study_helpers import TINY, write_spec

    spec = write_spec(tmp_path, TINY + "\n[analysis]\nmatch_id_acc = -1\n")
    refused(capsys, ["study", spec, "-o", tmp_path / "out", "-q"], "match_id_acc", watch=[tmp_path])
    assert not (tmp_path / "out").exists()


def test_a_settings_key_given_twice_refused(tmp_path, capsys):
    """`intervention = "strength=1,strength=2"` trained at 2 unseen (the last won); now one line names the key."""
    refused(capsys, ["train", "--task", "leave_square_out", "--regime", "decay", "-o", tmp_path / "o", "--set",
                     "intervention=strength=1,strength=2", "--set", "p=11", "--set", "side=3"],
            "'strength'", "twice", watch=[tmp_path])


@pytest.mark.parametrize("sql, words", [
    ("UPDATE studies SET spec_json = json_set(spec_json, '$.tasks', json('null'))", ("TypeError",)),
    ("UPDATE studies SET spec_json = json_set(spec_json, '$.scales', 7)", ("TypeError",)),
])
def test_report_on_a_store_whose_rows_were_changed(tmp_path, capsys, sql, words):
    """A stored spec whose tasks are null or whose scales are a number: an internal error (TypeError) before; now
    one line naming the store."""
    d = tampered_store(tmp_path, sql)
    refused(capsys, ["report", d, "-o", tmp_path / "r"], "results.sqlite", "changed outside fracturelab", *words,
            watch=[tmp_path])


def test_report_to_an_empty_output_name_refused(tmp_path, capsys, monkeypatch):
    """`report DIR -o ''` wrote report.html into the current folder (Path('') is '.'); other commands refuse it."""
    monkeypatch.chdir(tmp_path)
    refused(capsys, ["report", "nowhere", "-o", ""], "-o is empty", watch=[tmp_path])


@pytest.mark.parametrize("extra, words", [
    (["--method", "neat", "--arch", "2;sin:4"], ("--arch applies to --method cmaes and es",)),
    (["--method", "cmaes", "--arch", " "], ("--arch is empty",)),
])
def test_evolve_arch_that_would_do_nothing_refused(tmp_path, capsys, extra, words):
    """NEAT grows its own arch, so `--arch` was ignored unseen; an empty `--arch` silently meant the default."""
    refused(capsys, ["evolve", "face", "-o", tmp_path / "o", "--res", "8", "--generations", "1", "--population", "4",
                     *extra], *words, watch=[tmp_path])


def test_probe_model_group_by_naming_nothing_refused(tmp_path, capsys):
    """`--group-by ''` (or ',,') was taken for no --group-by at all, while `--layers ''` and `--probes ''` are
    refused."""
    refused(capsys, ["probe-model", "nowhere", "--prompts", "p.jsonl", "-o", tmp_path / "o", "--group-by", ",,"],
            "--group-by names no field", watch=[tmp_path])
