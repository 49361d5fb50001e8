"""From temporal attention to a time: aggregate, take steered − unsteered (Δ), find the peak and interval.

Default aggregation (``normalize=True``): each layer/head's attention over the audio tokens is first
renormalized to a distribution over time, then averaged over layers and heads. Δ then measures where the
*share* of audio attention moved, not how much total attention the audio got; a steering vector that only
raises attention to audio everywhere would otherwise peak wherever the baseline was already largest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

if TYPE_CHECKING:
    import torch

IntervalMethod = Literal["threshold", "window"]


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


def read_out(
    delta: np.ndarray,
    token_s: float = 0.04,
    smooth_s: float = 0.0,
    method: IntervalMethod = "threshold",
    fraction: float = 0.5,
    window_s: float = 1.0,
    atol: float = 1e-12,
) -> Readout:
    """Locate the largest rise of attention; token i covers [i·token_s, (i+1)·token_s)."""
    if delta.size == 0 or not np.all(np.isfinite(delta)):
        raise ValueError("the Δ profile is empty or not finite")
    curve = smooth(delta, int(round(smooth_s / token_s)) | 1 if smooth_s > 0 else 1)
    if np.max(np.abs(curve)) <= atol:
        return Readout(None, None, None)
    if method == "window":
        start, end = window_interval(curve, max(1, int(round(window_s / token_s))))
        peak = start + int(np.argmax(curve[start:end]))
    elif method == "threshold":
        peak = int(np.argmax(curve))
        start, end = threshold_interval(curve, peak, fraction)
    else:
        raise ValueError(f"unknown interval method {method!r}; choose 'threshold' or 'window'")
    # Rounded to the microsecond: token_s multiples are not exact in binary (7.0200000000000005 s).
    return Readout(
        round((peak + 0.5) * token_s, 6), (round(start * token_s, 6), round(end * token_s, 6)), peak
    )


class ReadoutSettings(Protocol):
    """The readout part of the localization settings (``settings.Resolved`` has these)."""

    @property
    def smooth_s(self) -> float: ...
    @property
    def interval(self) -> IntervalMethod: ...
    @property
    def fraction(self) -> float: ...
    @property
    def window_s(self) -> float: ...


def read_profile(delta: np.ndarray, token_s: float, settings: ReadoutSettings) -> Readout:
    """:func:`read_out` with the readout settings of a localization."""
    return read_out(
        delta, token_s, settings.smooth_s, settings.interval, settings.fraction, settings.window_s
    )
