"""Benchmark runner for the controlled three-event localization setting.

Every (scene, query, condition) gives one results row: a predicted peak time and interval for the
queried event, scored later by :mod:`wheretolisten.metrics`. Conditions:

* ``steered``: instruction vector for the query on this clip; Δ = steered − unsteered attention.
* ``prompted``: no steering; Δ = attention under "Listen for {query}." − attention under the neutral prompt.
* ``audio-steered``: audio-contrast vector (clip with − without the queried event); same Δ readout.
* ``direct``: ask the model when the sound starts and ends, parse the free-text answer.
* ``random``: seeded uniform peak and uniformly random interval (no model).
* ``energy``: the loudest ~1-s window (no model).

The work unit is one scene (all its queries and conditions): :func:`run_unit` computes it without side
effects, and :func:`run_bench` appends its rows in one write + fsync, so a killed run resumes with no
duplicate and no torn line.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import soundfile as sf
import torch

from .answers import parse_time_answer
from .audio import load_audio
from .errors import DataError, WTLError
from .localize import (
    ClipProfiles,
    LocalizeConfig,
    Profile,
    clip_session,
    localize_many,
    prepare_audio,
    prompted_profiles,
    steered_profiles,
    uses_shared_prefix,
)
from .metrics import attention_share, format_table, profile_entropy
from .positions import Positions
from .readout import Readout, read_out
from .scenes import MANIFEST_NAME, Event, Scene, load_manifest
from .session import ClipSession
from .shards import Shard, merge_rows, shard_files, shard_of, shard_path
from .steering import audio_vector, instruction_vector

if TYPE_CHECKING:
    from .models.base import Adapter

#: Bump when a condition's algorithm changes: rows of another version are not resumed into.
BENCH_VERSION = 1
CONDITIONS = ("steered", "prompted", "audio-steered", "direct", "random", "energy")
MODEL_FREE = frozenset({"random", "energy"})
#: Conditions whose rows carry attention-redistribution statistics (they have a profile and a base).
PROFILE_CONDITIONS = frozenset({"steered", "prompted", "audio-steered"})
QUERY_MODES = ("target", "all")
DIRECT_PROMPT = "When does {query} start and end? Answer in seconds."
PROMPTED_TEMPLATE = "Listen for {query}."
SWEEP_NAME = "sweep.jsonl"
RESULTS_NAME = "results.jsonl"
#: Manifest duration and wav duration may differ by this much (sample rounding, resampling).
DURATION_TOLERANCE_S = 0.05
#: Samples this close to an event's edges are not used to measure the noise floor.
GAP_MARGIN_S = 0.02


@dataclass
class BenchConfig:
    """Everything that determines the rows of a run (besides the model and the scenes)."""

    localize: LocalizeConfig = field(default_factory=LocalizeConfig)
    queries: str = "target"  # "target": the scene's target event only; "all": every event
    query: str | None = None  # one query (event query text or label) asked in every scene
    seed: int = 0  # random baseline and the noise used to erase events
    energy_window_s: float = 1.0
    direct_prompt: str = DIRECT_PROMPT
    prompted_template: str = PROMPTED_TEMPLATE
    max_new_tokens: int = 24
    #: Also store each row's profiles (time_s, base, steered, delta): larger files, Δ curves in reports.
    save_profiles: bool = False

    def resolved(self, adapter: Adapter | None) -> BenchConfig:
        """A copy whose localize config has its layers filled in for ``adapter`` (unchanged without one)."""
        if adapter is None:
            return self
        return replace(self, localize=self.localize.resolved(adapter))


# --------------------------------------------------------------------------------------------------
# Options and per-condition configuration
# --------------------------------------------------------------------------------------------------


def bench_config(
    layers: list[int] | None = None,
    alpha: float | None = None,
    queries: str = "target",
    query: str | None = None,
    seed: int = 0,
    save_profiles: bool = False,
    direct_prompt: str | None = None,
    positions: str = Positions.LAST.value,
) -> BenchConfig:
    """A BenchConfig from command-line options, with ``queries`` and ``positions`` checked."""
    if queries not in QUERY_MODES:
        raise WTLError(f"unknown --queries {queries!r}; choose target or all")
    try:
        spec = Positions.parse(positions).value
    except ValueError as exc:
        raise WTLError(str(exc)) from None
    loc = LocalizeConfig(layers=layers, positions=spec)
    if alpha is not None:
        loc = replace(loc, alpha=alpha)
    if direct_prompt is not None and "{query}" not in direct_prompt:
        raise WTLError(f"--direct-prompt must contain {{query}}, got {direct_prompt!r}")
    return BenchConfig(
        loc, queries, query, seed, direct_prompt=direct_prompt or DIRECT_PROMPT, save_profiles=save_profiles
    )


def parse_conditions(text: str | Sequence[str]) -> list[str]:
    """'steered,random' (or a list) → validated, de-duplicated condition names in the given order."""
    items = text.split(",") if isinstance(text, str) else list(text)
    names = [c.strip() for c in items if c.strip()]
    if not names:
        raise WTLError(f"no conditions given; choose from {', '.join(CONDITIONS)}")
    unknown = [c for c in names if c not in CONDITIONS]
    if unknown:
        raise WTLError(f"unknown condition {unknown[0]!r}; choose from {', '.join(CONDITIONS)}")
    return list(dict.fromkeys(names))


def needs_model(conditions: Sequence[str]) -> list[str]:
    """The conditions in ``conditions`` that run a model."""
    return [c for c in conditions if c not in MODEL_FREE]


def condition_config(condition: str, config: BenchConfig) -> dict[str, Any]:
    """Only the settings that change this condition's rows (so model-free rows never depend on layers)."""
    loc = asdict(config.localize)
    readout_keys = ("probe_layers", "probe", "normalize", "smooth_s", "interval", "fraction", "window_s")
    out: dict[str, Any]
    if condition == "steered":
        out = loc
    elif condition == "audio-steered":
        out = {k: v for k, v in loc.items() if k not in ("instructed_templates", "neutral_templates")}
        out["erase"] = "gap-rms-noise"
        out["seed"] = config.seed
    elif condition == "prompted":
        out = {k: loc[k] for k in readout_keys}
        out["prompt"] = loc["prompt"]
        out["template"] = config.prompted_template
    elif condition == "direct":
        out = {"prompt": config.direct_prompt, "max_new_tokens": config.max_new_tokens}
    elif condition == "random":
        out = {"seed": config.seed}
    elif condition == "energy":
        out = {"window_s": config.energy_window_s}
    else:
        raise WTLError(f"unknown condition {condition!r}; choose from {', '.join(CONDITIONS)}")
    return out


