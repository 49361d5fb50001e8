"""The high-level calls: where in this clip is the queried sound? Thin calls on one engine.

Every function resolves its settings once (:func:`~wheretolisten.settings.resolve`), loads the audio
once, makes one engine for the clip (:func:`~wheretolisten.engine.make_engine`) and asks it for vectors
and profiles; the readout turns Δ into a time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .audio import AudioInfo, audio_info, check_min_length, check_rate, from_array, load_audio, span_pair
from .detections import DetectConfig, detection_config, score_curve
from .engine import Engine, make_engine
from .errors import OptionError
from .intervals import energy_db
from .models.base import Adapter
from .prompts import INSTRUCTED_TEMPLATES, as_queries, one_query, one_template
from .readout import apply_rule
from .results import (
    AlphaSweep,
    ClipProfiles,
    LayerDelta,
    LocalizeResult,
    Profile,
    needs_level,
    read_times,
)
from .settings import (
    LocalizeConfig,
    Resolved,
    check_alphas,
    check_layers,
    default_layers,
    default_probe_layers,
    resolve,
)
from .vectors import SteeringVector
from .vocabulary import warn_unknown

log = logging.getLogger("wheretolisten")

AudioLike = str | os.PathLike[str] | np.ndarray
Config = LocalizeConfig | Resolved | None
#: [start, end) seconds of an audio file to use (None: from its start / to its end).
Span = tuple[float | None, float | None]

__all__ = [
    "AlphaSweep",
    "ClipProfiles",
    "LayerDelta",
    "LocalizeConfig",
    "LocalizeResult",
    "Profile",
    "Resolved",
    "alpha_sweep",
    "audio_vector",
    "default_layers",
    "default_probe_layers",
    "instruction_vector",
    "layer_delta",
    "localize",
    "localize_many",
    "prepare_audio",
    "prompted_profiles",
    "resolve",
]


def prepare_audio(
    adapter: Adapter,
    audio: AudioLike,
    sample_rate: int | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
) -> tuple[np.ndarray, AudioInfo]:
    """A path (optionally the span [start_s, end_s) of it) or an array → validated mono float32 at the
    model's rate."""
    limit = adapter.max_audio_limit_s
    if isinstance(audio, (str, os.PathLike, Path)):
        if sample_rate is not None:
            check_rate(sample_rate)
            own = audio_info(audio).sample_rate
            if own != sample_rate:  # the file's header rules; a different rate given here is a mistake
                raise OptionError(
                    f"{audio} is {own} Hz but sample_rate={sample_rate} was given: a file's rate is read "
                    "from the file (sample_rate= is for arrays)"
                )
        return load_audio(audio, adapter.sample_rate, max_s=limit, start_s=start_s, end_s=end_s)
    if start_s is not None or end_s is not None:
        raise OptionError("a span (start/end) applies to audio files, not to arrays: slice the array")
    rate = adapter.sample_rate if sample_rate is None else sample_rate
    if sample_rate is None and not adapter.warned_rate:  # a 48-kHz array read at 16 kHz is 3x too long
        adapter.warned_rate = True
        log.warning(
            "an array without sample_rate= is read at %d Hz, the model's rate: pass sample_rate= with "
            "its own (said once per model)",
            adapter.sample_rate,
        )
    return from_array(audio, rate, adapter.sample_rate, max_s=limit, assumed=sample_rate is None)


def _with_layers(config: Config, layers: Sequence[int] | None) -> Config:
    """``config`` with its steered layers set to ``layers`` (when given): the ``layers=`` shortcut."""
    if layers is None:
        return config
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
        raise OptionError(f"layers must be a list of layer indices such as [9, 10], got {layers!r}")
    base = config if isinstance(config, LocalizeConfig) else LocalizeConfig()
    return replace(base, layers=list(layers))


def _clip_engine(
    adapter: Adapter,
    audio: AudioLike,
    config: Config,
    sample_rate: int | None,
    span: Span | None = None,
    vector: SteeringVector | None = None,
    steers: bool = True,
) -> tuple[Engine, AudioInfo]:
    """Where every call starts: its settings resolved once, its audio loaded once, the clip's one engine
    (``steers=False``: a call that only reads unsteered attention)."""
    cfg = resolve(adapter, config, vector, steers)
    clip, info = prepare_audio(adapter, audio, sample_rate, *span_pair(span))
    return make_engine(adapter, clip, cfg), info


