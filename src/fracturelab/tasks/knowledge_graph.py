"""A synthetic knowledge graph: 1-hop facts to memorize and multi-hop questions that compose them.

After Jin et al. 2026 (arXiv 2603.03415): questions at increasing distance from what was trained, so activation
sparsity can be tracked against familiarity.

Every relation is a random function on the entities (seeded): r(e) is one entity. A question is an entity and a
chain of relations applied left to right: src = ("e12", "r3", "r0") asks for r0(r3(e12)); tgt = (answer,) or, with
`intermediate`, every entity along the path.

Train holds every 1-hop fact (the stored triples) and a seeded `train_2hop_frac` of the 2-hop questions, so a model
can learn to compose. test_id holds 2-hop questions never trained (same distribution). Splits:
- depth (default): test_ood = 3-hop questions (OOD-medium), extra["ood_hard"] = 4-hop questions.
- composition: `n_heldout_rel_pairs` relation pairs (r then r') are never composed in a trained question;
  test_ood = 2-hop questions using a held-out pair (a short but novel composition, Jin et al.'s OOD-hard kind),
  extra["ood_hard"] = 3-hop questions with a held-out adjacent pair.
- crossed: novelty and depth crossed inside the trained range (Dziri et al. 2023's two factors apart). Train holds
  every fact and seeded fractions of the 2-hop (`train_2hop_frac`), 3-hop and 4-hop (`train_deep_fracs`) questions
  that have no held-out adjacent pair, so every test depth is a trained length; `n_heldout_rel_pairs` pairs are
  never adjacent in any trained question. test_id = familiar questions (no held-out adjacent pair, never trained),
  test_ood = novel ones (at least one held-out adjacent pair), each with equally many questions at depths 2, 3 and 4
  (n_test // 3 per depth, fewer if a pool is smaller: info["notes"]["per_depth"]); no extra sets. The target is the
  answer only (`intermediate` is ignored), so the composing happens inside the network and a held-out pair is not
  two stored facts written in a row.

Metadata: hops (= depth; width 1), relations, path (the entities along the way: ground truth), familiarity
("stored" = trained fact, "trained" = trained multi-hop, "id", "medium", "hard"; crossed: "id" or "novel"),
heldout_pairs (adjacent held-out relation pairs; > 0 = novel), seen_frac (the fraction of the question's contiguous
sub-questions (e_i, r_i+1..r_j), e_i the entity reached after i hops, that are training questions; 1-hop ones are
stored facts; the question itself is one of them, so a test question is below 1; in the crossed split it is graded
at depths 3 and 4 within test_id and within test_ood, and trained 3- and 4-hop questions can be below 1 too),
nn_dist (normalized token edit distance to the nearest training question). The stored facts, the ID level of Jin et
al., are the train examples with familiarity "stored".

Training (fracturelab.train, SPEC.recipe): with intermediate=True the default model (a 2-layer
decoder-only transformer, d_model 128) reaches >= 0.98 test_id in about a minute of one CPU thread (seeds 0/1/2:
test_id 1.00 each, test_ood (3 hops) 0.00, ood_hard (4 hops) 0.00, 27-46 s): its learned positions were never
trained at a 3rd or 4th output step. The crossed split (answer only) is learned with the profiles' options: 8
entities, 6 relations, 6 held-out pairs, train fractions 0.7 / 0.5 / 0.4, and a 4-layer transformer (d_model 64,
RoPE, lr 3e-3, weight decay 0.1, 6000 steps); the recipe's 2-layer model with learned positions memorizes the
questions instead (see the study profiles).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .base import Example, Recipe, TaskData, TaskSpec, add_nn_dist, check, check_split, finish, rng_for

SPLITS = ("depth", "composition", "crossed")
CROSSED_DEPTHS = (2, 3, 4)
"""Test depths of the crossed split (train also holds the 1-hop facts)."""


@dataclass
class KnowledgeGraphSettings:
    """Settings of the knowledge-graph task."""

    split: str = "depth"
    """depth (default): OOD = deeper questions; composition: OOD = held-out relation compositions; crossed: novelty
    (held-out relation pairs) crossed with depth 2-4, every depth trained."""
    seed: int = 0
    """Seeds the graph, the held-out relation pairs and every sample."""
    n_entities: int = 100
    """Number of entities (e0, e1, ...)."""
    n_relations: int = 8
    """Number of relations (r0, r1, ...); each is a random function entity -> entity."""
    train_2hop_frac: float = 0.5
    """Fraction of the (allowed) 2-hop questions in train."""
    train_deep_fracs: tuple[float, float] = (0.05, 0.01)
    """crossed split: fractions of the allowed 3-hop and 4-hop questions in train."""
    n_heldout_rel_pairs: int = 8
    """Ordered relation pairs never adjacent in a trained question (composition and crossed splits)."""
    n_test: int = 1000
    """At most this many questions in test_id, test_ood and ood_hard each (crossed: split equally over depths 2-4)."""
    intermediate: bool = False
    """Output every entity along the path, not only the answer (ignored by the crossed split: answer only)."""
    novelty: bool = True
    """Compute nn_dist."""


def _sample_questions(n_e, n_r, hops, n, rng, keep=lambda rels: True) -> list[tuple]:
    """Up to n distinct random (entity, relations...) questions with `hops` relations passing `keep` (seeded)."""
    out, seen, tries = [], set(), 0
    while len(out) < n and tries < 50 * n:
        tries += 1
        q = (int(rng.integers(n_e)),) + tuple(int(x) for x in rng.integers(0, n_r, hops))
        if q not in seen and keep(q[1:]):
            seen.add(q)
            out.append(q)
    return out


def _all_questions(n_e: int, n_r: int, hops: int) -> np.ndarray:
    """Every question with `hops` relations as int32 rows (entity, r1, ..., r_hops), in lexicographic order."""
    grids = np.meshgrid(*[np.arange(n, dtype=np.int32) for n in (n_e, *[n_r] * hops)], indexing="ij")
    return np.stack([g.reshape(-1) for g in grids], axis=1)


def _crossed(s: KnowledgeGraphSettings, held: np.ndarray) -> tuple[list, list, list, dict]:
    """The crossed split's trained 2-4-hop questions, test_id (familiar) and test_ood (novel) with equally many
    questions of each depth in both, and notes on the pools they came from. held[r, r'] marks the held-out pairs."""
    train, familiar, novel, pools = [], {}, {}, {}
    for hops, frac in zip(CROSSED_DEPTHS, (s.train_2hop_frac, *s.train_deep_fracs)):
        q = _all_questions(s.n_entities, s.n_relations, hops)
        is_new = held[q[:, 1:-1], q[:, 2:]].any(axis=1)
        fam = q[~is_new][rng_for(s.seed, 10 + hops).permutation(int((~is_new).sum()))]
        n_tr = int(round(frac * len(fam)))
        check(0 < n_tr < len(fam), f"crossed split: the {hops}-hop train fraction {frac} leaves no trained or no "
                                   f"untrained familiar {hops}-hop question")
        train += [tuple(int(x) for x in row) for row in fam[:n_tr]]
        familiar[hops] = fam[n_tr:]
        novel[hops] = q[is_new][rng_for(s.seed, 20 + hops).permutation(int(is_new.sum()))]
        pools[f"{hops}hop"] = {"trained": n_tr, "familiar_untrained": len(familiar[hops]), "novel": len(novel[hops])}
    per = min(s.n_test // len(CROSSED_DEPTHS), *(min(p["familiar_untrained"], p["novel"]) for p in pools.values()))
    check(per >= 1, f"crossed split: n_test={s.n_test} leaves fewer than one test question per depth")

    def first(by_depth):
        return [tuple(int(x) for x in row) for h in CROSSED_DEPTHS for row in by_depth[h][:per]]

    return train, first(familiar), first(novel), {"per_depth": per, "questions": pools}


def _n_2hop(s: KnowledgeGraphSettings) -> int:
    """2-hop questions without a held-out pair (depth and composition splits): every entity with each of the
    n_relations^2 relation pairs but the n_heldout_rel_pairs held out (none in the depth split)."""
    return s.n_entities * (s.n_relations ** 2 - (0 if s.split == "depth" else s.n_heldout_rel_pairs))


def _n_2hop_trained(s: KnowledgeGraphSettings) -> int:
    """Trained 2-hop questions of the depth and composition splits: train_2hop_frac of _n_2hop."""
    return int(round(s.train_2hop_frac * _n_2hop(s)))


def check_settings(s: KnowledgeGraphSettings) -> None:
    """Refuse settings make cannot use (arithmetic on the settings only: a study spec runs it at load): split, at
    least 2 entities and 2 relations, train_2hop_frac and both train_deep_fracs in (0, 1), n_test >= 1,
    n_heldout_rel_pairs 1..n_relations^2 - 1 where held-out pairs are used, and (depth and composition splits) a
    train_2hop_frac that leaves both trained and held-out 2-hop questions."""
    check_split(s, SPLITS, "knowledge_graph")
    check(s.n_entities >= 2 and s.n_relations >= 2, "need at least 2 entities and 2 relations")
    check(0 < s.train_2hop_frac < 1, f"train_2hop_frac must be in (0, 1), got {s.train_2hop_frac}")
    check(len(s.train_deep_fracs) == 2 and all(0 < f < 1 for f in s.train_deep_fracs),
          f"train_deep_fracs must be two fractions in (0, 1) (3 and 4 hops), got {s.train_deep_fracs}")
    check(s.n_test >= 1, "n_test must be at least 1")
    n_r = s.n_relations
    if s.split != "depth":
        check(1 <= s.n_heldout_rel_pairs < n_r * n_r, f"n_heldout_rel_pairs must be 1..{n_r * n_r - 1}")
    if s.split != "crossed":
        check(0 < _n_2hop_trained(s) < _n_2hop(s),
              f"train_2hop_frac {s.train_2hop_frac} leaves no trained or no held-out 2-hop question")


def make(s: KnowledgeGraphSettings) -> TaskData:
    check_settings(s)
    n_e, n_r = s.n_entities, s.n_relations
    table = rng_for(s.seed, 1).integers(0, n_e, (n_r, n_e))  # table[r][e] = r(e)
    heldout: set[tuple[int, int]] = set()
    if s.split != "depth":
        pairs = list(itertools.product(range(n_r), repeat=2))
        heldout = {pairs[i] for i in rng_for(s.seed, 2).choice(len(pairs), s.n_heldout_rel_pairs, replace=False)}
    intermediate = s.intermediate and s.split != "crossed"

    def n_held(rels):
        return sum((rels[i], rels[i + 1]) in heldout for i in range(len(rels) - 1))

    facts = [(e, r) for e in range(n_e) for r in range(n_r)]
    notes = {}
    if s.split == "crossed":
        held = np.zeros((n_r, n_r), dtype=bool)
        for a, b in heldout:
            held[a, b] = True
        deep, id_q, ood_q, notes = _crossed(s, held)
        train_q, hard_q, labels = facts + deep, [], ("novel", "")
    else:
        two = [(e, r1, r2) for e in range(n_e) for r1 in range(n_r) for r2 in range(n_r) if not n_held((r1, r2))]
        order = rng_for(s.seed, 3).permutation(len(two))
        n_tr = _n_2hop_trained(s)
        train_q = facts + [two[i] for i in order[:n_tr]]
        id_q = [two[i] for i in order[n_tr : n_tr + s.n_test]]
        notes["n_2hop_trained"] = n_tr
        rng = rng_for(s.seed, 4)
        if s.split == "depth":
            ood_q = _sample_questions(n_e, n_r, 3, s.n_test, rng)
            hard_q = _sample_questions(n_e, n_r, 4, s.n_test, rng)
            labels = ("medium", "hard")
        else:
            novel = [(e, r1, r2) for e in range(n_e) for (r1, r2) in sorted(heldout)]
            ood_q = [novel[i] for i in rng.permutation(len(novel))[: s.n_test]]
            hard_q = _sample_questions(n_e, n_r, 3, s.n_test, rng, keep=lambda rels: n_held(rels) > 0)
            labels = ("hard", "hard")
    trained = set(train_q)

    def example(q, familiarity):
        path = [q[0]]
        for r in q[1:]:
            path.append(int(table[r][path[-1]]))
        rels = q[1:]
        windows = [(path[i],) + rels[i:j] for i in range(len(rels)) for j in range(i + 1, len(rels) + 1)]
        src = (f"e{q[0]}",) + tuple(f"r{r}" for r in rels)
        tgt = tuple(f"e{x}" for x in path[1:]) if intermediate else (f"e{path[-1]}",)
        meta = {"hops": len(rels), "depth": len(rels), "width": 1, "relations": [f"r{r}" for r in rels],
                "path": [f"e{x}" for x in path], "familiarity": familiarity, "heldout_pairs": n_held(rels),
                "seen_frac": round(sum(w in trained for w in windows) / len(windows), 6)}
        return Example(src, tgt, meta)

    train = [example(q, "stored" if len(q) == 2 else "trained") for q in train_q]
    test_id = [example(q, "id") for q in id_q]
    test_ood = [example(q, labels[0]) for q in ood_q]
    extra = {"ood_hard": [example(q, labels[1]) for q in hard_q]} if hard_q else {}
    if s.novelty:
        add_nn_dist(train, test_id, test_ood, *extra.values())
    notes |= {"heldout_rel_pairs": [f"r{a} r{b}" for a, b in sorted(heldout)], "n_facts": len(facts),
              "familiarity": "stored < trained < id < medium < hard (crossed: id = familiar, novel)",
              "target": "every entity along the path" if intermediate else "the answer only",
              "nn_dist": "normalized token edit distance to the nearest training question"}
    return finish("knowledge_graph", s, train, test_id, test_ood, extra=extra, notes=notes)


def pretrain_set(d: TaskData) -> list[Example]:
    """The 1-hop facts (the stored triples)."""
    return [e for e in d.train if e.meta["hops"] == 1]


def items(s: KnowledgeGraphSettings) -> int:
    """An upper estimate of the items these settings generate: the crossed split lists every question of up to 4
    hops (n_entities x n_relations^4 rows of 5 numbers); the others every 2-hop question (n_entities x
    n_relations^2, 3 numbers each) and up to 3 test sets of n_test questions of up to 5 numbers."""
    if s.split == "crossed":
        return 5 * s.n_entities * s.n_relations ** 4
    return 3 * s.n_entities * s.n_relations ** 2 + 15 * s.n_test


SPEC = TaskSpec(
    "knowledge_graph", KnowledgeGraphSettings, make, SPLITS, __doc__, default_model="transformer",
    recipe=Recipe(task_options={"intermediate": True}, model_options={"transformer": {"d_model": 128, "n_layer": 2}},
                  train={"max_steps": 4000, "lr": 2e-3}, budget="about a minute"),
    pretrain_set=pretrain_set, curriculum_key=lambda e: (e.meta["hops"],), text=True,
    tiny={"n_entities": 20, "n_relations": 4, "n_test": 100, "novelty": False}, items=items,
    check_settings=check_settings)
