"""Hostile input, training options (the fresh sweep's train group): each case was accepted with exit 0 or reached
the CLI's "internal error" catch-all before its fix; now it is refused with one line, before any work, and nothing is
written. The CLI runs in this process, with test_hostile.py's `refused` (exit 2, one line naming the words, nothing
under `watch` changed). Legal edge values (0 = off) are checked to stay accepted, so the guards do not overreach.
"""
from __future__ import annotations

import pytest

from fracturelab.errors import FracturelabError
from fracturelab.train import TrainSettings, resolve
from fracturelab.train.population import parse_seeds
from test_hostile import refused

TRAIN = ["train", "--task", "leave_square_out", "-q", "--set", "max_steps=2", "--set", "eval_every=2", "--set", "p=11",
         "--set", "side=3", "--set", "hidden=8"]

CASES = {  # sweep case number: (extra argv, words the one line must hold)
    "175_seeds_empty_part": (["--seeds", "0,,1"], "--seeds"),
    "175_seeds_trailing_comma": (["--seeds", "0,"], "--seeds"),
    "177_seeds_and_seed": (["--seeds", "0-1", "--seed", "3"], "--seed and --seeds"),
    "193_batch_size_huge": (["--set", "batch_size=1000000000"], "max_task_items"),
    "210_grad_clip_negative": (["--set", "grad_clip=-1"], "grad_clip"),
    "211_max_seconds_negative": (["--set", "max_seconds=-1"], "max_seconds"),
    "215_intervention_nosuch": (["--set", "intervention=nosuch"], "intervention"),
    "215_intervention_bad_value": (["--set", "intervention=strength=-1"], "bimt settings"),
    "216_evolve_nosuch": (["--set", "evolve=nosuch"], "evolve"),
    "216_evolve_unknown_name": (["--set", "evolve=nosuch=1"], "unknown evolve setting 'nosuch'"),
    "216_evolve_not_the_regimes": (["--regime", "es", "--set", "evolve=method=cma"], "regime 'es'"),
    "217_warmup_negative": (["--set", "warmup=-5"], "warmup"),
    "219_eval_batch_zero": (["--set", "eval_batch=0"], "eval_batch=0"),
    "221_set_seed": (["--set", "seed=-1"], "--set seed=...: give it as --seed"),
    "222_set_split": (["--set", "split=random", "--split", "square"], "--set split=...: give it as --split"),
    "min_lr_frac_above_1": (["--set", "min_lr_frac=2"], "min_lr_frac"),
    "weight_decay_negative": (["--set", "weight_decay=-0.1"], "weight_decay"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_training_option_refused_before_work(tmp_path, capsys, case):
    extra, words = CASES[case]
    refused(capsys, [*TRAIN, "-o", tmp_path / "out", *extra], words, watch=[tmp_path])


@pytest.mark.parametrize("text", ["0,,1", "0,", ",0", "", "1e3"])
def test_parse_seeds_refuses_empty_parts(text):
    with pytest.raises(FracturelabError, match="--seeds"):
        parse_seeds(text)


def test_parse_seeds_reads_lists_and_ranges():
    assert parse_seeds("0,3, 5-6") == [0, 3, 5, 6]


@pytest.mark.parametrize("field", ["warmup", "grad_clip", "max_seconds", "weight_decay", "min_lr_frac"])
def test_zero_stays_legal(field):
    """0 is the documented 'off' (or the floor) of each bounded setting: the new guards accept it."""
    TrainSettings(**{field: 0}).check()


def test_evolve_text_checked_as_the_regimes_own_class():
    """cmaes takes an odd population (no mirrored pairs), es does not; NEAT's names are legal under any regime."""
    resolve("leave_square_out", None, None, "cmaes", evolve="population=3", p=11, side=3)
    resolve("leave_square_out", None, None, "scratch", evolve="population=10,initial_hidden=2", p=11, side=3)
    with pytest.raises(FracturelabError, match="even population"):
        resolve("leave_square_out", None, None, "es", evolve="population=3", p=11, side=3)
