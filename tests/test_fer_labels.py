"""Agreement of sweeps with people's labels: the label rules on the real texts, the AUC against sklearn, the
permutation test on constructions with known answers, and the real 14 labelled Picbreeder genomes."""
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from fracturelab.cppn import load_cppn, load_genome
from fracturelab.fer.labels import (LabelSettings, _auc_counts, _block_shuffles, _perm_stats, format_table,
                                    is_quiet, label_agreement, label_table, map_label_test, normalize_label)
from fracturelab.fer.sweeps import SweepSettings

LABELLED = 14
UNLABELLED = {"2914_Firefly", "5736_ShinyRedApple"}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Sweeps run many small ops: on a busy 2-core machine one thread is several times faster than two."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_label_normalisation_and_quiet_rule():
    assert normalize_label("Mouth open close:=4") == "mouth open close"
    assert normalize_label("Wings and body: of interest") == "wings and body"
    assert normalize_label("Outer shape mirror: of interest:=2") == "outer shape mirror"
    assert normalize_label("Distortion of interest") == "distortion"
    for t in ("No effect", "No Effect", "Little Effect", "Little effect", "Minor effect", "Very little effect",
              " minor  effect:=3"):
        assert is_quiet(t), t
    for t in ("Light minor", "Mystic minor", "Global minor", "Mouth open close", "Entire face", "Light"):
        assert not is_quiet(t), t


def test_quiet_texts_in_the_real_genomes(picbreeder_dir):
    """The matching rule against every text people wrote: exactly these six spellings are quiet."""
    texts = {l.label for p in (picbreeder_dir / "cppnx").glob("*.xml") for l in load_genome(p).links if l.label}
    assert {t for t in texts if is_quiet(t)} == {"No effect", "No Effect", "Little Effect", "Little effect",
                                                "Minor effect", "Very little effect"}
    assert {t for t in texts if "effect" in t.lower() and not is_quiet(t)} == set()


def test_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        q, o = rng.integers(0, 5, rng.integers(1, 9)), rng.integers(0, 5, rng.integers(1, 9))  # many ties
        y = np.r_[np.ones(len(q)), np.zeros(len(o))]
        wins, pairs = _auc_counts(q, o)
        assert wins / pairs == pytest.approx(roc_auc_score(y, -np.r_[q, o]))  # quiet = smaller scores
    assert _auc_counts([0.0, 0.0], [1.0, 2.0]) == (4.0, 4.0) and _auc_counts([3.0], [1.0, 2.0]) == (0.0, 2.0)


