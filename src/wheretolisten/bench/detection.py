"""Detection conditions: every occurrence of the queried class in a recording of any length.

``steered-det`` localizes all of a scene's queries window by window (``long.localize_long``) and keeps
each query's detections; ``energy-det`` detects loud regions (the same for every query); ``random-det``
places as many detections as ``steered-det`` found for that query, of the same lengths and scores,
uniformly at random (a placement-only baseline, so it needs the model for the count). Rows carry
``detections`` and ``gt_events`` (every occurrence of the queried class); ``metrics.detection`` scores them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..detections import DetectConfig, Detection, detect, detections_json
from ..readout import Readout
from .baselines import item_rng
from .config import BenchConfig
from .outcome import Outcome

if TYPE_CHECKING:
    from ..results import WindowedResult
    from .unit import Unit

#: Frames of the energy detector (40 ms: the audio token of Qwen2-Audio, AF3 and the shipped model).
ENERGY_FRAME_S = 0.04
#: Smoothing of the energy curve, so that clicks and knocks of one event form one region.
ENERGY_SMOOTH_S = 0.5
#: A region is the part around its peak above this share of the peak's level (in dB above the floor).
ENERGY_FRACTION = 0.5
#: The noise floor of the energy detector: this percentile of the frame levels.
FLOOR_PERCENTILE = 10.0


def gt_events(unit: Unit, index: int) -> list[list[float]]:
    """[onset, offset] of every event of the queried event's class, in time order."""
    label = unit.scene.events[index].label
    return [[e.onset_s, e.offset_s] for e in unit.scene.events if e.label == label]


def _outcome(unit: Unit, index: int, readout: Readout, found: list[Detection]) -> Outcome:
    extra = {"detections": detections_json(found), "gt_events": gt_events(unit, index)}
    return Outcome(readout, extra=extra)


def _first(found: list[Detection]) -> Readout:
    """The single peak/interval of a detection list: its best detection (None when empty)."""
    if not found:
        return Readout(None, None, None)
    best = found[0]
    return Readout(round((best.onset_s + best.offset_s) / 2, 6), (best.onset_s, best.offset_s), None)


def windowed(unit: Unit, indices: list[int]) -> dict[str, WindowedResult]:
    """The unit's windowed localization of every queried event's query (computed once per unit)."""
    if "windowed" not in unit.cache:
        from ..long import localize_long

        cfg = unit.config
        queries = list(dict.fromkeys(unit.scene.events[k].query for k in indices))
        results = localize_long(
            unit.model, unit.path, queries, cfg.loc, windows=cfg.windows, detection=cfg.detection
        )
        unit.cache["windowed"] = {r.query: r for r in results}
    found: dict[str, WindowedResult] = unit.cache["windowed"]
    return found


def _steered_det(unit: Unit, indices: list[int]) -> list[Outcome]:
    """Instruction steering window by window; detections on the stitched Δ score."""
    results = windowed(unit, indices)
    outcomes = []
    for k in indices:
        result = results[unit.scene.events[k].query]
        outcomes.append(_outcome(unit, k, result.readout, result.detections))
    return outcomes


def energy_curve(audio: np.ndarray, sample_rate: int, frame_s: float = ENERGY_FRAME_S) -> np.ndarray:
    """Level of each frame in dB above the recording's noise floor (its 10th-percentile frame level)."""
    hop = max(1, int(round(frame_s * sample_rate)))
    n = max(1, audio.size // hop)
    frames = np.asarray(audio[: n * hop], dtype=np.float64).reshape(n, hop)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    return level - float(np.percentile(level, FLOOR_PERCENTILE))


def energy_detections(
    audio: np.ndarray, sample_rate: int, min_db: float, config: DetectConfig
) -> list[Detection]:
    """Loud regions: peaks of the smoothed level at least ``min_db`` above the floor, each with the
    region around it above half its level (the same peak picking as the steered detections)."""
    curve = energy_curve(audio, sample_rate)
    cfg = DetectConfig(config.top_k, min_db, config.min_gap_s, ENERGY_SMOOTH_S, ENERGY_FRACTION)
    return detect(curve, ENERGY_FRAME_S, cfg)


def _energy_det(unit: Unit, indices: list[int]) -> list[Outcome]:
    """Loud regions of the recording, the same for every query."""
    cfg = unit.config
    found = energy_detections(unit.native, unit.scene.sample_rate, cfg.energy_min_db, cfg.detection)
    return [_outcome(unit, k, _first(found), found) for k in indices]


def random_detections(rng: np.random.Generator, like: list[Detection], duration_s: float) -> list[Detection]:
    """As many detections as ``like``, of the same lengths and scores, at uniform random onsets."""
    out = []
    for d in like:
        length = min(d.offset_s - d.onset_s, duration_s)
        onset = float(rng.uniform(0.0, duration_s - length))
        out.append(Detection(round(onset, 6), round(onset + length, 6), d.score))
    return out


def _random_det(unit: Unit, indices: list[int]) -> list[Outcome]:
    """The steered detections of each query, moved to uniform random places."""
    results = windowed(unit, indices)
    scene, seed = unit.scene, unit.config.seed
    outcomes = []
    for k in indices:
        query = scene.events[k].query
        rng = item_rng(seed, scene.scene_id, query)
        found = random_detections(rng, results[query].detections, scene.duration_s)
        outcomes.append(_outcome(unit, k, _first(found), found))
    return outcomes


def _steered_settings(config: BenchConfig) -> dict[str, Any]:
    windows = config.windows
    return {
        **config.loc.to_json(),
        "segment_s": windows.segment_s,
        "overlap_s": windows.overlap_s,
        "detection": config.detection.to_json(),
    }


#: The detection conditions, registered by ``bench.conditions`` (keyword arguments of ``Condition``).
DETECTION_CONDITIONS: list[dict[str, Any]] = [
    {
        "name": "steered-det",
        "doc": "instruction vector per window, detections on the stitched Δ",
        "needs_model": True,
        "has_profile": False,
        "settings": _steered_settings,
        "run": _steered_det,
    },
    {
        "name": "energy-det",
        "doc": "loud regions (dB above the noise floor), the same for every query",
        "needs_model": False,
        "has_profile": False,
        "settings": lambda c: {
            "min_db": c.energy_min_db,
            "min_gap_s": c.detection.min_gap_s,
            "top_k": c.detection.top_k,
        },
        "run": _energy_det,
    },
    {
        "name": "random-det",
        "doc": "steered-det's detections at uniform random places (same count, lengths, scores)",
        "needs_model": True,
        "has_profile": False,
        "settings": lambda c: {**_steered_settings(c), "seed": c.seed},
        "run": _random_det,
    },
]
