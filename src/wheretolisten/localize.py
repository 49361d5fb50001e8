"""The high-level call: where in this clip is the queried sound? One steering vector, two probe rows."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .audio import AudioInfo, from_array, load_audio
from .models.base import Adapter
from .positions import Positions
from .probe import ProbeMethod, temporal_attention
from .readout import IntervalMethod, Readout, aggregate, read_out
from .results import LayerDelta
from .session import SUFFIX_POSITIONS, ClipSession
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


def recommended_config(adapter: Adapter, **overrides: Any) -> LocalizeConfig:
    """Defaults, then what the checkpoint recommends (``wheretolisten.json``), then non-None ``overrides``."""
    fields = {f.name for f in dataclass_fields(LocalizeConfig)}
    recommended = {k: v for k, v in adapter.recommended.get("localize", {}).items() if k in fields}
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(given) - fields
    if unknown:
        raise ValueError(f"unknown localize settings: {', '.join(sorted(unknown))}")
    if "layers" in given and "probe_layers" not in given:
        recommended.pop("probe_layers", None)  # new steering layers: probe downstream of them
    return LocalizeConfig(**{**recommended, **given})


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
    #: "shared": audio prefix computed once per clip and reused (default); "full": every prompt run whole.
    engine: str = "shared"
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
        if self.engine not in ("shared", "full"):
            raise ValueError(f"unknown engine {self.engine!r}; choose shared or full")
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
    adapter: Adapter,
    clip: np.ndarray,
    vector: SteeringVector,
    config: LocalizeConfig,
    session: ClipSession | None = None,
) -> Profile:
    """Base and steered temporal attention for one clip, both rows from one batch (row 1 steered).

    With the shared engine the two rows are suffixes on the clip's audio prefix (``session``, or a new
    one); otherwise the whole prompt is run twice.
    """
    assert config.layers is not None and config.probe_layers is not None
    if uses_shared_prefix(config):
        session = session or clip_session(adapter, clip, config)
        base, (steered,) = probe_rows(session, config, [vector], config.alpha)
        return Profile(adapter.time_axis(base.size), base, steered)
    batch = adapter.encode([clip, clip], [config.prompt, config.prompt])
    with add_steering(
        adapter, vector, config.alpha, batch, config.positions, rows=[False, True], layers=config.layers
    ):
        attn = temporal_attention(adapter, batch, config.probe_layers, method=config.probe)
    base = aggregate(attn.per_row[0], config.normalize)
    steered = aggregate(attn.per_row[1], config.normalize)
    return Profile(adapter.time_axis(base.size), base, steered)


def clip_session(adapter: Adapter, clip: np.ndarray, config: LocalizeConfig) -> ClipSession:
    """The clip's shared audio prefix, keeping what steering at ``config.positions`` will need."""
    touches_prefix = Positions.parse(config.positions) not in SUFFIX_POSITIONS
    keep = [min(config.layers)] if touches_prefix and config.layers else []
    return ClipSession(adapter, clip, keep_hidden=keep)


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
    if vector is None and uses_shared_prefix(cfg):
        return localize_many(adapter, audio, [query], cfg, sample_rate).results[0]
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


def uses_shared_prefix(config: LocalizeConfig) -> bool:
    """Whether the shared-prefix engine applies: fast probe, and activations read in the prompt suffix.

    Steering may write anywhere: where it writes into the prefix (audio, text, all), the steered rows
    recompute the prefix from the first steered layer on (see :mod:`wheretolisten.session`).
    """
    return (
        config.engine == "shared"
        and config.probe == "fast"
        and Positions.parse(config.read_positions) in SUFFIX_POSITIONS
    )


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


def _mean_vector(
    acts: dict[int, torch.Tensor], positive: list[int], negative: list[int], meta: dict[str, Any]
) -> SteeringVector:
    return SteeringVector(
        {layer: a[positive].mean(0) - a[negative].mean(0) for layer, a in acts.items()}, dict(meta)
    )


