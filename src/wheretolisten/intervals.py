"""Readout rules: where the peak is read (Δ, or the log ratio of steered to base) and how long the interval is
(a threshold on Δ, a window around the peak, or the audio's own onset and offset around the peak).

A rule is plain data (a JSON round trip). :func:`apply_rule` turns one profile, or only a peak for
conditions without one, into a :class:`~wheretolisten.readout.Readout`. ``bench protocol`` chooses a
rule per condition on its dev split; ``localize`` keeps its own readout (``readout.read_out``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from .errors import OptionError
from .readout import Readout, smooth, threshold_interval

#: native: the condition's own peak; delta: the largest smoothed Δ; logratio: the largest smoothed
#: log(steered / base), a relative rise that does not favour tokens the base already attends to.
PEAKS = ("native", "delta", "logratio")
#: native: the condition's own interval; threshold: where smoothed Δ stays above a fraction of its value at
#: the peak; window: a fixed width centred on the peak; snap: the audio's active span around the peak (with
#: ``local_s`` > 0 adaptive: measured against the local background, and kept inside Δ's threshold interval).
INTERVALS = ("native", "threshold", "window", "snap")
#: adaptive snap: a peak less than this far above its local background gives no audio span (Δ's is used).
_MIN_RISE_DB = 3.0
#: Levels under this are treated as silence when a clip's energy is measured (dB re full scale).
_FLOOR_DB = -120.0


def _width(seconds: float, token_s: float) -> int:
    """An odd smoothing width in tokens (1: no smoothing)."""
    return int(round(seconds / token_s)) | 1 if seconds > 0 else 1


@dataclass(frozen=True)
class ReadoutRule:
    """How a peak and an interval are read from a condition's profile (or its peak alone)."""

    peak: str = "native"
    peak_smooth_s: float = 0.2
    interval: str = "native"
    fraction: float = 0.5  # threshold: share of the peak's smoothed Δ
    smooth_s: float = 0.2  # threshold: smoothing of Δ before the threshold
    window_s: float = 1.0  # window: width
    margin_db: float = 10.0  # snap: active = more than this above the clip's quiet level
    bridge_s: float = 0.4  # snap: pauses up to this long inside a sound are bridged
    #: snap: 0 measures the quiet level over the whole clip (the energy segmenter); > 0 over ±local_s
    #: around the peak, caps the margin at half the peak's rise above it, and keeps the span inside Δ's
    #: threshold interval (``fraction``, ``smooth_s``) widened by ``reach_s`` on each side when there is a
    #: profile: see :func:`adaptive_snap`.
    local_s: float = 0.0
    reach_s: float = 0.5

    def __post_init__(self) -> None:
        if self.peak not in PEAKS:
            raise OptionError(f"unknown peak rule {self.peak!r}; choose one of {', '.join(PEAKS)}")
        if self.interval not in INTERVALS:
            raise OptionError(
                f"unknown interval rule {self.interval!r}; choose one of {', '.join(INTERVALS)}"
            )
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and (not math.isfinite(value) or value < 0):
                raise OptionError(f"readout rule: {f.name} must be a finite number >= 0, got {value}")
        if not 0 < self.fraction <= 1 or self.window_s <= 0:
            raise OptionError("readout rule: fraction must be in (0, 1] and window_s > 0")

    @property
    def needs_profile(self) -> bool:
        """Whether the rule reads a profile (else it needs only the condition's peak)."""
        return self.peak != "native" or self.interval == "threshold"

    @property
    def name(self) -> str:
        """A short readable name, e.g. ``peak Δ, threshold 0.2 (s 0.8)``."""
        peak = {"native": "own peak", "delta": "peak Δ", "logratio": "peak log-ratio"}[self.peak]
        interval = {
            "native": "own interval",
            "threshold": f"threshold {self.fraction:g} (s {self.smooth_s:g})",
            "window": f"window {self.window_s:g} s",
            "snap": f"snap (+{self.margin_db:g} dB, bridge {self.bridge_s:g} s)"
            if self.local_s <= 0
            else f"snap local ±{self.local_s:g} s (+{self.margin_db:g} dB, bridge {self.bridge_s:g} s) "
            f"in Δ {self.fraction:g} (s {self.smooth_s:g}) ± {self.reach_s:g} s",
        }[self.interval]
        return f"{peak}, {interval}"

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (every field; ``local_s`` only when set, so older rules keep their hash)."""
        data = asdict(self)
        if not self.local_s:
            del data["local_s"], data["reach_s"]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReadoutRule:
        """The rule of :meth:`to_json` (unknown keys refused)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise OptionError(f"readout rule: unknown field {unknown[0]!r}")
        values: dict[str, Any] = {k: (v if k in ("peak", "interval") else float(v)) for k, v in data.items()}
        return cls(**values)


