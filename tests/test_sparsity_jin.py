"""Oracle: the sparsity probe's metrics equal Jin et al. 2026's, written out here one vector at a time from their paper
and their code (MingyuJ666/sparsityLLM: QA-bench/robustness/analyze_mmlu_pro_area_difficulty.py's
compute_sparsity_metrics for top-k energy, Gini, Hoyer, kurtosis, effective rank and participation ratio;
cot/utils/rank.py and QA-bench/Longreason/analyze_length_sparsity.py for the l0 fraction and the L1 effective rank;
pretrain/pretrain.py for where h is read). Their code runs in float32 numpy/torch; here everything is float64, so
the comparison is of the formulas, to 1e-9."""
import math

import numpy as np
import pytest

from fracturelab.probes import sparsity as S

WIDTHS = [3, 16, 99, 100, 128, 768, 1001]


def jin(h: np.ndarray) -> dict[str, float]:
    """Jin et al.'s metrics of one vector h (d,), written out term by term."""
    d = len(h)
    a = [abs(float(x)) for x in h]
    desc = sorted(a, reverse=True)
    energy = sum(x * x for x in desc)
    out = {}
    for name, f in (("top1", 0.01), ("top5", 0.05), ("top10", 0.10)):
        k = max(1, int(f * d))  # rounded down, at least one unit
        out[name] = sum(x * x for x in desc[:k]) / energy if energy > 0 else 0.0
    asc = sorted(a)
    total = sum(asc)
    out["gini"] = (2 * sum((i + 1) * x for i, x in enumerate(asc)) / (d * total) - (d + 1) / d) if total > 0 else 0.0
    l2 = math.sqrt(sum(x * x for x in a))
    out["hoyer"] = (math.sqrt(d) - total / l2) / (math.sqrt(d) - 1) if l2 > 0 else 0.0
    mean = total / d
    std = math.sqrt(sum((x - mean) ** 2 for x in a) / (d - 1))  # torch's .std(): unbiased
    out["l0"] = sum(x > mean + std for x in a) / d
    m2 = sum((x - mean) ** 2 for x in a) / d  # scipy.stats.kurtosis: Fisher, biased (population moments)
    m4 = sum((x - mean) ** 4 for x in a) / d
    out["kurtosis"] = m4 / m2**2 - 3
    sq = [float(x) ** 2 for x in h]
    p = [s / sum(sq) for s in sq] if sum(sq) > 0 else sq
    out["eff_rank"] = math.exp(-sum(q * math.log(q + 1e-10) for q in p)) / d
    q1 = [x / total + 1e-10 for x in a]  # the L1 form adds 1e-10 to the shares themselves
    out["eff_rank_l1"] = math.exp(-sum(q * math.log(q) for q in q1)) / d
    fourth = sum(s * s for s in sq)
    out["participation_ratio"] = sum(sq) ** 2 / fourth / d if fourth > 0 else 0.0
    for name, f in (("top1_l1", 0.01), ("top5_l1", 0.05), ("top10_l1", 0.10)):  # rank.py's top*pct_ratio
        k = max(1, int(f * d))
        out[name] = sum(desc[:k]) / total if total > 0 else 0.0
    out["l1_norm"] = total
    return out


def _vectors(d: int) -> np.ndarray:
    rng = np.random.default_rng(d)
    heavy = rng.standard_t(2, size=d)  # a few massive units, as in LLM residual streams
    heavy[rng.integers(d)] *= 40
    sparse = np.where(rng.random(d) < 0.1, rng.normal(size=d), 0.0)
    sparse[0] = 1.0  # never all zero
    return np.stack([rng.normal(size=d), heavy, sparse, np.abs(rng.normal(size=d)) + 1, np.eye(d)[d // 2]])


@pytest.mark.parametrize("d", WIDTHS)
def test_metrics_equal_jin_formulas(d):
    H = _vectors(d)
    assert list(S.METRICS) == ["hoyer", "top1", "top5", "top10", "gini", "l0", "eff_rank", "eff_rank_l1", "kurtosis",
                               "participation_ratio", "top1_l1", "top5_l1", "top10_l1", "l1_norm"]
    theirs = [jin(h) for h in H]
    for name, fn in S.METRICS.items():
        ours = fn(H)
        want = np.array([t[name] for t in theirs])
        np.testing.assert_allclose(ours, want, rtol=0, atol=1e-9, err_msg=f"{name} at d={d}")


def test_where_rounding_and_std_matter():
    """The two differences from the earlier probe are live: k rounds down (d = 128: top-1 % is one unit, not two),
    and the l0 threshold uses the unbiased std."""
    d = 128
    h = np.zeros(d)
    h[:2] = [1.0, 1.0]
    assert S.top_energy(h, 1)[0] == pytest.approx(0.5)  # ceil(1.28) = 2 units would give 1.0
    v = np.array([0.0, 0.0, 1.0, 0.9])  # mean 0.475; + population std = 0.951; + unbiased std = 1.025
    assert S.l0(v)[0] == 0.0  # the population threshold would let the 1.0 in: 0.25
    assert (v > v.mean() + v.std()).mean() == 0.25


def test_edge_vectors():
    z = np.zeros((1, 8))
    for name in ("hoyer", "top1", "top5", "top10", "gini", "l0", "participation_ratio", "top1_l1", "top5_l1",
                 "top10_l1", "l1_norm"):
        assert S.METRICS[name](z)[0] == 0.0, name
    assert S.eff_rank(z)[0] == pytest.approx(1 / 8) and np.isnan(S.eff_rank_l1(z)[0])  # theirs: 0 / 0
    assert np.isnan(S.kurtosis(np.ones((1, 8)))[0])
    one_hot = np.eye(8)[2:3]
    assert S.hoyer(one_hot)[0] == pytest.approx(1) and S.participation_ratio(one_hot)[0] == pytest.approx(1 / 8)
    assert S.eff_rank(np.ones((1, 8)))[0] == pytest.approx(1.0, abs=1e-8)


def test_metric_table_is_the_functions():
    """The probe's shared-sort fast path equals the metric functions one by one."""
    for d in WIDTHS:
        H = np.concatenate([_vectors(d), np.zeros((1, d))])
        table = S.metric_table(H)
        for name, fn in S.METRICS.items():
            np.testing.assert_allclose(table[name], fn(H), rtol=1e-12, atol=1e-15, err_msg=f"{name} at d={d}")
