"""What a localization produces: profiles over audio tokens, readouts, and their JSON form.

These are plain data: the engine fills them, figures and reports draw and score them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .audio import AudioInfo
from .readout import Readout
from .settings import Resolved
from .vectors import SteeringVector


@dataclass
class Profile:
    """Temporal attention profiles, one value per audio token; token i starts at ``time_s[i]``."""

    time_s: np.ndarray
    base: np.ndarray
    steered: np.ndarray

    @property
    def delta(self) -> np.ndarray:
        return self.steered - self.base


@dataclass
class LocalizeResult:
    """One query in one clip: profiles, the readout, and everything needed to rerun it."""

    model: str
    query: str
    audio: AudioInfo
    profile: Profile
    readout: Readout
    config: Resolved
    vector: SteeringVector

    @property
    def peak_s(self) -> float | None:
        return self.readout.peak_s

    @property
    def interval_s(self) -> tuple[float, float] | None:
        return self.readout.interval_s

    def to_json(self) -> dict[str, Any]:
        """The documented JSON layout of ``wheretolisten localize --json``."""
        return {
            "model": self.model,
            "audio": {
                "path": self.audio.path,
                "duration_s": self.audio.duration_s,
                "sample_rate": self.audio.sample_rate,
            },
            "query": self.query,
            "peak_s": self.peak_s,
            "interval_s": list(self.interval_s) if self.interval_s else None,
            "profile": {
                "time_s": self.profile.time_s.round(6).tolist(),
                "base": self.profile.base.tolist(),
                "steered": self.profile.steered.tolist(),
                "delta": self.profile.delta.tolist(),
            },
            "config": self.config.to_json(),
            "vector_norms": {str(k): v for k, v in self.vector.norms().items()},
        }


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