def _vector(engine: Engine, query: str, vector: SteeringVector | None) -> SteeringVector:
    """``vector``, or the instruction vector of ``query`` on the engine's clip (unknown queries warned of)."""
    if vector is not None:
        return vector
    warn_unknown(engine.adapter.recommended, [query], engine.adapter.warned_queries)
    return engine.vectors([query], prompted=False).vectors[0]


def _envelope(engine: Engine, n_tokens: int, detection: DetectConfig | None = None) -> np.ndarray | None:
    """The clip's level per audio token when the readout or the detections read it (edges), else None."""
    if not needs_level(engine.config, detection or DetectConfig(edges=False)):
        return None
    return energy_db(engine.clip, engine.adapter.sample_rate, engine.adapter.token_s, n_tokens)


def _result(
    engine: Engine,
    query: str,
    info: AudioInfo,
    rows: tuple[np.ndarray, np.ndarray],
    vector: SteeringVector,
    detection: DetectConfig | None,
) -> LocalizeResult:
    """One query's result from its (base, steered) rows; times are in the file's seconds."""
    adapter, cfg = engine.adapter, engine.config
    det = detection_config(detection).filled(adapter.recommended)
    base, steered = rows
    profile = Profile(engine.time_axis(base.size) + info.start_s, base, steered)
    score, envelope = score_curve(profile.delta), _envelope(engine, base.size, det)
    found, events = read_times(profile, cfg, adapter.token_s, det, info.start_s, score, envelope)
    return LocalizeResult(adapter.name, query, info, profile, found, cfg, vector, events, det)


@torch.no_grad()
def localize(
    adapter: Adapter,
    audio: AudioLike,
    query: str,
    config: Config = None,
    sample_rate: int | None = None,
    vector: SteeringVector | None = None,
    span: Span | None = None,
    detection: DetectConfig | None = None,
) -> LocalizeResult:
    """Build the instruction vector for ``query`` on this clip (or use ``vector``), steer, read out.

    Settings not given come from the checkpoint's ``wheretolisten.json``, then the package defaults;
    ``detection`` picks the detections (every occurrence) from Δ.
    """
    query = one_query(query)
    detection_config(detection)  # a bad detection setting is refused before any pass
    engine, info = _clip_engine(adapter, audio, config, sample_rate, span, vector)
    vector = _vector(engine, query, vector)
    base, (steered,) = engine.profiles([vector])
    return _result(engine, query, info, (base, steered), vector, detection)


@torch.no_grad()
def localize_many(
    adapter: Adapter,
    audio: AudioLike,
    queries: Sequence[str],
    config: Config = None,
    sample_rate: int | None = None,
    engine: Engine | None = None,
    span: Span | None = None,
    detection: DetectConfig | None = None,
) -> ClipProfiles:
    """Localize several queries in one clip: one batch for all vectors, one for all steered rows.

    ``engine`` reuses an engine already made for this very clip and settings.
    """
    queries = as_queries(queries)  # one string is one query; a generator is read once
    detection_config(detection)  # a bad detection setting is refused before any pass
    cfg = resolve(adapter, config)
    clip, info = prepare_audio(adapter, audio, sample_rate, *span_pair(span))
    warn_unknown(adapter.recommended, queries, adapter.warned_queries)
    if engine is not None and not (
        isinstance(engine, Engine)
        and engine.adapter is adapter
        and engine.config == cfg
        and np.array_equal(engine.clip, clip)
    ):  # its audio info would be this clip's and its profiles another's
        raise OptionError(
            "engine was made for another model, clip or settings than this call's: pass the engine of "
            "this very clip and config (or none)"
        )
    engine = engine or make_engine(adapter, clip, cfg)
    first = engine.vectors(list(queries))
    # Pass 2: the unsteered probe row again beside the steered ones, so that base and steered come from
    # one batch and α = 0 gives a Δ of exactly zero.
    base, steered_rows = engine.profiles(first.vectors)
    results = [
        _result(engine, q, info, (base, steered), vec, detection)
        for q, vec, steered in zip(queries, first.vectors, steered_rows, strict=True)
    ]
    return ClipProfiles(results, first.prompted, first.prompted_base)


