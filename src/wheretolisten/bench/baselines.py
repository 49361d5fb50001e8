"""Model-free predictions and audio edits: the random and energy baselines, and erasing an event."""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np

from ..readout import Readout
from ..scenes import Event

#: Samples this close to an event's edges are not used to measure the noise floor.
GAP_MARGIN_S = 0.02


def item_rng(seed: int, scene_id: str, query: str) -> np.random.Generator:
    """A generator that depends only on (seed, scene, query): reruns and resumes draw the same numbers."""
    key = zlib.crc32(f"{scene_id}\0{query}".encode())
    return np.random.default_rng([seed, key])


def random_prediction(rng: np.random.Generator, duration_s: float) -> Readout:
    """Uniform peak in [0, duration] and an interval with both ends uniform in [0, duration]."""
    peak = float(rng.uniform(0.0, duration_s))
    a, b = sorted(float(x) for x in rng.uniform(0.0, duration_s, size=2))
    return Readout(peak, (a, b), None)


def energy_prediction(audio: np.ndarray, sample_rate: int, window_s: float = 1.0) -> Readout:
    """The window of ``window_s`` with the largest energy (RMS); peak at its centre."""
    n = audio.size
    width = max(1, min(n, int(round(window_s * sample_rate))))
    power = np.concatenate([[0.0], np.cumsum(np.square(audio, dtype=np.float64))])
    start = int(np.argmax(power[width:] - power[: n - width + 1]))
    a, b = start / sample_rate, (start + width) / sample_rate
    return Readout((a + b) / 2, (a, b), None)


def erase_event(
    clip: np.ndarray,
    sample_rate: int,
    events: Sequence[Event],
    index: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """The clip with event ``index``'s [onset, offset] replaced by noise at the scene's noise-floor RMS.

    The floor is measured in the gaps (samples outside every event, a little away from the edges);
    with no gap the event is replaced by zeros.
    """
    out = np.array(clip, dtype=np.float32, copy=True)
    inside = np.zeros(out.size, dtype=bool)
    margin = int(round(GAP_MARGIN_S * sample_rate))
    for e in events:
        lo = max(0, int(math.floor(e.onset_s * sample_rate)) - margin)
        inside[lo : int(math.ceil(e.offset_s * sample_rate)) + margin] = True
    gap = out[~inside]
    rms = float(np.sqrt(np.mean(np.square(gap, dtype=np.float64)))) if gap.size else 0.0
    event = events[index]
    lo = max(0, int(math.floor(event.onset_s * sample_rate)))
    hi = min(out.size, int(math.ceil(event.offset_s * sample_rate)))
    out[lo:hi] = (rng.standard_normal(hi - lo) * rms).astype(np.float32)
    return out
