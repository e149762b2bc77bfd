"""Binding: several entities per input, each with a colour, an object and a place, and a query that gives one
attribute of one entity and asks another (Greff, van Steenkiste, Schmidhuber 2020's binding problem).

Every example holds n entities (n_min..n_max in training). Within an example each kind's values are distinct, so the
given value names exactly one entity. src = the query, then one fixed 3-token slot per entity:
("?place", "blue", "|", "red", "box", "kitchen", "blue", "key", "garden") asks where the blue one is. Slot k always
sits at tokens 3 + 3k .. 5 + 3k in the order colour, object, place, so the MLP's one-hot of each position is a
one-hot per entity slot and attribute, and the transformer reads the same tokens as a sequence. tgt = (the asked
value,). `sentence` writes an example as English and `export_prompts` writes a prompt set for `probe-model` ("The
red box is in the kitchen. The blue key is in the garden. Where is the blue thing? It is in the" -> " garden").

Held-out conjunctions: for the kind pair `pair` (default colour_object), `heldout_per_value` partners of every value
(seeded shifted diagonals of a seeded permutation, so every value of both kinds still occurs in training) are never
together on one entity of a training or test_id input. Sets (the same train for both splits):
- test_id: n_min..n_max entities, no held-out conjunction (inputs never trained);
- conjunction: n_min..n_max entities, the queried entity's pair is held out (the only one in the input);
- segregation: n_max + 1..n_max_test entities, no held-out conjunction (more entities than trained).
The split names which of the two is test_ood; the other is the extra set of that name. Queries are drawn uniformly
over the ordered (given, asked) kind pairs whose given kind is in `given` (all 6 by default), n uniformly over its
range and the queried entity uniformly over the input's entities.

Metadata: n (= length), position (the queried entity's slot, 0-based), novel_conjunction (1 if its `pair` values
were never on one training entity), crosses_pair (1 if the query gives one kind of `pair` and asks the other),
given and asked (kind names), distractors (the asked kind's values of the other entities, in slot order), absent
(the asked kind's values not in the input), chance_binding = (n - 1) / (n_values - 1) (the share of wrong answers
that are binding errors if wrong answers were uniform over the asked kind's other values), seen_frac (the share of
the input's entity attribute pairs, 3 per entity, that occur on one training entity), factors (the queried
entity's colour, object and place as indices), nn_dist (with `novelty`: normalized token edit distance to the
nearest training input).

Error taxonomy (`classify_errors`): a wrong answer that is one value of the asked kind held by another entity of
this input is a binding error; one value of the asked kind that no entity of this input holds is an absent-attribute
error; anything else (another kind's value, several tokens, nothing) is other.

Training (fracturelab.train, SPEC.recipe): queries give the colour only (given = colour: "where is the blue thing",
"what is the blue thing"), and the default model, an MLP over the one-hot slots (2 x 256 ReLU), trains 1500 steps
of 256 at lr 6e-3 in about 10 s of one CPU thread and reaches >= 0.98 test_id; with all three kinds given it needs
several times longer. Its errors on novel conjunctions are mostly binding errors, and segregation inputs fail where
the queried entity sits in a slot never filled in training (position >= n_max).
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .base import Example, Recipe, TaskData, TaskSpec, add_nn_dist, check, check_split, finish, rng_for

SPLITS = ("conjunction", "segregation")
KINDS = ("colour", "object", "place")
WORDS = {
    "colour": ("red", "blue", "green", "yellow", "purple", "orange", "white", "black", "pink", "brown"),
    "object": ("box", "key", "ball", "cup", "book", "coin", "lamp", "hat", "shoe", "bell"),
    "place": ("kitchen", "garden", "attic", "cellar", "garage", "hall", "office", "bedroom", "library", "porch"),
}
PAIRS = ("colour_object", "colour_place", "object_place")
QUERIES = tuple(itertools.permutations(range(len(KINDS)), 2))
"""(given kind, asked kind) index pairs."""
ERROR_TYPES = ("correct", "binding", "absent", "other")
QUERY_END = "|"
"""The token between the query and the entity slots."""
QUESTIONS = {  # (given, asked) -> the question and the words that lead to the answer
    ("colour", "place"): "Where is the {} thing? It is in the",
    ("object", "place"): "Where is the {}? It is in the",
    ("object", "colour"): "What colour is the {}? It is",
    ("place", "colour"): "What colour is the thing in the {}? It is",
    ("colour", "object"): "What is the {} thing? It is a",
    ("place", "object"): "What is in the {}? It is a",
}


@dataclass
class BindingSettings:
    """Settings of the binding task."""

    split: str = "conjunction"
    """Which set is test_ood: conjunction (default: the queried entity's pair is held out) or segregation (more
    entities than trained); the other is an extra set."""
    seed: int = 0
    """Seeds the held-out conjunctions and every sample."""
    n_values: int = 5
    """Values per kind (colours, objects, places; at most 10)."""
    n_min: int = 2
    """Fewest entities in an input (train, test_id, conjunction)."""
    n_max: int = 3
    """Most entities in an input (train, test_id, conjunction)."""
    n_max_test: int = 5
    """Most entities in a segregation input (those have n_max + 1 .. n_max_test); at most n_values."""
    pair: str = "colour_object"
    """The kind pair with held-out conjunctions: colour_object, colour_place or object_place."""
    heldout_per_value: int = 1
    """Partners of each value of the pair's kinds never together with it on a trained entity (1..n_values // 2)."""
    given: tuple[str, ...] = KINDS
    """The kinds a query may give (it asks any other kind): fewer make the task easier to learn."""
    n_train: int = 30000
    """Training inputs."""
    n_test: int = 500
    """Inputs in test_id, conjunction and segregation each."""
    novelty: bool = False
    """Compute nn_dist (off by default: the edit-distance search takes seconds per thousand test inputs against this
    many training inputs, and novel_conjunction is this task's novelty)."""


