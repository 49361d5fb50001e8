"""The readout: from temporal attention to a time; one rule (:class:`ReadoutRule`), one reader.

Aggregation (``normalize=True``): each layer/head's attention over the audio tokens is first renormalized
to a distribution over time, then averaged over layers and heads. Δ (steered − unsteered) then measures
where the *share* of audio attention moved, not how much total attention the audio got; a steering vector
that only raises attention to audio everywhere would otherwise peak wherever the baseline was already
largest.

A rule says where the peak is read (the condition's own peak, the largest smoothed Δ, or the largest
smoothed log ratio of steered to base) and how long the interval is (a threshold on Δ, the densest window
of Δ, a window centred on the peak, or the audio's own span around it: :mod:`wheretolisten.intervals`).
``localize`` reads with its settings' rule (``settings.Resolved.readout``); ``bench protocol`` chooses a rule
per condition on its dev split. A rule is plain data (a JSON round trip).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DataError, OptionError
from .intervals import adaptive_snap, snap_edges, snap_span

if TYPE_CHECKING:
    import torch

#: native: the condition's own peak; delta: the largest smoothed Δ; logratio: the largest smoothed
#: log(steered / base), a relative rise that does not favour tokens the base already attends to.
PEAKS = ("native", "delta", "logratio")
#: native: the condition's own interval; threshold: where smoothed Δ stays above a fraction of its value at
#: the peak; densest: the ``window_s`` span of largest smoothed Δ (the sliding-window probe; a read peak
#: moves to the largest value inside it); window: a fixed width centred on the peak; snap: the audio's
#: active span around the peak (with ``local_s`` > 0 adaptive: measured against the local background, and
#: kept inside Δ's threshold interval); edges: Δ's threshold interval with each edge moved to the audio's
#: nearest onset or offset (against the local background) within ``reach_s``.
INTERVALS = ("native", "threshold", "densest", "window", "snap", "edges")
#: Largest |Δ| (smoothed as the peak is read) that still counts as no rise at all (e.g. α = 0).
FLAT = 1e-12


def aggregate(attn: torch.Tensor, normalize: bool = True) -> np.ndarray:
    """[layers, heads, rows, audio] attention → one profile over audio tokens."""
    x = attn.double()
    if normalize:
        x = x / x.sum(dim=-1, keepdim=True).clamp_min(1e-30)
    return x.reshape(-1, x.shape[-1]).mean(dim=0).numpy()


def smooth(profile: np.ndarray, width: int) -> np.ndarray:
    """Centered moving average over ``width`` tokens (edges averaged over the samples available)."""
    if width <= 1:
        return profile.copy()
    kernel = np.ones(width)
    num = np.convolve(profile, kernel, mode="same")
    den = np.convolve(np.ones_like(profile), kernel, mode="same")
    return num / den


def window_interval(delta: np.ndarray, width: int) -> tuple[int, int]:
    """[start, end) token span of ``width`` tokens with the largest Δ mass (the sliding-window probe)."""
    width = max(1, min(width, delta.size))
    sums = np.convolve(delta, np.ones(width), mode="valid")
    start = int(np.argmax(sums))
    return start, start + width


def threshold_interval(delta: np.ndarray, peak: int, fraction: float = 0.5) -> tuple[int, int]:
    """[start, end) contiguous span around ``peak`` where Δ stays at or above ``fraction`` of the peak."""
    level = fraction * delta[peak]
    start = peak
    while start > 0 and delta[start - 1] >= level:
        start -= 1
    end = peak + 1
    while end < delta.size and delta[end] >= level:
        end += 1
    return start, end


@dataclass(frozen=True)
class Readout:
    """Peak time and interval in seconds; both None when Δ is flat (e.g. α = 0)."""

    peak_s: float | None
    interval_s: tuple[float, float] | None
    peak_index: int | None

    def shifted(self, offset_s: float) -> Readout:
        """The same readout with times moved by ``offset_s`` (a clip cut from later in its file)."""
        if offset_s == 0 or self.peak_s is None or self.interval_s is None:
            return self
        start, end = self.interval_s
        return Readout(
            round(self.peak_s + offset_s, 6),
            (round(start + offset_s, 6), round(end + offset_s, 6)),
            self.peak_index,
        )


#: No peak and no interval (a flat Δ, or a condition that found nothing).
NO_READOUT = Readout(None, None, None)


def _width(seconds: float, token_s: float) -> int:
    """An odd smoothing width in tokens (1: no smoothing)."""
    return int(round(seconds / token_s)) | 1 if seconds > 0 else 1


@dataclass(frozen=True)
class ReadoutRule:
    """How a peak and an interval are read from a profile (or from a condition's peak alone)."""

    peak: str = "native"
    peak_smooth_s: float = 0.2
    interval: str = "native"
    fraction: float = 0.5  # threshold: share of the peak's smoothed Δ
    smooth_s: float = 0.2  # threshold, densest: smoothing of Δ before the interval is read
    window_s: float = 1.0  # window, densest: width
    margin_db: float = 10.0  # snap, edges: active = more than this above the quiet level
    bridge_s: float = 0.4  # snap, edges: pauses up to this long inside a sound are bridged
    #: snap: 0 measures the quiet level over the whole clip (the energy segmenter); > 0 over ±local_s
    #: around the peak, caps the margin at half the peak's rise above it, and keeps the span inside Δ's
    #: threshold interval (``fraction``, ``smooth_s``) widened by ``reach_s`` on each side when there is a
    #: profile: see :func:`~wheretolisten.intervals.adaptive_snap`. edges: the background window (> 0) and
    #: how far each edge of Δ's interval may move (:func:`~wheretolisten.intervals.snap_edges`).
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
        if self.interval == "edges" and self.local_s <= 0:
            raise OptionError("readout rule: the edges interval needs local_s > 0 (its background window)")

    @property
    def needs_profile(self) -> bool:
        """Whether the rule reads a profile (else it needs only the condition's peak)."""
        return self.peak != "native" or self.interval in ("threshold", "densest", "edges")

    @property
    def needs_envelope(self) -> bool:
        """Whether the rule reads the clip's energy envelope (``intervals.energy_db``)."""
        return self.interval in ("snap", "edges")

    @property
    def name(self) -> str:
        """A short readable name, e.g. ``peak Δ, threshold 0.2 (s 0.8)``."""
        peak = {"native": "own peak", "delta": "peak Δ", "logratio": "peak log-ratio"}[self.peak]
        interval = {
            "native": "own interval",
            "threshold": f"threshold {self.fraction:g} (s {self.smooth_s:g})",
            "densest": f"densest {self.window_s:g} s (s {self.smooth_s:g})",
            "window": f"window {self.window_s:g} s",
            "snap": f"snap (+{self.margin_db:g} dB, bridge {self.bridge_s:g} s)"
            if self.local_s <= 0
            else f"snap local ±{self.local_s:g} s (+{self.margin_db:g} dB, bridge {self.bridge_s:g} s) "
            f"in Δ {self.fraction:g} (s {self.smooth_s:g}) ± {self.reach_s:g} s",
            "edges": f"threshold {self.fraction:g} (s {self.smooth_s:g}), edges snapped ±{self.reach_s:g} s "
            f"(local ±{self.local_s:g} s, +{self.margin_db:g} dB, bridge {self.bridge_s:g} s)",
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


#: ``localize --interval edges``: the edges rule that ``bench protocol``'s dev study chose for the steered
#: condition of the organism's second stage (``organism/stage2/protocol_summary.md``; the words stage's run
#: chose 0.4-s smoothing and +20 dB instead, ``organism/protocol_summary.md``). ``localize`` takes its
#: background window, margin, bridge and reach; its fraction is the default for that interval, and its
#: smoothing is the settings' ``smooth_s``.
EDGES = ReadoutRule(
    peak="delta",
    interval="edges",
    fraction=0.1,
    smooth_s=0.2,
    margin_db=6.0,
    bridge_s=0.6,
    local_s=2.0,
    reach_s=1.0,
)


def _peak_curve(rule: ReadoutRule, base: np.ndarray, steered: np.ndarray, token_s: float) -> np.ndarray:
    if rule.peak == "logratio":
        curve = np.log(np.maximum(steered, 1e-12)) - np.log(np.maximum(base, 1e-12))
    else:
        curve = steered - base
    return smooth(curve, _width(rule.peak_smooth_s, token_s))


def _seconds(peak_s: float | None, k: int, start: int, end: int, token_s: float) -> Readout:
    # Rounded to the microsecond: token_s multiples are not exact in binary (7.0200000000000005 s).
    return Readout(peak_s, (round(start * token_s, 6), round(end * token_s, 6)), k)


def apply_rule(
    rule: ReadoutRule,
    native: Readout | None,
    token_s: float,
    n_tokens: int,
    profile: tuple[np.ndarray, np.ndarray] | None = None,
    envelope_db: np.ndarray | None = None,
) -> Readout:
    """Read ``rule`` from ``profile`` (base, steered) and/or the ``native`` readout (None: the condition
    has none); token i covers [i·token_s, (i+1)·token_s). ``envelope_db`` (``intervals.energy_db``,
    [n_tokens]) is needed by ``snap`` and ``edges``. A flat Δ (see :data:`FLAT`) gives no peak."""
    native = NO_READOUT if native is None else native
    if rule.needs_profile and profile is None:
        raise ValueError(f"the readout rule {rule.name!r} needs an attention profile")
    delta = None
    if profile is not None:
        delta = profile[1] - profile[0]
        if delta.size == 0:
            raise ValueError("the Δ profile is empty")
        if not np.all(np.isfinite(delta)):
            raise DataError(
                "the Δ profile is not finite (NaN or inf): the steered pass overflowed; steer with a "
                "smaller α, or load the model in float32 (float16 overflows first)"
            )
    if rule.peak == "native":
        if native.peak_s is None:
            return native
        k = native.peak_index if native.peak_index is not None else int(native.peak_s / token_s)
        k, curve = min(n_tokens - 1, max(0, k)), None
    else:
        assert profile is not None and delta is not None
        curve = _peak_curve(rule, *profile, token_s)
        rise = curve if rule.peak == "delta" else smooth(delta, _width(rule.peak_smooth_s, token_s))
        if np.max(np.abs(rise)) <= FLAT:
            return NO_READOUT
        k = int(np.argmax(curve))
    peak_s = native.peak_s if curve is None else round((k + 0.5) * token_s, 6)
    if rule.interval == "native":
        return Readout(peak_s, native.interval_s, k)
    smoothed = None if delta is None else smooth(delta, _width(rule.smooth_s, token_s))
    if rule.interval == "threshold":
        assert smoothed is not None
        start, end = threshold_interval(smoothed, k, rule.fraction) if smoothed[k] > 0 else (k, k + 1)
    elif rule.interval == "densest":
        assert smoothed is not None
        start, end = window_interval(smoothed, max(1, int(round(rule.window_s / token_s))))
        if curve is not None:
            k = start + int(np.argmax(curve[start:end]))
            peak_s = round((k + 0.5) * token_s, 6)
    elif rule.interval == "window":
        width = max(1, min(n_tokens, int(round(rule.window_s / token_s))))
        start = min(max(0, k - width // 2), n_tokens - width)
        end = start + width
    elif rule.interval == "edges":
        assert smoothed is not None
        if envelope_db is None:
            raise ValueError("the edges interval needs the clip's energy envelope")
        within = threshold_interval(smoothed, k, rule.fraction) if smoothed[k] > 0 else (k, k + 1)
        local = max(1, int(round(rule.local_s / token_s)))
        bridge, reach = int(round(rule.bridge_s / token_s)), int(round(rule.reach_s / token_s))
        start, end = snap_edges(envelope_db, k, within, rule.margin_db, bridge, local, reach)
    else:
        if envelope_db is None:
            raise ValueError("the snap interval needs the clip's energy envelope")
        bridge = int(round(rule.bridge_s / token_s))
        if rule.local_s > 0:
            within = None
            if smoothed is not None:
                within = threshold_interval(smoothed, k, rule.fraction) if smoothed[k] > 0 else None
            local = max(1, int(round(rule.local_s / token_s)))
            reach = int(round(rule.reach_s / token_s))
            start, end = adaptive_snap(envelope_db, k, rule.margin_db, bridge, local, within, reach)
        else:
            start, end = snap_span(envelope_db, k, rule.margin_db, bridge)
    return _seconds(peak_s, k, start, end, token_s)


__all__ = [
    "EDGES",
    "FLAT",
    "INTERVALS",
    "NO_READOUT",
    "PEAKS",
    "Readout",
    "ReadoutRule",
    "aggregate",
    "apply_rule",
    "smooth",
    "threshold_interval",
    "window_interval",
]
