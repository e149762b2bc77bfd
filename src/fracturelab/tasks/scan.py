"""SCAN regenerated from its grammar (Lake & Baroni 2018): all 20,910 commands and their action sequences.

Grammar: C -> S and S | S after S | S;  S -> V twice | V thrice | V;  V -> D[1] opposite D[2] | D[1] around D[2] |
D | U;  D -> U left | U right | turn left | turn right;  U -> walk | look | run | jump. Interpretation:
[[walk]] = WALK (look, run, jump alike); [[x left]] = LTURN [[x]]; [[x opposite left]] = LTURN LTURN [[x]];
[[x around left]] = (LTURN [[x]]) x 4 (right alike); [[x twice]] = [[x]] [[x]]; thrice alike; [[a and b]] = [[a]]
[[b]]; [[a after b]] = [[b]] [[a]]. "turn" is the primitive with no action, so [[turn left]] = LTURN.

Splits (test_ood is exactly the original split's test set, as a set of distinct commands):
- simple: a seeded random 80/20 split, sizes as the original's (16,728 / 4,182) but not its commands: the original
  files hold one random draw that cannot be regenerated, so results on `simple` are on a seeded redraw (another
  seed, another draw). Not systematic: the control.
- length: train on commands whose action sequence has at most 22 actions (16,990), test on the rest (3,920).
- addprim_jump: test = every command containing "jump" except "jump" alone (7,706); train = the other 13,204.
- addprim_turn_left: test = every command containing "turn left" except "turn left" alone (1,208).
test_id is carved out of the original training set: a seeded `id_frac` of it, never the lone primitive in the
addprim splits, so train + test_id = the original training set. The original addprim training files repeat the lone
primitive until it is 10 % of the file ("jump" 1,467 of 14,670 lines, "turn left" 2,189 of 21,890), and so does train
by default (`prim_repeats` = 0), so train + test_id is the original training file line for line; `prim_repeats` = 1
holds it once, like every other command. Every other set holds distinct commands.

Metadata: length (actions), cmd_len (words), depth/width/n_nodes of the interpretation tree (leaves = primitives at
depth 1; each left/right/opposite/around, twice/thrice, and/after is one node), prims (the primitives used),
nn_dist (normalized word edit distance to the nearest training command), seen_frac (fraction of the command's
sub-commands, i.e. its tree nodes' word spans, that occur as a sub-command of some training command).

Training (fracturelab.train, SPEC.recipe): the default model (a 3-layer decoder-only transformer, d_model 64)
reaches >= 0.98 test_id within about 5 minutes of one CPU thread (addprim_jump, seeds 0/1/2: test_id 0.998 / 0.996 /
0.994, test_ood 0.000 / 0.000 / 0.000, 5,000 steps, 248-291 s).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .base import Example, Recipe, TaskData, TaskSpec, add_nn_dist, check, check_split, finish, rng_for

SPLITS = ("addprim_jump", "length", "addprim_turn_left", "simple")
PRIMS = ("walk", "look", "run", "jump")
ACTION = {"walk": "I_WALK", "look": "I_LOOK", "run": "I_RUN", "jump": "I_JUMP", "turn": None}
TURN = {"left": "I_TURN_LEFT", "right": "I_TURN_RIGHT"}
ORIGINAL_REPEATS = {"jump": 1467, "turn left": 2189}
"""Lines holding the lone primitive in the original training files (brendenlake/SCAN, add_prim_split/
tasks_train_addprim_jump.txt: 1,467 of 14,670; tasks_train_addprim_turn_left.txt: 2,189 of 21,890)."""


@dataclass
class ScanSettings:
    """Settings of the SCAN task."""

    split: str = "addprim_jump"
    """One of: addprim_jump (default), length, addprim_turn_left, simple."""
    seed: int = 0
    """Seeds the simple split and which training commands become test_id."""
    id_frac: float = 0.1
    """Fraction of the original training set moved to test_id."""
    prim_repeats: int = 0
    """Copies of the lone primitive ("jump" / "turn left") in train for the addprim splits. 0 (default): as many as
    the original training files hold (ORIGINAL_REPEATS: jump 1,467, turn left 2,189, 10 % of each file); 1: once,
    like every other command (no oversampling); N: N copies."""
    simple_test_frac: float = 0.2
    """Test fraction of the simple split (the original: 0.2)."""
    novelty: bool = True
    """Compute nn_dist (about a second per split); off gives faster generation with nn_dist absent."""


# ------------------------------------------------------------------------------------------------------------------
# The grammar as trees: a node is (op, span words, children); leaves are primitives. Evaluating the tree gives the
# actions; the same tree gives depth/width and the sub-commands used for seen_frac.


def _v_trees():
    """All 34 V phrases as trees."""
    out = []
    for u in PRIMS + ("turn",):
        leaf = ("prim", (u,), ())
        if u != "turn":
            out.append(leaf)
        for d in ("left", "right"):
            out.append((d, (u, d), (leaf,)))
        for m in ("opposite", "around"):
            for d in ("left", "right"):
                out.append((f"{m} {d}", (u, m, d), (leaf,)))
    return out


def _commands():
    """All 20,910 commands as trees, in a fixed order."""
    ss = []
    for v in _v_trees():
        ss.append(v)
        for r in ("twice", "thrice"):
            ss.append((r, v[1] + (r,), (v,)))
    cs = list(ss)
    for conj in ("and", "after"):
        for a in ss:
            for b in ss:
                cs.append((conj, a[1] + (conj,) + b[1], (a, b)))
    return cs


def interpret(tree) -> list[str]:
    """The action sequence of a command tree."""
    op, words, kids = tree
    if op == "prim":
        a = ACTION[words[0]]
        return [a] if a else []
    if op in ("left", "right"):
        return [TURN[op]] + interpret(kids[0])
    if op.startswith("opposite"):
        return [TURN[op.split()[1]]] * 2 + interpret(kids[0])
    if op.startswith("around"):
        return ([TURN[op.split()[1]]] + interpret(kids[0])) * 4
    if op in ("twice", "thrice"):
        return interpret(kids[0]) * (2 if op == "twice" else 3)
    a, b = interpret(kids[0]), interpret(kids[1])
    return a + b if op == "and" else b + a


def _nodes(tree, depth_out: list, spans: list) -> int:
    """Walk the tree; collect each node's depth (leaves 1) and word span; returns the node's depth."""
    d = 1 + max((_nodes(k, depth_out, spans) for k in tree[2]), default=0)
    depth_out.append(d)
    spans.append(" ".join(tree[1]))
    return d


@functools.lru_cache(maxsize=1)
def all_commands() -> list[tuple[tuple[str, ...], tuple[str, ...], dict]]:
    """(command words, actions, tree facts) for all 20,910 commands (cached: treat as read-only)."""
    out = []
    for t in _commands():
        depths, spans = [], []
        _nodes(t, depths, spans)
        width = int(np.bincount(depths).max())
        prims = sorted({w for w in t[1] if w in PRIMS or w == "turn"})
        out.append((t[1], tuple(interpret(t)), {"depth": max(depths), "width": width, "n_nodes": len(depths),
                                                "prims": prims, "spans": spans}))
    return out


def _original_split(cmds, s: ScanSettings) -> tuple[np.ndarray, str | None]:
    """Boolean 'in the original test set' per command, and the lone primitive that must stay in train."""
    words = [" ".join(c[0]) for c in cmds]
    if s.split == "length":
        return np.array([len(c[1]) > 22 for c in cmds]), None
    if s.split == "addprim_jump":
        return np.array([("jump" in c[0]) and w != "jump" for c, w in zip(cmds, words)]), "jump"
    if s.split == "addprim_turn_left":
        return np.array([(" turn left " in f" {w} ") and w != "turn left" for w in words]), "turn left"
    n_test = int(round(s.simple_test_frac * len(cmds)))
    test = np.zeros(len(cmds), bool)
    test[rng_for(s.seed, 1).permutation(len(cmds))[:n_test]] = True
    return test, None


def check_settings(s: ScanSettings) -> None:
    """Refuse settings make cannot use (arithmetic on the settings only: a study spec runs it at load): split,
    id_frac and simple_test_frac in (0, 1), prim_repeats >= 0."""
    check_split(s, SPLITS, "scan")
    check(0 < s.id_frac < 1, f"id_frac must be in (0, 1), got {s.id_frac}")
    check(0 < s.simple_test_frac < 1, f"simple_test_frac must be in (0, 1), got {s.simple_test_frac}")
    check(s.prim_repeats >= 0, f"prim_repeats must be 0 (the original's count) or more, got {s.prim_repeats}")


def make(s: ScanSettings) -> TaskData:
    check_settings(s)
    cmds = all_commands()
    is_test, lone = _original_split(cmds, s)
    orig_train = np.flatnonzero(~is_test)
    # test_id: a seeded id_frac of the original training set, never the lone primitive of an addprim split
    movable = np.array([i for i in orig_train if " ".join(cmds[i][0]) != lone])
    n_id = int(round(s.id_frac * len(orig_train)))
    check(0 < n_id < len(movable), f"id_frac {s.id_frac} leaves no test_id or no train")
    is_id = np.zeros(len(cmds), bool)
    is_id[rng_for(s.seed, 2).permutation(movable)[:n_id]] = True
    train_idx = [i for i in orig_train if not is_id[i]]
    train_spans = {sp for i in train_idx for sp in cmds[i][2]["spans"]}

    def example(i):
        words, actions, facts = cmds[i]
        spans = facts["spans"]
        meta = {"command": " ".join(words), "length": len(actions), "cmd_len": len(words), "depth": facts["depth"],
                "width": facts["width"], "n_nodes": facts["n_nodes"], "prims": facts["prims"],
                "seen_frac": round(sum(sp in train_spans for sp in spans) / len(spans), 6)}
        return Example(words, actions, meta)

    train = [example(i) for i in train_idx]
    repeats = (s.prim_repeats or ORIGINAL_REPEATS[lone]) if lone is not None else 1
    if repeats > 1:
        e = next(x for x in train if x.meta["command"] == lone)
        train += [Example(e.src, e.tgt, dict(e.meta)) for _ in range(repeats - 1)]
    test_id = [example(i) for i in np.flatnonzero(is_id)]
    test_ood = [example(i) for i in np.flatnonzero(is_test)]
    if s.novelty:
        add_nn_dist(train, test_id, test_ood)
    notes = {"original_train": int(len(orig_train)), "original_test": int(is_test.sum()), "lone_primitive": lone,
             "lone_primitive_copies": repeats if lone is not None else 0,
             "nn_dist": "normalized word edit distance to the nearest training command"}
    if s.split == "simple":  # stated wherever the task's info is shown: not the original's commands
        notes["differs_from_original"] = ("a seeded 80/20 redraw with the original's sizes; the original files' one "
                                          "random draw cannot be regenerated")
    return finish("scan", s, train, test_id, test_ood, notes=notes)


def pretrain_set(d: TaskData) -> list[Example]:
    """The training commands without "and"/"after": lone primitives, directions, twice/thrice (short commands)."""
    return [e for e in d.train if "and" not in e.src and "after" not in e.src]


def items(s: ScanSettings) -> int:
    """An upper estimate of the items these settings generate: SCAN's 20,910 commands plus prim_repeats copies of
    the lone primitive."""
    return 20_910 + s.prim_repeats


SPEC = TaskSpec(
    "scan", ScanSettings, make, SPLITS, __doc__, default_model="transformer",
    recipe=Recipe(model_options={"transformer": {"d_model": 64, "n_layer": 3}}, train={"max_steps": 5000, "lr": 2e-3},
                  budget="about 5 minutes"),
    pretrain_set=pretrain_set, curriculum_key=lambda e: (e.meta["length"], e.meta["cmd_len"]), text=True,
    tiny={"novelty": False}, items=items, check_settings=check_settings)