@torch.no_grad()
def localize_many(
    adapter: Adapter,
    audio: str | os.PathLike[str] | np.ndarray,
    queries: list[str],
    config: LocalizeConfig | None = None,
    sample_rate: int | None = None,
    session: ClipSession | None = None,
) -> ClipProfiles:
    """Localize several queries in one clip: two batched suffix passes on top of one audio prefix.

    Pass 1 runs the neutral prompts and every query's instructed prompts (vectors, base and prompted
    attention); pass 2 runs the probe prompt once per query, each row steered by its own vector. With
    ``engine="full"`` (or reads that touch the prefix) every query goes through :func:`localize`.
    ``session`` reuses a prefix already computed for this very clip (:func:`clip_session`).
    """
    cfg = (config or LocalizeConfig()).resolved(adapter)
    assert cfg.layers is not None and cfg.probe_layers is not None
    clip, info = prepare_audio(adapter, audio, sample_rate)
    if not uses_shared_prefix(cfg):
        results = [localize(adapter, clip, q, cfg, adapter.sample_rate) for q in queries]
        pairs = [prompted_profiles(adapter, clip, q, cfg, cfg.instructed_templates[0]) for q in queries]
        for r in results:
            r.audio = info
        base = pairs[0].base if pairs else np.zeros(0)
        return ClipProfiles(results, [p.steered for p in pairs], base)

    session = session or clip_session(adapter, clip, cfg)
    vectors, prompted, base = session_vectors(adapter, session, queries, cfg)
    # Pass 2: the unsteered probe row again beside the steered ones, so that base and steered come from
    # one batch and α = 0 gives a Δ of exactly zero.
    base2, steered_rows = probe_rows(session, cfg, vectors, cfg.alpha)
    results = []
    time_s = adapter.time_axis(base2.size)
    for q, vec, steered in zip(queries, vectors, steered_rows, strict=True):
        profile = Profile(time_s, base2, steered)
        readout = read_out(
            profile.delta, adapter.token_s, cfg.smooth_s, cfg.interval, cfg.fraction, cfg.window_s
        )
        results.append(LocalizeResult(adapter.name, q, info, profile, readout, cfg, vec))
    return ClipProfiles(results, prompted, base)


@dataclass
class AlphaSweep:
    """One query's Δ profile and readout at several steering strengths, all from one vector."""

    query: str
    alphas: list[float]
    time_s: np.ndarray
    deltas: np.ndarray  # [len(alphas), audio tokens]
    readouts: list[Readout]
    config: LocalizeConfig


@torch.no_grad()
def alpha_sweep(
    adapter: Adapter,
    audio: str | os.PathLike[str] | np.ndarray,
    query: str,
    alphas: list[float],
    config: LocalizeConfig | None = None,
    sample_rate: int | None = None,
) -> AlphaSweep:
    """Δ and its readout for each α in ``alphas``: how steering strength moves where the model listens.

    The vector is built once (as :func:`localize` builds it); with the shared engine every α is one row
    of a single batch beside the unsteered row (α folded into each row's vector).
    """
    if not alphas:
        raise ValueError("give at least one α")
    cfg = (config or LocalizeConfig()).resolved(adapter)
    assert cfg.layers is not None and cfg.probe_layers is not None
    clip, _ = prepare_audio(adapter, audio, sample_rate)
    if uses_shared_prefix(cfg):
        session = clip_session(adapter, clip, cfg)
        (vector,), _, _ = session_vectors(adapter, session, [query], cfg)
        base, rows = probe_rows(session, cfg, [vector.scaled(a) for a in alphas], 1.0)
        deltas = np.stack([r - base for r in rows])
    else:
        vector = localize(adapter, clip, query, cfg, adapter.sample_rate).vector
        profiles = [steered_profiles(adapter, clip, vector, replace(cfg, alpha=a)) for a in alphas]
        base = profiles[0].base
        deltas = np.stack([p.delta for p in profiles])
    readouts = [
        read_out(d, adapter.token_s, cfg.smooth_s, cfg.interval, cfg.fraction, cfg.window_s) for d in deltas
    ]
    return AlphaSweep(query, [float(a) for a in alphas], adapter.time_axis(base.size), deltas, readouts, cfg)


def session_vectors(
    adapter: Adapter, session: ClipSession, queries: list[str], config: LocalizeConfig
) -> tuple[list[SteeringVector], list[np.ndarray], np.ndarray]:
    """Pass 1 on the clip's shared prefix, one batch: the probe prompt, the neutral prompts and every
    query's instructed prompts. Returns each query's instruction vector, its prompted attention profile
    (first instructed template), and the probe prompt's profile (the prompted baseline)."""
    assert config.layers is not None and config.probe_layers is not None
    neutral = list(config.neutral_templates)
    prompts = [config.prompt, *neutral]
    query_rows: list[list[int]] = []
    for q in queries:
        start = len(prompts)
        prompts.extend(t.format(query=q) for t in config.instructed_templates)
        query_rows.append(list(range(start, len(prompts))))
    first = session.run(prompts, config.layers, config.read_positions, config.probe_layers)
    neutral_rows = list(range(1, 1 + len(neutral)))
    base = aggregate(_stack(first.attention, config.probe_layers, 0), config.normalize)
    vectors, prompted = [], []
    for q, rows in zip(queries, query_rows, strict=True):
        meta = {
            "kind": "instruction",
            "model": adapter.name,
            "family": adapter.family,
            "query": q,
            "positions": config.read_positions,
            "instructed_templates": list(config.instructed_templates),
            "neutral_templates": neutral,
        }
        vectors.append(_mean_vector(first.residual, rows, neutral_rows, meta))
        prompted.append(aggregate(_stack(first.attention, config.probe_layers, rows[0]), config.normalize))
    return vectors, prompted, base


