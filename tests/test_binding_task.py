"""The binding task: its sets checked against a slow obvious reading of each input, the error taxonomy on hand-made
answers and against a classifier that reads the input itself, the English prompt export, and one-line refusals."""
import functools
import itertools
import json

import numpy as np
import pytest

from fracturelab.errors import FracturelabError
from fracturelab.probes.prompts import read_prompts
from fracturelab.tasks import TASKS, Example, make_task
from fracturelab.tasks.binding import (KINDS, WORDS, BindingSettings, classify_answer, classify_errors,
                                       export_prompts, first_word, heldout_pairs, prompt_rows, sentence)

SMALL = {"n_train": 400, "n_test": 60}


@functools.lru_cache(maxsize=None)
def _data(split="conjunction", **options):
    return make_task("binding", split=split, seed=3, **{**SMALL, **options})


def _read(e: Example):
    """The slow obvious reading of an input: (asked kind, given word, entities as word triples)."""
    ents = [tuple(e.src[i : i + 3]) for i in range(3, len(e.src), 3)]
    assert e.src[2] == "|" and len(e.src) == 3 + 3 * len(ents)
    return e.src[0][1:], e.src[1], ents


def _kind_of(word):
    return next(k for k in KINDS if word in WORDS[k])


def _answer(e: Example):
    """The right answer found by scanning every entity for the given word."""
    asked, given, ents = _read(e)
    hits = [ent for ent in ents if given in ent]
    assert len(hits) == 1, e.src  # the given value names exactly one entity
    return hits[0][KINDS.index(asked)], ents.index(hits[0])


def test_every_set_is_what_the_module_says():
    d = _data()
    held = {(WORDS["colour"][a], WORDS["object"][b]) for a, b in heldout_pairs(BindingSettings(seed=3))}
    for name, exs in d.sets().items():
        assert exs, name
        for e in exs:
            asked, given, ents = _read(e)
            answer, q = _answer(e)
            assert e.tgt == (answer,) and e.meta["position"] == q and e.meta["n"] == len(ents)
            assert _kind_of(given) != asked and e.meta["asked"] == asked and e.meta["given"] == _kind_of(given)
            for k in range(3):  # each kind's values distinct within the input, in the slot order colour object place
                assert len({ent[k] for ent in ents}) == len(ents) and all(_kind_of(ent[k]) == KINDS[k] for ent in ents)
            novel = [(ent[0], ent[1]) in held for ent in ents]
            assert e.meta["novel_conjunction"] == int(novel[q])
            if name == "test_ood":  # the conjunction set: only the queried entity carries a held-out pair
                assert novel == [i == q for i in range(len(ents))]
            else:
                assert not any(novel)
            lo, hi = (4, 5) if name == "segregation" else (2, 3)
            assert lo <= len(ents) <= hi
    assert set(d.extra) == {"segregation"}
    other = _data("segregation")
    assert [e.src for e in other.test_ood] == [e.src for e in d.extra["segregation"]]
    assert [e.src for e in other.extra["conjunction"]] == [e.src for e in d.test_ood]


def test_size_estimate_bounds_what_is_made():
    for options in ({}, {"n_values": 10, "n_max": 6, "n_max_test": 10, "novelty": True}):
        s = BindingSettings(**{**SMALL, **options})
        d = make_task("binding", **{**SMALL, **options})
        assert sum(len(e.src) + len(e.tgt) for v in d.sets().values() for e in v) <= TASKS["binding"].items(s)


def test_pretrain_set_is_the_fewest_entities():
    d = _data()
    pre = TASKS["binding"].pretrain_set(d)
    assert pre and {e.meta["n"] for e in pre} == {2} and len(pre) == sum(e.meta["n"] == 2 for e in d.train)


def test_heldout_pairs_leave_every_value_trained():
    for seed, h in itertools.product(range(25), (1, 2)):
        s = BindingSettings(seed=seed, n_values=5, heldout_per_value=h)
        held = heldout_pairs(s)
        assert len(held) == 5 * h
        for v in range(5):  # h partners held out per value of either kind, the rest trained
            assert sum(a == v for a, _ in held) == h and sum(b == v for _, b in held) == h


def test_metadata_for_the_taxonomy_matches_a_slow_reading():
    for e in itertools.chain(*_data().sets().values()):
        asked, _, ents = _read(e)
        _, q = _answer(e)
        k = KINDS.index(asked)
        assert e.meta["distractors"] == [ent[k] for i, ent in enumerate(ents) if i != q]
        assert e.meta["absent"] == [w for w in WORDS[asked][:5] if w not in {ent[k] for ent in ents}]
        assert e.meta["chance_binding"] == pytest.approx((len(ents) - 1) / 4, abs=1e-6)
        assert e.meta["factors"] == {kind: WORDS[kind].index(ents[q][i]) for i, kind in enumerate(KINDS)}


def _example(src, tgt, asked, distractors, absent):
    return Example(tuple(src.split()), (tgt,), {"asked": asked, "distractors": distractors, "absent": absent})


