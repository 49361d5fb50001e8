"""Tests for the localization benchmark metrics."""

from __future__ import annotations

import csv
import io
import math
import warnings
from typing import Any

import numpy as np
import pytest
from scipy import stats

from wheretolisten import metrics as m
from wheretolisten.errors import DataError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # dcase_util imports the deprecated pkg_resources
    import sed_eval


# ---------------------------------------------------------------- per-query scores


def test_hit_inclusive_and_none() -> None:
    assert m.hit(3.0, [2.0, 4.0])
    assert m.hit(2.0, [2.0, 4.0])
    assert m.hit(4.0, (2.0, 4.0))
    assert not m.hit(1.99, [2.0, 4.0])
    assert not m.hit(4.01, [2.0, 4.0])
    assert not m.hit(None, [2.0, 4.0])


def test_hits_vectorized() -> None:
    got = m.hits([3.0, None, 5.0], [[2, 4], [2, 4], [0, 1]])
    assert got.tolist() == [True, False, False]


def test_overlap_scores_hand_computed() -> None:
    assert m.iou([1.0, 3.0], [2.0, 4.0]) == pytest.approx(1 / 3)
    assert m.coverage([1.0, 3.0], [2.0, 4.0]) == pytest.approx(0.5)
    assert m.precision([1.0, 3.0], [2.0, 4.0]) == pytest.approx(0.5)
    # prediction inside GT: full precision, partial coverage
    assert m.iou([2.5, 3.0], [2.0, 4.0]) == pytest.approx(0.25)
    assert m.coverage([2.5, 3.0], [2.0, 4.0]) == pytest.approx(0.25)
    assert m.precision([2.5, 3.0], [2.0, 4.0]) == pytest.approx(1.0)
    # prediction containing GT: full coverage
    assert m.coverage([0.0, 10.0], [2.0, 4.0]) == pytest.approx(1.0)
    assert m.precision([0.0, 10.0], [2.0, 4.0]) == pytest.approx(0.2)
    assert m.iou([2.0, 4.0], [2.0, 4.0]) == pytest.approx(1.0)
    # disjoint
    assert m.iou([5.0, 6.0], [2.0, 4.0]) == 0.0
    # reversed prediction is read as ordered
    assert m.iou([3.0, 1.0], [2.0, 4.0]) == pytest.approx(1 / 3)


def test_overlap_scores_none_and_points() -> None:
    for f in (m.iou, m.coverage, m.precision):
        assert f(None, [2.0, 4.0]) == 0.0
    assert m.precision([3.0, 3.0], [2.0, 4.0]) == 1.0
    assert m.precision([4.0, 4.0], [2.0, 4.0]) == 1.0
    assert m.precision([5.0, 5.0], [2.0, 4.0]) == 0.0
    assert m.iou([3.0, 3.0], [2.0, 4.0]) == 0.0
    assert m.coverage([3.0, 3.0], [2.0, 4.0]) == 0.0


def test_interval_scores_vectorized_matches_scalar() -> None:
    preds = [[1.0, 3.0], None, [3.0, 3.0], [0.0, 10.0]]
    gts = [[2.0, 4.0]] * 4
    got = m.interval_scores(preds, gts)
    assert got["iou"] == pytest.approx([m.iou(p, g) for p, g in zip(preds, gts, strict=True)])
    assert got["coverage"] == pytest.approx([m.coverage(p, g) for p, g in zip(preds, gts, strict=True)])
    assert got["precision"] == pytest.approx([m.precision(p, g) for p, g in zip(preds, gts, strict=True)])


# ---------------------------------------------------------------- statistics


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


# ---------------------------------------------------------------- event-based F1 vs sed_eval


def _ev(f: str, on: float, off: float, lab: str) -> dict[str, Any]:
    return {"filename": f, "onset": on, "offset": off, "event_label": lab}


def _sed_eval_counts(pred: list[dict[str, Any]], ref: list[dict[str, Any]], t_collar: float, pol: float):
    labels = sorted({e["event_label"] for e in pred + ref})
    metric = sed_eval.sound_event.EventBasedMetrics(
        event_label_list=labels,
        t_collar=float(t_collar),
        percentage_of_length=float(pol),
        evaluate_onset=True,
        evaluate_offset=True,
    )
    for f in sorted({e["filename"] for e in pred + ref}):
        metric.evaluate(
            reference_event_list=[e for e in ref if e["filename"] == f],
            estimated_event_list=[e for e in pred if e["filename"] == f],
        )
    o = metric.overall
    return int(o["Ntp"]), int(o["Nsys"] - o["Ntp"]), int(o["Nref"] - o["Ntp"]), metric


