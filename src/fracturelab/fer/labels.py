"""Do weight sweeps agree with what people saw? CPPN-X genomes (Huizinga, Stanley, Clune 2018) carry, per link, the
text a person wrote after sweeping that weight ("Mouth open close", "No effect", ...). Two checks per genome:

(a) Quiet links have smaller effects. A label is *quiet* when, normalised (see normalize_label), it is one of
    QUIET_TEXTS. In the 14 labelled genomes the quiet texts are "No effect", "No Effect", "Little Effect",
    "Little effect", "Minor effect" and "Very little effect". Texts that name a part and only then say "minor"
    ("Light minor", "Mystic minor", "Global minor") are NOT quiet: they say what moved. auc_quiet_smaller = P(a quiet
    link's sweep effect < a non-quiet link's), ties 1/2 (the Mann-Whitney AUC); 1 = people's quiet links are exactly
    the weakest sweeps, 0.5 = no relation. NaN when a genome has no quiet or no non-quiet links. Pooled: only pairs
    within the same genome are compared (sum of within-genome wins / sum of within-genome pairs), because effects of
    different images are not on one scale (a dim image has small effects everywhere).
(b) Links with the same label act on the same place. Effect maps (mean |Δimage| per pixel) of two non-quiet links
    with the same normalised label should correlate more (Pearson, over pixels) than two with different labels.
    Quiet links are left out: their maps are faint leftovers, not a part of the picture; links whose map is constant
    (no effect at all) are left out too, as their correlation is undefined. Statistic T = mean within-label
    correlation - mean between-label correlation over all pairs; p_value = (1 + #{T_perm >= T}) / (1 + n_perm),
    with labels shuffled among the links (seeded). Pooled: pairs within each genome only, labels shuffled within
    each genome, per-genome sums added for each permutation.
    Control (*_apart): the same over pairs of links into DIFFERENT units only, with shuffles that move the labels
    of whole units among units with as many links (see _block_shuffles). Links into one unit have nearly the same
    effect map whatever their labels (pooled r 0.84 within vs 0.83 between label on the 14 genomes) and often share
    a label, so the plain statistic partly measures "same target unit", and its link-level shuffles treat one
    unit's links as independent, which makes its p-value optimistic; the _apart version avoids both.
"""
from __future__ import annotations

import argparse
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..cppn.nets import Net, load_cppn
from ..cppn.replicate import check_fit_size
from ..errors import FracturelabError
from .sweeps import SweepSettings, is_meaningful, sweep_weights

QUIET_TEXTS = ("no effect", "little effect", "minor effect", "very little effect")


@dataclass(frozen=True)
class LabelSettings:
    sweep: SweepSettings = field(default_factory=SweepSettings)
    """How each labelled link is swept (resolution, deltas, thresholds)."""
    n_perm: int = 1000
    """Label shuffles for the permutation p-value of (b)."""
    seed: int = 0
    """Seed of the label shuffles."""


def normalize_label(text: str) -> str:
    """Lower case, the ':=N' suffix (a person's numbered pick) and a trailing '(:) of interest' removed, spaces
    collapsed: 'Mouth open close:=4' -> 'mouth open close', 'Wings and body: of interest' -> 'wings and body'."""
    t = re.sub(r":=\s*\d+\s*$", "", text.strip().lower())
    t = re.sub(r":?\s*of interest\s*$", "", t)
    return re.sub(r"\s+", " ", t).strip(" :")


def is_quiet(text: str) -> bool:
    return normalize_label(text) in QUIET_TEXTS