def config_hash(condition: str, cfg: Mapping[str, Any]) -> str:
    """Short stable hash of a condition's configuration (and the benchmark version)."""
    blob = json.dumps({"condition": condition, "version": BENCH_VERSION, **cfg}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


# --------------------------------------------------------------------------------------------------
# Scenes and queries
# --------------------------------------------------------------------------------------------------


def manifest_path(scenes: str | os.PathLike[str]) -> Path:
    """A manifest.jsonl path, or the one inside a scenes directory."""
    path = Path(scenes)
    return path / MANIFEST_NAME if path.is_dir() else path


def select_events(scene: Scene, config: BenchConfig) -> list[tuple[int, Event]]:
    """The (index, event) pairs queried in ``scene``: the target, all events, or the one named by --query."""
    if config.query is not None:
        found = [(k, e) for k, e in enumerate(scene.events) if config.query in (e.query, e.label)]
        if not found:
            have = ", ".join(repr(e.query) for e in scene.events)
            raise DataError(
                f"scene {scene.scene_id!r} has no event matching query {config.query!r} (it has {have})"
            )
        return found[:1]
    if config.queries == "target":
        return [(scene.target, scene.target_event)]
    if config.queries == "all":
        return list(enumerate(scene.events))
    raise WTLError(f"unknown --queries {config.queries!r}; choose target or all")


def check_scenes(scenes: Sequence[Scene], manifest: Path, config: BenchConfig) -> None:
    """Everything that can be checked before computing: readable wavs, durations, queries.

    Runs before anything is written so that a bad manifest never leaves a half-written results file.
    """
    for scene in scenes:
        where = f"{manifest}: scene {scene.scene_id!r}"
        try:
            events = select_events(scene, config)
        except DataError as exc:
            raise DataError(f"{manifest}: {exc}") from None
        queries = [e.query for _, e in events]
        if len(set(queries)) != len(queries):
            raise DataError(f"{where}: two events share the query text {queries!r}")
        wav = scene.audio_path(manifest.parent)
        try:
            info = sf.info(str(wav))
        except Exception as exc:  # soundfile raises several types for unreadable files
            raise DataError(f"{where}: cannot read audio file {wav} ({type(exc).__name__})") from None
        if abs(info.frames / info.samplerate - scene.duration_s) > DURATION_TOLERANCE_S:
            raise DataError(
                f"{where}: {wav} lasts {info.frames / info.samplerate:.3f} s but the manifest says "
                f"{scene.duration_s:.3f} s"
            )


def load_scenes(
    scenes: str | os.PathLike[str], config: BenchConfig, limit: int | None = None
) -> tuple[list[Scene], Path]:
    """Read, limit and check the manifest; returns the scenes and the manifest's directory."""
    manifest = manifest_path(scenes)
    loaded = load_manifest(manifest)
    if limit is not None:
        if limit < 1:
            raise WTLError(f"--limit must be at least 1, got {limit}")
        loaded = loaded[:limit]
    check_scenes(loaded, manifest, config)
    return loaded, manifest.parent


# --------------------------------------------------------------------------------------------------
# Model-free conditions
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Model conditions
# --------------------------------------------------------------------------------------------------


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


@torch.no_grad()
def ask_when(adapter: Adapter, clip: np.ndarray, query: str, prompt: str, max_new_tokens: int) -> str:
    """Greedy answer of the unsteered model to the direct localization question."""
    batch = adapter.encode([clip], [prompt.format(query=query)])
    out = adapter.model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
    new = out[0, batch["input_ids"].shape[1] :]
    return str(adapter.tokenizer.decode(new, skip_special_tokens=True)).strip()


def profile_readout(adapter: Adapter, profile: Profile, config: LocalizeConfig) -> Readout:
    """Peak and interval of the rise (Δ) of ``profile``, with the localize readout settings."""
    return read_out(
        profile.delta, adapter.token_s, config.smooth_s, config.interval, config.fraction, config.window_s
    )


def attention_stats(profile: Profile, gt: tuple[float, float], token_s: float) -> dict[str, float | None]:
    """Share of audio attention inside the queried event and profile entropy, for the profile and its base."""
    out: dict[str, float | None] = {}
    for suffix, values in (("", profile.steered), ("_base", profile.base)):
        clipped = np.clip(values, 0.0, None)  # reduced-precision noise must not make a share negative
        out[f"attn_share{suffix}"] = _finite_or_none(attention_share(clipped, profile.time_s, gt, token_s))
        out[f"attn_entropy{suffix}"] = _finite_or_none(profile_entropy(clipped))
    return out


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


# --------------------------------------------------------------------------------------------------
# The work unit
# --------------------------------------------------------------------------------------------------


def _prediction_fields(readout: Readout) -> dict[str, Any]:
    return {
        "peak_s": readout.peak_s,
        "interval_s": list(readout.interval_s) if readout.interval_s is not None else None,
    }


class _Clips:
    """Lazily loaded audio of one scene: at the scene's own rate (model-free) and the model's rate."""

    def __init__(self, scene: Scene, manifest_dir: Path, adapter: Adapter | None) -> None:
        self.path = scene.audio_path(manifest_dir)
        self.scene = scene
        self.adapter = adapter
        self._native: np.ndarray | None = None
        self._model: np.ndarray | None = None
        self._session: ClipSession | None = None

    @property
    def native(self) -> np.ndarray:
        if self._native is None:
            self._native, _ = load_audio(self.path, self.scene.sample_rate)
        return self._native

    @property
    def model(self) -> np.ndarray:
        if self._model is None:
            assert self.adapter is not None
            self._model, _ = prepare_audio(self.adapter, self.path)
        return self._model

    def session(self, config: LocalizeConfig) -> ClipSession | None:
        """The clip's audio prefix, computed once and shared by every condition that can use it."""
        if not uses_shared_prefix(config):
            return None
        if self._session is None:
            assert self.adapter is not None
            self._session = clip_session(self.adapter, self.model, config)
        return self._session


def _run_condition(
    condition: str,
    adapter: Adapter | None,
    scene: Scene,
    index: int,
    clips: _Clips,
    config: BenchConfig,
    shared: dict[int, tuple[ClipProfiles, int]] | None = None,
) -> dict[str, Any]:
    """The condition-specific fields of one row (prediction plus extras).

    ``shared`` maps an event index to the clip's shared-prefix results (and the query's index in them);
    when present, the steered and prompted conditions read their profiles from it.
    """
    event = scene.events[index]
    gt = (event.onset_s, event.offset_s)
    if condition == "random":
        return _prediction_fields(
            random_prediction(item_rng(config.seed, scene.scene_id, event.query), scene.duration_s)
        )
    if condition == "energy":
        return _prediction_fields(energy_prediction(clips.native, scene.sample_rate, config.energy_window_s))
    if adapter is None:
        raise WTLError(f"condition {condition!r} needs a model (--model)")
    loc = config.localize
    assert loc.layers is not None
    clip = clips.model
    if condition == "direct":
        answer = ask_when(adapter, clip, event.query, config.direct_prompt, config.max_new_tokens)
        parsed = parse_time_answer(answer, scene.duration_s)
        readout = Readout(None, None, None) if parsed is None else Readout(sum(parsed) / 2, parsed, None)
        return {**_prediction_fields(readout), "parse_failed": parsed is None, "answer": answer}
    if shared is not None and index in shared and condition in ("steered", "prompted"):
        many, i = shared[index]
        if condition == "steered":
            profile = many.results[i].profile
        else:
            base = many.prompted_base
            profile = Profile(adapter.time_axis(base.size), base, many.prompted[i])
    elif condition == "prompted":
        profile = prompted_profiles(adapter, clip, event.query, loc, config.prompted_template)
    elif condition == "steered":
        vector = instruction_vector(
            adapter,
            clip,
            event.query,
            loc.layers,
            loc.read_positions,
            loc.instructed_templates,
            loc.neutral_templates,
        )
        profile = steered_profiles(adapter, clip, vector, loc, clips.session(loc))
    elif condition == "audio-steered":
        rng = item_rng(config.seed, scene.scene_id, event.query)
        without = erase_event(clip, adapter.sample_rate, scene.events, index, rng)
        vector = audio_vector(adapter, clip, without, loc.layers, loc.prompt, loc.read_positions, event.query)
        profile = steered_profiles(adapter, clip, vector, loc, clips.session(loc))
    else:
        raise WTLError(f"unknown condition {condition!r}; choose from {', '.join(CONDITIONS)}")
    readout = profile_readout(adapter, profile, loc)
    fields = {**_prediction_fields(readout), **attention_stats(profile, gt, adapter.token_s)}
    if config.save_profiles:
        fields["profile"] = {
            "time_s": np.round(profile.time_s, 6).tolist(),
            "base": profile.base.astype(np.float32).tolist(),
            "steered": profile.steered.astype(np.float32).tolist(),
            "delta": profile.delta.astype(np.float32).tolist(),
        }
    return fields


def _shared_profiles(
    adapter: Adapter | None,
    clips: _Clips,
    events: Sequence[tuple[int, Event]],
    conditions: Sequence[str],
    config: BenchConfig,
) -> tuple[dict[int, tuple[ClipProfiles, int]] | None, float]:
    """Steered and prompted profiles of every query of the clip from one shared audio prefix, if possible.

    Returns the per-event lookup (None when the shared engine does not apply) and the seconds it took
    per (query, condition) that uses it.
    """
    loc = config.localize
    users = [c for c in conditions if c in ("steered", "prompted")]
    if (
        adapter is None
        or not users
        or not uses_shared_prefix(loc)
        or ("prompted" in users and config.prompted_template != loc.instructed_templates[0])
    ):
        return None, 0.0
    started = time.perf_counter()
    many = localize_many(
        adapter, clips.model, [event.query for _, event in events], loc, session=clips.session(loc)
    )
    per_row = (time.perf_counter() - started) / max(1, len(events) * len(users))
    return {index: (many, i) for i, (index, _) in enumerate(events)}, per_row


def run_unit(
    adapter: Adapter | None,
    scene: Scene,
    manifest_dir: str | os.PathLike[str],
    conditions: Sequence[str],
    config: BenchConfig,
) -> list[dict[str, Any]]:
    """All rows of one scene: every selected query × every condition. No side effects (no writes).

    ``adapter`` may be None when every condition is model-free. Rows come in (query, condition) order.
    """
    names = parse_conditions(conditions)
    if adapter is None and needs_model(names):
        raise WTLError(f"conditions {', '.join(needs_model(names))} need a model (--model)")
    cfg = config.resolved(adapter)
    clips = _Clips(scene, Path(manifest_dir), adapter)
    settings = {c: condition_config(c, cfg) for c in names}
    events = select_events(scene, cfg)
    shared, shared_s = _shared_profiles(adapter, clips, events, names, cfg)
    rows: list[dict[str, Any]] = []
    for index, event in events:
        for condition in names:
            started = time.perf_counter()
            fields = _run_condition(condition, adapter, scene, index, clips, cfg, shared)
            if shared is not None and condition in ("steered", "prompted"):
                started -= shared_s  # its share of the clip's one shared-prefix computation
            rows.append(
                {
                    "scene_id": scene.scene_id,
                    "query": event.query,
                    "label": event.label,
                    "condition": condition,
                    "gt": [event.onset_s, event.offset_s],
                    "gt_active": [event.active[0], event.active[1]],
                    **fields,
                    "duration_s": scene.duration_s,
                    "position": event.position,
                    "event_index": index,
                    "is_target": index == scene.target,
                    "model": None if condition in MODEL_FREE or adapter is None else adapter.name,
                    "config_hash": config_hash(condition, settings[condition]),
                    "config": settings[condition],
                    "elapsed_s": round(time.perf_counter() - started, 4),
                }
            )
    return rows


# --------------------------------------------------------------------------------------------------
# Append-only results files
# --------------------------------------------------------------------------------------------------

RowKey = tuple[str, str, str]


def row_key(row: Mapping[str, Any]) -> RowKey:
    """(scene_id, query, condition): the identity of a results row."""
    return (str(row["scene_id"]), str(row["query"]), str(row["condition"]))


ROW_FIELDS = ("scene_id", "query", "condition")


def parse_results(
    data: bytes, path: Path, required: Sequence[str] = ROW_FIELDS
) -> tuple[list[dict[str, Any]], int]:
    """Rows of a JSON-lines file and the byte length of its complete lines.

    A trailing segment without a newline is a torn write: it is ignored (and its length excluded).
    A complete line that is not a JSON object with the ``required`` fields is a DataError naming the
    file and line.
    """
    end = data.rfind(b"\n") + 1
    rows: list[dict[str, Any]] = []
    for lineno, line in enumerate(data[:end].split(b"\n")[:-1], start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise DataError(f"{path}: line {lineno} is not valid JSON; fix or remove it") from None
        if not isinstance(row, dict) or any(k not in row for k in required):
            need = f" with {', '.join(required)}" if required else ""
            raise DataError(f"{path}: line {lineno} is not a JSON object{need}")
        rows.append(row)
    return rows, end


def read_results(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of a results file (read only; a torn last line is ignored). DataError names a corrupt line."""
    source = Path(path)
    if not source.is_file():
        raise DataError(f"results file {source} does not exist")
    rows, _ = parse_results(source.read_bytes(), source)
    return rows


def read_merged(paths: Sequence[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """Rows of one results file, or of the shards of one run (repeats dropped, mixed runs refused)."""
    if not paths:
        raise WTLError("no results file given")
    return merge_rows([(Path(p), read_results(p)) for p in paths])[0]


def check_resumable(
    rows: Sequence[Mapping[str, Any]], path: Path, hashes: Mapping[str, str], model: str | None
) -> set[RowKey]:
    """Keys already done; refuses rows of the same condition made with another configuration or model."""
    done: set[RowKey] = set()
    for i, row in enumerate(rows, start=1):
        key = row_key(row)
        if key in done:
            raise DataError(
                f"{path}: row {i} repeats scene {key[0]!r}, query {key[1]!r}, condition {key[2]!r}"
            )
        done.add(key)
        cond = key[2]
        if cond in hashes and row.get("config_hash") != hashes[cond]:
            raise DataError(
                f"{path}: row {i} ({cond}) was computed with another configuration "
                f"({row.get('config_hash')} vs {hashes[cond]}); use the same options or another --out"
            )
        if cond in hashes and cond not in MODEL_FREE and row.get("model") != model:
            raise DataError(
                f"{path}: row {i} ({cond}) was computed with model {row.get('model')!r}, not {model!r}; "
                f"use another --out"
            )
    return done


@contextlib.contextmanager
def open_jsonl(
    path: Path, required: Sequence[str] = ROW_FIELDS
) -> Iterator[tuple[IO[bytes], list[dict[str, Any]]]]:
    """Open a JSON-lines file for appending under an exclusive lock, after dropping a torn last line.

    Yields the handle and the rows already present. A corrupt complete line raises before anything is
    changed; the lock is taken before reading, so two runs never interleave their appends.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as handle:
        _lock(handle, path)
        handle.seek(0)
        existing = handle.read()
        rows, complete = parse_results(existing, path, required)
        if complete < len(existing):
            handle.truncate(complete)
            handle.flush()
            os.fsync(handle.fileno())
        yield handle, rows


def _lock(handle: IO[bytes], path: Path) -> None:
    """Take an exclusive advisory lock (POSIX); another run holding it is a clear error, not a wait."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory lock
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise WTLError(f"{path} is being written by another run") from None


def append_rows(handle: IO[bytes], rows: Sequence[Mapping[str, Any]]) -> None:
    """Append whole lines in one write, then flush and fsync: a crash leaves at most a torn last line."""
    if not rows:
        return
    data = b"".join(json.dumps(r, ensure_ascii=False, allow_nan=False).encode() + b"\n" for r in rows)
    handle.write(data)
    handle.flush()
    os.fsync(handle.fileno())


# --------------------------------------------------------------------------------------------------
# The runner
# --------------------------------------------------------------------------------------------------


@dataclass
class RunReport:
    """What a run did: units computed and skipped, rows written, rows present at the end."""

    units_run: int
    units_skipped: int
    rows_written: int
    rows_total: int
    seconds: float


ProgressFn = Callable[[int, str], None]


def unit_keys(scene: Scene, conditions: Sequence[str], config: BenchConfig) -> list[RowKey]:
    """The row keys one unit produces."""
    return [(scene.scene_id, e.query, c) for _, e in select_events(scene, config) for c in conditions]


def run_bench(
    adapter: Adapter | None,
    scenes: Sequence[Scene],
    manifest_dir: str | os.PathLike[str],
    conditions: Sequence[str],
    config: BenchConfig,
    out: str | os.PathLike[str],
    progress: bool = True,
) -> RunReport:
    """Run every scene unit not already in ``out``, appending each unit's rows atomically.

    Resuming: rows present (by scene, query, condition) are skipped; a torn last line is dropped first.
    """
    names = parse_conditions(conditions)
    if adapter is None and needs_model(names):
        raise WTLError(f"conditions {', '.join(needs_model(names))} need a model (--model)")
    cfg = config.resolved(adapter)
    hashes = {c: config_hash(c, condition_config(c, cfg)) for c in names}
    path = Path(out)
    started = time.perf_counter()
    written = run = skipped = 0
    with open_jsonl(path) as (handle, existing):
        done = check_resumable(existing, path, hashes, adapter.name if adapter is not None else None)
        todo: list[tuple[Scene, set[RowKey]]] = []
        for scene in scenes:
            missing = {k for k in unit_keys(scene, names, cfg) if k not in done}
            if missing:
                todo.append((scene, missing))
            else:
                skipped += 1
        with progress_bar(progress, len(todo), "bench") as advance:
            for scene, missing in todo:
                wanted = [c for c in names if any(k[2] == c for k in missing)]
                rows = [
                    r for r in run_unit(adapter, scene, manifest_dir, wanted, cfg) if row_key(r) in missing
                ]
                append_rows(handle, rows)
                written += len(rows)
                run += 1
                advance(1, scene.scene_id)
        total = len(existing) + written
    return RunReport(run, skipped, written, total, time.perf_counter() - started)


@contextlib.contextmanager
def progress_bar(enabled: bool, total: int, description: str) -> Iterator[ProgressFn]:
    """A rich progress bar on stderr (or nothing); yields ``advance(n, label)``."""
    if not enabled or total == 0:
        yield lambda _n, _label: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[label]}"),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total, label="")
        yield lambda n, label: bar.update(task, advance=n, label=label)


# --------------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------------


def summary_tables(rows: Sequence[Mapping[str, Any]], fmt: str = "markdown", n_boot: int = 2000) -> str:
    """Per-condition table (plus the random baseline's analytic expectation), breakdown by target
    position, and paired tests vs steered when present."""
    from .metrics import (
        breakdown_by_position,
        curve_scores,
        hit_rate_by_label,
        paired_tests,
        random_hit_expectation,
        summarize,
    )

    if not rows:
        raise DataError("the results file has no rows")
    if fmt not in ("markdown", "csv"):
        raise WTLError(f"unknown format {fmt!r}; choose markdown or csv")
    try:
        table = summarize(rows, n_boot=n_boot)
        items = list({(str(r["scene_id"]), str(r["query"])): r for r in rows}.values())
        table.append(
            {
                "condition": "random (expected)",
                "n": len(items),
                "hit_rate": 100.0 * random_hit_expectation(items),
            }
        )
        sections = [
            ("Localization by condition", table),
            ("Hit rate by target position", breakdown_by_position(rows, n_boot=n_boot)),
        ]
        if len({str(r.get("label")) for r in rows}) > 1:
            sections.append(("Hit rate (%) by event class", hit_rate_by_label(rows)))
        if "steered" in {str(r["condition"]) for r in rows} and len({str(r["condition"]) for r in rows}) > 1:
            sections.append(("Paired tests vs steered", paired_tests(rows, "steered")))
        curves = curve_scores(rows)
        if curves:
            sections.append(("Δ curves as detectors (collar F1 at the best threshold, PSDS)", curves))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"malformed results rows ({type(exc).__name__}: {exc})") from None
    parts = []
    for title, data in sections:
        body = format_table(data, fmt)
        parts.append(f"## {title}\n\n{body}" if fmt == "markdown" else body)
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------------
# Sweep
# --------------------------------------------------------------------------------------------------


def split_dev_test(scenes: Sequence[Scene], dev_fraction: float) -> tuple[list[Scene], list[Scene]]:
    """Deterministic split by a hash of the scene id (stable when scenes are added); both parts non-empty."""
    if not 0.0 < dev_fraction < 1.0:
        raise WTLError(f"--dev-fraction must be between 0 and 1, got {dev_fraction}")
    if len(scenes) < 2:
        raise DataError("a sweep needs at least 2 scenes (one for dev, one for test)")
    ranked = sorted(scenes, key=lambda s: hashlib.sha256(s.scene_id.encode()).hexdigest())
    n_dev = min(len(scenes) - 1, max(1, round(dev_fraction * len(scenes))))
    dev_ids = {s.scene_id for s in ranked[:n_dev]}
    return [s for s in scenes if s.scene_id in dev_ids], [s for s in scenes if s.scene_id not in dev_ids]


@dataclass
class SweepReport:
    """The grid results on dev, the chosen setting, and the held-out run.

    With a shard whose grid share is done while other shards' grid points are still missing, ``best``
    and ``run`` are None and ``missing`` counts the points to wait for.
    """

    grid: list[dict[str, Any]]
    best: dict[str, Any] | None
    dev_ids: list[str]
    test_ids: list[str]
    run: RunReport | None
    missing: int = 0
    results_path: Path | None = None


def _grid_point(
    layers: Sequence[int], alpha: float, config: BenchConfig, adapter: Adapter
) -> tuple[BenchConfig, str]:
    cfg = replace(
        config, localize=replace(config.localize, layers=list(layers), probe_layers=None, alpha=alpha)
    )
    cfg = cfg.resolved(adapter)
    return cfg, config_hash("steered", condition_config("steered", cfg))


def _grid_lines(
    lines: Sequence[dict[str, Any]], path: Path, model: str, dev_hash: str
) -> dict[str, dict[str, Any]]:
    """Grid points already evaluated, by config hash; lines from another model or dev split are refused."""
    out: dict[str, dict[str, Any]] = {}
    for i, line in enumerate(lines, start=1):
        if line.get("model") != model or line.get("dev_hash") != dev_hash:
            raise DataError(
                f"{path}: line {i} was computed with another model or dev split; use another --out"
            )
        out[str(line.get("config_hash"))] = line
    return out


def _all_grid_lines(out: Path, model: str, dev_hash: str) -> dict[str, dict[str, Any]]:
    """Grid points evaluated by any run or shard in ``out`` (sweep.jsonl and sweep.K-of-N.jsonl)."""
    found: dict[str, dict[str, Any]] = {}
    for path in shard_files(out / SWEEP_NAME):
        rows, _ = parse_results(path.read_bytes(), path, required=())
        found.update(_grid_lines(rows, path, model, dev_hash))
    return found


def sweep(
    adapter: Adapter,
    scenes: Sequence[Scene],
    manifest_dir: str | os.PathLike[str],
    layers_grid: Sequence[Sequence[int]],
    alphas: Sequence[float],
    dev_fraction: float,
    conditions: Sequence[str],
    config: BenchConfig,
    out_dir: str | os.PathLike[str],
    progress: bool = True,
    shard: Shard | None = None,
) -> SweepReport:
    """Pick (layers, alpha) by steered hit rate on dev, then run ``conditions`` on the test split only.

    Writes ``sweep.jsonl`` (one line per grid point, resumable) and ``results.jsonl`` (test rows).
    Ties are broken by mean IoU, then by grid order. With ``shard`` K/N, this process evaluates every N-th
    grid point (into ``sweep.K-of-N.jsonl``); once every shard's points are in ``out_dir`` it runs every
    N-th test scene (into ``results.K-of-N.jsonl``). Until then it returns with ``missing`` > 0: rerun
    it when the other shards are done (finished points are not recomputed).
    """
    from .metrics import summarize

    if not layers_grid or not alphas:
        raise WTLError("the sweep grid is empty: give --layers-grid and --alphas")
    names = parse_conditions(conditions)
    dev, test = split_dev_test(scenes, dev_fraction)
    out = Path(out_dir)
    points = [_grid_point(layers, alpha, config, adapter) for layers in layers_grid for alpha in alphas]
    sweep_path = shard_path(out / SWEEP_NAME, shard)
    dev_hash = hashlib.sha256("\n".join(s.scene_id for s in dev).encode()).hexdigest()[:12]
    with open_jsonl(sweep_path, required=()) as (handle, existing):
        _grid_lines(existing, sweep_path, adapter.name, dev_hash)  # refuse a file of another run first
        by_hash = _all_grid_lines(out, adapter.name, dev_hash)
        todo = [(cfg, h) for cfg, h in shard_of(points, shard) if h not in by_hash]
        with progress_bar(progress, len(todo) * len(dev), "sweep (dev)") as advance:
            for cfg, h in todo:
                rows: list[dict[str, Any]] = []
                for scene in dev:
                    rows.extend(run_unit(adapter, scene, manifest_dir, ["steered"], cfg))
                    advance(1, scene.scene_id)
                s = summarize(rows, n_boot=200)[0]
                line = {
                    "layers": cfg.localize.layers,
                    "probe_layers": cfg.localize.probe_layers,
                    "alpha": cfg.localize.alpha,
                    "n": s["n"],
                    "hit_rate": s["hit_rate"],
                    "iou": s["iou"],
                    "dev_scenes": len(dev),
                    "dev_hash": dev_hash,
                    "model": adapter.name,
                    "config_hash": h,
                }
                append_rows(handle, [line])
                by_hash[h] = line
    by_hash.update(_all_grid_lines(out, adapter.name, dev_hash))  # other shards may have finished meanwhile
    dev_ids, test_ids = [s.scene_id for s in dev], [s.scene_id for s in test]
    missing = sum(h not in by_hash for _, h in points)
    if missing:
        grid_done = [by_hash[h] for _, h in points if h in by_hash]
        return SweepReport(grid_done, None, dev_ids, test_ids, None, missing)
    grid = [by_hash[h] for _, h in points]
    best_i = max(range(len(grid)), key=lambda i: (grid[i]["hit_rate"], grid[i]["iou"], -i))
    chosen_cfg = points[best_i][0]
    results_path = shard_path(out / RESULTS_NAME, shard)
    report = run_bench(
        adapter, shard_of(test, shard), manifest_dir, names, chosen_cfg, results_path, progress
    )
    return SweepReport(grid, grid[best_i], dev_ids, test_ids, report, 0, results_path)


__all__ = [
    "CONDITIONS",
    "MODEL_FREE",
    "BenchConfig",
    "RunReport",
    "SweepReport",
    "bench_config",
    "condition_config",
    "config_hash",
    "energy_prediction",
    "erase_event",
    "load_scenes",
    "parse_conditions",
    "prompted_profiles",
    "random_prediction",
    "read_merged",
    "read_results",
    "run_bench",
    "run_unit",
    "split_dev_test",
    "summary_tables",
    "sweep",
]
