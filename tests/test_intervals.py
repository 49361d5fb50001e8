"""Readout rules (peak Δ or log ratio; threshold, window, the audio's own span), Holm's correction, and the
interval tables of the summary."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from wheretolisten.errors import OptionError
from wheretolisten.intervals import active_mask, adaptive_snap, energy_db, snap_edges, snap_span
from wheretolisten.metrics.readouts import interval_table, interval_tests
from wheretolisten.metrics.stats import holm
from wheretolisten.readout import Readout, ReadoutRule, apply_rule
from wheretolisten.settings import Resolved

TOKEN = 0.04
NONE = Readout(None, None, None)


def bump(n: int = 250, centre: int = 100, width: float = 20.0, spike: int | None = None) -> np.ndarray:
    """A broad plateau of Δ around ``centre`` with an optional sharp spike."""
    x = np.arange(n)
    delta = np.exp(-0.5 * ((x - centre) / width) ** 2)
    if spike is not None:
        delta[spike] += 3.0
    return delta


def test_rules_round_trip_and_refuse_bad_values() -> None:
    rule = ReadoutRule(peak="logratio", interval="snap", margin_db=6.0, bridge_s=0.2)
    assert ReadoutRule.from_json(rule.to_json()) == rule
    assert rule.name == "peak log-ratio, snap (+6 dB, bridge 0.2 s)"
    for bad in ({"peak": "max"}, {"interval": "box"}, {"fraction": 0.0}, {"window_s": -1.0}):
        with pytest.raises(OptionError):
            ReadoutRule(**bad)  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="unknown field"):
        ReadoutRule.from_json({"peaks": "delta"})


def test_native_rule_is_the_condition_own_readout_and_localize_reads_peak_delta_threshold() -> None:
    delta = bump(spike=100) + np.where(np.arange(250) == 100, 7.0, 0.0)
    base = np.full(delta.size, 1.0 / delta.size)
    native = apply_rule(Resolved([0], [1]).readout, None, TOKEN, delta.size, (base, base + delta))
    assert apply_rule(ReadoutRule(), native, TOKEN, delta.size, (base, base + delta)) == native
    same = apply_rule(
        ReadoutRule(peak="delta", interval="threshold"), NONE, TOKEN, delta.size, (base, base + delta)
    )
    assert (same.peak_s, same.interval_s) == (native.peak_s, native.interval_s)
    # a low threshold on a smoothed Δ takes the plateau, not the spike
    wide = apply_rule(
        ReadoutRule(peak="delta", interval="threshold", fraction=0.1, smooth_s=0.8),
        NONE,
        TOKEN,
        delta.size,
        (base, base + delta),
    )
    assert wide.interval_s is not None and native.interval_s is not None
    assert wide.interval_s[1] - wide.interval_s[0] > 5 * (native.interval_s[1] - native.interval_s[0])
    flat = apply_rule(ReadoutRule(peak="delta"), NONE, TOKEN, 10, (np.ones(10), np.ones(10)))
    assert flat == NONE


def test_log_ratio_peak_prefers_a_relative_rise() -> None:
    base = np.full(100, 0.01)
    base[80:] = 0.05  # the base already attends to the end
    steered = base.copy()
    steered[20] += 0.02  # tripled
    steered[90] += 0.03  # larger absolute rise, smaller relative one
    profile = (base, steered)
    by_delta = apply_rule(ReadoutRule(peak="delta", peak_smooth_s=0.0), NONE, TOKEN, 100, profile)
    by_ratio = apply_rule(ReadoutRule(peak="logratio", peak_smooth_s=0.0), NONE, TOKEN, 100, profile)
    assert by_delta.peak_index == 90 and by_ratio.peak_index == 20


def test_window_is_centred_and_clipped() -> None:
    native = Readout(0.1, (0.0, 0.2), None)
    r = apply_rule(ReadoutRule(interval="window", window_s=1.0), native, TOKEN, 250)
    assert r.peak_s == 0.1 and r.interval_s == (0.0, 1.0)
    r = apply_rule(ReadoutRule(interval="window", window_s=1.0), Readout(5.0, None, None), TOKEN, 250)
    assert r.interval_s == (4.52, 5.52)
    with pytest.raises(ValueError, match="needs an attention profile"):
        apply_rule(ReadoutRule(interval="threshold"), native, TOKEN, 250)


def test_snap_takes_the_active_span_around_the_peak() -> None:
    rate = 16000
    audio = np.random.default_rng(0).standard_normal(rate * 4) * 1e-4
    audio[int(1.0 * rate) : int(2.0 * rate)] += 0.1 * np.sin(np.arange(rate) * 0.3)
    audio[int(2.5 * rate) : int(2.6 * rate)] += 0.1  # another, short sound
    audio[int(1.4 * rate) : int(1.5 * rate)] = 0.0  # a pause inside the first sound
    env = energy_db(audio, rate, TOKEN, 100)
    assert env.shape == (100,) and env[30] > env[5] + 40
    assert snap_span(env, 30, 10.0, bridge=0) == (25, 35)
    assert snap_span(env, 30, 10.0, bridge=3) == (25, 50)  # the 0.1-s pause is bridged
    assert snap_span(env, 58, 10.0, bridge=3) == (62, 65)  # a peak in a gap goes to the nearest sound
    assert not active_mask(np.zeros(10), 10.0, 2).any()
    assert snap_span(np.zeros(10), 4, 10.0, 2) == (4, 5)
    rule = ReadoutRule(interval="snap", bridge_s=0.2)
    r = apply_rule(rule, Readout(1.2, None, None), TOKEN, 100, envelope_db=env)
    assert r.interval_s == (1.0, 2.0)


def test_holm_adjusts_a_family() -> None:
    assert holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm([]) == []
    adjusted = holm([0.2, float("nan")])
    assert adjusted[0] == 0.2 and np.isnan(adjusted[1])


def _row(cond: str, i: int, interval: list[float], extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "scene_id": f"s{i}",
        "query": "q",
        "condition": cond,
        "gt": [2.0, 4.0],
        "peak_s": 3.0,
        "interval_s": interval,
        "duration_s": 10.0,
        **extra,
    }


def test_interval_tables_and_tests() -> None:
    rows = []
    for i in range(12):
        good, own = [2.0, 4.0 - 0.05 * i], [2.9, 3.1]
        rows.append(
            _row("steered", i, good, {"readout_rule": "snap", "intervals": {"own": own, "snap": good}})
        )
        rows.append(_row("energy", i, [6.0, 7.0], {}))
        rows.append(_row("random", i, [0.0, 10.0], {}))
    table = {(t["condition"], t["interval"]): t for t in interval_table(rows, n_boot=100)}
    assert table[("steered", "snap")]["chosen_on_dev"] and table[("steered", "snap")]["iou"] > 0.8
    assert table[("steered", "own (the condition's readout)")]["iou"] == pytest.approx(0.1)
    tests = {t["baseline"]: t for t in interval_tests(rows, n_boot=100)}
    assert set(tests) == {"energy", "random"}
    assert tests["energy"]["difference"] > 0.8 and tests["energy"]["wilcoxon_p"] < 0.01
    assert tests["random"]["wilcoxon_p_holm"] >= tests["random"]["wilcoxon_p"]


def test_padding_past_the_clip_is_never_active() -> None:
    rate = 16000
    audio = np.random.default_rng(1).standard_normal(rate * 8) * 1e-3  # an 8-s clip, noise floor only
    audio[rate * 2 : rate * 3] += 0.1
    env = energy_db(audio, rate, TOKEN, 250)  # a 10-s encoder window
    assert np.isnan(env[200:]).all() and not np.isnan(env[:200]).any()
    active = active_mask(env, 10.0, 5)
    assert active[50:75].all() and active.sum() == 25  # the noise floor is not lifted by the padding
    assert snap_span(env, 230, 10.0, 5) == (50, 75)


def _scene_audio(background: str, seed: int = 0) -> np.ndarray:
    """10 s at 16 kHz: a modulated tone over 3–5 s (about −14 dBFS); ``background``: none, white noise at
    −10 dBFS, or other sounds at −10 dBFS (a tone over 0.5–4 s and 4.5–9.5 s, overlapping the event)."""
    sr, rng = 16000, np.random.default_rng(seed)
    t = np.arange(10 * sr) / sr
    tone = np.where(
        (t >= 3) & (t < 5), np.sin(2 * np.pi * 440 * t) * (0.7 + 0.3 * np.sin(2 * np.pi * 3 * t)), 0
    )
    x = 0.3 * tone + 1e-4 * rng.standard_normal(t.size)
    level = 10 ** (-10 / 20)  # RMS of the background
    if background == "white":
        x += level * rng.standard_normal(t.size)
    elif background == "sounds":
        other = ((t >= 0.5) & (t < 4.0)) | ((t >= 4.5) & (t < 9.5))
        x += np.where(other, level * np.sqrt(2) * np.sin(2 * np.pi * 1250 * t), 0)
    return x


@pytest.mark.parametrize("background", ["none", "white", "sounds"])
def test_adaptive_snap_holds_in_noise_and_over_other_sounds(background: str) -> None:
    """The plain snap collapses to one token in −10 dB white noise and covers the other sounds; the
    adaptive one (local floor, inside Δ's interval) is never worse than Δ's own interval, here."""
    env = energy_db(_scene_audio(background), 16000, TOKEN, 250)
    delta = bump(centre=105, width=25.0)  # Δ peaks inside the event (3–5 s) and overshoots it
    profile = (np.zeros(250), delta)
    gt = (3.0, 5.0)
    delta_only = ReadoutRule(peak="delta", interval="threshold", fraction=0.5, smooth_s=0.2)
    plain = ReadoutRule(peak="delta", interval="snap", margin_db=10.0, bridge_s=0.4)
    adaptive = ReadoutRule(peak="delta", interval="snap", margin_db=10.0, bridge_s=0.4, local_s=2.0)

    def iou(rule: ReadoutRule) -> float:
        from wheretolisten.metrics import iou as score

        return score(apply_rule(rule, NONE, TOKEN, 250, profile, env).interval_s, gt)

    assert iou(adaptive) >= iou(delta_only) > 0.5
    if background == "none":
        assert iou(plain) > 0.9 and iou(adaptive) > 0.9  # clean audio: the audio's edges are the event's
    elif background == "white":
        assert iou(plain) < 0.05  # every span one token
    else:
        assert iou(plain) < 0.3  # the span covers the other sounds
    assert adaptive.name.startswith("snap local") is False and "local ±2 s" in adaptive.name
    assert ReadoutRule.from_json(adaptive.to_json()) == adaptive and "local_s" not in plain.to_json()
    edges = ReadoutRule(
        peak="delta", interval="edges", margin_db=10.0, bridge_s=0.4, local_s=2.0, reach_s=1.0
    )
    assert iou(edges) >= iou(delta_only)
    if background == "none":
        assert iou(edges) > 0.9


def _knocks(starts_s: list[float], blow_s: float = 0.1, rate: int = 16000) -> np.ndarray:
    """10 s of quiet with short loud blows (a knock's pauses are longer than any bridge)."""
    x = 1e-4 * np.random.default_rng(3).standard_normal(10 * rate)
    for start in starts_s:
        a = int(start * rate)
        x[a : a + int(blow_s * rate)] += 0.3 * np.sin(np.arange(int(blow_s * rate)) * 0.3)
    return x


def test_edges_keep_delta_far_edge_over_pauses_and_ignore_sounds_out_of_reach() -> None:
    """Blows every 0.5 s over 3–4.6 s: the adaptive snap shrinks to the blow at the peak, the edges rule
    keeps Δ's extent with each edge on the nearest blow's onset or end; an edge with no onset or end within
    the reach stays where Δ put it."""
    env = energy_db(_knocks([3.0, 3.5, 4.0, 4.5, 6.5]), 16000, TOKEN, 250)
    within = (73, 117)  # Δ's interval: 2.92–4.68 s, a little wide on both sides
    k = 76  # the peak on the first blow
    assert adaptive_snap(env, k, 10.0, 5, 50, within, 12) == (75, 78)  # one blow: 3.0–3.12 s
    assert snap_edges(env, k, within, 10.0, 5, 50, 12) == (75, 115)  # 3.0 s to the last blow's end, 4.6 s
    # Δ ending at 5.2 s: no blow ends within 0.5 s of it (they end at 4.6 s and 6.6 s), so the end stays
    assert snap_edges(env, k, (73, 130), 10.0, 5, 50, 12) == (75, 130)


def test_edges_fall_back_to_delta_when_the_audio_gives_nothing_to_snap_to() -> None:
    rate = 16000
    noise = 0.3 * np.random.default_rng(4).standard_normal(10 * rate)  # loud noise only: no onset to trust
    env = energy_db(noise, rate, TOKEN, 250)
    assert snap_edges(env, 100, (90, 120), 10.0, 5, 50, 25) == (90, 120)
    # moved edges that would leave the peak out are refused: Δ's interval stands
    env = energy_db(_knocks([3.0]), rate, TOKEN, 250)
    assert snap_edges(env, 90, (74, 95), 10.0, 0, 50, 25) == (74, 95)
    with pytest.raises(OptionError, match="local_s"):
        ReadoutRule(peak="delta", interval="edges")
    rule = ReadoutRule(peak="delta", interval="edges", local_s=2.0, reach_s=1.0, margin_db=6.0, bridge_s=0.6)
    assert rule.name == "peak Δ, threshold 0.5 (s 0.2), edges snapped ±1 s (local ±2 s, +6 dB, bridge 0.6 s)"
    assert ReadoutRule.from_json(rule.to_json()) == rule and rule.needs_profile and rule.needs_envelope


def test_digital_silence_nearby_does_not_hide_a_sound_in_noise() -> None:
    """A second of digital silence (-120 dB tokens) beside a -60 dB noise floor made the background look
    like it moves by tens of dB, so a tone 30 dB above the noise found no audio span (detections then kept
    Δ's edges); the background is now measured again without the silent tokens. Without silence, and over
    silence alone, the spans are those of before."""
    from wheretolisten.intervals import sound_around

    rng = np.random.default_rng(0)
    env = -60.0 + rng.normal(0.0, 1.0, 250)
    env[132:158] = -30.0 + rng.normal(0.0, 0.3, 26)
    muted = env.copy()
    muted[:25] = -120.0
    assert sound_around(env, 140, 6.0, 2, 250) == (132, 158)
    assert sound_around(muted, 140, 6.0, 2, 250) == (132, 158)
    assert adaptive_snap(muted, 140, 6.0, 2, 250) == (132, 158)
    silent_around = np.full(250, -120.0)
    silent_around[132:158] = -30.0
    assert sound_around(silent_around, 140, 6.0, 2, 250) == (132, 158)
