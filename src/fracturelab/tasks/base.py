"""Common pieces of the systematic-generalization testbed: the data types every task returns, the registry entry,
and the per-example measurements several tasks share (novelty as distance to the nearest training example).

Every task is a seeded generator: `make(settings) -> TaskData` with
- train: what a model may be trained on;
- test_id: drawn from the same distribution as train but never trained on (the in-distribution control);
- test_ood: the systematic split (held-out compositions, longer inputs, a removed square, ...);
- extra: optional further test sets (e.g. "ood_hard").
Examples carry plain-JSON metadata so accuracy can later be broken down by complexity and novelty.

Metadata keys shared across tasks (where a task has the notion):
- depth, width, n_nodes: of the example's computation graph (depth = longest path from an input to the output in
  operation nodes; width = the most operation nodes at one depth; Dziri et al. 2023);
- length: the task's natural length (chain length, number of actions, ...);
- nn_dist: novelty, distance to the nearest training example (each task documents its metric; train examples
  have 0 since their nearest training example is themselves);
- seen_frac: the fraction of the example's sub-computations (sub-chains, sub-commands, steps) that occur somewhere
  in the training set (1.0 for train examples).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Callable, Sequence

import numpy as np

from ..errors import FracturelabError

PAD, EOS = "<pad>", "<eos>"


@dataclass
class Example:
    """One input/output pair."""

    src: tuple[str, ...]
    """Input tokens."""
    tgt: tuple[str, ...]
    """Output tokens (no eos: a model's data pipeline appends it)."""
    meta: dict = field(default_factory=dict)
    """Plain JSON-able per-example metadata (factors, complexity, novelty, ...)."""


@dataclass
class TaskData:
    """Everything one (task, split, seed) produces."""

    name: str
    """Registry name of the task."""
    split: str
    """Which systematic split test_ood holds."""
    train: list[Example]
    """Training examples."""
    test_id: list[Example]
    """Same distribution as train, never trained on."""
    test_ood: list[Example]
    """The systematic split."""
    extra: dict[str, list[Example]] = field(default_factory=dict)
    """Optional additional test sets by name (e.g. "ood_hard")."""
    src_vocab: list[str] = field(default_factory=list)
    """Sorted input tokens over all sets, with PAD and EOS."""
    tgt_vocab: list[str] = field(default_factory=list)
    """Sorted output tokens over all sets, with PAD and EOS."""
    info: dict = field(default_factory=dict)
    """Sizes, the settings used, and notes (plain data)."""

    def sets(self) -> dict[str, list[Example]]:
        """All sets by name: train, test_id, test_ood, then the extras."""
        return {"train": self.train, "test_id": self.test_id, "test_ood": self.test_ood, **self.extra}

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.sets().items()}


@dataclass(frozen=True)
class Recipe:
    """Defaults of one task's runs: the task options, model sizes and training settings its default runs use (each
    shipped task's were chosen so its default model reaches >= 0.98 test_id accuracy on a CPU within `budget`; any
    of them can be overridden by train_run's options)."""

    task_options: dict = field(default_factory=dict)
    """Options passed to make_task (on top of the task's own defaults)."""
    model_options: dict = field(default_factory=dict)
    """Model name -> settings overrides for that model on this task (a model not named keeps its own defaults)."""
    train: dict = field(default_factory=dict)
    """TrainSettings overrides."""
    budget: str = ""
    """The CPU budget the default run is meant to fit in, in words."""