def grouped_maps(n_groups: int, per_group: int, noise: float, seed: int, res: int = 12):
    """Maps that are a group's blob at a group-specific place plus noise: (n, res, res) and group ids."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:res, 0:res]
    centres = rng.uniform(2, res - 2, (n_groups, 2))
    blobs = np.exp(-((yy - centres[:, :1, None]) ** 2 + (xx - centres[:, 1:, None]) ** 2) / 4.0)
    groups = np.repeat(np.arange(n_groups), per_group)
    return blobs[groups] + noise * rng.standard_normal((len(groups), res, res)), groups


def test_within_between_correlation_against_a_plain_loop():
    maps, groups = grouped_maps(3, 4, 0.3, seed=1)
    labels = [f"part {g}" for g in groups]
    within, between = [], []
    for i in range(len(maps)):
        for j in range(i + 1, len(maps)):
            r = np.corrcoef(maps[i].ravel(), maps[j].ravel())[0, 1]
            (within if labels[i] == labels[j] else between).append(r)
    out = map_label_test(maps, labels, n_perm=50, seed=0)
    assert out["within_label_corr"] == pytest.approx(np.mean(within))
    assert out["between_label_corr"] == pytest.approx(np.mean(between))
    stats = _perm_stats(maps, labels, n_perm=50, seed=0)           # shuffles keep the label counts
    assert np.all(stats[:, 1] == len(within)) and np.all(stats[:, 3] == len(between))


def test_permutation_p_small_when_labels_match_maps():
    maps, groups = grouped_maps(4, 5, 0.2, seed=2)
    out = map_label_test(maps, [str(g) for g in groups], n_perm=1000, seed=0)
    assert out["within_label_corr"] > out["between_label_corr"] + 0.3
    assert out["p_value"] == pytest.approx(1 / 1001)                # no shuffle does as well
    assert map_label_test(maps, [str(g) for g in groups], n_perm=1000, seed=0) == out  # seeded


def test_permutation_p_uniform_when_labels_are_shuffled():
    maps, _ = grouped_maps(4, 5, 0.2, seed=3)                        # structure in the maps ...
    rng = np.random.default_rng(4)
    ps = np.array([map_label_test(maps, rng.permutation(np.repeat(np.arange(4), 5)), n_perm=200, seed=s)["p_value"]
                   for s in range(60)])                             # ... but labels that ignore it
    assert 0.35 < ps.mean() < 0.65                                   # uniform on (0, 1] has mean 1/2
    assert np.mean(ps < 0.05) < 0.15 and np.mean(ps > 0.5) > 0.3


def test_apart_control_leaves_out_pairs_into_one_unit():
    """Links into one unit share a map and a label; units come in pairs that share a label but have unrelated maps.
    The plain test sees agreement every time; the control, which pairs only links of different units and shuffles
    whole units, sees it about as often as chance allows."""
    p_plain, p_apart = [], []
    for seed in range(30):
        maps, unit = grouped_maps(8, 3, 0.05, seed=seed)
        labels = (unit // 2).astype(str)                             # units 0, 1 -> "0"; 2, 3 -> "1"; ...
        p_plain.append(map_label_test(maps, labels, n_perm=200)["p_value"])
        p_apart.append(map_label_test(maps, labels, n_perm=200, apart=unit)["p_value"])
    assert max(p_plain) < 0.01
    assert np.mean(np.array(p_apart) < 0.05) < 0.2 and 0.3 < np.mean(p_apart) < 0.7
    maps, unit = grouped_maps(8, 3, 0.05, seed=0)
    labels = (unit // 2).astype(str)
    within = [np.corrcoef(maps[i].ravel(), maps[j].ravel())[0, 1] for i in range(24) for j in range(i + 1, 24)
              if unit[i] != unit[j] and labels[i] == labels[j]]
    assert map_label_test(maps, labels, n_perm=10, apart=unit)["within_label_corr"] == pytest.approx(np.mean(within))


def test_block_shuffles_move_whole_units_of_equal_size():
    unit = np.array([0, 0, 1, 1, 2, 3, 3, 4])
    idx = _block_shuffles(unit, 50, np.random.default_rng(0))
    for row in idx:
        assert sorted(row) == list(range(8))                         # a permutation of the links
        for u in np.unique(unit):                                    # each unit's links go to one unit, in order
            src = unit[row[unit == u]]
            assert len(set(src)) == 1 and (unit == src[0]).sum() == (unit == u).sum()
    assert len({tuple(r) for r in idx}) > 1


def test_constant_maps_and_missing_pairs_give_nan():
    maps, groups = grouped_maps(3, 1, 0.1, seed=5)                   # every label once: no within-label pair
    assert math.isnan(map_label_test(maps, groups, n_perm=10)["p_value"])
    flat = np.concatenate([maps, np.zeros((2, 12, 12))])             # constant maps are left out, not NaN-poisoning
    out = map_label_test(flat, [0, 1, 2, 0, 0], n_perm=10)
    assert math.isnan(out["within_label_corr"]) and math.isnan(out["p_value"])


def test_builtin_face_labels_agree():
    """The built-in face is labelled by its author: links with one label move one part."""
    out = label_agreement(load_cppn("face"), LabelSettings(SweepSettings(res=32), n_perm=200))
    assert out["n_links"] == 20 and out["n_quiet"] == 0 and math.isnan(out["auc_quiet_smaller"])
    assert out["within_label_corr"] > out["between_label_corr"]
    assert out["p_value"] < 0.05


def test_label_agreement_on_a_real_genome(picbreeder_dir):
    out = label_agreement(load_cppn(picbreeder_dir / "cppnx" / "765_PlaneOnRunway.xml"),
                          LabelSettings(SweepSettings(res=32), n_perm=200))
    assert out["n_links"] == 77 and out["n_quiet"] == 13
    assert 0.0 <= out["auc_quiet_smaller"] <= 1.0 and 0.0 < out["p_value"] <= 1.0
    assert out["effect_quiet_median"] < out["effect_other_median"]


@pytest.mark.slow
def test_label_table_on_all_labelled_genomes(picbreeder_dir):
    settings = LabelSettings(SweepSettings(res=32), n_perm=200)
    rows = label_table(picbreeder_dir / "cppnx", settings)
    genomes, pooled = rows[:-1], rows[-1]
    assert len(genomes) == LABELLED and pooled["name"] == "pooled"
    assert set(pooled["skipped"].split(", ")) == UNLABELLED
    assert pooled["n_links"] == sum(r["n_links"] for r in genomes)
    for r in genomes:
        has_both = 0 < r["n_quiet"] < r["n_links"]
        assert math.isnan(r["auc_quiet_smaller"]) != has_both, r["name"]
        if has_both:
            assert 0.0 <= r["auc_quiet_smaller"] <= 1.0
        assert 0.0 < r["p_value"] <= 1.0 and -1.0 <= r["between_label_corr"] <= 1.0
        assert r["p_value_apart"] > 0.0 or math.isnan(r["p_value_apart"])
    # the findings (res 64, 1000 shuffles: pooled AUC 0.94, p 0.001), held loosely at res 32
    assert pooled["auc_quiet_smaller"] > 0.8
    assert pooled["within_label_corr"] > pooled["between_label_corr"] and pooled["p_value"] < 0.01
    assert "pooled" in format_table(rows) and "5736_ShinyRedApple" in format_table(rows)
