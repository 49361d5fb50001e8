"""Recordings longer than a model's input: the window plan and the stitching of per-window profiles.

A recording of ``duration_s`` is cut into windows of at most ``segment_s`` seconds, spread evenly so
that neighbours overlap by at least ``overlap_s``; every window starts on the 40-ms token grid, so its
token i is token ``start_token + i`` of the recording. :class:`Stitcher` lays per-window profiles onto
that one axis. Overlap rule: a linear cross-fade — in the overlap of two windows, the earlier window's
weight falls from 1 to 0 across the overlap while the later one's rises from 0 to 1 (weights sum to 1),
so each token leans on the window where it sits farther from an edge and the stitched curve has no
step at a seam. Outside overlaps the weight is exactly 1: there the stitched profile is the window's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import OptionError

#: Longest default overlap between neighbouring windows, seconds.
MAX_DEFAULT_OVERLAP_S = 5.0
#: Default overlap as a share of the segment when segments are short.
DEFAULT_OVERLAP_SHARE = 0.2
#: Shortest segment: a window must hold enough audio for the encoder (a few dozen 40-ms tokens).
MIN_SEGMENT_S = 1.0


@dataclass(frozen=True)
class Window:
    """One window of a recording: seconds from the recording's start, and its first token there."""

    index: int
    start_s: float
    end_s: float
    start_token: int

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def default_overlap(segment_s: float, token_s: float) -> float:
    """A few seconds: min(5 s, 20 % of the segment), on the token grid."""
    overlap = min(MAX_DEFAULT_OVERLAP_S, DEFAULT_OVERLAP_SHARE * segment_s)
    return math.floor(overlap / token_s + 1e-9) * token_s


def check_segment(segment_s: float, overlap_s: float, limit_s: float | None = None) -> None:
    """Refuse a segment or overlap no plan can use (one OptionError line)."""
    if not (math.isfinite(segment_s) and segment_s > 0):
        raise OptionError(f"segment_s must be a finite number > 0, got {segment_s!r}")
    if segment_s < MIN_SEGMENT_S:
        raise OptionError(
            f"segment_s must be at least {MIN_SEGMENT_S:g} s (a window the model can read), got {segment_s:g}"
        )
    if not (math.isfinite(overlap_s) and 0 <= overlap_s < segment_s):
        raise OptionError(f"overlap_s must be >= 0 and shorter than the segment, got {overlap_s!r}")
    if limit_s is not None and segment_s > limit_s + 1e-9:
        raise OptionError(f"segment_s {segment_s:g} is longer than the model accepts ({limit_s:g} s)")


def plan_windows(duration_s: float, segment_s: float, overlap_s: float, token_s: float) -> list[Window]:
    """Windows covering [0, duration_s): as few as keep every overlap >= ``overlap_s``, evenly spread.

    Starts lie on the token grid; the last window ends at the recording's end; a recording no longer
    than ``segment_s`` is one window.
    """
    check_segment(segment_s, overlap_s)
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise OptionError(f"the recording must last > 0 s, got {duration_s!r}")
    if duration_s <= segment_s + 1e-9:
        return [Window(0, 0.0, float(duration_s), 0)]
    count = math.ceil((duration_s - overlap_s) / (segment_s - overlap_s) - 1e-9)
    count = max(2, count)
    last = math.ceil((duration_s - segment_s) / token_s - 1e-9)  # last start, tokens (ends at the end)
    starts = [round(k * last / (count - 1)) for k in range(count)]
    windows = []
    for k, first in enumerate(starts):
        start_s = round(first * token_s, 6)
        end_s = float(duration_s) if k == count - 1 else round(min(start_s + segment_s, duration_s), 6)
        windows.append(Window(k, start_s, end_s, first))
    return windows


def crossfade(
    window: Window, n_tokens: int, previous: Window | None, following: Window | None, token_s: float
) -> np.ndarray:
    """Per-token weights of ``window``: linear ramps across its overlaps with its neighbours, 1 elsewhere."""
    centre = np.arange(n_tokens, dtype=np.float64) + 0.5
    weight = np.ones(n_tokens)
    if previous is not None and previous.end_s > window.start_s:
        weight = np.minimum(weight, centre / ((previous.end_s - window.start_s) / token_s))
    if following is not None and window.end_s > following.start_s:
        weight = np.minimum(weight, (n_tokens - centre) / ((window.end_s - following.start_s) / token_s))
    return weight


class Stitcher:
    """Weighted sums of per-window curves on one token axis; :meth:`result` divides by the weights."""

    def __init__(self, windows: list[Window], names: tuple[str, ...], token_s: float) -> None:
        self.windows = windows
        self.names = names
        self.token_s = token_s
        size = windows[-1].start_token + 16  # grows as windows arrive
        self._sums = {name: np.zeros(size) for name in names}
        self._weights = np.zeros(size)
        self._end = 0

    def _grow(self, end: int) -> None:
        if end > self._weights.size:
            extra = end - self._weights.size
            self._weights = np.concatenate([self._weights, np.zeros(extra)])
            for name in self.names:
                self._sums[name] = np.concatenate([self._sums[name], np.zeros(extra)])

    def add(self, window: Window, curves: dict[str, np.ndarray]) -> None:
        """Add one window's curves (same length each, one value per token of the window)."""
        n = len(next(iter(curves.values())))
        k = window.index
        previous = self.windows[k - 1] if k > 0 else None
        following = self.windows[k + 1] if k + 1 < len(self.windows) else None
        weight = crossfade(window, n, previous, following, self.token_s)
        lo, hi = window.start_token, window.start_token + n
        self._grow(hi)
        self._weights[lo:hi] += weight
        for name in self.names:
            self._sums[name][lo:hi] += weight * np.asarray(curves[name], dtype=np.float64)
        self._end = max(self._end, hi)

    def result(self) -> dict[str, np.ndarray]:
        """Each curve on the recording's token axis; tokens no window covered are 0."""
        w = self._weights[: self._end]
        covered = w > 0
        out = {}
        for name in self.names:
            values = np.zeros(self._end)
            values[covered] = self._sums[name][: self._end][covered] / w[covered]
            out[name] = values
        return out


@dataclass(frozen=True)
class WindowConfig:
    """Window settings as a user gives them (None: the model's defaults, see :meth:`resolved`)."""

    segment_s: float | None = None
    overlap_s: float | None = None

    def resolved(self, limit_s: float, token_s: float) -> tuple[float, float]:
        """(segment, overlap) seconds: by default the model's longest input and a few seconds of overlap."""
        segment = limit_s if self.segment_s is None else float(self.segment_s)
        overlap = default_overlap(segment, token_s) if self.overlap_s is None else float(self.overlap_s)
        check_segment(segment, overlap, limit_s)
        return segment, overlap
