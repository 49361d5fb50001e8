"""Per-query scores: hits, interval overlaps, attention share and entropy of profiles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wheretolisten import metrics as m


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


def test_a_query_with_several_intervals_scores_against_the_best() -> None:
    """gt_events: a hit is a peak inside any interval, IoU is against the best-matching one."""
    from wheretolisten.metrics.rows import row_scores

    base = {"scene_id": "s", "query": "dog", "condition": "c", "gt": [1.0, 2.0], "duration_s": 10.0}
    rows = [
        {**base, "peak_s": 6.5, "interval_s": [6.0, 7.0], "gt_events": [[1.0, 2.0], [6.0, 8.0]]},
        {**base, "peak_s": 6.5, "interval_s": [6.0, 7.0]},  # the same prediction, one interval: a miss
        {**base, "peak_s": 1.5, "interval_s": [1.0, 7.0], "gt_events": [[1.0, 2.0], [6.0, 8.0]]},
    ]
    scores = row_scores(rows)
    assert scores["hit"].tolist() == [1.0, 0.0, 1.0]
    assert scores["iou"] == pytest.approx([0.5, 0.0, 1 / 6])
    assert scores["coverage"] == pytest.approx([0.5, 0.0, 1.0])