def probe_rows(
    session: ClipSession, config: LocalizeConfig, vectors: list[SteeringVector], alpha: float
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The unsteered probe row and one row per vector (steered with ``alpha``), from one batch on the
    clip's shared prefix, so that base and steered are computed alike (α = 0 gives Δ exactly 0)."""
    assert config.probe_layers is not None
    run = session.run(
        [config.prompt] * (len(vectors) + 1),
        probe_layers=config.probe_layers,
        vectors=[None, *vectors],
        alpha=alpha,
        steer_positions=config.positions,
        steer_layers=config.layers,
    )
    rows = [
        aggregate(_stack(run.attention, config.probe_layers, i), config.normalize)
        for i in range(len(vectors) + 1)
    ]
    return rows[0], rows[1:]


def _stack(attention: dict[int, torch.Tensor], layers: list[int], row: int) -> torch.Tensor:
    """[layers, heads, 1, audio] for one row, in the layout :func:`readout.aggregate` expects."""
    return torch.stack([attention[layer][row] for layer in layers])[:, :, None, :]


@torch.no_grad()
def prompted_profiles(
    adapter: Adapter,
    clip: np.ndarray,
    query: str,
    config: LocalizeConfig,
    template: str = INSTRUCTED_TEMPLATES[0],
) -> Profile:
    """Attention under the neutral prompt (``base``) and the instructed prompt (``steered``), no steering.

    One batch of two rows of different lengths: positions are resolved per row by the probe and the
    audio columns come back per row, so padding never enters the profiles.
    """
    assert config.probe_layers is not None
    batch = adapter.encode([clip, clip], [config.prompt, template.format(query=query)])
    attn = temporal_attention(adapter, batch, config.probe_layers, method=config.probe)
    neutral = aggregate(attn.per_row[0], config.normalize)
    instructed = aggregate(attn.per_row[1], config.normalize)
    if neutral.size != instructed.size:
        raise RuntimeError(f"the two prompts saw {neutral.size} and {instructed.size} audio tokens")
    return Profile(adapter.time_axis(neutral.size), neutral, instructed)


@torch.no_grad()
def layer_delta(
    adapter: Adapter,
    clip: np.ndarray | str | os.PathLike[str],
    query: str,
    config: LocalizeConfig | None = None,
    sample_rate: int | None = None,
    vector: SteeringVector | None = None,
    layers: Sequence[int] | None = None,
) -> LayerDelta:
    """Steer as :func:`~wheretolisten.localize.localize` does and read Δ in every layer (or ``layers``).

    One forward pass on a 2-row batch (row 1 steered). Layers up to the first steered one read the
    unsteered residual stream, so their rows are exactly zero; the mean of the rows of
    ``config.probe_layers`` is the Δ profile that ``localize`` reads out.
    """
    cfg = (config or LocalizeConfig()).resolved(adapter)
    assert cfg.layers is not None
    audio, _ = prepare_audio(adapter, clip, sample_rate)
    if vector is None:
        vector = instruction_vector(
            adapter, audio, query, cfg.layers, cfg.read_positions, cfg.instructed_templates,
            cfg.neutral_templates,
        )  # fmt: skip
    chosen = list(range(adapter.num_layers)) if layers is None else check_layers(adapter, layers)
    with torch.no_grad():
        batch = adapter.encode([audio, audio], [cfg.prompt, cfg.prompt])
        with add_steering(
            adapter, vector, cfg.alpha, batch, cfg.positions, rows=[False, True], layers=cfg.layers
        ):
            attn = temporal_attention(adapter, batch, chosen, method=cfg.probe)
    base, steered = attn.per_row
    rows = [
        aggregate(steered[i : i + 1], cfg.normalize) - aggregate(base[i : i + 1], cfg.normalize)
        for i in range(len(attn.layers))
    ]
    matrix = np.stack(rows)
    return LayerDelta(list(attn.layers), adapter.time_axis(matrix.shape[1]), matrix)