@dataclass(frozen=True)
class TaskSpec:
    """One registry entry: how to make the task's data, and what the rest of fracturelab may do with it (the
    entry's capabilities, read by train/ and probes/ instead of tables of their own)."""

    name: str
    """Registry name."""
    settings_cls: type
    """The task's settings dataclass (has `split` and `seed`)."""
    make: Callable[..., TaskData]
    """make(settings) -> TaskData."""
    splits: tuple[str, ...]
    """Valid values of settings.split; the settings' default is the main systematic split."""
    doc: str
    """What the task is; the first line is its summary."""
    default_model: str = "transformer"
    """The model trained when a run names none (fracturelab.models.MODELS; the transformer reads any task)."""
    recipe: Recipe = field(default_factory=Recipe)
    """Defaults of its runs (empty: the task's and the model's own defaults)."""
    pretrain_set: Callable[[TaskData], list[Example]] | None = None
    """pretrain_set(task_data) -> the primitives or sub-tasks the pretrain regime trains on first (test inputs
    among them are dropped by train.regimes.pretrain_set); None: the pretrain regime refuses the task."""
    curriculum_key: Callable[[Example], tuple] | None = None
    """Simple-to-composed order of the curriculum regime (smaller key first); None: the regime refuses the task."""
    text: bool = False
    """Inputs and outputs are token sequences that read as text: exportable as a prompt set (probes.prompts)."""
    factor_keys: tuple[str, ...] = ()
    """Metadata keys holding the known ground-truth factors when they are not in meta["factors"] (the factorization
    probe reads them); () for none."""
    tiny: dict = field(default_factory=dict)
    """Task options that make a run take seconds (contract tests and smoke runs)."""
    items: Callable[..., int] | None = None
    """items(settings) -> an upper estimate of the items its settings generate (examples, times their length or
    pixels where the settings make those grow, and any table or pairwise work larger than that), computed from the
    settings alone and checked against limits.max_task_items before make runs; None: no estimate, not checked (a
    plug-in that does not say)."""
    check_settings: Callable[..., None] | None = None
    """check_settings(settings) raises FracturelabError where make would refuse the settings, by arithmetic on them
    alone (nothing generated): a study spec runs it at load, so a bad option fails before any cell; None: none."""


def check(ok: bool, message: str) -> None:
    """Raise the project's one-line error when a setting cannot make the requested data."""
    if not ok:
        raise FracturelabError(message)


def check_split(settings, splits: Sequence[str], task: str) -> None:
    check(settings.split in splits, f"unknown split {settings.split!r} for task {task!r} (splits: {', '.join(splits)})")


def rng_for(seed: int, purpose: int) -> np.random.Generator:
    """A separate random stream per purpose, so changing how many test examples are drawn never changes (say) the
    lookup tables made from the same seed."""
    return np.random.default_rng([int(seed), int(purpose)])


def settings_dict(settings) -> dict:
    """The settings as plain data (tuples become lists, as JSON would have them)."""
    def plain(v):
        return [plain(x) for x in v] if isinstance(v, (tuple, list)) else v
    return {f.name: plain(getattr(settings, f.name)) for f in fields(settings)}


def finish(name: str, settings, train, test_id, test_ood, extra=None, notes=None) -> TaskData:
    """Package a task's sets: check none is empty and no test input occurs in train, build vocabularies, fill info."""
    extra = dict(extra or {})
    sets = {"train": train, "test_id": test_id, "test_ood": test_ood, **extra}
    for k, v in sets.items():
        check(len(v) > 0, f"task {name!r}, split {settings.split!r}: these settings leave {k} empty")
    seen = {e.src for e in train}
    for k, v in sets.items():
        if k != "train":  # a test input seen in training would be no test; construction should make this impossible
            n = sum(e.src in seen for e in v)
            check(n == 0, f"task {name!r}, split {settings.split!r}: {n} {k} inputs also occur in train (bug)")
    src_vocab = sorted({t for v in sets.values() for e in v for t in e.src} | {PAD, EOS})
    tgt_vocab = sorted({t for v in sets.values() for e in v for t in e.tgt} | {PAD, EOS})
    info = {"sizes": {k: len(v) for k, v in sets.items()}, "settings": settings_dict(settings), "notes": notes or {}}
    return TaskData(name, settings.split, train, test_id, test_ood, extra, src_vocab, tgt_vocab, info)