def _auc_counts(quiet: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """(wins, pairs): wins = #{q < o} + #{q == o} / 2 over all quiet x other pairs."""
    q, o = np.asarray(quiet, float)[:, None], np.asarray(other, float)[None, :]
    return float((q < o).sum() + 0.5 * (q == o).sum()), float(q.size * o.size)


def _block_shuffles(groups: np.ndarray, n_perm: int, rng) -> np.ndarray:
    """(n_perm, n) index arrays that move whole groups: the links of group g take, in order, the labels of a
    random group g' of the same size. Labels shared inside a group stay shared; only which group has them moves."""
    idx = np.tile(np.arange(len(groups)), (n_perm, 1))
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    for size in {len(m) for m in members}:
        block = np.stack([m for m in members if len(m) == size])               # (groups of this size, size)
        order = np.argsort(rng.random((n_perm, len(block))), axis=1)           # a random permutation per shuffle
        idx[:, block.ravel()] = block[order].reshape(n_perm, -1)
    return idx


def _perm_stats(maps: np.ndarray, labels, n_perm: int, seed: int, apart=None) -> np.ndarray:
    """maps (n, ...) with labels (n,) -> (n_perm + 1, 4): within-label correlation sum, within pair count,
    between sum, between count; row 0 with the true labels, then one row per shuffle. Constant maps are dropped.
    apart (n,): if given, only pairs with apart[i] != apart[j] count (e.g. links into different units), and the
    shuffles move the labels of whole apart-groups (_block_shuffles): links into one unit share a map and often a
    label, so shuffling single links would treat one unit's many copies as independent evidence."""
    if len(maps) < 2:
        return np.zeros((n_perm + 1, 4))
    m = np.asarray(maps, dtype=np.float64).reshape(len(maps), -1)
    m = m - m.mean(1, keepdims=True)
    norm = np.linalg.norm(m, axis=1)
    keep = norm > 1e-12 * max(1.0, float(norm.max(initial=0.0)))
    m, codes = m[keep] / norm[keep, None], np.unique(np.asarray(labels)[keep], return_inverse=True)[1]
    iu, ju = np.triu_indices(len(m), 1)
    rng = np.random.default_rng(seed)
    if apart is None:
        shuffled = rng.permuted(np.tile(codes, (n_perm, 1)), axis=1)                 # (n_perm, n)
    else:
        groups = np.unique(np.asarray(apart)[keep], return_inverse=True)[1]
        iu, ju = iu[groups[iu] != groups[ju]], ju[groups[iu] != groups[ju]]
        shuffled = codes[_block_shuffles(groups, n_perm, rng)]
    corr = np.einsum("pi,pi->p", m[iu], m[ju])                         # (pairs,) Pearson r of each pair
    codes_p = np.vstack([codes[None], shuffled])                       # (n_perm + 1, n), row 0 the true labels
    stats = np.zeros((n_perm + 1, 4))
    for a in range(0, n_perm + 1, 100):                                # 100 shuffles at a time bounds memory
        same = codes_p[a:a + 100, iu] == codes_p[a:a + 100, ju]        # (100, pairs)
        stats[a:a + 100, 0] = same @ corr
        stats[a:a + 100, 1] = same.sum(1)
    stats[:, 2] = corr.sum() - stats[:, 0]
    stats[:, 3] = len(corr) - stats[:, 1]
    return stats


def _from_stats(stats: np.ndarray, suffix: str = "") -> dict:
    """Within/between means and the one-sided permutation p-value from _perm_stats rows (summed over genomes)."""
    keys = [f"{k}{suffix}" for k in ("within_label_corr", "between_label_corr", "p_value")]
    if stats[0, 1] == 0 or stats[0, 3] == 0:
        return dict.fromkeys(keys, float("nan"))
    t = stats[:, 0] / stats[:, 1] - stats[:, 2] / stats[:, 3]
    p = (1 + np.sum(t[1:] >= t[0] - 1e-12)) / len(t)                  # 1e-12: a shuffle that ties counts against us
    return dict(zip(keys, (float(stats[0, 0] / stats[0, 1]), float(stats[0, 2] / stats[0, 3]), float(p))))


def map_label_test(maps: np.ndarray, labels, n_perm: int = 1000, seed: int = 0, apart=None) -> dict:
    """Are maps with the same label more alike than maps with different labels? maps (n, ...), labels (n,) ->
    within_label_corr, between_label_corr, p_value (permutation, one-sided; NaN without within or between pairs).
    apart (n,): if given, only pairs of maps with different apart values count."""
    return _from_stats(_perm_stats(maps, labels, n_perm, seed, apart))


# ---------------------------------------------------------------------------------------------------- per genome


@dataclass
class _Genome:
    """One labelled genome's sweeps: what a table row and the pooled row are computed from."""
    name: str
    effect: np.ndarray      # (n,) sweep effect of each labelled link
    quiet: np.ndarray       # (n,) bool
    meaningful: np.ndarray  # (n,) bool, is_meaningful (a proposal)
    auc: tuple[float, float]  # (wins, pairs) for auc_quiet_smaller
    stats: np.ndarray       # _perm_stats of the non-quiet links' effect maps
    stats_apart: np.ndarray  # the same over pairs of links into different units only


def _sweep_labelled(net: Net, settings: LabelSettings) -> _Genome:
    if not net.labels:
        raise FracturelabError(f"{net.name}: no link carries a human label")
    wids = sorted(net.labels)                      # labelled links that reach an output, one per weight ID
    results = sweep_weights(net, wids, settings.sweep)
    texts = [net.labels[w] for w in wids]
    effect = np.array([r["effect"] for r in results])
    quiet = np.array([is_quiet(t) for t in texts])
    loud = np.flatnonzero(~quiet)
    maps = np.stack([results[i]["effect_map"] for i in loud]) if len(loud) else np.zeros((0, 1))
    labels = [normalize_label(texts[i]) for i in loud]
    stats = _perm_stats(maps, labels, settings.n_perm, settings.seed)
    # a link's target unit is its (layer, column): links into one unit have near-identical maps whatever the label
    target = [f"{results[i]['layer']}/{results[i]['col']}" for i in loud]
    apart = _perm_stats(maps, labels, settings.n_perm, settings.seed, apart=target)
    meaningful = np.array([is_meaningful(r, settings.sweep) for r in results])
    return _Genome(net.name, effect, quiet, meaningful, _auc_counts(effect[quiet], effect[~quiet]), stats, apart)


def _row(name: str, parts: list[_Genome]) -> dict:
    effect = np.concatenate([g.effect for g in parts])
    quiet = np.concatenate([g.quiet for g in parts])
    meaningful = np.concatenate([g.meaningful for g in parts])
    wins, pairs = (sum(g.auc[i] for g in parts) for i in (0, 1))
    nan = float("nan")
    return {"name": name, "n_links": float(len(effect)), "n_quiet": float(quiet.sum()),
            "auc_quiet_smaller": wins / pairs if pairs else nan,
            **_from_stats(sum(g.stats for g in parts)),
            **_from_stats(sum(g.stats_apart for g in parts), "_apart"),
            "effect_quiet_median": float(np.median(effect[quiet])) if quiet.any() else nan,
            "effect_other_median": float(np.median(effect[~quiet])) if (~quiet).any() else nan,
            "meaningful_quiet": float(meaningful[quiet].mean()) if quiet.any() else nan,
            "meaningful_other": float(meaningful[~quiet].mean()) if (~quiet).any() else nan}


def label_agreement(net: Net, settings: LabelSettings = LabelSettings()) -> dict:
    """Agreement of one labelled genome's sweeps with its people's labels: n_links, n_quiet, auc_quiet_smaller,
    within_label_corr, between_label_corr, p_value, the same three over links into different units (*_apart),
    median effect of quiet and other links (effect_quiet_median, effect_other_median), and the fraction of each
    judged meaningful by sweeps.is_meaningful (meaningful_quiet, meaningful_other; a proposal, so quiet links
    should score low)."""
    return _row(net.name, [_sweep_labelled(net, settings)])


def label_table(genome_dir, settings: LabelSettings = LabelSettings()) -> list[dict]:
    """label_agreement for every genome file (*.xml, *.zip) in genome_dir with labels, then a 'pooled' row (pairs
    only within genomes; see the module docstring). Genomes without labels are skipped and named in the pooled
    row's 'skipped' entry."""
    from ..limits import check_pixels

    check_pixels(settings.sweep.res, "sweep resolution")  # before any genome is read or swept
    if not Path(genome_dir).is_dir():
        raise FracturelabError(f"{genome_dir}: not a folder of genomes")
    files = sorted(p for p in Path(genome_dir).iterdir() if p.suffix in (".xml", ".zip"))
    if not files:
        raise FracturelabError(f"{genome_dir}: no genome files (*.xml, *.zip)")
    parts, rows, skipped = [], [], []
    for path in files:
        net = load_cppn(path)
        check_fit_size(net.arch, settings.sweep.res)  # a sweep holds pixels x units per perturbed net
        if not net.labels:
            skipped.append(net.name)
            continue
        parts.append(_sweep_labelled(net, settings))
        rows.append(_row(net.name, parts[-1:]))
    if not parts:
        raise FracturelabError(f"{genome_dir}: no genome has labelled links")
    return rows + [_row("pooled", parts) | {"skipped": ", ".join(skipped)}]


COLUMNS = ("n_links", "n_quiet", "auc_quiet_smaller", "within_label_corr", "between_label_corr", "p_value",
           "within_label_corr_apart", "between_label_corr_apart", "p_value_apart",
           "effect_quiet_median", "effect_other_median", "meaningful_quiet", "meaningful_other")


def format_table(rows: list[dict]) -> str:
    short = ("links", "quiet", "AUC", "r_within", "r_between", "p", "rw_apart", "rb_apart", "p_apart",
             "eff_quiet", "eff_other", "mfl_quiet", "mfl_other")
    lines = [f"{'genome':26s}" + "".join(f"{s:>10s}" for s in short)]
    for r in rows:
        cells = [f"{r[c]:10.0f}" if c in ("n_links", "n_quiet") else f"{r[c]:10.4f}" for c in COLUMNS]
        lines.append(f"{r['name']:26s}" + "".join(cells))
    skipped = [r["skipped"] for r in rows if r.get("skipped")]
    return "\n".join(lines + [f"skipped (no labels): {s}" for s in skipped])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Agreement of weight sweeps with Picbreeder users' labels")
    ap.add_argument("genome_dir", help="folder of CPPN-X genomes, e.g. ../shared/data/picbreeder/cppnx")
    ap.add_argument("--res", type=int, default=64)
    ap.add_argument("--n-perm", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.time()
    rows = label_table(args.genome_dir, LabelSettings(SweepSettings(res=args.res), args.n_perm, args.seed))
    print(format_table(rows))
    print(f"({time.time() - t0:.1f} s)")


if __name__ == "__main__":
    main()
