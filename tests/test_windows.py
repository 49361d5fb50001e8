"""Window plans and stitching: cover the recording, cross-fade overlaps, exact outside them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wheretolisten.detections import DetectConfig, detect
from wheretolisten.errors import OptionError
from wheretolisten.windows import (
    Stitcher,
    Window,
    WindowConfig,
    crossfade,
    default_overlap,
    plan_windows,
)

TOKEN = 0.04


@settings(max_examples=200, deadline=None)
@given(
    duration=st.floats(0.5, 4000.0),
    segment=st.sampled_from([10.0, 30.0, 600.0, 7.3]),
    share=st.floats(0.0, 0.45),
)
def test_plans_cover_the_recording_on_the_token_grid(duration: float, segment: float, share: float) -> None:
    overlap = round(share * segment, 2)
    plan = plan_windows(duration, segment, overlap, TOKEN)
    assert plan[0].start_s == 0.0 and plan[-1].end_s == duration
    assert [w.index for w in plan] == list(range(len(plan)))
    for w in plan:
        assert w.duration_s <= segment + 1e-6 and w.start_s == pytest.approx(w.start_token * TOKEN, abs=1e-6)
    for a, b in itertools.pairwise(plan):
        assert b.start_s > a.start_s
        assert a.end_s - b.start_s >= overlap - TOKEN - 1e-6  # every seam overlaps (grid rounding aside)
    if duration <= segment:
        assert len(plan) == 1
    else:  # as few windows as keep the overlaps: one fewer would leave an overlap too short
        assert len(plan) == max(2, int(np.ceil((duration - overlap) / (segment - overlap) - 1e-9)))


def test_plan_settings_are_checked() -> None:
    with pytest.raises(OptionError, match="segment"):
        plan_windows(100.0, 0.0, 0.0, TOKEN)
    with pytest.raises(OptionError, match="overlap"):
        plan_windows(100.0, 10.0, 10.0, TOKEN)
    with pytest.raises(OptionError, match="longer than the model accepts"):
        WindowConfig(40.0).resolved(30.0, TOKEN)
    assert WindowConfig().resolved(10.0, TOKEN) == (10.0, 2.0)
    assert WindowConfig().resolved(30.0, TOKEN) == (30.0, 5.0)
    assert WindowConfig().resolved(600.0, TOKEN) == (600.0, 5.0)
    assert default_overlap(7.3, TOKEN) == pytest.approx(1.44)


def test_crossfade_weights_sum_to_one_in_overlaps_and_are_one_elsewhere() -> None:
    plan = plan_windows(26.0, 10.0, 2.0, TOKEN)  # 3 windows: 0-10, 8-18, 16-26
    assert [(w.start_s, w.end_s) for w in plan] == [(0.0, 10.0), (8.0, 18.0), (16.0, 26.0)]
    total = np.zeros(650)
    for k, w in enumerate(plan):
        prev = plan[k - 1] if k else None
        nxt = plan[k + 1] if k + 1 < len(plan) else None
        weight = crossfade(w, 250, prev, nxt, TOKEN)
        assert np.all(weight[(weight < 1)] > 0)
        total[w.start_token : w.start_token + 250] += weight
    np.testing.assert_allclose(total, 1.0, atol=1e-12)


def test_stitching_is_exact_without_overlap_and_blends_overlaps() -> None:
    rng = np.random.default_rng(0)
    plan = plan_windows(30.0, 10.0, 0.0, TOKEN)
    parts = [rng.standard_normal(250) for _ in plan]
    st_ = Stitcher(plan, ("x",), TOKEN)
    for w, p in zip(plan, parts, strict=True):
        st_.add(w, {"x": p})
    np.testing.assert_array_equal(st_.result()["x"], np.concatenate(parts))

    plan = plan_windows(18.0, 10.0, 2.0, TOKEN)  # 0-10 and 8-18: tokens 200..249 shared
    st_ = Stitcher(plan, ("x",), TOKEN)
    st_.add(plan[0], {"x": np.zeros(250)})
    st_.add(plan[1], {"x": np.ones(250)})
    out = st_.result()["x"]
    assert out.size == 450
    np.testing.assert_array_equal(out[:200], 0.0)
    np.testing.assert_array_equal(out[250:], 1.0)
    assert np.all(np.diff(out[200:250]) > 0)  # a ramp from the first window to the second
    assert out[200] == pytest.approx(0.5 / 50) and out[249] == pytest.approx(49.5 / 50)


def test_an_event_across_a_window_boundary_is_detected_once() -> None:
    """Both windows see the event (one at its end, one at its start): one detection on the stitched axis."""
    plan = plan_windows(18.0, 10.0, 2.0, TOKEN)  # the event 8.6-9.6 s lies in the overlap 8-10 s
    st_ = Stitcher(plan, ("score",), TOKEN)
    t = np.arange(250) * TOKEN
    for w in plan:
        bump = 6.0 * np.exp(-0.5 * ((t + w.start_s - 9.1) / 0.3) ** 2)  # each window sees it a little
        st_.add(w, {"score": bump * (0.8 if w.index else 1.0)})  # differently
    found = detect(st_.result()["score"], TOKEN, DetectConfig(min_score=1.0))
    assert len(found) == 1
    assert 8.4 <= found[0].onset_s < 9.1 < found[0].offset_s <= 9.8


def test_windows_of_one_plan_are_frozen() -> None:
    w = Window(0, 0.0, 10.0, 0)
    assert w.duration_s == 10.0
