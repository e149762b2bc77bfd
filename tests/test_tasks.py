"""The systematic-generalization testbed: the registry API, split hygiene for every task, and each task's metadata.
Small settings keep the file fast; SCAN lives in test_tasks_scan.py."""
import functools
import importlib
import json
import math
import pkgutil

import numpy as np
import pytest

from fracturelab.errors import FracturelabError
import fracturelab.tasks as tasks_pkg
from fracturelab.tasks import EOS, PAD, TASKS, TaskSpec, describe, list_tasks, make_task
from fracturelab.tasks.base import nearest_edit_distance
from fracturelab.tasks.factors import to_image
from fracturelab.tasks.multiplication import build_graph, error_types, parse_scratchpad, render_scratchpad

SMALL = {  # options that keep each task quick to generate
    "lookup": {"n_train": 1500, "n_test": 200},
    "multiplication": {"n_train_per_size": 150, "n_test_per_size": 30, "n_ood_per_size": 60},
    "leave_square_out": {"p": 31, "side": 8},
    "factors": {"n_per_combo": 2},
    "knowledge_graph": {"n_entities": 30, "n_relations": 5, "n_test": 200},
}
CASES = [(n, s) for n in SMALL for s in TASKS[n].splits]


@functools.lru_cache(maxsize=None)
def _make(name, split, seed=0):
    return make_task(name, split=split, seed=seed, **SMALL[name])


def test_registry_and_list():
    """Every task module of the package (one with a SPEC) is registered under its own name, and nothing else is:
    a new module that forgets its entry, or an entry under the wrong key, fails here."""
    shipped = [importlib.import_module(f"fracturelab.tasks.{m.name}") for m in pkgutil.iter_modules(tasks_pkg.__path__)]
    specs = [m.SPEC for m in shipped if isinstance(getattr(m, "SPEC", None), TaskSpec)]
    assert specs and {s.name: s for s in specs} == TASKS
    assert all(TASKS[name].name == name for name in TASKS)
    rows = {r["name"]: r for r in list_tasks()}
    assert list(rows) == list(TASKS)
    assert rows["scan"]["default_split"] == "addprim_jump" and "length" in rows["scan"]["splits"]
    assert rows["lookup"]["default_split"] == "heldout_compositions"
    assert all(r["doc"] and r["default_split"] in r["splits"] for r in rows.values())
    json.dumps(list_tasks())


@pytest.mark.parametrize("call, words", [
    (lambda: make_task("nope"), "unknown task"),
    (lambda: make_task("lookup", split="nope"), "unknown split"),
    (lambda: make_task("lookup", bogus=1), "unknown option"),
    (lambda: make_task("lookup", n_train="many"), "not a valid value"),
    (lambda: make_task("lookup", n_test=2.5), "n_test=2.5: expected int"),
    (lambda: make_task("lookup", n_bits=1, n_funcs=2, train_lengths=(1, 2), n_heldout_pairs=1, n_test=20),
     "in-distribution examples"),
    (lambda: make_task("lookup", split="longer", ood_lengths=(3,)), "longer"),
    (lambda: make_task("leave_square_out", p=11, side=11), "side"),
    (lambda: make_task("multiplication", train_sizes=((1, 1),), ood_sizes=((1, 1),)), "overlap"),
    (lambda: make_task("factors", n_noise=0, n_per_combo=2), "identical"),
    (lambda: make_task("knowledge_graph", train_2hop_frac=1.0), "train_2hop_frac"),
    (lambda: make_task("scan", id_frac=0.0), "id_frac"),
])
def test_bad_requests_raise_one_line(call, words):
    with pytest.raises(FracturelabError, match=words) as err:
        call()
    assert "\n" not in str(err.value)


def test_string_options_are_read_as_literals():
    d = make_task("lookup", n_train="300", n_test="50", train_lengths="(1, 2)", novelty="False")
    assert len(d.train) == 300 and max(e.meta["length"] for e in d.train) == 2 and "nn_dist" not in d.train[0].meta