@torch.no_grad()
def alpha_sweep(
    adapter: Adapter,
    audio: AudioLike,
    query: str,
    alphas: Sequence[float],
    config: Config = None,
    sample_rate: int | None = None,
    span: Span | None = None,
) -> AlphaSweep:
    """Δ and its readout for each α in ``alphas``: how steering strength moves where the model listens.

    The vector is built once; every α is one row of a single batch beside the unsteered row.
    """
    query = one_query(query)
    values = check_alphas(alphas)
    engine, info = _clip_engine(adapter, audio, config, sample_rate, span)
    cfg, vector = engine.config, engine.vectors([query], prompted=False).vectors[0]
    base, rows = engine.profiles([vector] * len(values), values)
    deltas = np.stack([r - base for r in rows])
    rule, token_s = cfg.readout, adapter.token_s
    envelope = _envelope(engine, base.size)
    readouts = [
        apply_rule(rule, None, token_s, base.size, (base, r), envelope).shifted(info.start_s) for r in rows
    ]
    time_s = engine.time_axis(base.size) + info.start_s
    return AlphaSweep(query, values, time_s, deltas, readouts, cfg)


@torch.no_grad()
def layer_delta(
    adapter: Adapter,
    audio: AudioLike,
    query: str,
    config: Config = None,
    sample_rate: int | None = None,
    vector: SteeringVector | None = None,
    read_layers: Sequence[int] | None = None,
    span: Span | None = None,
) -> LayerDelta:
    """Steer as :func:`localize` does and read Δ in every decoder layer (or ``read_layers``) separately.

    The steered layers are the settings' (``config.layers``); ``read_layers`` are the layers whose Δ is
    read. Layers up to the first steered one read the unsteered residual stream, so their rows are exactly
    zero; the mean over ``config.probe_layers`` of the normalized rows is what ``localize`` reads out.
    """
    query = one_query(query)
    engine, info = _clip_engine(adapter, audio, config, sample_rate, span, vector)
    vector = _vector(engine, query, vector)
    chosen = list(range(adapter.num_layers)) if read_layers is None else check_layers(adapter, read_layers)
    matrix = engine.layer_deltas(vector, engine.config.alpha, chosen)
    return LayerDelta(chosen, engine.time_axis(matrix.shape[1]) + info.start_s, matrix)


@torch.no_grad()
def instruction_vector(
    adapter: Adapter,
    audio: AudioLike,
    query: str,
    config: Config = None,
    *,
    layers: Sequence[int] | None = None,
    sample_rate: int | None = None,
) -> SteeringVector:
    """Mean over paraphrases of (instructed − neutral) residual activations on the same audio.

    ``layers`` (the steered layers, as everywhere) is a shortcut for ``LocalizeConfig(layers=...)``.
    """
    query = one_query(query)
    engine, _ = _clip_engine(adapter, audio, _with_layers(config, layers), sample_rate)
    return engine.vectors([query], prompted=False).vectors[0]


@torch.no_grad()
def audio_vector(
    adapter: Adapter,
    audio_with: np.ndarray,
    audio_without: np.ndarray,
    config: Config = None,
    query: str | None = None,
    *,
    layers: Sequence[int] | None = None,
) -> SteeringVector:
    """(with event − without event) residual activations under the probe prompt: audio-based steering.

    ``layers`` (the steered layers, as everywhere) is a shortcut for ``LocalizeConfig(layers=...)``.
    """
    config = _with_layers(config, layers)
    cfg = resolve(adapter, config)
    for name, clip in (("audio_with", audio_with), ("audio_without", audio_without)):
        if not isinstance(clip, np.ndarray) or clip.ndim != 1:  # a path, a stereo array
            raise OptionError(f"{name} must be a mono array at the model's rate, got {type(clip).__name__}")
        check_min_length(clip.size / adapter.sample_rate, name)
    return make_engine(adapter, audio_with, cfg).audio_vector(make_engine(adapter, audio_without, cfg), query)


@torch.no_grad()
def prompted_profiles(
    adapter: Adapter,
    audio: AudioLike,
    query: str,
    config: Config = None,
    template: str = INSTRUCTED_TEMPLATES[0],
    sample_rate: int | None = None,
) -> Profile:
    """Attention under the probe prompt (``base``) and the instructed prompt (``steered``), no steering."""
    query = one_query(query)
    template = one_template(template)
    engine, _ = _clip_engine(adapter, audio, config, sample_rate, steers=False)
    neutral, instructed = engine.attention([engine.config.prompt, template.format(query=query)])
    return Profile(engine.time_axis(neutral.size), neutral, instructed)