def energy_db(audio: np.ndarray, sample_rate: int, token_s: float, n_tokens: int) -> np.ndarray:
    """Mean power in dB of each token's span of ``audio`` ([n_tokens]); NaN for tokens that start after the
    audio ends (the encoder's padding: never active, and left out of the clip's quiet level)."""
    hop = max(1, int(round(token_s * sample_rate)))
    x = np.zeros(n_tokens * hop)
    take = min(x.size, audio.size)
    x[:take] = np.asarray(audio[:take], dtype=np.float64)
    power = np.mean(np.square(x.reshape(n_tokens, hop)), axis=1)
    level = np.maximum(10.0 * np.log10(np.maximum(power, 1e-30)), _FLOOR_DB)
    level[np.arange(n_tokens) * hop >= audio.size] = np.nan
    return level


def active_mask(envelope_db: np.ndarray, margin_db: float, bridge: int) -> np.ndarray:
    """Tokens more than ``margin_db`` above the clip's quiet level (5th percentile; NaN tokens left out),
    pauses of up to ``bridge`` tokens between active tokens filled."""
    known = envelope_db[~np.isnan(envelope_db)]
    if known.size == 0:
        return np.zeros(envelope_db.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        active = envelope_db > np.percentile(known, 5) + margin_db
    on = np.flatnonzero(active)
    for a, b in itertools.pairwise(on):
        if 1 < b - a <= bridge + 1:
            active[a:b] = True
    return active


def _run_around(mask: np.ndarray, k: int) -> tuple[int, int]:
    """[start, end) of the run of True in ``mask`` containing ``k``."""
    start, end = k, k + 1
    while start > 0 and mask[start - 1]:
        start -= 1
    while end < mask.size and mask[end]:
        end += 1
    return start, end


def snap_span(envelope_db: np.ndarray, k: int, margin_db: float, bridge: int) -> tuple[int, int]:
    """The active span holding token ``k`` (or the nearest one); ``k`` alone when nothing is active."""
    active = active_mask(envelope_db, margin_db, bridge)
    on = np.flatnonzero(active)
    if on.size == 0:
        return k, k + 1
    return _run_around(active, k if active[k] else int(on[np.argmin(np.abs(on - k))]))


def adaptive_snap(
    envelope_db: np.ndarray,
    k: int,
    margin_db: float,
    bridge: int,
    local: int,
    within: tuple[int, int] | None = None,
    reach: int = 0,
) -> tuple[int, int]:
    """The audio's active span around token ``k``, measured against the local background.

    The floor is the 10th percentile of the level over ``k ± local`` tokens (not the clip's quietest
    part: a noise floor or another sound raises it); a token is active above floor + min(margin, half the
    peak's rise over the floor), so an event only a few dB above the noise still has a span, but never
    within 3 spreads of the background's own fluctuation; a peak that rises less than 3 dB (or 6 spreads)
    over the floor gives no audio span. Pauses up to
    ``bridge`` tokens are bridged. With ``within`` (Δ's threshold interval and how far the span may
    reach beyond it), the span is cut to the widened interval, and when the audio gives no span wider than
    one token, Δ's interval is the answer: over loud overlapping sounds or in noise the rule stays near Δ
    instead of covering the clip or one token.
    """
    n = envelope_db.size
    near = envelope_db[max(0, k - local) : min(n, k + local + 1)]
    near = near[~np.isnan(near)]
    top = envelope_db[max(0, k - 1) : min(n, k + 2)]
    top = top[~np.isnan(top)]
    if near.size == 0 or top.size == 0:
        return within or (k, k + 1)
    floor, peak = float(np.percentile(near, 10)), float(np.max(top))
    quiet = near[near <= np.median(near)]
    spread = float(np.std(quiet)) if quiet.size > 1 else 0.0  # how much the background itself moves
    if peak - floor < max(_MIN_RISE_DB, 6 * spread):  # the sound hardly stands out: no audio span to trust
        return within or (k, k + 1)
    level = floor + max(min(margin_db, (peak - floor) / 2), 3 * spread)
    with np.errstate(invalid="ignore"):
        active = envelope_db > level
    on = np.flatnonzero(active)
    for a, b in itertools.pairwise(on):
        if 1 < b - a <= bridge + 1:
            active[a:b] = True
    if within is not None:
        active[: max(0, within[0] - reach)] = False
        active[within[1] + reach :] = False
    if not active[min(max(k, 0), n - 1)]:
        return within or (k, k + 1)
    start, end = _run_around(active, k)
    if within is not None and end - start <= 1:
        return within
    return start, end


def _peak_curve(rule: ReadoutRule, base: np.ndarray, steered: np.ndarray, token_s: float) -> np.ndarray:
    if rule.peak == "logratio":
        curve = np.log(np.maximum(steered, 1e-12)) - np.log(np.maximum(base, 1e-12))
    else:
        curve = steered - base
    return smooth(curve, _width(rule.peak_smooth_s, token_s))


def apply_rule(
    rule: ReadoutRule,
    native: Readout,
    token_s: float,
    n_tokens: int,
    profile: tuple[np.ndarray, np.ndarray] | None = None,
    envelope_db: np.ndarray | None = None,
) -> Readout:
    """Read ``rule`` from ``profile`` (base, steered) and/or the ``native`` readout; ``envelope_db`` (from
    :func:`energy_db`, [n_tokens]) is needed by ``snap``. A flat profile gives no peak, as ``read_out``."""
    if rule.needs_profile and profile is None:
        raise ValueError(f"the readout rule {rule.name!r} needs an attention profile")
    if rule.peak == "native":
        if native.peak_s is None:
            return native
        k = native.peak_index if native.peak_index is not None else int(native.peak_s / token_s)
        k = min(n_tokens - 1, max(0, k))
    else:
        assert profile is not None
        if np.max(np.abs(profile[1] - profile[0])) <= 1e-12:
            return Readout(None, None, None)
        k = int(np.argmax(_peak_curve(rule, *profile, token_s)))
    peak_s = native.peak_s if rule.peak == "native" else round((k + 0.5) * token_s, 6)
    if rule.interval == "native":
        return Readout(peak_s, native.interval_s, k)
    if rule.interval == "threshold":
        assert profile is not None
        delta = smooth(profile[1] - profile[0], _width(rule.smooth_s, token_s))
        start, end = threshold_interval(delta, k, rule.fraction) if delta[k] > 0 else (k, k + 1)
    elif rule.interval == "window":
        width = max(1, min(n_tokens, int(round(rule.window_s / token_s))))
        start = min(max(0, k - width // 2), n_tokens - width)
        end = start + width
    else:
        if envelope_db is None:
            raise ValueError("the snap interval needs the clip's energy envelope")
        bridge = int(round(rule.bridge_s / token_s))
        if rule.local_s > 0:
            within = None
            if profile is not None:
                delta = smooth(profile[1] - profile[0], _width(rule.smooth_s, token_s))
                within = threshold_interval(delta, k, rule.fraction) if delta[k] > 0 else None
            local = max(1, int(round(rule.local_s / token_s)))
            reach = int(round(rule.reach_s / token_s))
            start, end = adaptive_snap(envelope_db, k, rule.margin_db, bridge, local, within, reach)
        else:
            start, end = snap_span(envelope_db, k, rule.margin_db, bridge)
    return Readout(peak_s, (round(start * token_s, 6), round(end * token_s, 6)), k)


__all__ = [
    "INTERVALS",
    "PEAKS",
    "ReadoutRule",
    "active_mask",
    "adaptive_snap",
    "apply_rule",
    "energy_db",
    "snap_span",
]