@pytest.mark.parametrize("name, split", CASES)
def test_split_hygiene(name, split):
    d = _make(name, split)
    assert d.name == name and d.split == split
    train = {e.src for e in d.train}
    for k, v in d.sets().items():
        assert v, k
        if k != "train":
            assert not train & {e.src for e in v}, k  # no test input was trained on
    for v in d.sets().values():
        for e in v[:50]:
            assert set(e.src) <= set(d.src_vocab) and set(e.tgt) <= set(d.tgt_vocab)
            json.dumps(e.meta)
    assert {PAD, EOS} <= set(d.src_vocab) and d.src_vocab == sorted(d.src_vocab) and d.tgt_vocab == sorted(d.tgt_vocab)
    assert d.info["sizes"] == d.sizes()
    summary = describe(d, 2)
    assert summary["task"] == name and summary["sizes"]["test_ood"] == len(d.test_ood)
    assert len(summary["examples"]["train"]) == 2
    json.dumps(summary)


@pytest.mark.parametrize("name, split", CASES)
def test_seeds(name, split, monkeypatch):
    a = _make(name, split)
    monkeypatch.setattr("fracturelab.tasks._MADE", {})  # b generated again, not the data make_task kept
    b = make_task(name, split=split, seed=0, **SMALL[name])
    assert a is not b
    for k in a.sets():
        assert [(e.src, e.tgt) for e in a.sets()[k]] == [(e.src, e.tgt) for e in b.sets()[k]]
        assert [e.meta for e in a.sets()[k][:20]] == [e.meta for e in b.sets()[k][:20]]
    c = _make(name, split, seed=1)
    assert {e.src for e in a.test_id} != {e.src for e in c.test_id}


def test_make_task_keeps_its_recent_data(monkeypatch):
    import fracturelab.tasks as T

    monkeypatch.setattr(T, "MADE_KEPT", 3)
    monkeypatch.setattr(T, "_MADE", {})
    first = make_task("leave_square_out", seed=0, p=11, side=3)
    assert make_task("leave_square_out", seed=0, p=11, side=3) is first  # the same settings: made once
    assert make_task("leave_square_out", seed=1, p=11, side=3) is not first
    for seed in (2, 3, 4):
        make_task("leave_square_out", seed=seed, p=11, side=3)
    assert len(T._MADE) == 3
    again = make_task("leave_square_out", seed=0, p=11, side=3)  # dropped, made again: the same data
    assert again is not first and [(e.src, e.tgt, e.meta) for e in again.test_ood] == [
        (e.src, e.tgt, e.meta) for e in first.test_ood]


def test_nearest_edit_distance_is_exact():
    rng = np.random.default_rng(0)
    seqs = lambda n, m: [tuple(str(x) for x in rng.integers(0, 4, rng.integers(0, m))) for _ in range(n)]  # noqa
    q, r = seqs(60, 7), seqs(200, 9)

    def ed(a, b):
        row = list(range(len(b) + 1))
        for i in range(1, len(a) + 1):
            prev, row = row, [i] + [0] * len(b)
            for j in range(1, len(b) + 1):
                row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
        return row[-1]

    norm, raw = nearest_edit_distance(q, r, k=2, chunk=16)
    want = [min(ed(x, y) / max(len(x), len(y), 1) for y in r) for x in q]
    assert np.allclose(norm, want)


def test_lookup():
    d = _make("lookup", "heldout_compositions")
    tables = d.info["notes"]["tables"]
    held = set(d.info["notes"]["heldout_pairs"])
    for e in d.train[:200] + d.test_ood[:200]:
        v = e.src[0]
        for f in e.src[1:]:
            v = tables[f][int(v, 2)]
        assert e.tgt == (v,) and e.meta["values"][-1] == v
    pairs = lambda e: {a + b for a, b in zip(e.src[1:], e.src[2:])}  # noqa: E731
    assert not any(pairs(e) & held for e in d.train + d.test_id)
    assert all(pairs(e) & held and e.meta["heldout_pairs"] >= 1 and e.meta["seen_frac"] < 1 for e in d.test_ood)
    longer = _make("lookup", "longer")
    assert {e.meta["length"] for e in longer.test_ood} == {5, 6} and max(e.meta["depth"] for e in longer.train) == 4
    inter = make_task("lookup", intermediate=True, n_train=100, n_test=20, novelty=False)
    assert all(e.tgt == tuple(e.meta["values"][1:]) for e in inter.train)


