"""knowledge_graph's crossed split: novelty (held-out adjacent relation pairs) crossed with depth 2-4 inside the
trained range. Each invariant is recomputed here the obvious way from src and the held-out pairs in info["notes"],
not read back from the metadata the task wrote."""
import functools
from collections import Counter

import pytest

from fracturelab.errors import FracturelabError
from fracturelab.tasks import make_task

SMALL = {"n_entities": 8, "n_relations": 6, "n_heldout_rel_pairs": 6, "train_2hop_frac": 0.7,
         "train_deep_fracs": (0.5, 0.4), "n_test": 120, "novelty": False}
DEPTHS = {2, 3, 4}


@functools.lru_cache(maxsize=None)
def _make(seed=0, **kw):
    return make_task("knowledge_graph", split="crossed", seed=seed, **{**SMALL, **kw})


def _held_adjacent(d, src) -> int:
    """Adjacent relation pairs of a question that are held out, counted from its tokens."""
    held = set(d.info["notes"]["heldout_rel_pairs"])
    return sum(f"{a} {b}" in held for a, b in zip(src[1:], src[2:]))


def _facts(d) -> dict:
    return {e.src: e.tgt[0] for e in d.train if len(e.src) == 2}


def test_no_trained_question_has_a_heldout_adjacent_pair():
    d = _make()
    assert d.info["notes"]["heldout_rel_pairs"]
    assert all(_held_adjacent(d, e.src) == 0 for e in d.train)
    assert all(e.meta["heldout_pairs"] == 0 for e in d.train)


def test_every_test_depth_is_trained_and_every_fact_stored():
    d = _make()
    depths = Counter(len(e.src) - 1 for e in d.train)
    assert set(depths) == {1} | DEPTHS
    assert depths[1] == 8 * 6  # every 1-hop fact
    assert {len(e.src) - 1 for e in d.test_id + d.test_ood} <= set(depths)
    assert all(e.meta["depth"] == e.meta["hops"] == len(e.src) - 1 for v in d.sets().values() for e in v)


def test_familiar_and_novel_at_every_test_depth_balanced():
    d = _make()
    assert all(_held_adjacent(d, e.src) == 0 for e in d.test_id)  # familiar
    assert all(_held_adjacent(d, e.src) > 0 for e in d.test_ood)  # novel
    assert all(e.meta["heldout_pairs"] == _held_adjacent(d, e.src) for e in d.test_id + d.test_ood)
    per = [Counter(len(e.src) - 1 for e in v) for v in (d.test_id, d.test_ood)]
    assert set(per[0]) == set(per[1]) == DEPTHS
    assert len({n for c in per for n in c.values()}) == 1  # the same count at every depth in both sets
    assert d.extra == {}
    trained = {e.src for e in d.train}
    assert not trained & {e.src for e in d.test_id + d.test_ood}
    assert len({e.src for e in d.test_id + d.test_ood}) == len(d.test_id) + len(d.test_ood)


@pytest.mark.parametrize("intermediate", [False, True])
def test_targets_are_answers_only(intermediate):
    d = _make(intermediate=intermediate)
    facts = _facts(d)
    for e in d.sets()["train"] + d.test_id + d.test_ood:
        x = e.src[0]
        for r in e.src[1:]:
            x = facts[(x, r)]
        assert e.tgt == (x,)
    assert d.info["notes"]["target"] == "the answer only"


def test_determinism_for_a_seed():
    a, b, c = _make(), make_task("knowledge_graph", split="crossed", seed=0, **SMALL), _make(seed=1)
    for k in a.sets():
        assert [(e.src, e.tgt, e.meta) for e in a.sets()[k]] == [(e.src, e.tgt, e.meta) for e in b.sets()[k]]
    assert {e.src for e in a.test_id} != {e.src for e in c.test_id}


def test_seen_frac_is_graded_within_each_split_at_matched_depth():
    d = _make()
    trained = {e.src for e in d.train}
    facts = _facts(d)

    def seen_frac(src):  # contiguous sub-questions (entity reached, relations i+1..j) that are training questions
        path = [src[0]]
        for r in src[1:]:
            path.append(facts[(path[-1], r)])
        rels = src[1:]
        wins = [(path[i], *rels[i:j]) for i in range(len(rels)) for j in range(i + 1, len(rels) + 1)]
        return sum(w in trained for w in wins) / len(wins)

    for v in (d.test_id, d.test_ood):
        assert all(e.meta["seen_frac"] == pytest.approx(seen_frac(e.src), abs=1e-6) for e in v)
        for depth in (3, 4):
            assert len({e.meta["seen_frac"] for e in v if e.meta["depth"] == depth}) >= 2, depth


@pytest.mark.parametrize("kw, words", [
    ({"train_deep_fracs": (0.5,)}, "train_deep_fracs"),
    ({"train_deep_fracs": (0.5, 1.0)}, "train_deep_fracs"),
    ({"n_test": 2}, "fewer than one test question per depth"),
    ({"n_heldout_rel_pairs": 36}, "n_heldout_rel_pairs"),
])
def test_bad_settings_raise_one_line(kw, words):
    with pytest.raises(FracturelabError, match=words) as err:
        make_task("knowledge_graph", split="crossed", **{**SMALL, **kw})
    assert "\n" not in str(err.value)