def heldout_pairs(s: BindingSettings) -> set[tuple[int, int]]:
    """The held-out (first kind, second kind) value indices of s.pair: (i, perm[(i + shift) % K]) for every value i
    and each of heldout_per_value seeded distinct shifts (perm seeded too)."""
    r = rng_for(s.seed, 1)
    perm = r.permutation(s.n_values)
    shifts = r.choice(s.n_values, s.heldout_per_value, replace=False)
    return {(i, int(perm[(i + int(d)) % s.n_values])) for i in range(s.n_values) for d in shifts}


def _pair_kinds(s: BindingSettings) -> tuple[int, int]:
    a, b = s.pair.split("_")
    return KINDS.index(a), KINDS.index(b)


def _held(entity: Sequence[int], kinds: tuple[int, int], held: set) -> bool:
    return (entity[kinds[0]], entity[kinds[1]]) in held


def _entities(rng, s: BindingSettings, n: int, kinds, held: set, novel_at: int | None) -> list[tuple[int, ...]]:
    """n entities (value indices per kind, distinct per kind). novel_at None: no entity has a held-out pair; else
    only entity novel_at has one (a seeded held-out pair)."""
    fixed = None
    if novel_at is not None:
        a, b = sorted(held)[int(rng.integers(len(held)))]
        fixed = {kinds[0]: a, kinds[1]: b}
    for _ in range(1000):  # rejection: a draw is accepted with probability about (1 - h / K) ** n
        cols = []
        for k in range(len(KINDS)):
            if fixed is not None and k in fixed:  # the novel entity's value first, the others from the rest
                rest = rng.permutation([v for v in range(s.n_values) if v != fixed[k]])[: n - 1]
                cols.append(np.insert(rest, novel_at, fixed[k]))
            else:
                cols.append(rng.permutation(s.n_values)[:n])
        ents = [tuple(int(c[i]) for c in cols) for i in range(n)]
        if all(_held(e, kinds, held) == (i == novel_at) for i, e in enumerate(ents)):
            return ents
    check(False, f"binding: cannot draw {n} entities avoiding the held-out pairs (lower heldout_per_value)")


def _example(ents, q: int, given: int, asked: int, s: BindingSettings, kinds, held: set) -> Example:
    """The example asking entity q's `asked` value by its `given` value (src, tgt and metadata as the module
    docstring says; seen_frac is filled in later)."""
    words = [[WORDS[KINDS[k]][e[k]] for k in range(len(KINDS))] for e in ents]
    src = (f"?{KINDS[asked]}", words[q][given], QUERY_END) + tuple(w for ws in words for w in ws)
    in_input = {e[asked] for e in ents}
    meta = {"n": len(ents), "length": len(ents), "position": q, "novel_conjunction": int(_held(ents[q], kinds, held)),
            "crosses_pair": int({given, asked} == set(kinds)), "given": KINDS[given], "asked": KINDS[asked],
            "distractors": [words[i][asked] for i in range(len(ents)) if i != q],
            "absent": [WORDS[KINDS[asked]][v] for v in range(s.n_values) if v not in in_input],
            "chance_binding": round((len(ents) - 1) / (s.n_values - 1), 6),
            "factors": dict(zip(KINDS, ents[q]))}
    return Example(src, (words[q][asked],), meta)


