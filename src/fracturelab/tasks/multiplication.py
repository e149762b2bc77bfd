"""Multi-digit multiplication with a long-multiplication scratchpad and its computation graph (Faith and Fate).

After Dziri et al. 2023 (arXiv 2305.18654).

src = digits of a, "*", digits of b (most significant first). tgt = the scratchpad, one step per computation-graph
node, each step ending in ";", then "#" and the answer's digits. For 347 * 25, the row of b's last digit 5 reads
  7 * 5 = 3 5 ; carry 3 5 = 3 ; 4 * 5 = 2 0 ; 2 0 + 3 = 2 3 ; carry 2 3 = 2 ; 3 * 5 = 1 5 ; 1 5 + 2 = 1 7 ;
  row = 1 7 3 5 ;
the row of the digit 2 follows (row = 6 9 4 0 ; already shifted), then the running sums (1 7 3 5 + 6 9 4 0 = 8 6 7 5 ;).

The graph (meta["graph"], nodes in scratchpad order after the inputs): inputs a0.., b0.. (least significant first);
per digit b_j of b and digit a_i of a, mul p = a_i * b_j; add t = p + carry (for i >= 1); carry c = (p or t) // 10
(for all but the last i); row R_j = the digits (p or t) % 10 with the last carry on top, shifted by j (the
concatenation and shift of Faith and Fate in one node); sum S_k = S_k-1 + R_k (S_0 = R_0). Edges point from operands
to results. Depth = the longest path from an input in operation nodes (2 * digits(a) + digits(b) - 1); width = the
most operation nodes at one depth.

Per-node error types of a model's scratchpad (`error_types`), walking nodes in order with the values parsed from the
model's own steps: correct (parents right, value right); local (the value is not what the node's operation gives on
the parent values the model wrote); propagation (the operation applied right to wrong parent values); restoration
(a right value although a parent was wrong); missing (the step is absent, malformed or of the wrong kind). Steps are
matched by position (the k-th ";"-separated step is the k-th operation node), so a dropped step shifts the rest.

Subgraph coverage (meta graph node "coverage"): how many training scratchpads contain the node's value-level step
(operation, operand values, result) together with all of its ancestors' steps, anywhere in the scratchpad. For
training examples the count includes the example itself. seen_frac = the fraction of operation nodes with coverage >
0. nn_dist: normalized token edit distance of src to the nearest training src.

Split larger: train and test_id on `train_sizes` (digits of a, digits of b), test_ood on the larger `ood_sizes`.

Training (fracturelab.train, SPEC.recipe): train_sizes (1,1), (1,2), (2,1), (3,1) and ood_sizes (2,2);
the default model (a 3-layer decoder-only transformer, d_model 64) reaches >= 0.98 test_id within about 6 minutes of
one CPU thread (seeds 0/1/2: test_id 0.995 / 0.984 / 0.995, test_ood 0.000, 3,000 steps, 336-341 s). With 2x2 in
training (4,000 pairs per size, ood (2,3) and (3,2)) it reached only 0.96 after 6,000 steps (22 minutes): the
multi-digit sum step, written most significant digit first, was the bottleneck, so the task's own defaults (up to
3x2) are out of a CPU budget.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import (EOS, PAD, Example, Recipe, TaskData, TaskSpec, add_nn_dist, check, check_split, finish, graph_stats,
                   rng_for)

SPLITS = ("larger",)
ERROR_TYPES = ("correct", "local", "propagation", "restoration", "missing")


@dataclass
class MultiplicationSettings:
    """Settings of the multiplication task."""

    split: str = "larger"
    """larger (the only split): test_ood holds larger digit sizes than trained."""
    seed: int = 0
    """Seeds which pairs (a, b) are drawn."""
    train_sizes: tuple[tuple[int, int], ...] = ((1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2))
    """(digits of a, digits of b) of train and test_id."""
    ood_sizes: tuple[tuple[int, int], ...] = ((3, 3),)
    """(digits of a, digits of b) of test_ood."""
    n_train_per_size: int = 1500
    """Training pairs per train size (fewer where a size has fewer pairs left after test_id)."""
    n_test_per_size: int = 200
    """test_id pairs per train size (at most a tenth of that size's pairs)."""
    n_ood_per_size: int = 1000
    """test_ood pairs per OOD size."""
    scratchpad: bool = True
    """Target = scratchpad + answer; False: the answer digits only (the graph metadata is there either way)."""
    novelty: bool = True
    """Compute nn_dist."""


# ------------------------------------------------------------------------------------------------------------------
# The computation graph


def _op(node: dict, pv: list[int]) -> int:
    """What a node's operation gives on these parent values."""
    op = node["op"]
    if op == "mul":
        return pv[0] * pv[1]
    if op == "carry":
        return pv[0] // 10
    if op in ("add", "sum"):
        return pv[0] + pv[1]
    if op == "row":  # concatenate the units digits, the last carry on top, then shift
        v = sum((x % 10) * 10**i for i, x in enumerate(pv)) + (pv[-1] // 10) * 10 ** len(pv)
        return v * 10 ** node["shift"]
    raise ValueError(op)


def build_graph(a: int, b: int) -> list[dict]:
    """The long-multiplication graph of a * b: a list of nodes (id, op, name, parents, value, depth[, shift])."""
    nodes: list[dict] = []

    def add(op, name, parents, value=None, **kw):
        node = {"id": len(nodes), "op": op, "name": name, "parents": list(parents), **kw}
        node["value"] = value if op == "in" else _op(node, [nodes[p]["value"] for p in parents])
        node["depth"] = 0 if op == "in" else 1 + max(nodes[p]["depth"] for p in parents)
        nodes.append(node)
        return node["id"]

    da, db = [int(c) for c in str(a)[::-1]], [int(c) for c in str(b)[::-1]]
    ain = [add("in", f"a{i}", [], value=d) for i, d in enumerate(da)]
    bin_ = [add("in", f"b{j}", [], value=d) for j, d in enumerate(db)]
    rows = []
    for j in range(len(db)):
        carry, units = None, []
        for i in range(len(da)):
            s = add("mul", f"p{j}.{i}", [ain[i], bin_[j]])
            if carry is not None:
                s = add("add", f"t{j}.{i}", [s, carry])
            units.append(s)
            if i < len(da) - 1:
                carry = add("carry", f"c{j}.{i}", [s])
        rows.append(add("row", f"R{j}", units, shift=j))
    acc = rows[0]
    for k in range(1, len(rows)):
        acc = add("sum", f"S{k}", [acc, rows[k]])
    return nodes


def _step(node: dict, vals: list) -> list[str]:
    """One scratchpad step, written with the given values of the node and its parents."""
    d = lambda v: list(str(v))  # noqa: E731
    op, p, v = node["op"], node["parents"], vals[node["id"]]
    if op == "mul":
        return [*d(vals[p[0]]), "*", *d(vals[p[1]]), "=", *d(v)]
    if op == "carry":
        return ["carry", *d(vals[p[0]]), "=", *d(v)]
    if op == "row":
        return ["row", "=", *d(v)]
    return [*d(vals[p[0]]), "+", *d(vals[p[1]]), "=", *d(v)]


def render_scratchpad(nodes: list[dict], values: list | None = None) -> tuple[str, ...]:
    """The scratchpad tokens for these node values (default: the true ones); the answer is the last node's value.
    Rendering corrupted values gives the scratchpad of a model that made those mistakes."""
    vals = [n["value"] for n in nodes] if values is None else list(values)
    out: list[str] = []
    for n in nodes:
        if n["op"] != "in":
            out += _step(n, vals) + [";"]
    return tuple(out + ["#"] + list(str(vals[-1])))


def parse_scratchpad(example: Example, tokens) -> list[int | None]:
    """The node values a predicted scratchpad states, aligned with meta["graph"]["nodes"]; inputs are given (from
    src); None where a step is absent, malformed or of the wrong kind."""
    nodes = example.meta["graph"]["nodes"]
    toks = list(tokens)
    for stop in (EOS, PAD):
        if stop in toks:
            toks = toks[: toks.index(stop)]
    if "#" in toks:
        toks = toks[: toks.index("#")]
    steps, cur = [], []
    for t in toks:
        if t == ";":
            steps.append(cur)
            cur = []
        else:
            cur.append(t)
    if cur:
        steps.append(cur)
    kind = {"mul": lambda s: "*" in s, "carry": lambda s: s[:1] == ["carry"], "add": lambda s: "+" in s,
            "sum": lambda s: "+" in s, "row": lambda s: s[:1] == ["row"]}
    out: list[int | None] = []
    k = 0
    for n in nodes:
        if n["op"] == "in":
            out.append(n["value"])
            continue
        step = steps[k] if k < len(steps) else []
        k += 1
        val = step[len(step) - step[::-1].index("=") :] if "=" in step else []
        ok = bool(val) and all(t.isdigit() and len(t) == 1 for t in val) and kind[n["op"]](step)
        out.append(int("".join(val)) if ok else None)
    return out


def error_types(example: Example, tokens) -> list[str]:
    """Per-node error type of a predicted scratchpad (see the module docstring), aligned with meta["graph"]["nodes"];
    inputs are "input". A node whose parent is missing cannot be explained by its parents: local if wrong."""
    nodes = example.meta["graph"]["nodes"]
    pred = parse_scratchpad(example, tokens)
    out = []
    for n in nodes:
        if n["op"] == "in":
            out.append("input")
            continue
        v, par = pred[n["id"]], n["parents"]
        if v is None:
            out.append("missing")
            continue
        parents_ok = all(pred[p] == nodes[p]["value"] for p in par)
        right = v == n["value"]
        if parents_ok:
            out.append("correct" if right else "local")
        elif right:
            out.append("restoration")
        elif all(pred[p] is not None for p in par) and v == _op(n, [pred[p] for p in par]):
            out.append("propagation")
        else:
            out.append("local")
    return out


# ------------------------------------------------------------------------------------------------------------------


def _signature(n: dict, nodes: list[dict]) -> tuple:
    """A node's value-level step: operation, operand values, shift, result (position-free)."""
    return (n["op"], tuple(nodes[p]["value"] for p in n["parents"]), n.get("shift", 0), n["value"])


def _draw(size, n, rng) -> list[tuple[int, int]]:
    """n distinct random pairs with these digit counts (all of them if there are not more)."""
    lo1, lo2 = 10 ** (size[0] - 1), 10 ** (size[1] - 1)
    c1, c2 = 9 * lo1, 9 * lo2
    total = c1 * c2
    idx = np.arange(total) if total <= n else rng.choice(total, size=n, replace=False)
    return [(lo1 + int(i) // c2, lo2 + int(i) % c2) for i in idx]


MAX_DIGITS = 18
"""Most digits of one operand (operands are drawn as int64)."""


def _sizes(s: MultiplicationSettings) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """The train and OOD sizes as (digits of a, digits of b) int tuples (check_settings checks them)."""
    return [tuple(int(x) for x in z) for z in s.train_sizes], [tuple(int(x) for x in z) for z in s.ood_sizes]


def check_settings(s: MultiplicationSettings) -> None:
    """Refuse settings make cannot use (arithmetic on the settings only: a study spec runs it at load): split,
    train_sizes and ood_sizes non-empty, disjoint (digits of a, digits of b) pairs of 1..MAX_DIGITS, and per-size
    counts >= 1."""
    check_split(s, SPLITS, "multiplication")
    sizes, ood = _sizes(s)
    check(len(sizes) > 0 and len(ood) > 0, "train_sizes and ood_sizes must not be empty")
    check(all(len(z) == 2 and min(z) >= 1 for z in sizes + ood), "sizes are (digits of a, digits of b) pairs >= 1")
    # operands are drawn as int64: 10^18 is the largest power of ten it holds
    check(all(max(z) <= MAX_DIGITS for z in sizes + ood), f"sizes have at most {MAX_DIGITS} digits per operand")
    check(not set(sizes) & set(ood), f"ood_sizes {ood} overlap train_sizes")
    check(s.n_train_per_size >= 1 and s.n_test_per_size >= 1 and s.n_ood_per_size >= 1, "per-size counts must be >= 1")


def _train_and_id_pairs(s: MultiplicationSettings, sizes) -> tuple[list, list]:
    """The (a, b) pairs of train and test_id: per size, a seeded draw split into n_test_per_size test_id pairs (at
    most a tenth of the size's pairs) and up to n_train_per_size training pairs."""
    rng = rng_for(s.seed, 1)
    train_pairs, id_pairs = [], []
    for z in sizes:
        total = 81 * 10 ** (z[0] + z[1] - 2)
        n_id = min(s.n_test_per_size, max(1, total // 10))
        n_tr = min(s.n_train_per_size, total - n_id)
        check(n_tr >= 1, f"size {z} has too few pairs for a train and a test_id part")
        pairs = _draw(z, n_id + n_tr, rng)
        order = rng.permutation(len(pairs))
        id_pairs += [pairs[i] for i in order[:n_id]]
        train_pairs += [pairs[i] for i in order[n_id : n_id + n_tr]]
    return train_pairs, id_pairs


def _example(s: MultiplicationSettings, a: int, b: int) -> Example:
    """One problem a * b: src, tgt (scratchpad and answer, or the answer) and metadata with its graph."""
    nodes = build_graph(a, b)
    src = tuple(str(a)) + ("*",) + tuple(str(b))
    tgt = render_scratchpad(nodes) if s.scratchpad else tuple(str(a * b))
    ops = [n for n in nodes if n["op"] != "in"]
    meta = {"a": a, "b": b, "size": [len(str(a)), len(str(b))], "product": a * b, "length": len(tgt),
            **graph_stats([n["depth"] for n in ops]), "graph": {"nodes": nodes}}
    return Example(src, tgt, meta)


def _step_bits(train: list[Example]) -> dict[tuple, int]:
    """Value-level step -> the bitset (a Python int, bit k for train[k]) of the training scratchpads holding it."""
    index: dict[tuple, list[int]] = {}
    for k, e in enumerate(train):
        nodes = e.meta["graph"]["nodes"]
        for sig in {_signature(n, nodes) for n in nodes if n["op"] != "in"}:
            index.setdefault(sig, []).append(k)
    bits = {}
    for sig, ks in index.items():
        m = np.zeros(len(train), bool)
        m[ks] = True
        bits[sig] = int.from_bytes(np.packbits(m, bitorder="little").tobytes(), "little")
    return bits


def _add_coverage(e: Example, bits: dict[tuple, int], everyone: int) -> None:
    """Set each operation node's coverage and the example's seen_frac (see the module docstring): a node's
    training bitset is its own step's AND its parents' (so its ancestors' steps), counted by popcount; `everyone`
    (all bits set) stands for the inputs."""
    nodes = e.meta["graph"]["nodes"]
    cov = {}
    for n in nodes:
        c = everyone if n["op"] == "in" else bits.get(_signature(n, nodes), 0)
        for p in n["parents"]:
            c &= cov[p]
        cov[n["id"]] = c
        if n["op"] != "in":
            n["coverage"] = c.bit_count()
    ops = [n for n in nodes if n["op"] != "in"]
    e.meta["seen_frac"] = round(sum(n["coverage"] > 0 for n in ops) / len(ops), 6)


def make(s: MultiplicationSettings) -> TaskData:
    """The task's data for these settings (see the module docstring)."""
    check_settings(s)
    sizes, ood = _sizes(s)
    train_pairs, id_pairs = _train_and_id_pairs(s, sizes)
    ood_pairs = [p for z in ood for p in _draw(z, s.n_ood_per_size, rng_for(s.seed, 2))]
    train = [_example(s, *p) for p in train_pairs]
    test_id = [_example(s, *p) for p in id_pairs]
    test_ood = [_example(s, *p) for p in ood_pairs]
    bits, everyone = _step_bits(train), (1 << len(train)) - 1
    for e in train + test_id + test_ood:
        _add_coverage(e, bits, everyone)
    if s.novelty:
        add_nn_dist(train, test_id, test_ood)
    notes = {"error_types": list(ERROR_TYPES), "coverage": "training scratchpads holding the node's step and all "
             "its ancestors' steps (train examples count themselves)",
             "nn_dist": "normalized token edit distance of src to the nearest training src"}
    return finish("multiplication", s, train, test_id, test_ood, notes=notes)


def pretrain_set(d: TaskData) -> list[Example]:
    """The training problems of the smallest sizes: digits(a) x digits(b) <= 2 (1x1, 1x2, 2x1)."""
    return [e for e in d.train if e.meta["size"][0] * e.meta["size"][1] <= 2]


def items(s: MultiplicationSettings) -> int:
    """An upper estimate of the items these settings generate: per size (digits of a, digits of b), its pairs times
    (digits of a + 1) x (digits of b + 1) scratchpad tokens and graph nodes."""
    def per_pair(z) -> int:
        return (int(z[0]) + 1) * (int(z[-1]) + 1)
    return (sum((s.n_train_per_size + s.n_test_per_size) * per_pair(z) for z in s.train_sizes)
            + sum(s.n_ood_per_size * per_pair(z) for z in s.ood_sizes))


SPEC = TaskSpec(
    "multiplication", MultiplicationSettings, make, SPLITS, __doc__, default_model="transformer",
    recipe=Recipe(task_options={"train_sizes": ((1, 1), (1, 2), (2, 1), (3, 1)), "ood_sizes": ((2, 2),)},
                  model_options={"transformer": {"d_model": 64, "n_layer": 3}},
                  train={"max_steps": 3000, "lr": 2e-3, "patience": 20}, budget="about 6 minutes"),
    pretrain_set=pretrain_set, curriculum_key=lambda e: (e.meta["n_nodes"],), text=True,
    tiny={"train_sizes": ((1, 1), (2, 1)), "ood_sizes": ((2, 2),), "n_train_per_size": 300, "n_test_per_size": 40,
          "n_ood_per_size": 30, "novelty": False}, items=items, check_settings=check_settings)