def test_error_taxonomy_on_hand_made_answers():
    # "The red box is in the kitchen. The blue key is in the garden. Where is the blue thing?" with n_values 3
    e = _example("?place blue | red box kitchen blue key garden", "garden", "place", ["kitchen"], ["attic"])
    answers = {"garden": "correct", "kitchen": "binding", "attic": "absent", "red": "other", "key": "other",
               "blue": "other", "": "other", "garden garden": "other", "kitchen garden": "other",
               "cellar": "other"}  # cellar: a place this input's values (n_values 3) do not include
    assert classify_errors([e] * len(answers), list(answers)) == list(answers.values())
    assert classify_errors([e, e], [("kitchen",), ()]) == ["binding", "other"]  # token tuples as models give them
    assert classify_answer(" attic", "garden", ["kitchen"], ["attic"]) == "absent"
    # values as the prompt export writes them: words joined by spaces, matched whole ("all" is in no list)
    assert [classify_answer(p, "garden", "kitchen hall", "attic cellar") for p in ("hall", "all", "cellar", "tic")] \
        == ["binding", "other", "absent", "other"]
    with pytest.raises(FracturelabError, match="2 examples but 1 predictions") as err:
        classify_errors([e, e], ["garden"])
    assert "\n" not in str(err.value)


def test_taxonomy_agrees_with_a_classifier_that_reads_the_input():
    d = _data(n_values=6, n_max_test=6)
    rng = np.random.default_rng(0)
    vocab = [w for k in KINDS for w in WORDS[k][:6]]
    exs = [e for v in d.sets().values() for e in v]
    preds = [(str(rng.choice(vocab)),) if rng.random() < 0.9 else () for _ in exs]
    slow = []
    for e, p in zip(exs, preds):
        asked, _, ents = _read(e)
        answer, q = _answer(e)
        others = {ent[KINDS.index(asked)] for i, ent in enumerate(ents) if i != q}
        mine = set(WORDS[asked][:6]) - {ent[KINDS.index(asked)] for ent in ents}
        slow.append("correct" if p == (answer,) else "binding" if p and p[0] in others
                    else "absent" if p and p[0] in mine else "other")
    fast = classify_errors(exs, preds)
    assert fast == slow and {"binding", "absent", "other"} <= set(fast)


def test_sentence_reads_as_english():
    e = _data().test_id[0]
    e = Example(("?place", "blue", "|", "red", "box", "kitchen", "blue", "key", "garden"), ("garden",),
                {**e.meta, "given": "colour", "asked": "place"})
    assert sentence(e) == ("The red box is in the kitchen. The blue key is in the garden. "
                           "Where is the blue thing? It is in the", " garden")
    e.meta.update(given="object", asked="colour")
    e = Example(("?colour", "key") + e.src[2:], ("blue",), e.meta)
    assert sentence(e)[0].endswith("garden. What colour is the key? It is") and sentence(e)[1] == " blue"
    assert first_word(" Garden. It is") == "garden" and first_word("  ") == ""


def test_prompt_export_reads_back_and_keeps_the_taxonomy(tmp_path):
    d = _data()
    back = read_prompts(export_prompts(d, tmp_path / "binding.jsonl", ["test_id", "test_ood"]))  # as probe-model
    assert [e.meta["prompt"] for e in back.test_ood] == [sentence(e)[0] for e in d.test_ood]
    assert [e.meta["answer"] for e in back.test_id] == [" " + e.tgt[0] for e in d.test_id]
    fields = [b.meta["fields"] for b in back.test_ood]
    assert [(f["n"], f["position"], f["novel_conjunction"], f["asked"]) for f in fields] == \
        [(e.meta["n"], e.meta["position"], e.meta["novel_conjunction"], e.meta["asked"]) for e in d.test_ood]
    assert [(f["distractors"].split(), f["absent"].split()) for f in fields] == \
        [(e.meta["distractors"], e.meta["absent"]) for e in d.test_ood]
    assert {r["level"] for r in prompt_rows(d, ["segregation"])} == {3}
    rows = prompt_rows(d, ["test_ood"])
    assert {r["level"] for r in rows} == {2} and len(rows) == len(d.test_ood)
    lines = [json.loads(x) for x in export_prompts(d, tmp_path / "x.jsonl", ["test_ood"]).read_text().splitlines()]
    assert lines == rows
    # a language model's continuations: another entity's value, an absent one, the answer, in turn
    texts = [[" " + f["distractors"].split()[0] + ".", " " + f["absent"].split()[-1].title(), b.meta["answer"]][i % 3]
             for i, (b, f) in enumerate(zip(back.test_ood, fields))]
    by_fields = [classify_answer(first_word(t), b.meta["answer"].strip(), f["distractors"], f["absent"])
                 for t, b, f in zip(texts, back.test_ood, fields)]
    assert by_fields == classify_errors(d.test_ood, [first_word(t) for t in texts])
    assert by_fields[:3] == ["binding", "absent", "correct"]


@pytest.mark.parametrize("options, message", [
    ({"n_max": 5, "n_max_test": 5}, "n_max < n_max_test"),
    ({"n_max_test": 6}, "n_max_test <= n_values"),
    ({"n_min": 1}, "2 <= n_min"),
    ({"pair": "shape_colour"}, "unknown pair"),
    ({"heldout_per_value": 3}, "heldout_per_value must be 1..2"),
    ({"given": ("size",)}, "given must name distinct kinds"),
    ({"n_values": 11, "n_max_test": 6}, "n_values must be 3..10"),
])
def test_bad_settings_refused_in_one_line(options, message):
    with pytest.raises(FracturelabError, match=message) as err:
        make_task("binding", **{**SMALL, **options})
    assert "\n" not in str(err.value)
    with pytest.raises(FracturelabError, match="no set 'nope'"):
        prompt_rows(_data(), ["nope"])
