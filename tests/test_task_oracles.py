"""Oracles for the tasks' per-example novelty measures: each fast computation (bitset coverage, sub-chain sets,
blocked Hamming distances) checked against a slow obvious one on small data."""
import itertools

import numpy as np
import pytest

from fracturelab.tasks import make_task


def _ancestors(nodes, k) -> set[int]:
    """Node k and every node it depends on."""
    out, todo = set(), [k]
    while todo:
        i = todo.pop()
        if i not in out:
            out.add(i)
            todo += nodes[i]["parents"]
    return out


def _step(nodes, i):
    n = nodes[i]
    return (n["op"], tuple(nodes[p]["value"] for p in n["parents"]), n.get("shift", 0), n["value"])


@pytest.mark.parametrize("seed", [0, 1])
def test_multiplication_coverage_counts_training_scratchpads_with_the_whole_subgraph(seed):
    d = make_task("multiplication", seed=seed, train_sizes=((1, 1), (2, 1), (1, 2)), ood_sizes=((2, 2),),
                  n_train_per_size=40, n_test_per_size=8, n_ood_per_size=15, novelty=False)
    steps = [{_step(e.meta["graph"]["nodes"], n["id"]) for n in e.meta["graph"]["nodes"] if n["op"] != "in"}
             for e in d.train]
    for e in d.train[:20] + d.test_id + d.test_ood:
        nodes = e.meta["graph"]["nodes"]
        ops = [n for n in nodes if n["op"] != "in"]
        for n in ops:
            need = {_step(nodes, i) for i in _ancestors(nodes, n["id"]) if nodes[i]["op"] != "in"}
            assert n["coverage"] == sum(need <= have for have in steps)
        assert e.meta["seen_frac"] == round(sum(n["coverage"] > 0 for n in ops) / len(ops), 6)


def _occurs(window, chains) -> bool:
    """Whether (start value, functions) occurs anywhere in some (values, functions) chain."""
    v, fs = window[0], list(window[1:])
    return any(vals[i] == v and funcs[i : i + len(fs)] == fs
               for vals, funcs in chains for i in range(len(funcs) - len(fs) + 1))


@pytest.mark.parametrize("split", ["heldout_compositions", "longer"])
def test_lookup_seen_frac_is_the_share_of_sub_chains_found_in_training(split):
    d = make_task("lookup", split=split, seed=0, n_train=60, n_test=15, novelty=False)
    train = [(e.meta["values"], e.meta["funcs"]) for e in d.train]
    for e in d.test_id + d.test_ood:
        vals, funcs = e.meta["values"], e.meta["funcs"]
        wins = [(i, j) for i in range(len(funcs)) for j in range(i + 1, len(funcs) + 1)]
        seen = sum(_occurs((vals[i], *funcs[i:j]), train) for i, j in wins)
        syms = sum(any(funcs[i:j] == f[k : k + j - i] for _, f in train for k in range(len(f))) for i, j in wins)
        assert e.meta["seen_frac"] == round(seen / len(wins), 6)
        assert e.meta["seen_frac_symbols"] == round(syms / len(wins), 6)


def test_factors_distances_are_to_the_nearest_training_example(monkeypatch):
    # n_per_combo 30: test_ood holds 3 x 3 x 30 = 270 images, more than one block of the fast Hamming distance
    monkeypatch.setattr("fracturelab.tasks.factors.HAMMING_BLOCK", 100)
    d = make_task("factors", split="shape_position", seed=1, n_shapes=3, n_colours=3, grid=2, n_per_combo=30)
    assert len(d.test_ood) > 256
    train_fac = {tuple(e.meta["factors"].values()) for e in d.train}
    train_pairs = {(i, j, t[i], t[j]) for t in train_fac for i, j in itertools.combinations(range(3), 2)}
    train_src = np.array([e.src for e in d.train])
    for name, exs in d.sets().items():
        for e in exs:
            f = tuple(e.meta["factors"].values())
            ham = (np.array(e.src) != train_src).mean(1).min()
            assert e.meta["nn_dist"] == (0.0 if name == "train" else round(float(ham), 6))
            assert e.meta["factor_dist"] == min(sum(a != b for a, b in zip(f, t)) for t in train_fac)
            pairs = [(i, j, f[i], f[j]) for i, j in itertools.combinations(range(3), 2)]
            assert e.meta["seen_frac"] == round(sum(p in train_pairs for p in pairs) / 3, 6)
