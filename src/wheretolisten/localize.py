"""The high-level call: where in this clip is the queried sound? One steering vector, two probe rows."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .audio import AudioInfo, from_array, load_audio
from .models.base import Adapter
from .positions import Positions
from .probe import ProbeMethod, temporal_attention
from .readout import IntervalMethod, Readout, aggregate, read_out
from .steering import (
    INSTRUCTED_TEMPLATES,
    NEUTRAL_TEMPLATES,
    PROBE_PROMPT,
    SteeringVector,
    add_steering,
    check_layers,
    instruction_vector,
)


def default_layers(num_layers: int) -> list[int]:
    """Steer a band in the lower middle of the decoder (about layers n/3 to n/2)."""
    start = num_layers // 3
    return list(range(start, max(start + 1, num_layers // 2)))


def default_probe_layers(num_layers: int, steer_layers: list[int]) -> list[int]:
    """Read attention in every layer downstream of the first steered layer (the ones steering can move)."""
    first = min(steer_layers) + 1
    return list(range(first, num_layers)) if first < num_layers else [num_layers - 1]


@dataclass
class LocalizeConfig:
    """Everything that determines a localization; stored in every result so it can be rerun."""

    layers: list[int] | None = None
    probe_layers: list[int] | None = None
    alpha: float = 4.0
    positions: str = Positions.LAST.value  # where the vector is added
    read_positions: str = Positions.LAST.value  # where activations are read to build it
    probe: ProbeMethod = "fast"
    normalize: bool = True
    smooth_s: float = 0.2
    interval: IntervalMethod = "threshold"
    fraction: float = 0.5
    window_s: float = 1.0
    prompt: str = PROBE_PROMPT
    instructed_templates: list[str] = field(default_factory=lambda: list(INSTRUCTED_TEMPLATES))
    neutral_templates: list[str] = field(default_factory=lambda: list(NEUTRAL_TEMPLATES))

    def resolved(self, adapter: Adapter) -> LocalizeConfig:
        """A copy with layers filled in and checked against the model."""
        layers = check_layers(adapter, self.layers if self.layers else default_layers(adapter.num_layers))
        probe_layers = check_layers(
            adapter,
            self.probe_layers if self.probe_layers else default_probe_layers(adapter.num_layers, layers),
        )
        Positions.parse(self.positions)
        Positions.parse(self.read_positions)
        return LocalizeConfig(**{**asdict(self), "layers": layers, "probe_layers": probe_layers})


@dataclass
class Profile:
    """Temporal attention profiles, one value per audio token."""

    time_s: np.ndarray
    base: np.ndarray
    steered: np.ndarray

    @property
    def delta(self) -> np.ndarray:
        return self.steered - self.base


@dataclass
class LocalizeResult:
    model: str
    query: str
    audio: AudioInfo
    profile: Profile
    readout: Readout
    config: LocalizeConfig
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
            "config": asdict(self.config),
            "vector_norms": {str(k): v for k, v in self.vector.norms().items()},
        }


def prepare_audio(
    adapter: Adapter, audio: str | os.PathLike[str] | np.ndarray, sample_rate: int | None = None
) -> tuple[np.ndarray, AudioInfo]:
    """A path or an array → validated mono float32 at the model's rate."""
    if isinstance(audio, (str, os.PathLike, Path)):
        return load_audio(audio, adapter.sample_rate, max_s=adapter.max_audio_limit_s)
    return from_array(
        audio, sample_rate or adapter.sample_rate, adapter.sample_rate, max_s=adapter.max_audio_limit_s
    )


@torch.no_grad()
def steered_profiles(
    adapter: Adapter, clip: np.ndarray, vector: SteeringVector, config: LocalizeConfig
) -> Profile:
    """Base and steered temporal attention for one clip in one batch of two rows (row 1 steered)."""
    assert config.layers is not None and config.probe_layers is not None
    batch = adapter.encode([clip, clip], [config.prompt, config.prompt])
    with add_steering(
        adapter, vector, config.alpha, batch, config.positions, rows=[False, True], layers=config.layers
    ):
        attn = temporal_attention(adapter, batch, config.probe_layers, method=config.probe)
    base = aggregate(attn.per_row[0], config.normalize)
    steered = aggregate(attn.per_row[1], config.normalize)
    return Profile(adapter.time_axis(base.size), base, steered)


def localize(
    adapter: Adapter,
    audio: str | os.PathLike[str] | np.ndarray,
    query: str,
    config: LocalizeConfig | None = None,
    sample_rate: int | None = None,
    vector: SteeringVector | None = None,
) -> LocalizeResult:
    """Build the instruction vector for ``query`` on this clip, steer, and read out where attention rose."""
    cfg = (config or LocalizeConfig()).resolved(adapter)
    assert cfg.layers is not None
    clip, info = prepare_audio(adapter, audio, sample_rate)
    if vector is None:
        vector = instruction_vector(
            adapter,
            clip,
            query,
            cfg.layers,
            cfg.read_positions,
            cfg.instructed_templates,
            cfg.neutral_templates,
        )
    profile = steered_profiles(adapter, clip, vector, cfg)
    readout = read_out(profile.delta, adapter.token_s, cfg.smooth_s, cfg.interval, cfg.fraction, cfg.window_s)
    return LocalizeResult(adapter.name, query, info, profile, readout, cfg, vector)
