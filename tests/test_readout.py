from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from wheretolisten.readout import (
    Readout,
    aggregate,
    apply_rule,
    smooth,
    threshold_interval,
    window_interval,
)
from wheretolisten.settings import IntervalMethod, Resolved


def read_delta(
    delta: np.ndarray, token_s: float = 0.04, interval: IntervalMethod = "threshold", window_s: float = 1.0
) -> Readout:
    """``localize``'s readout (its settings' rule, no smoothing) of one Δ curve."""
    rule = Resolved([0], [1], smooth_s=0.0, interval=interval, window_s=window_s).readout
    return apply_rule(rule, None, token_s, delta.size, (np.zeros_like(delta), delta))


def bump(n: int, center: int, width: int, height: float = 1.0) -> np.ndarray:
    x = np.zeros(n)
    x[max(0, center - width) : center + width + 1] = height
    return x


def test_peak_and_threshold_interval_in_seconds() -> None:
    delta = bump(250, 100, 5) + 0.5 * bump(250, 200, 3)
    r = read_delta(delta, token_s=0.04)
    assert r.peak_index == 95  # first maximal token of the bump
    assert r.peak_s == pytest.approx(95.5 * 0.04)
    assert r.interval_s == pytest.approx((95 * 0.04, 106 * 0.04))


def test_window_interval_picks_largest_mass() -> None:
    delta = bump(100, 20, 1, 3.0) + bump(100, 70, 6, 1.0)  # narrow tall vs wide low
    start, end = window_interval(delta, 13)
    assert (start, end) == (64, 77)
    r = read_delta(delta, interval="window", window_s=13 * 0.04)
    assert r.interval_s == pytest.approx((64 * 0.04, 77 * 0.04))
    assert 64 <= r.peak_index < 77


def test_flat_delta_has_no_peak() -> None:
    r = read_delta(np.zeros(50))
    assert r.peak_s is None and r.interval_s is None


def test_nonfinite_delta_is_refused() -> None:
    from wheretolisten.errors import DataError

    with pytest.raises(DataError, match="not finite"):
        read_delta(np.array([0.0, np.nan]))


def test_smoothing_preserves_constants_and_moves_peak_to_mass() -> None:
    np.testing.assert_allclose(smooth(np.full(20, 3.0), 5), 3.0)
    spiky = np.zeros(60)
    spiky[10] = 1.0  # a single spike
    spiky[40:46] = 0.6  # a broader rise
    assert int(np.argmax(spiky)) == 10
    assert 40 <= int(np.argmax(smooth(spiky, 7))) <= 45


@given(st.lists(st.floats(-1, 1, allow_nan=False), min_size=3, max_size=80), st.floats(0.1, 0.9))
def test_threshold_interval_contains_peak_and_respects_level(values: list[float], frac: float) -> None:
    delta = np.array(values)
    peak = int(np.argmax(delta))
    if delta[peak] <= 0:
        return
    start, end = threshold_interval(delta, peak, frac)
    assert start <= peak < end
    assert np.all(delta[start:end] >= frac * delta[peak])
    if start > 0:
        assert delta[start - 1] < frac * delta[peak]
    if end < delta.size:
        assert delta[end] < frac * delta[peak]


def test_aggregate_normalizes_each_layer_and_head() -> None:
    attn = torch.zeros(2, 2, 1, 4)
    attn[0, 0, 0] = torch.tensor([0.1, 0.1, 0.0, 0.0])  # little mass, all early
    attn[1, 1, 0] = torch.tensor([0.0, 0.0, 0.4, 0.4])  # more mass, all late
    attn[0, 1, 0] = torch.tensor([0.2, 0.2, 0.2, 0.2])
    attn[1, 0, 0] = torch.tensor([0.2, 0.2, 0.2, 0.2])
    norm = aggregate(attn, normalize=True)
    np.testing.assert_allclose(norm.sum(), 1.0)
    np.testing.assert_allclose(norm, [0.25, 0.25, 0.25, 0.25])
    raw = aggregate(attn, normalize=False)
    np.testing.assert_allclose(raw, [0.125, 0.125, 0.2, 0.2])