def test_multiplication_graph():
    d = _make("multiplication", "larger")
    for e in d.train[:300] + d.test_ood[:50]:
        a, b = e.meta["a"], e.meta["b"]
        nodes = e.meta["graph"]["nodes"]
        n1, n2 = e.meta["size"]
        assert nodes[-1]["value"] == a * b == e.meta["product"]
        rows = [n for n in nodes if n["op"] == "row"]
        assert [r["value"] for r in rows] == [a * int(c) * 10**j for j, c in enumerate(str(b)[::-1])]
        assert sum(r["value"] for r in rows) == a * b
        assert e.meta["depth"] == 2 * n1 + n2 - 1 and e.meta["width"] == n1 * n2
        assert e.tgt[-len(str(a * b)) - 1:] == ("#",) + tuple(str(a * b))
        assert parse_scratchpad(e, e.tgt) == [n["value"] for n in nodes]
    by_size = {tuple(e.meta["size"]): e.meta["depth"] for e in d.train + d.test_ood}
    assert by_size[(1, 1)] < by_size[(2, 2)] < by_size[(3, 2)] < by_size[(3, 3)]
    assert all(n["coverage"] >= 1 for e in d.train[:100] for n in e.meta["graph"]["nodes"] if n["op"] != "in")
    assert np.mean([e.meta["seen_frac"] for e in d.test_ood]) < 1


def test_multiplication_error_types():
    e = next(x for x in _make("multiplication", "larger").test_ood)
    nodes = e.meta["graph"]["nodes"]
    ops = [n for n in nodes if n["op"] != "in"]
    assert set(error_types(e, e.tgt + (EOS, PAD))) == {"input", "correct"}
    vals = [n["value"] for n in nodes]
    p = next(n for n in ops if n["op"] == "mul" and n["name"] == "p0.0")
    c = next(n for n in ops if n["op"] == "carry" and n["parents"] == [p["id"]])
    kids = [n for n in ops if c["id"] in n["parents"]]  # the add that uses the carry

    bad = list(vals)
    bad[p["id"]] = p["value"] + 10  # a wrong product whose carry the model still writes right
    types = error_types(e, render_scratchpad(nodes, bad))
    assert types[p["id"]] == "local" and types[c["id"]] == "restoration"
    assert types[kids[0]["id"]] == "correct"

    bad[c["id"]] = bad[p["id"]] // 10  # ... or carries on from the wrong product
    types = error_types(e, render_scratchpad(nodes, bad))
    assert types[c["id"]] == "propagation" and types[kids[0]["id"]] == "restoration"  # the add got it right anyway
    t = kids[0]
    bad[t["id"]] = vals[t["parents"][0]] + bad[c["id"]]  # ... and adds the wrong carry
    types = error_types(e, render_scratchpad(nodes, bad))
    assert types[c["id"]] == "propagation" and types[t["id"]] == "propagation"

    bad = list(vals)
    bad[c["id"]] = c["value"] + 3  # a wrong carry from a right product
    assert error_types(e, render_scratchpad(nodes, bad))[c["id"]] == "local"

    toks = list(e.tgt)
    cut = [i for i, t in enumerate(toks) if t == ";"]
    types = error_types(e, toks[: cut[-2] + 1])  # the last step dropped
    assert types[ops[-1]["id"]] == "missing" and types[ops[-2]["id"]] == "correct"
    garbled = toks[: cut[0]] + ["+"] + toks[cut[0]:]  # first step is no longer a product
    assert error_types(e, garbled)[ops[0]["id"]] == "missing"
    assert build_graph(7, 8)[-1]["value"] == 56


