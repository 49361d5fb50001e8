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
from ..intervals import energy_db
from ..localize import prepare_audio
from ..metrics import attention_share, profile_entropy
from ..readout import Readout, apply_rule
from ..results import Profile
from ..scenes import Scene
from ..vectors import SteeringVector
from .baselines import erase_event, item_rng
from .config import BenchConfig
from .inputs import select_events  # noqa: F401  (re-exported: the unit runs these events)
from .outcome import Outcome

if TYPE_CHECKING:
    from ..models.base import Adapter
    from .conditions import Condition


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
        self._envelopes: dict[tuple[int, float], np.ndarray] = {}
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

    def audio_vector(self, k: int, engine: Engine | None = None) -> SteeringVector:
        """Event ``k``'s audio-contrast vector: the clip with − without it (erased by gap-level noise), at the
        steered layers of ``engine`` (default: the unit's)."""
        engine = engine or self.engine
        event = self.scene.events[k]
        rng = item_rng(self.config.seed, self.scene.scene_id, event.query)
        without = erase_event(self.clip, self.model.sample_rate, self.scene.events, k, rng)
        return engine.audio_vector(make_engine(self.model, without, engine.config), event.query)

    def profile(self, base: np.ndarray, steered: np.ndarray) -> Profile:
        """A profile on this clip's time axis."""
        return Profile(self.engine.time_axis(base.size), base, steered)

    def outcome(self, base: np.ndarray, steered: np.ndarray, **extra: Any) -> Outcome:
        """A profile condition's outcome: (base, steered) read with the localize settings' readout."""
        rule, token_s = self.config.loc.readout, self.model.token_s
        envelope = self.envelope(base.size, token_s) if rule.needs_envelope else None
        read = apply_rule(rule, None, token_s, base.size, (base, steered), envelope)
        return Outcome(read, self.profile(base, steered), dict(extra))

    def envelope(self, n_tokens: int, token_s: float) -> np.ndarray:
        """The clip's energy (dB) on a grid of ``n_tokens`` tokens (model-free: the scene's own audio)."""
        key = (n_tokens, token_s)
        if key not in self._envelopes:
            self._envelopes[key] = energy_db(self.native, self.scene.sample_rate, token_s, n_tokens)
        return self._envelopes[key]

    def read(self, outcome: Outcome, token_s: float) -> tuple[Readout, dict[str, Any]]:
        """The outcome read with the configured rule, and the fields that say so: ``readout_rule`` and
        ``intervals`` (the condition's own interval and each comparison rule's, by name)."""
        cfg = self.config
        rules = [r for r in (cfg.readout_rule, *cfg.compare_rules) if r is not None]
        if not rules:
            return outcome.readout, {}
        p = outcome.profile
        profile = (p.base, p.steered) if p is not None else None
        n = p.base.size if p is not None else int(math.ceil(self.scene.duration_s / token_s - 1e-9))
        envelope = self.envelope(n, token_s) if any(r.needs_envelope for r in rules) else None
        read = {
            r.name: apply_rule(r, outcome.readout, token_s, n, profile, envelope)
            for r in rules
            if profile is not None or not r.needs_profile
        }
        own = outcome.readout.interval_s
        intervals = {"own": list(own) if own is not None else None}
        intervals.update({k: list(v.interval_s) if v.interval_s else None for k, v in read.items()})
        chosen = cfg.readout_rule.name if cfg.readout_rule is not None else None
        if chosen not in read:
            return outcome.readout, {"intervals": intervals}
        return read[chosen], {"readout_rule": chosen, "intervals": intervals}


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


def row_settings(condition: Condition, config: BenchConfig) -> dict[str, Any]:
    """The settings that enter a condition's config hash: its own, plus the readout rules when set."""
    settings = dict(condition.settings(config))
    if config.readout_rule is not None:
        settings["readout_rule"] = config.readout_rule.to_json()
    if config.compare_rules:
        settings["compare_rules"] = [r.to_json() for r in config.compare_rules]
    return settings


def outcome_fields(
    outcome: Outcome, gt: tuple[float, float], config: BenchConfig, token_s: float, unit: Unit | None = None
) -> dict[str, Any]:
    """The prediction fields of a row (plus attention statistics and the saved profile when present).

    With ``unit``, the peak and interval are read with the configured readout rule (:meth:`Unit.read`), and
    the row lists the scene's events."""
    r, ruled = unit.read(outcome, token_s) if unit is not None else (outcome.readout, {})
    fields: dict[str, Any] = {
        "peak_s": r.peak_s,
        "interval_s": list(r.interval_s) if r.interval_s is not None else None,
        **ruled,
    }
    if config.tuned is not None:
        fields["tuned"] = config.tuned
    if unit is not None:  # every event of the scene: where a peak that missed went (metrics.controls)
        fields["events"] = [[e.onset_s, e.offset_s] for e in unit.scene.events]
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
