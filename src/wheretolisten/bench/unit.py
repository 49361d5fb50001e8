"""The work unit: one scene with its queries and conditions, computed without side effects.

A :class:`Unit` holds what the conditions of one scene share: the audio (at the scene's rate and the
model's), one engine for the clip (its audio prefix computed once), and pass 1 (instruction vectors and
prompted attention of every query, one batch). :func:`run_unit` turns each condition's outcomes into
typed result rows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..audio import load_audio
from ..engine import Engine, VectorPass, make_engine
from ..errors import WTLError
from ..localize import prepare_audio
from ..metrics import attention_share, profile_entropy
from ..results import Profile
from ..scenes import Scene
from ..vectors import SteeringVector
from .config import BenchConfig
from .inputs import select_events  # noqa: F401  (re-exported: the unit runs these events)
from .outcome import Outcome

if TYPE_CHECKING:
    from ..models.base import Adapter


class Unit:
    """One scene's shared state for its conditions (lazy: nothing runs until a condition asks)."""

    def __init__(
        self, adapter: Adapter | None, scene: Scene, manifest_dir: Path, config: BenchConfig
    ) -> None:
        self.adapter = adapter
        self.scene = scene
        self.path = scene.audio_path(manifest_dir)
        self.config = config
        self._vectors: dict[str, SteeringVector] = {}
        self._prompted: dict[str, np.ndarray] = {}
        self._prompted_base: np.ndarray | None = None
        self.shared_s = 0.0  # seconds spent in pass 1, shared by the conditions that use it
        #: Work that conditions share beyond pass 1 (e.g. the windowed detections, ``bench/detection.py``).
        self.cache: dict[str, Any] = {}

    @property
    def model(self) -> Adapter:
        if self.adapter is None:
            raise WTLError("this condition needs a model (--model)")
        return self.adapter

    @cached_property
    def native(self) -> np.ndarray:
        """The clip at the scene's own sample rate (model-free conditions)."""
        return load_audio(self.path, self.scene.sample_rate)[0]

    @cached_property
    def clip(self) -> np.ndarray:
        """The clip at the model's sample rate."""
        return prepare_audio(self.model, self.path)[0]

    @cached_property
    def engine(self) -> Engine:
        """The clip's one engine: its audio prefix is computed once for every condition."""
        return make_engine(self.model, self.clip, self.config.loc)

    def vector_pass(self, queries: Sequence[str]) -> VectorPass:
        """Instruction vectors and prompted profiles of ``queries``; missing ones computed in one batch."""
        missing = [q for q in dict.fromkeys(queries) if q not in self._vectors]
        if missing:
            started = time.perf_counter()
            found = self.engine.vectors(missing)
            for q, vec, prompted in zip(missing, found.vectors, found.prompted, strict=True):
                self._vectors[q], self._prompted[q] = vec, prompted
            if self._prompted_base is None:
                self._prompted_base = found.prompted_base
            self.shared_s += time.perf_counter() - started
        assert self._prompted_base is not None
        return VectorPass(
            [self._vectors[q] for q in queries], [self._prompted[q] for q in queries], self._prompted_base
        )

    def profile(self, base: np.ndarray, steered: np.ndarray) -> Profile:
        """A profile on this clip's time axis."""
        return Profile(self.engine.time_axis(base.size), base, steered)


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def attention_stats(profile: Profile, gt: tuple[float, float], token_s: float) -> dict[str, float | None]:
    """Share of audio attention inside the queried event and profile entropy, for the profile and its base."""
    out: dict[str, float | None] = {}
    for suffix, values in (("", profile.steered), ("_base", profile.base)):
        clipped = np.clip(values, 0.0, None)  # reduced-precision noise must not make a share negative
        out[f"attn_share{suffix}"] = _finite_or_none(attention_share(clipped, profile.time_s, gt, token_s))
        out[f"attn_entropy{suffix}"] = _finite_or_none(profile_entropy(clipped))
    return out


def outcome_fields(
    outcome: Outcome, gt: tuple[float, float], config: BenchConfig, token_s: float
) -> dict[str, Any]:
    """The prediction fields of a row (plus attention statistics and the saved profile when present)."""
    r = outcome.readout
    fields: dict[str, Any] = {
        "peak_s": r.peak_s,
        "interval_s": list(r.interval_s) if r.interval_s is not None else None,
    }
    if outcome.profile is not None:
        p = outcome.profile
        fields.update(attention_stats(p, gt, token_s))
        if config.save_profiles:
            fields["profile"] = {
                "time_s": np.round(p.time_s, 6).tolist(),
                "base": p.base.astype(np.float32).tolist(),
                "steered": p.steered.astype(np.float32).tolist(),
                "delta": p.delta.astype(np.float32).tolist(),
            }
    fields.update(outcome.extra)
    return fields
