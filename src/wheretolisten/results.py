"""What a localization produces: profiles over audio tokens, readouts, and their JSON form.

These are plain data: the engine fills them, figures and reports draw and score them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .audio import AudioInfo
from .detections import DetectConfig, Detection, detections_json, score_curve, strongest
from .readout import Readout
from .settings import Resolved
from .vectors import SteeringVector
from .windows import Window


@dataclass
class Profile:
    """Temporal attention profiles, one value per audio token; token i starts at ``time_s[i]``."""

    time_s: np.ndarray
    base: np.ndarray
    steered: np.ndarray

    @property
    def delta(self) -> np.ndarray:
        return self.steered - self.base


class _ReadTimes:
    """The readout's peak and interval as attributes of a result, and its strongest detection candidate."""

    readout: Readout
    profile: Profile
    detection: DetectConfig
    audio: AudioInfo

    def score_curve(self) -> np.ndarray:
        """The detection score per token (Δ · N, see ``wheretolisten.detections``)."""
        return score_curve(self.profile.delta)

    def strongest(self) -> Detection | None:
        """The best detection candidate whatever its score (it is a detection only when it scores at
        least ``detection.min_score``), in the file's seconds; None when nothing rose."""
        times = self.profile.time_s
        if times.size < 2:
            return None
        found = strongest(self.score_curve(), float(times[1] - times[0]), self.detection)
        return None if found is None else found.shifted(self.audio.start_s)

    @property
    def peak_s(self) -> float | None:
        return self.readout.peak_s

    @property
    def interval_s(self) -> tuple[float, float] | None:
        return self.readout.interval_s


@dataclass
class LocalizeResult(_ReadTimes):
    """One query in one clip: profiles, the readout, and everything needed to rerun it."""

    model: str
    query: str
    audio: AudioInfo
    profile: Profile
    readout: Readout
    config: Resolved
    vector: SteeringVector
    #: Every occurrence (``wheretolisten.detections``), highest score first, and how they were picked.
    detections: list[Detection] = field(default_factory=list)
    detection: DetectConfig = field(default_factory=DetectConfig)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON layout of ``wheretolisten localize --json``."""
        norms = {str(k): v for k, v in self.vector.norms().items()}
        return result_json(self, norms)


def result_json(result: LocalizeResult | WindowedResult, vector_norms: dict[str, float]) -> dict[str, Any]:
    """The JSON of one query's result; windowed results add ``windows``."""
    return {
        "model": result.model,
        "audio": {
            "path": result.audio.path,
            "duration_s": result.audio.duration_s,
            "sample_rate": result.audio.sample_rate,
        },
        "query": result.query,
        "peak_s": result.peak_s,
        "interval_s": list(result.interval_s) if result.interval_s else None,
        "profile": {
            "time_s": result.profile.time_s.round(6).tolist(),
            "base": result.profile.base.tolist(),
            "steered": result.profile.steered.tolist(),
            "delta": result.profile.delta.tolist(),
        },
        "config": result.config.to_json(),
        "vector_norms": vector_norms,
        "detections": detections_json(result.detections),
        "detection": result.detection.to_json(),
    }


@dataclass
class WindowedResult(_ReadTimes):
    """One query in a recording cut into windows: stitched profiles, readout and detections.

    ``profile`` is on the recording's one time axis (``wheretolisten.windows``); ``vector_norms`` are
    the mean over windows of each window's instruction vector norms (one vector per window).
    """

    model: str
    query: str
    audio: AudioInfo
    profile: Profile
    readout: Readout
    config: Resolved
    detections: list[Detection]
    detection: DetectConfig
    windows: list[Window]
    #: Windows whose audio was digitally silent: not run, they add nothing to the profile.
    silent: list[int]
    vector_norms: dict[int, float]
    segment_s: float
    overlap_s: float
    #: The stitched detection score (Δ · N of each window, see ``wheretolisten.detections``), per token.
    score: np.ndarray

    def score_curve(self) -> np.ndarray:
        """The stitched detection score (each window's own N, not the recording's)."""
        return self.score

    def to_json(self) -> dict[str, Any]:
        """``localize --json`` for a windowed recording: the same keys, plus ``windows``."""
        data = result_json(self, {str(k): v for k, v in self.vector_norms.items()})
        offset = self.audio.start_s
        data["windows"] = {
            "segment_s": self.segment_s,
            "overlap_s": self.overlap_s,
            "spans_s": [[round(w.start_s + offset, 6), round(w.end_s + offset, 6)] for w in self.windows],
            "silent": self.silent,
        }
        return data


@dataclass
class ClipProfiles:
    """Everything one clip yields for several queries: per-query results plus the prompted profiles."""

    results: list[LocalizeResult]
    #: Attention under the first instructed prompt ("Listen for {query}."), per query, unsteered.
    prompted: list[np.ndarray]
    #: Attention under the probe prompt computed alongside ``prompted`` (its baseline).
    prompted_base: np.ndarray

    def prompted_delta(self, index: int) -> np.ndarray:
        """Instructed − neutral attention for query ``index``: what prompting alone moves."""
        return self.prompted[index] - self.prompted_base


@dataclass
class AlphaSweep:
    """One query's Δ profile and readout at several steering strengths, all from one vector."""

    query: str
    alphas: list[float]
    time_s: np.ndarray
    deltas: np.ndarray  # [len(alphas), audio tokens]
    readouts: list[Readout]
    config: Resolved


class LayerDelta(NamedTuple):
    """Δ attention of each probed layer alone (mean over its heads): ``matrix`` is [layers, tokens]."""

    layers: list[int]
    time_s: np.ndarray
    matrix: np.ndarray
