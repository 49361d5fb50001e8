"""Statistics: percentile bootstrap CIs (scipy.stats.bootstrap), exact McNemar, Wilcoxon signed-rank."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from wheretolisten import metrics as m
from wheretolisten.metrics.stats import bootstrap_ci, mcnemar, wilcoxon


def test_bootstrap_ci_contains_mean_and_shrinks() -> None:
    rng = np.random.default_rng(1)
    small = rng.normal(5.0, 2.0, size=40)
    large = rng.normal(5.0, 2.0, size=4000)
    lo_s, hi_s = m.bootstrap_ci(small)
    lo_l, hi_l = m.bootstrap_ci(large)
    assert lo_s <= small.mean() <= hi_s
    assert lo_l <= large.mean() <= hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 3
    # the standard error of the mean is ~ 2/sqrt(4000); a 95% CI spans about 4 of them
    assert (hi_l - lo_l) == pytest.approx(4 * 2.0 / math.sqrt(4000), rel=0.25)


def test_bootstrap_ci_deterministic_and_edge_cases() -> None:
    x = np.arange(20.0)
    assert m.bootstrap_ci(x, seed=3) == m.bootstrap_ci(x, seed=3)
    assert m.bootstrap_ci([7.0]) == (7.0, 7.0)
    lo, hi = m.bootstrap_ci([])
    assert math.isnan(lo) and math.isnan(hi)
    assert m.bootstrap_ci([1.0, math.nan, 1.0]) == (1.0, 1.0)
    with pytest.raises(ValueError):
        m.bootstrap_ci(x, level=1.5)


def test_bootstrap_ci_statistic_callables() -> None:
    x = np.r_[np.zeros(50), np.full(50, 10.0)]
    lo, hi = m.bootstrap_ci(x, statistic=np.median)
    assert 0.0 <= lo <= hi <= 10.0
    # a callable without an axis argument falls back to one call per resample
    lo2, hi2 = m.bootstrap_ci(x, n_boot=200, statistic=lambda v: float(np.max(v)))
    assert (lo2, hi2) == (10.0, 10.0)


def test_mcnemar_hand_computed_and_scipy() -> None:
    # 2 pairs (a=0, b=1), 8 pairs (a=1, b=0), 5 concordant each way
    a = np.array([0] * 2 + [1] * 8 + [1] * 5 + [0] * 5, dtype=bool)
    b = np.array([1] * 2 + [0] * 8 + [1] * 5 + [0] * 5, dtype=bool)
    res = m.mcnemar(a, b)
    assert (res["b01"], res["b10"]) == (2, 8)
    assert res["p_value"] == pytest.approx(112 / 1024)  # 2 * P(X <= 2), X ~ Bin(10, 1/2)
    assert res["p_value"] == pytest.approx(stats.binomtest(2, 10, 0.5).pvalue)
    assert m.mcnemar(a, a)["p_value"] == 1.0


def test_wilcoxon_matches_scipy_and_zero_differences() -> None:
    a = np.array([0.9, 0.8, 0.75, 0.6, 0.5, 0.9, 0.7, 0.65, 0.4, 0.3])
    b = np.array([0.5, 0.7, 0.8, 0.2, 0.45, 0.3, 0.71, 0.5, 0.1, 0.35])
    ref = stats.wilcoxon(a, b)
    got = m.wilcoxon(a, b)
    assert got["statistic"] == pytest.approx(ref.statistic)
    assert got["p_value"] == pytest.approx(ref.pvalue)
    same = m.wilcoxon(a, a)
    assert same["p_value"] == 1.0 and same["statistic"] == 0.0


def test_bootstrap_ci_is_the_percentile_bootstrap_of_its_seeded_draws() -> None:
    """The bounds are the 2.5 / 97.5 % quantiles of the means of n_boot resamples drawn by
    ``default_rng(seed).integers`` (the draws of the former hand-written resampler): numbers unchanged."""
    rng = np.random.default_rng(3)
    for x in (np.sort((rng.random(300) < 0.6).astype(float)), np.sort(rng.beta(2, 3, 300))):
        idx = np.random.default_rng(0).integers(0, x.size, size=(2000, x.size))
        expected = np.quantile(x[idx].mean(axis=1), [0.025, 0.975])
        assert m.bootstrap_ci(x) == pytest.approx(tuple(expected), abs=1e-12)
        assert m.bootstrap_ci(x, seed=1) != m.bootstrap_ci(x)


def test_bootstrap_ci_degenerate_samples_and_order() -> None:
    assert m.bootstrap_ci(np.zeros(300)) == (0.0, 0.0)
    assert m.bootstrap_ci(np.ones(300)) == (1.0, 1.0)
    x = np.random.default_rng(4).random(120)
    shuffled = np.random.default_rng(5).permutation(x)
    assert m.bootstrap_ci(np.sort(shuffled)) == m.bootstrap_ci(np.sort(x))
    assert m.bootstrap_ci([3.0, 5.0], statistic=np.median)[0] >= 3.0
    assert m.bootstrap_ci([4.0], statistic=np.median) == (4.0, 4.0)
    # a builtin without an inspectable signature is applied to one resample at a time
    lo, hi = m.bootstrap_ci([1.0, 2.0, 3.0], n_boot=100, statistic=max)
    assert 1.0 <= lo <= hi == 3.0


def test_clusters_of_one_change_nothing() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.random(40), rng.random(40) > 0.4
    ids = [f"s{i}" for i in range(40)]
    assert bootstrap_ci(x, clusters=ids) == bootstrap_ci(x)
    assert mcnemar(y, x > 0.5, clusters=ids) == mcnemar(y, x > 0.5)
    assert wilcoxon(x, x[::-1], clusters=ids) == wilcoxon(x, x[::-1])


def test_cluster_bootstrap_resamples_scenes() -> None:
    """Four identical queries per scene: the clustered CI is that of the 10 scene means, not of 40
    independent values (wider)."""
    per_scene = np.random.default_rng(0).random(10)
    x = np.repeat(per_scene, 4)
    ids = np.repeat([f"s{i}" for i in range(10)], 4)
    naive, clustered_ci = bootstrap_ci(x), bootstrap_ci(x, clusters=ids)
    scene_ci = bootstrap_ci(per_scene)
    assert clustered_ci[1] - clustered_ci[0] > 1.5 * (naive[1] - naive[0])
    assert clustered_ci == pytest.approx(scene_ci, abs=0.03)


def test_clustered_mcnemar_and_wilcoxon_by_hand() -> None:
    # scene a: 3 pairs, b01 twice and b10 once (d = +1); scene b: 2 pairs, b01 twice (d = +2); c: d = -1
    a = [False, False, True, False, False, True]
    b = [True, True, False, True, True, False]
    ids = ["a", "a", "a", "b", "b", "c"]
    test = mcnemar(a, b, clusters=ids)
    assert (test["b01"], test["b10"]) == (4, 2)
    assert test["p_value"] == pytest.approx(float(stats.chi2.sf((1 + 2 - 1) ** 2 / (1 + 4 + 1), 1)))
    x, y = [1.0, 3.0, 5.0, 2.0, 2.0, 9.0], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    means = wilcoxon([3.0, 2.0, 9.0], [0.0, 1.0, 1.0])
    assert wilcoxon(x, y, clusters=ids) == means


def test_per_set_verdicts_need_every_draw_to_agree() -> None:
    from wheretolisten.tables.protocol import verdict_lines

    def vs(name: str, ref: float, hit: float, p: float) -> dict[str, object]:
        return {"set": name, "condition": "prompted", "hit_reference": ref, "hit": hit, "mcnemar_p_holm": p}

    table = [
        vs("a-s0", 80, 60, 0.01), vs("a-s1", 82, 61, 0.02),  # both draws: steered wins
        vs("b-s0", 80, 60, 0.01), vs("b-s1", 70, 69, 0.6),  # the draws disagree
        vs("pooled", 78, 62, 0.001),
    ]  # fmt: skip
    (line,) = verdict_lines(table, {"a": ["a-s0", "a-s1"], "b": ["b-s0", "b-s1"]})
    assert line.startswith("- steered vs prompted: pooled steered beats prompted (+16.0 pp")
    assert "a: steered beats prompted (all 2 draws: +20.0 pp" in line
    assert "b: draws disagree (+20.0 pp, Holm p 0.010; +1.0 pp, Holm p 0.600), no per-set verdict" in line
