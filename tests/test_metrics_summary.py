"""Summaries of result rows: per condition, position, event class, paired tests and chance levels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats

from metric_rows import hand_rows, row
from wheretolisten import metrics as m
from wheretolisten.errors import DataError


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


def test_summarize_expected_numbers() -> None:
    summary = m.summarize(hand_rows(), n_boot=500)
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
    rows = [row(str(i), "c", [0.0, 5.0], 1.0, [0.0, 5.0]) for i in range(5)]
    s = m.summarize(rows, n_boot=100)[0]
    assert s["hit_rate"] == 100.0 and s["hit_rate_ci"] == [100.0, 100.0]
    assert s["iou"] == 1.0


def test_summarize_rejects_incomplete_rows() -> None:
    with pytest.raises(DataError):
        m.summarize([{"scene_id": "a", "condition": "x"}])


def test_breakdown_by_position() -> None:
    out = m.breakdown_by_position(hand_rows(), n_boot=200)
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
    rows = [*hand_rows(), row("e", "text", [2.0, 4.0], 3.0, None)]  # unpaired row is ignored
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
        m.paired_tests(hand_rows(), reference="nope")
    with pytest.raises(DataError):
        m.paired_tests([*hand_rows(), row("a", "text", [2.0, 4.0], 3.0, None)])


def test_hit_rate_by_label() -> None:
    def lrow(scene: str, label: str, cond: str, peak: float) -> dict[str, Any]:
        return {
            "scene_id": scene, "query": label, "label": label, "condition": cond, "gt": [1.0, 2.0],
            "peak_s": peak, "interval_s": [peak, peak], "duration_s": 10.0,
        }  # fmt: skip

    rows = [lrow("a", "bell", "steered", 1.5), lrow("b", "bell", "steered", 5.0)]
    rows.append(lrow("c", "hum", "steered", 5.0))
    rows += [lrow("a", "bell", "random", 1.2), lrow("b", "bell", "random", 1.9)]
    table = m.hit_rate_by_label(rows)
    assert table == [
        {"label": "bell", "n": 2, "steered": 50.0, "random": 100.0},
        {"label": "hum", "n": 1, "steered": 0.0, "random": None},
    ]


def test_summaries_name_the_bad_row_and_why() -> None:
    rows = hand_rows()
    rows[3] = {**rows[3], "gt": [4.0, 2.0]}
    for f in (m.summarize, m.breakdown_by_position, m.hit_rate_by_label, m.paired_tests):
        with pytest.raises(DataError, match=r"^results row 3: 'gt' must be \[onset, offset\]"):
            f(rows)
    with pytest.raises(DataError, match=r"^results row 0: missing query, gt, peak_s"):
        m.summarize([{"scene_id": "a", "condition": "x"}])


def test_summary_does_not_depend_on_row_order() -> None:
    rows = hand_rows()
    shuffled = [rows[i] for i in np.random.default_rng(2).permutation(len(rows))]

    def by_cond(summary: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {str(s["condition"]): s for s in summary}

    assert by_cond(m.summarize(shuffled, n_boot=300)) == by_cond(m.summarize(rows, n_boot=300))