def test_leave_square_out():
    d = _make("leave_square_out", "square")
    sq = d.info["notes"]["square"]
    a0, b0, side = sq["a0"], sq["b0"], sq["side"]
    ins = lambda e: a0 <= e.meta["a"] < a0 + side and b0 <= e.meta["b"] < b0 + side  # noqa: E731
    for k, v in d.sets().items():
        assert all(e.meta["inside"] == ins(e) == (k == "test_ood") for e in v)
        assert all(e.tgt == (str((e.meta["a"] + e.meta["b"]) % 31),) for e in v)
    assert len(d.test_ood) == side * side and len(d.train) + len(d.test_id) == 31 * 31 - side * side
    dist = [e.meta["dist_linf"] for e in d.test_ood]
    assert min(dist) == 1 and max(dist) == math.ceil(side / 2)
    assert all(e.meta["dist_linf"] == 1 for e in d.test_id) and all(e.meta["nn_dist"] == 0 for e in d.train)
    r = _make("leave_square_out", "random")
    assert len(r.test_ood) == side * side and not any(e.meta["inside"] for e in r.test_ood)
    m = make_task("leave_square_out", op="mul", p=13, side=3)
    assert all(e.tgt == (str(e.meta["a"] * e.meta["b"] % 13),) and e.src[1] == "*" for e in m.test_ood)


def test_factors():
    d = _make("factors", "shape_colour")
    held = {(h["shape"], h["colour"]) for h in d.info["notes"]["heldout"]}
    fs = lambda e: (e.meta["factors"]["shape"], e.meta["factors"]["colour"])  # noqa: E731
    assert not any(fs(e) in held for e in d.train + d.test_id)
    assert all(fs(e) in held and e.meta["heldout_pair"] and e.meta["seen_frac"] == pytest.approx(2 / 3)
               for e in d.test_ood)
    assert all(e.meta["seen_frac"] == 1 and e.meta["factor_dist"] == 0 for e in d.test_id)  # trained combinations
    combo = lambda e: tuple(e.meta["factors"].values())  # noqa: E731
    train_combos = {combo(e) for e in d.train}
    assert {combo(e) for e in d.test_id} <= train_combos
    new = d.extra["new_triple"]
    assert all(e.meta["seen_frac"] == 1 and e.meta["factor_dist"] == 1 and not e.meta["heldout_pair"] for e in new)
    assert not {combo(e) for e in new} & train_combos
    for f, n in (("shape", 6), ("colour", 5), ("position", 9)):
        assert {e.meta["factors"][f] for e in d.train} == set(range(n))  # every value still trained
    names = d.info["notes"]
    for e in d.train[:30]:
        img = to_image(e)
        assert img.shape == (12, 12, 3)
        assert e.tgt == (names["shapes"][e.meta["factors"]["shape"]], names["colours"][e.meta["factors"]["colour"]],
                         f"p{e.meta['factors']['position']}")
        pos = e.meta["factors"]["position"]
        cell = img[4 * (pos // 3): 4 * (pos // 3) + 3, 4 * (pos % 3): 4 * (pos % 3) + 3]
        assert (cell.sum(axis=2) > 0).sum() >= 4  # the shape is drawn where the position says
    for split in ("shape_position", "colour_position"):
        assert all(e.meta["seen_frac"] < 1 for e in _make("factors", split).test_ood)


def test_knowledge_graph():
    d = _make("knowledge_graph", "depth")
    assert {e.meta["hops"] for e in d.train} == {1, 2}
    assert {e.meta["familiarity"] for e in d.train} == {"stored", "trained"}
    assert len([e for e in d.train if e.meta["hops"] == 1]) == 30 * 5  # every fact is stored
    assert {e.meta["hops"] for e in d.test_id} == {2} and {e.meta["hops"] for e in d.test_ood} == {3}
    assert {e.meta["hops"] for e in d.extra["ood_hard"]} == {4}
    facts = {e.src: e.tgt[0] for e in d.train if e.meta["hops"] == 1}
    for e in d.test_id[:50] + d.test_ood[:50] + d.extra["ood_hard"][:50]:
        x = e.src[0]
        for r in e.src[1:]:
            x = facts[(x, r)]
        assert e.tgt == (x,) and e.meta["path"][-1] == x
    assert np.mean([e.meta["nn_dist"] for e in d.extra["ood_hard"]]) > np.mean([e.meta["nn_dist"] for e in d.test_id])
    c = _make("knowledge_graph", "composition")
    held = set(c.info["notes"]["heldout_rel_pairs"])
    assert not any(" ".join(e.src[1:]) in held for e in c.train + c.test_id)
    assert all(" ".join(e.src[1:]) in held for e in c.test_ood)
    assert all(e.meta["heldout_pairs"] >= 1 and e.meta["hops"] == 3 for e in c.extra["ood_hard"])