def _draw(rng, s, n_range, count, kinds, held, novel: bool, taken: set) -> list[Example]:
    """Up to count examples (fewer only where the settings allow fewer distinct inputs) with distinct inputs
    outside `taken` (which grows), n uniform over n_range."""
    out, queries = [], [(g, a) for g, a in QUERIES if KINDS[g] in s.given]
    for _ in range(50 * count):
        if len(out) == count:
            break
        n = int(rng.integers(n_range[0], n_range[1] + 1))
        q = int(rng.integers(n))
        given, asked = queries[int(rng.integers(len(queries)))]
        ex = _example(_entities(rng, s, n, kinds, held, q if novel else None), q, given, asked, s, kinds, held)
        if ex.src not in taken:
            taken.add(ex.src)
            out.append(ex)
    return out


def _seen_frac(sets: dict[str, list[Example]]) -> None:
    """Fill seen_frac: the share of an input's entity attribute pairs that occur on one training entity."""
    def pairs(e):
        ents = [e.src[i : i + 3] for i in range(3, len(e.src), 3)]
        return [(i, j, ent[i], ent[j]) for ent in ents for i, j in itertools.combinations(range(3), 2)]
    seen = {p for e in sets["train"] for p in pairs(e)}
    for exs in sets.values():
        for e in exs:
            ps = pairs(e)
            e.meta["seen_frac"] = round(sum(p in seen for p in ps) / len(ps), 6)


def check_settings(s: BindingSettings) -> None:
    """Refuse settings make cannot use (arithmetic on the settings only)."""
    check_split(s, SPLITS, "binding")
    check(3 <= s.n_values <= 10, f"n_values must be 3..10, got {s.n_values}")
    check(2 <= s.n_min <= s.n_max < s.n_max_test <= s.n_values,
          f"need 2 <= n_min <= n_max < n_max_test <= n_values, got {s.n_min}, {s.n_max}, {s.n_max_test}, "
          f"{s.n_values}")
    check(s.pair in PAIRS, f"unknown pair {s.pair!r} (pairs: {', '.join(PAIRS)})")
    check(1 <= s.heldout_per_value <= s.n_values // 2,
          f"heldout_per_value must be 1..{s.n_values // 2}, got {s.heldout_per_value}")
    check(len(s.given) > 0 and set(s.given) <= set(KINDS) and len(set(s.given)) == len(s.given),
          f"given must name distinct kinds among {', '.join(KINDS)}, got {s.given}")
    check(s.n_train >= 2 and s.n_test >= 1, f"need n_train >= 2 and n_test >= 1, got {s.n_train}, {s.n_test}")


def make(s: BindingSettings) -> TaskData:
    """The task's data for these settings (see the module docstring)."""
    check_settings(s)
    kinds, held = _pair_kinds(s), heldout_pairs(s)
    taken: set = set()
    in_range, more = (s.n_min, s.n_max), (s.n_max + 1, s.n_max_test)
    sets = {"train": _draw(rng_for(s.seed, 2), s, in_range, s.n_train, kinds, held, False, taken),
            "test_id": _draw(rng_for(s.seed, 3), s, in_range, s.n_test, kinds, held, False, taken),
            "conjunction": _draw(rng_for(s.seed, 4), s, in_range, s.n_test, kinds, held, True, taken),
            "segregation": _draw(rng_for(s.seed, 5), s, more, s.n_test, kinds, held, False, taken)}
    _seen_frac(sets)
    other = "segregation" if s.split == "conjunction" else "conjunction"
    if s.novelty:
        add_nn_dist(sets["train"], sets["test_id"], sets["conjunction"], sets["segregation"])
    notes = {"heldout": [f"{WORDS[KINDS[kinds[0]]][a]} {WORDS[KINDS[kinds[1]]][b]}" for a, b in sorted(held)],
             "values": {k: list(WORDS[k][: s.n_values]) for k in KINDS},
             "slots": "src = ?asked given | then colour object place per entity",
             "error_types": "binding: another entity's value of the asked kind; absent: a value of the asked kind "
                            "not in the input; other: anything else"}
    if s.novelty:
        notes["nn_dist"] = "normalized token edit distance to the nearest training input"
    return finish("binding", s, sets["train"], sets["test_id"], sets[s.split], extra={other: sets[other]},
                  notes=notes)


# ------------------------------------------------------------------------------------------------------------------
# The error taxonomy.


def _words(x: Sequence[str] | str) -> tuple[str, ...]:
    """A token sequence as given, or text split on spaces."""
    return tuple(x.split() if isinstance(x, str) else x)


def classify_answer(prediction: Sequence[str] | str, target: str, distractors: Sequence[str] | str,
                    absent: Sequence[str] | str) -> str:
    """correct, binding, absent or other (see the module docstring) for one answer. Each argument but target is a
    token sequence or text split on spaces (as results.csv and the prompt export write them)."""
    toks, distractors, absent = _words(prediction), _words(distractors), _words(absent)
    if toks == (target,):
        return "correct"
    if len(toks) == 1 and toks[0] in distractors:
        return "binding"
    if len(toks) == 1 and toks[0] in absent:
        return "absent"
    return "other"


