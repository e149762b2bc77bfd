"""SCAN regenerated from its grammar: the command set, each split's exact sizes, and how test_id is carved."""
import functools

import pytest

from fracturelab.tasks import make_task
from fracturelab.tasks.scan import all_commands


@functools.lru_cache(maxsize=None)
def _scan(split, seed=0, novelty=False, **kw):
    return make_task("scan", split=split, seed=seed, novelty=novelty, **kw)


def _cmds(exs):
    return [" ".join(e.src) for e in exs]


def test_all_commands():
    cmds = all_commands()
    assert len(cmds) == 20910 and len({c[0] for c in cmds}) == 20910
    assert max(len(c[1]) for c in cmds) == 48
    act = {" ".join(c[0]): " ".join(c[1]) for c in cmds}
    assert act["jump"] == "I_JUMP"
    assert act["turn left"] == "I_TURN_LEFT"
    assert act["walk left"] == "I_TURN_LEFT I_WALK"
    assert act["turn opposite right"] == "I_TURN_RIGHT I_TURN_RIGHT"
    assert act["run opposite left"] == "I_TURN_LEFT I_TURN_LEFT I_RUN"
    assert act["turn around right"] == " ".join(["I_TURN_RIGHT"] * 4)
    assert act["look around left twice"] == " ".join(["I_TURN_LEFT I_LOOK"] * 8)
    assert act["walk after run thrice"] == "I_RUN I_RUN I_RUN I_WALK"
    assert act["jump twice and look left"] == "I_JUMP I_JUMP I_TURN_LEFT I_LOOK"


def _partition(d, orig_train, orig_test):
    train, test_id, test_ood = (set(_cmds(x)) for x in (d.train, d.test_id, d.test_ood))
    assert not train & test_id and not train & test_ood and not test_id & test_ood
    assert train | test_id == orig_train  # as sets of distinct commands
    assert test_ood == orig_test
    notes = d.info["notes"]  # the only duplicates in train are the lone primitive's copies
    assert len(d.train) - notes["lone_primitive_copies"] + bool(notes["lone_primitive"]) == len(train)
    assert len(d.test_id) == len(test_id)


def test_split_simple():
    d = _scan("simple")
    assert len(d.test_ood) == 4182 and len(d.train) + len(d.test_id) == 16728
    every = {" ".join(c[0]) for c in all_commands()}
    _partition(d, every - set(_cmds(d.test_ood)), set(_cmds(d.test_ood)))
    assert "redraw" in d.info["notes"]["differs_from_original"]


def test_split_length():
    d = _scan("length")
    assert len(d.test_ood) == 3920 and len(d.train) + len(d.test_id) == 16990
    short = {" ".join(c[0]) for c in all_commands() if len(c[1]) <= 22}
    _partition(d, short, {" ".join(c[0]) for c in all_commands()} - short)
    assert max(e.meta["length"] for e in d.train) == 22 and min(e.meta["length"] for e in d.test_ood) == 24


def test_split_addprim_jump():
    d = _scan("addprim_jump")
    # the original training file: 14,670 lines, "jump" on 1,467 of them (10 %); train + test_id is that file
    assert len(d.test_ood) == 7706 and len(d.train) + len(d.test_id) == 14670
    every = {" ".join(c[0]) for c in all_commands()}
    no_jump = {c for c in every if "jump" not in c.split()}
    _partition(d, no_jump | {"jump"}, every - no_jump - {"jump"})
    assert "jump" not in _cmds(d.test_id)
    assert _cmds(d.train).count("jump") == sum("jump" in e.src for e in d.train) == 1467


def test_split_addprim_turn_left():
    d = _scan("addprim_turn_left")
    assert len(d.test_ood) == 1208
    every = {" ".join(c[0]) for c in all_commands()}
    with_tl = {c for c in every if "turn left" in c and c != "turn left"}
    _partition(d, every - with_tl, with_tl)
    assert "turn left" not in _cmds(d.test_id)
    assert len(d.test_id) == round(0.1 * (20910 - 1208))
    # the original training file: 21,890 lines, "turn left" on 2,189 of them (10 %)
    assert _cmds(d.train).count("turn left") == 2189 and len(d.train) + len(d.test_id) == 21890
    assert sum(" ".join(e.src).count("turn left") for e in d.train) == 2189  # alone, never inside another command


def test_seeds_and_repeats():
    a, b = _scan("length", 0), _scan("length", 1)
    again = make_task("scan", split="length", seed=0, novelty=False)
    assert _cmds(a.test_id) == _cmds(again.test_id) and _cmds(a.train) == _cmds(again.train)
    assert set(_cmds(a.test_id)) != set(_cmds(b.test_id))
    assert set(_cmds(a.test_ood)) == set(_cmds(b.test_ood))  # the length split itself is fixed
    once = _scan("addprim_jump", prim_repeats=1)  # oversampling off: every command once
    assert _cmds(once.train).count("jump") == 1 and len(once.train) == len(set(_cmds(once.train)))
    assert len(once.train) == len(_scan("addprim_jump").train) - 1466
    assert set(_cmds(once.test_id)) == set(_cmds(_scan("addprim_jump").test_id))  # the same carve either way
    r = make_task("scan", split="addprim_jump", prim_repeats=5, novelty=False)
    assert _cmds(r.train).count("jump") == 5 and len(r.train) == len(once.train) + 4
    assert _scan("length").info["notes"]["lone_primitive_copies"] == 0


def test_metadata():
    d = _scan("addprim_jump", novelty=True)
    e = next(x for x in d.test_ood if x.src == ("jump", "twice"))
    assert e.meta["seen_frac"] == 0.5  # "jump" was trained, "jump twice" never
    assert e.meta["depth"] == 2 and e.meta["width"] == 1 and e.meta["length"] == 2
    assert all(x.meta["seen_frac"] == 1.0 and x.meta["nn_dist"] == 0.0 for x in d.train)
    assert all(0 < x.meta["nn_dist"] <= 1 for x in d.test_ood + d.test_id)
    assert max(x.meta["depth"] for x in d.test_ood) == 4  # prim, direction, repetition, conjunction
    w = next(x for x in d.test_ood if x.src == ("jump", "and", "walk"))
    assert w.meta["width"] == 2 and w.meta["nn_dist"] == pytest.approx(1 / 3)