REF = [_ev("a", 1.0, 3.0, "dog"), _ev("a", 4.0, 5.0, "cat"), _ev("b", 0.5, 2.5, "car")]
CASES = {
    "exact": ([_ev("a", 1.0, 3.0, "dog"), _ev("a", 4.0, 5.0, "cat"), _ev("b", 0.5, 2.5, "car")], (3, 0, 0)),
    "onset_within_collar": ([_ev("a", 1.15, 3.0, "dog")], (1, 0, 2)),
    "onset_outside_collar": ([_ev("a", 1.3, 3.0, "dog")], (0, 1, 3)),
    # offset collar = max(0.2, 0.2 * 2 s) = 0.4 s for the dog
    "offset_within_length_collar": ([_ev("a", 1.0, 3.35, "dog")], (1, 0, 2)),
    "offset_outside_length_collar": ([_ev("a", 1.0, 3.5, "dog")], (0, 1, 3)),
    "wrong_label": ([_ev("a", 1.0, 3.0, "cat")], (0, 1, 3)),
    "missing": ([], (0, 0, 3)),
    "extra": ([*REF, _ev("b", 5.0, 6.0, "car")], (3, 1, 0)),
    "wrong_file": ([_ev("b", 1.0, 3.0, "dog")], (0, 1, 3)),
    "duplicate_counts_once": ([_ev("a", 1.0, 3.0, "dog"), _ev("a", 1.05, 3.0, "dog")], (1, 1, 2)),
    "several_files": (
        [_ev("a", 1.1, 3.1, "dog"), _ev("b", 0.6, 2.4, "car"), _ev("c", 0.0, 1.0, "dog")],
        (2, 1, 1),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_event_f1_crafted_matches_sed_eval(case: str) -> None:
    pred, (tp, fp, fn) = CASES[case]
    got = m.event_f1(pred, REF, t_collar=0.2, percentage_of_length=0.2)
    assert (got["tp"], got["fp"], got["fn"]) == (tp, fp, fn)
    s_tp, s_fp, s_fn, metric = _sed_eval_counts(pred, REF, 0.2, 0.2)
    assert (s_tp, s_fp, s_fn) == (tp, fp, fn)
    ref_f = metric.results_overall_metrics()["f_measure"]
    if pred:
        assert got["f1"] == pytest.approx(ref_f["f_measure"])
        assert got["precision"] == pytest.approx(ref_f["precision"])
    assert got["recall"] == pytest.approx(ref_f["recall"])


def test_event_f1_needs_maximal_matching() -> None:
    # A greedy first-fit would give est0 to ref0 and leave ref1 unmatched; the maximal matching finds 2.
    ref = [_ev("a", 1.0, 2.0, "dog"), _ev("a", 1.3, 2.3, "dog")]
    pred = [_ev("a", 1.15, 2.15, "dog"), _ev("a", 0.85, 1.85, "dog")]
    got = m.event_f1(pred, ref)
    s_tp, _, _, _ = _sed_eval_counts(pred, ref, 0.2, 0.2)
    assert got["tp"] == s_tp == 2
    assert got["f1"] == 1.0


def test_event_f1_random_cases_match_sed_eval() -> None:
    rng = np.random.default_rng(7)
    labels = ["dog", "cat"]
    for _ in range(40):
        ref, pred = [], []
        for f in ("x", "y"):
            for _ in range(rng.integers(0, 4)):
                on = float(np.round(rng.uniform(0, 8), 2))
                ref.append(_ev(f, on, on + float(np.round(rng.uniform(0.2, 2), 2)), str(rng.choice(labels))))
            for e in ref[-3:]:
                if e["filename"] == f and rng.random() < 0.8:
                    on = e["onset"] + float(np.round(rng.normal(0, 0.2), 2))
                    off = e["offset"] + float(np.round(rng.normal(0, 0.3), 2))
                    lab = e["event_label"] if rng.random() < 0.85 else str(rng.choice(labels))
                    pred.append(_ev(f, on, max(on + 0.05, off), lab))
        got = m.event_f1(pred, ref, t_collar=0.2, percentage_of_length=0.2)
        s_tp, s_fp, s_fn, _ = _sed_eval_counts(pred, ref, 0.2, 0.2)
        assert (got["tp"], got["fp"], got["fn"]) == (s_tp, s_fp, s_fn)


def test_event_f1_empty_inputs() -> None:
    got = m.event_f1([], [])
    assert got == {"f1": 0.0, "precision": 0.0, "recall": 0.0, "tp": 0, "fp": 0, "fn": 0}


# ---------------------------------------------------------------- curve scoring (sed_scores_eval)


def test_curve_collar_f1_perfect_and_imperfect() -> None:
    t = np.arange(250) * 0.04
    c1 = np.zeros(250)
    c1[50:100] = 1.0  # exactly [2.0, 4.0)
    c2 = np.zeros(250)
    c2[150:175] = 1.0  # [6.0, 7.0)
    curves = {"s1": c1, "s2": c2}
    gt = {"s1": (2.0, 4.0), "s2": (6.0, 7.0)}
    res = m.curve_collar_f1(curves, t, gt)
    assert res["f1"] == pytest.approx(1.0)
    # move s2's GT away: a threshold between s2's (0.5) and s1's (1.0) peak detects s1 only -> P=1, R=1/2
    c2[150:175] = 0.5
    res2 = m.curve_collar_f1(curves, {k: t for k in curves}, {"s1": (2.0, 4.0), "s2": (1.0, 2.0)})
    assert res2["f1"] == pytest.approx(2 / 3)
    assert (res2["precision"], res2["recall"]) == pytest.approx((1.0, 0.5))
    assert res2["n_ref"] == 2 and res2["tp"] == 1 and res2["fp"] == 0
    assert 0.5 <= res2["threshold"] <= 1.0


def test_curve_psds_is_the_area_under_the_roc() -> None:
    """60 ten-second items: 40 curves peak on their event (score 1), 20 on a wrong span (score 0.5).

    Above 0.5 the detector finds 40 of 60 events with no false positive, so TPR = 2/3 at eFPR 0; at 0.5
    the 20 false positives (120 per hour) land beyond max_efpr = 100. PSDS = 2/3 exactly.
    """
    t = np.arange(250) * 0.04
    good = ((t >= 2.0) & (t < 4.0)).astype(float)
    bad = 0.5 * ((t >= 6.0) & (t < 8.0)).astype(float)
    keys = [f"s{i}" for i in range(60)]
    curves = {k: good if i % 3 else bad for i, k in enumerate(keys)}
    gt = {k: (2.0, 4.0) for k in keys}
    assert m.curve_psds(curves, t, gt) == pytest.approx(2 / 3)
    assert m.curve_psds({k: good for k in keys}, t, gt) == pytest.approx(1.0)
    shifted = ((t >= 2.6) & (t < 4.6)).astype(float)  # 70 % inside the event: meets the 0.7 criteria
    assert m.curve_psds({k: shifted for k in keys}, t, gt) == pytest.approx(1.0)
    later = ((t >= 2.8) & (t < 4.8)).astype(float)  # 60 % inside: a false positive and a miss
    assert m.curve_psds({k: later for k in keys}, t, gt) == pytest.approx(0.0)


def test_curve_scores_per_condition_from_profiles() -> None:
    """Rows carrying Δ profiles are scored per condition; conditions without profiles are left out."""
    t = (np.arange(250) * 0.04).tolist()
    on_event = [1.0 if 2.0 <= x < 4.0 else 0.0 for x in t]
    off_event = [1.0 if 6.0 <= x < 8.0 else 0.0 for x in t]

    def row(i: int, cond: str, delta: list[float] | None) -> dict[str, Any]:
        r: dict[str, Any] = {"scene_id": f"s{i}", "query": "q", "condition": cond, "gt": [2.0, 4.0]}
        if delta is not None:
            r["profile"] = {"time_s": t, "delta": delta}
        return r

    rows = [row(i, "steered", on_event) for i in range(40)]
    rows += [row(i, "prompted", on_event if i % 2 else off_event) for i in range(40)]
    rows += [row(i, "random", None) for i in range(40)]
    scores = {s["condition"]: s for s in m.curve_scores(rows)}
    assert set(scores) == {"steered", "prompted"}
    assert scores["steered"]["n"] == 40
    assert scores["steered"]["collar_f1"] == pytest.approx(1.0)
    assert scores["steered"]["psds"] == pytest.approx(1.0)
    assert scores["prompted"]["collar_f1"] == pytest.approx(0.5)  # P = R = 1/2 at every threshold
    assert scores["prompted"]["psds"] < 0.5


def test_curve_collar_f1_respects_onset_collar() -> None:
    t = np.arange(250) * 0.04
    gt = {"s": (2.0, 4.0)}
    near = np.zeros(250)
    near[53:100] = 1.0  # onset 2.12 s: within the 0.2 s collar
    far = np.zeros(250)
    far[58:100] = 1.0  # onset 2.32 s: outside
    assert m.curve_collar_f1({"s": near}, t, gt)["f1"] == pytest.approx(1.0)
    assert m.curve_collar_f1({"s": far}, t, gt)["f1"] == pytest.approx(0.0)
    with pytest.raises(ValueError):
        m.curve_collar_f1({"s": far}, t[:-1], gt)


# ---------------------------------------------------------------- chance level


def _synthetic_rows(n: int, rng: np.random.Generator, duration: float = 10.0) -> list[dict[str, Any]]:
    """Clips with three non-overlapping events of random lengths; one is queried per row."""
    rows = []
    for i in range(n):
        lengths = rng.uniform(0.5, 3.0, size=3)
        gaps = rng.dirichlet(np.ones(4)) * (duration - lengths.sum())
        onsets = gaps[0] + np.r_[0.0, np.cumsum(lengths[:2] + gaps[1:3])]
        k = int(rng.integers(0, 3))
        gt = [float(onsets[k]), float(onsets[k] + lengths[k])]
        peak = float(rng.uniform(0.0, duration))
        rows.append(
            {
                "scene_id": f"s{i}",
                "query": f"q{k}",
                "condition": "random",
                "gt": gt,
                "peak_s": peak,
                "interval_s": None,
                "duration_s": duration,
                "position": ("first", "middle", "last")[k],
            }
        )
    return rows


def test_random_predictor_matches_analytic_expectation() -> None:
    rng = np.random.default_rng(0)
    rows = _synthetic_rows(2000, rng)
    empirical = 100.0 * float(np.mean([m.hit(r["peak_s"], r["gt"]) for r in rows]))
    expected = 100.0 * m.random_hit_expectation(rows)
    assert abs(empirical - expected) < 2.0
    assert 5.0 < expected < 30.0


def test_random_expectations_hand_computed() -> None:
    rows = [
        {"gt": [0.0, 2.0], "duration_s": 10.0},
        {"gt": [5.0, 10.0], "duration_s": 10.0},
    ]
    assert m.random_hit_expectation(rows) == pytest.approx((0.2 + 0.5) / 2)
    # a GT covering the whole clip: any random interval inside it has IoU = its length / duration,
    # whose expectation for two uniform ends is 1/3
    whole = [{"gt": [0.0, 10.0], "duration_s": 10.0}]
    assert m.random_iou_expectation(whole) == pytest.approx(1 / 3, abs=0.01)


# ---------------------------------------------------------------- summaries


def _row(scene: str, cond: str, gt: list[float], peak: float | None, interval: list[float] | None,
         position: str = "first", **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "scene_id": scene,
        "query": "dog",
        "condition": cond,
        "gt": gt,
        "peak_s": peak,
        "interval_s": interval,
        "duration_s": 10.0,
        "position": position,
        **extra,
    }


def _rows() -> list[dict[str, Any]]:
    gt = [2.0, 4.0]
    return [
        # steered: 3 of 4 hits; IoUs 1, 0.5, 0, 1/3
        _row("a", "steered", gt, 3.0, [2.0, 4.0], "first", attn_share=0.6, attn_share_base=0.4),
        _row("b", "steered", gt, 2.5, [2.0, 3.0], "middle", attn_share=0.5, attn_share_base=0.2),
        _row("c", "steered", gt, 9.0, None, "last", attn_share=0.3, attn_share_base=0.35),
        _row("d", "steered", gt, 4.0, [1.0, 3.0], "last", attn_share=0.7, attn_share_base=0.5),
        # text: 1 of 4 hits, one parse failure
        _row("a", "text", gt, None, None, "first", parse_failed=True),
        _row("b", "text", gt, 3.0, [3.0, 3.0], "middle", parse_failed=False),
        _row("c", "text", gt, 6.0, [6.0, 7.0], "last", parse_failed=False),
        _row("d", "text", gt, 1.0, [0.0, 2.0], "last", parse_failed=False),
    ]


def test_summarize_expected_numbers() -> None:
    summary = m.summarize(_rows(), n_boot=500)
    assert [s["condition"] for s in summary] == ["steered", "text"]
    st, tx = summary
    assert st["n"] == 4
    assert st["hit_rate"] == pytest.approx(75.0)
    assert st["hit_rate_ci"][0] <= 75.0 <= st["hit_rate_ci"][1]
    assert st["iou"] == pytest.approx((1 + 0.5 + 0 + 1 / 3) / 4)
    assert st["iou_ci"][0] <= st["iou"] <= st["iou_ci"][1]
    assert st["coverage"] == pytest.approx((1 + 0.5 + 0 + 0.5) / 4)
    assert st["precision"] == pytest.approx((1 + 1 + 0 + 0.5) / 4)
    assert st["r_at_iou_0.3"] == pytest.approx(75.0)
    assert st["r_at_iou_0.5"] == pytest.approx(50.0)
    assert st["n_with_interval"] == 3
    assert "parse_failures" not in st
    assert st["attn_share"] == pytest.approx(0.525)
    assert st["attn_share_delta"] == pytest.approx((0.2 + 0.3 - 0.05 + 0.2) / 4)
    lo, hi = st["attn_share_delta_ci"]
    assert lo <= st["attn_share_delta"] <= hi
    assert st["attn_share_p"] == pytest.approx(
        stats.wilcoxon([0.6, 0.5, 0.3, 0.7], [0.4, 0.2, 0.35, 0.5]).pvalue
    )
    assert "attn_entropy" not in st

    assert tx["hit_rate"] == pytest.approx(25.0)
    assert tx["iou"] == 0.0
    assert tx["precision"] == pytest.approx(0.25)  # the point at 3 s is inside
    assert tx["parse_failures"] == 1
    assert "attn_share" not in tx


def test_summarize_all_hits_has_degenerate_ci() -> None:
    rows = [_row(str(i), "c", [0.0, 5.0], 1.0, [0.0, 5.0]) for i in range(5)]
    s = m.summarize(rows, n_boot=100)[0]
    assert s["hit_rate"] == 100.0 and s["hit_rate_ci"] == [100.0, 100.0]
    assert s["iou"] == 1.0


def test_summarize_rejects_incomplete_rows() -> None:
    with pytest.raises(DataError):
        m.summarize([{"scene_id": "a", "condition": "x"}])


def test_breakdown_by_position() -> None:
    out = m.breakdown_by_position(_rows(), n_boot=200)
    got = {(r["condition"], r["position"]): (r["n"], r["hit_rate"]) for r in out}
    assert got == {
        ("steered", "first"): (1, 100.0),
        ("steered", "middle"): (1, 100.0),
        ("steered", "last"): (2, 50.0),
        ("text", "first"): (1, 0.0),
        ("text", "middle"): (1, 100.0),
        ("text", "last"): (2, 0.0),
    }
    assert [r["position"] for r in out[:3]] == ["first", "middle", "last"]
    assert all(r["hit_rate_ci"][0] <= r["hit_rate"] <= r["hit_rate_ci"][1] for r in out)


def test_paired_tests() -> None:
    rows = [*_rows(), _row("e", "text", [2.0, 4.0], 3.0, None)]  # unpaired row is ignored
    (res,) = m.paired_tests(rows, reference="steered")
    assert res["condition"] == "text" and res["n_pairs"] == 4
    # steered hits a, b, d; text hits b only -> b01 = 0, b10 = 2
    assert (res["b01"], res["b10"]) == (0, 2)
    assert res["mcnemar_p"] == pytest.approx(0.5)
    assert res["hit_rate_ref"] == pytest.approx(75.0) and res["hit_rate"] == pytest.approx(25.0)
    ref_iou = [1.0, 0.5, 0.0, 1 / 3]
    assert res["wilcoxon_p"] == pytest.approx(stats.wilcoxon(ref_iou, [0.0] * 4).pvalue)


def test_paired_tests_errors() -> None:
    with pytest.raises(DataError):
        m.paired_tests(_rows(), reference="nope")
    with pytest.raises(DataError):
        m.paired_tests([*_rows(), _row("a", "text", [2.0, 4.0], 3.0, None)])


# ---------------------------------------------------------------- tables


def test_format_table_markdown() -> None:
    summary = [
        {"condition": "steered", "n": 4, "hit_rate": 75.0, "hit_rate_ci": [50.0, 100.0], "mcnemar_p": 0.0001},
        {"condition": "text", "n": 4, "hit_rate": 25.0, "hit_rate_ci": [0.0, 62.5], "mcnemar_p": 0.25},
    ]
    out = m.format_table(summary)
    lines = out.strip().split("\n")
    assert lines[0] == "| condition | n | hit_rate | hit_rate_ci | mcnemar_p |"
    assert lines[1] == "|---|---|---|---|---|"
    assert lines[2] == "| steered | 4 | 75.00 | 50.00–100.00 | <0.001 |"
    assert lines[3] == "| text | 4 | 25.00 | 0.00–62.50 | 0.250 |"


def test_format_table_csv() -> None:
    summary = m.summarize(_rows(), n_boot=100)
    out = m.format_table(summary, fmt="csv")
    table = list(csv.reader(io.StringIO(out)))
    header, first, second = table[0], table[1], table[2]
    assert header[:5] == ["condition", "n", "hit_rate", "hit_rate_ci_lo", "hit_rate_ci_hi"]
    assert "parse_failures" in header and "attn_share_delta_ci_lo" in header
    assert first[:3] == ["steered", "4", "75.00"]
    assert second[header.index("parse_failures")] == "1"
    assert second[header.index("attn_share")] == ""
    assert len({len(r) for r in table}) == 1


def test_format_table_rejects_unknown_format() -> None:
    with pytest.raises(ValueError):
        m.format_table([], fmt="latex")
    assert m.format_table([]) == ""


# ---------------------------------------------------------------- attention profiles


def test_attention_share_fractional_bins() -> None:
    t = np.array([0.0, 0.04, 0.08, 0.12])
    p = np.ones(4)
    # token 1 fully inside [0.04, 0.10], token 2 half inside -> 1.5 / 4
    assert m.attention_share(p, t, [0.04, 0.10]) == pytest.approx(0.375)
    assert m.attention_share([0.0, 2.0, 0.0, 0.0], t, [0.04, 0.08]) == pytest.approx(1.0)
    assert m.attention_share(p, t, [1.0, 2.0]) == 0.0
    assert math.isnan(m.attention_share(np.zeros(4), t, [0.0, 1.0]))
    with pytest.raises(ValueError):
        m.attention_share([-1.0, 1.0, 1.0, 1.0], t, [0.0, 1.0])
    with pytest.raises(ValueError):
        m.attention_share(p, t[:3], [0.0, 1.0])


def test_profile_entropy() -> None:
    assert m.profile_entropy(np.ones(8)) == pytest.approx(1.0)
    assert m.profile_entropy([0.0, 0.0, 5.0, 0.0]) == pytest.approx(0.0)
    assert m.profile_entropy([1.0, 1.0, 0.0, 0.0]) == pytest.approx(math.log(2) / math.log(4))
    assert m.profile_entropy([3.0]) == 0.0
    assert math.isnan(m.profile_entropy([0.0, 0.0]))


def test_hit_rate_by_label() -> None:
    def row(scene: str, label: str, cond: str, peak: float) -> dict[str, Any]:
        return {
            "scene_id": scene, "query": label, "label": label, "condition": cond, "gt": [1.0, 2.0],
            "peak_s": peak, "interval_s": [peak, peak], "duration_s": 10.0,
        }  # fmt: skip

    rows = [row("a", "bell", "steered", 1.5), row("b", "bell", "steered", 5.0)]
    rows.append(row("c", "hum", "steered", 5.0))
    rows += [row("a", "bell", "random", 1.2), row("b", "bell", "random", 1.9)]
    table = m.hit_rate_by_label(rows)
    assert table == [
        {"label": "bell", "n": 2, "steered": 50.0, "random": 100.0},
        {"label": "hum", "n": 1, "steered": 0.0, "random": None},
    ]