def classify_errors(examples: Sequence[Example], predictions: Sequence[Sequence[str] | str]) -> list[str]:
    """Each prediction's type (ERROR_TYPES) against its example's target and metadata."""
    check(len(examples) == len(predictions),
          f"classify_errors: {len(examples)} examples but {len(predictions)} predictions")
    return [classify_answer(p, e.tgt[0], e.meta["distractors"], e.meta["absent"])
            for e, p in zip(examples, predictions)]


def first_word(text: str) -> str:
    """The first word of a free-text answer, lower-cased, without surrounding punctuation ("" for none): what a
    language model's continuation of an exported prompt answers."""
    words = text.strip().split()
    return words[0].strip(".,;:!?\"'").lower() if words else ""


# ------------------------------------------------------------------------------------------------------------------
# The prompt-set export.


def sentence(e: Example) -> tuple[str, str]:
    """(prompt, answer) in English: one sentence per entity, then the question and the words before the answer;
    the answer has the leading space a tokenizer expects."""
    ents = [e.src[i : i + 3] for i in range(3, len(e.src), 3)]
    context = " ".join(f"The {c} {o} is in the {p}." for c, o, p in ents)
    question = QUESTIONS[(e.meta["given"], e.meta["asked"])].format(e.src[1])
    return f"{context} {question}", " " + e.tgt[0]


def prompt_rows(data: TaskData, sets: Sequence[str] | None = None) -> list[dict]:
    """The prompt-set lines of the named sets (all by default): prompt and answer from `sentence`, split = the set,
    level = the set's place (train 0, test_id 1, test_ood 2, the extra set 3), factors (the queried entity's colour,
    object and place words), novelty {nn_dist} where computed, and as extra fields (probe-model keeps them as
    metadata to group by) the example's n, position, novel_conjunction, given, asked, chance_binding, and
    distractors and absent as words joined by spaces."""
    all_sets = data.sets()
    for k in sets or []:
        check(k in all_sets, f"task {data.name!r} has no set {k!r} (sets: {', '.join(all_sets)})")
    rows = []
    for level, (name, exs) in enumerate(all_sets.items()):
        if sets is not None and name not in sets:
            continue
        for e in exs:
            prompt, answer = sentence(e)
            row = {"prompt": prompt, "answer": answer, "split": name, "level": level,
                   "factors": {k: WORDS[k][v] for k, v in e.meta["factors"].items()}}
            if "nn_dist" in e.meta:
                row["novelty"] = {"nn_dist": e.meta["nn_dist"]}
            row |= {k: e.meta[k] for k in ("n", "position", "novel_conjunction", "given", "asked", "chance_binding")}
            row |= {k: " ".join(e.meta[k]) for k in ("distractors", "absent")}
            rows.append(row)
    check(bool(rows), f"task {data.name!r}: no set named to export")
    return rows


def export_prompts(data: TaskData, path, sets: Sequence[str] | None = None) -> Path:
    """Write prompt_rows as JSONL (one object per line), atomically; returns the path."""
    from ..io import atomic_file

    path = Path(path)
    check(path.parent.is_dir(), f"{path.parent}: no such folder")
    check(not path.is_dir(), f"{path}: is a folder")
    rows = prompt_rows(data, sets)
    with atomic_file(path) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def pretrain_set(d: TaskData) -> list[Example]:
    """The training inputs with the fewest entities (n_min): binding against the fewest distractors."""
    fewest = min(e.meta["n"] for e in d.train)
    return [e for e in d.train if e.meta["n"] == fewest]


def items(s: BindingSettings) -> int:
    """An upper estimate of the items these settings generate: every input (n_train + 3 n_test) times its longest
    src (3 + 3 n_max_test tokens), and with novelty one block of the nearest-neighbour search's bounds (256 test
    inputs x n_train)."""
    n = s.n_train + 3 * s.n_test
    return n * (3 + 3 * s.n_max_test) + (256 * s.n_train if s.novelty else 0)


SPEC = TaskSpec(
    "binding", BindingSettings, make, SPLITS, __doc__, default_model="mlp",
    recipe=Recipe(task_options={"given": ("colour",)},
                  model_options={"mlp": {"input": "onehot", "hidden": 256, "depth": 2}},
                  train={"max_steps": 1500, "lr": 6e-3, "batch_size": 256}, budget="about 20 s"),
    pretrain_set=pretrain_set, curriculum_key=lambda e: (e.meta["n"],),
    tiny={"n_train": 200, "n_test": 40}, items=items, check_settings=check_settings)