# ------------------------------------------------------------------------------------------------------------------
# Novelty: normalized token edit distance to the nearest training input.
# Exact nearest-neighbour search, made cheap by a lower bound: edit(x, y) >= max(|x|, |y|) - common(x, y), where
# common is the size of the multiset intersection of their tokens. That bound is a matrix product of thresholded
# count vectors (min(a, b) = sum_t [a >= t][b >= t]), so all query x reference bounds come from one BLAS call; only
# the k references with the smallest bound get the real dynamic program, and a query whose best exact distance is
# not below every other reference's bound is retried with more candidates.


def _encode(seqs: Sequence[Sequence[str]], ids: dict[str, int], pad: int) -> tuple[np.ndarray, np.ndarray]:
    lens = np.array([len(s) for s in seqs], dtype=np.int64)
    out = np.full((len(seqs), max(1, int(lens.max(initial=0)))), pad, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = [ids[t] for t in s]
    return out, lens


def edit_distance_pairs(a: np.ndarray, la: np.ndarray, b: np.ndarray, lb: np.ndarray) -> np.ndarray:
    """Levenshtein distances of P pairs at once: a (P, La) and b (P, Lb) padded int arrays with lengths la, lb. The
    pads must differ between a and b (they are never read as matches of real tokens that matter, since row la,
    column lb of the table depends only on the two prefixes)."""
    P, La = a.shape
    Lb = b.shape[1]
    j = np.arange(Lb + 1)
    prev = np.broadcast_to(j, (P, Lb + 1)).copy()
    out = lb.astype(np.int64).copy()  # for la == 0
    for i in range(1, La + 1):
        sub = prev[:, :-1] + (a[:, i - 1 : i] != b)
        cur = np.empty_like(prev)
        cur[:, 0] = i
        cur[:, 1:] = np.minimum(sub, prev[:, 1:] + 1)
        # insertions: cur[j] = min(cur[j], cur[j-1] + 1) for all j at once, as a running minimum of cur - j
        cur = np.minimum.accumulate(cur - j, axis=1) + j
        done = la == i
        if done.any():
            out[done] = cur[done, lb[done]]
        prev = cur
    return out


def nearest_edit_distance(queries: Sequence[Sequence[str]], refs: Sequence[Sequence[str]], k: int = 32,
                          chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """For each query, the smallest normalized edit distance d(x, y) / max(|x|, |y|) to any reference (in [0, 1]),
    and the raw token edit distance of that nearest pair. Exact (see the comment above)."""
    nq = len(queries)
    if nq == 0 or len(refs) == 0:
        return np.zeros(nq), np.zeros(nq, dtype=np.int64)
    vocab = sorted({t for s in queries for t in s} | {t for s in refs for t in s})
    ids = {t: i for i, t in enumerate(vocab)}
    qa, ql = _encode(queries, ids, -1)
    ra, rl = _encode(refs, ids, -2)
    V = len(vocab)

    def thresholded_counts(arr, lens):
        counts = np.zeros((len(arr), V), dtype=np.int64)
        rows = np.repeat(np.arange(len(arr)), lens)
        cols = np.concatenate([arr[i, : lens[i]] for i in range(len(arr))]) if lens.sum() else np.zeros(0, int)
        np.add.at(counts, (rows, cols), 1)
        return counts

    qc, rc = thresholded_counts(qa, ql), thresholded_counts(ra, rl)
    T = int(max(qc.max(initial=0), rc.max(initial=0), 1))
    qx = np.concatenate([(qc >= t) for t in range(1, T + 1)], axis=1).astype(np.float32)
    rx = np.concatenate([(rc >= t) for t in range(1, T + 1)], axis=1).astype(np.float32)
    qlf, rlf = ql.astype(np.float32), rl.astype(np.float32)
    best_norm = np.full(nq, np.inf)
    best_raw = np.zeros(nq, dtype=np.int64)
    R = len(refs)
    for s in range(0, nq, chunk):
        q = np.arange(s, min(nq, s + chunk))
        longer = np.maximum(qlf[q][:, None], rlf[None, :])  # (C, R); float32 throughout, exact for small counts
        bound = (longer - qx[q] @ rx.T) / np.maximum(longer, 1)
        todo, kk = np.arange(len(q)), min(k, R)
        while len(todo):
            if kk < R:
                part = np.argpartition(bound[todo], kk, axis=1)
                cand, next_bound = part[:, :kk], np.take_along_axis(bound[todo], part[:, kk : kk + 1], 1)[:, 0]
            else:
                cand, next_bound = np.broadcast_to(np.arange(R), (len(todo), R)), np.full(len(todo), np.inf)
            qi = np.repeat(q[todo], cand.shape[1])
            ri = cand.reshape(-1)
            raw = edit_distance_pairs(qa[qi], ql[qi], ra[ri], rl[ri]).reshape(len(todo), -1)
            norm = raw / np.maximum(np.maximum(ql[qi], rl[ri]), 1).reshape(len(todo), -1)
            arg = norm.argmin(axis=1)
            n_new, r_new = norm[np.arange(len(todo)), arg], raw[np.arange(len(todo)), arg]
            better = n_new < best_norm[q[todo]]  # a retry's candidates need not include the earlier best (ties)
            best_norm[q[todo][better]], best_raw[q[todo][better]] = n_new[better], r_new[better]
            # exact once no reference outside the candidates could be nearer (1e-6 absorbs float32 rounding; distinct
            # fractions with denominators under 500 differ by more)
            todo = todo[best_norm[q[todo]] > next_bound + 1e-6]
            kk = min(R, kk * 8)
    return best_norm, best_raw


def add_nn_dist(train: list[Example], *test_sets: list[Example]) -> None:
    """Fill meta["nn_dist"] (normalized token edit distance of src to the nearest training src) and
    meta["nn_edit"] (that pair's raw edit distance); train examples get 0."""
    refs = [e.src for e in train]
    for e in train:
        e.meta["nn_dist"], e.meta["nn_edit"] = 0.0, 0
    for ts in test_sets:
        norm, raw = nearest_edit_distance([e.src for e in ts], refs)
        for e, n, r in zip(ts, norm, raw):
            e.meta["nn_dist"], e.meta["nn_edit"] = round(float(n), 6), int(r)


def graph_stats(depths: Sequence[int]) -> dict:
    """depth, width and n_nodes of a computation graph given each operation node's depth."""
    d = np.asarray(depths, dtype=np.int64)
    return {"depth": int(d.max(initial=0)), "width": int(np.bincount(d).max(initial=0)) if len(d) else 0,
            "n_nodes": int(len(d))}


# ------------------------------------------------------------------------------------------------------------------


def _short(v):
    """Meta values small enough to print; large structures (graphs, tables) are summarized by their size."""
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)) and len(v) <= 8 and all(isinstance(x, (int, float, str, bool)) for x in v):
        return list(v)
    if isinstance(v, dict) and len(v) <= 8 and all(isinstance(x, (int, float, str, bool)) for x in v.values()):
        return dict(v)
    return f"<{type(v).__name__} of {len(v)}>" if hasattr(v, "__len__") else str(v)


def describe(task_data: TaskData, n_examples: int = 3) -> dict:
    """A printable summary: sizes and the first few examples of each set (src/tgt joined by spaces, small meta)."""
    ex = {k: [{"src": " ".join(e.src), "tgt": " ".join(e.tgt), "meta": {m: _short(x) for m, x in e.meta.items()}}
              for e in v[: max(0, n_examples)]] for k, v in task_data.sets().items()}
    return {"task": task_data.name, "split": task_data.split, "sizes": task_data.sizes(), "examples": ex,
            "src_vocab": len(task_data.src_vocab), "tgt_vocab": len(task_data.tgt_vocab),
            "notes": task_data.info.get("notes", {})}
