"""The scenes a benchmark runs on: the manifest read and checked before anything is computed."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..audio import audio_info
from ..errors import AudioError, DataError, OptionError
from ..scenes import MANIFEST_NAME, Event, Scene, load_manifest
from .config import BenchConfig


def select_events(scene: Scene, config: BenchConfig) -> list[tuple[int, Event]]:
    """The (index, event) pairs queried in ``scene``: the target, all events, or the one named by --query.

    A query with several intervals (a repeated sound) is asked once; its rows list them all
    (:func:`query_intervals`)."""
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
    if config.queries == "all":  # each query text once (its first event): a repeated sound is one query
        first = {e.query: k for k, e in reversed(list(enumerate(scene.events)))}
        return [(k, scene.events[k]) for k in sorted(first.values())]
    if config.queries == "classes":  # each label once (its first event): detection of every occurrence
        first = {e.label: k for k, e in reversed(list(enumerate(scene.events)))}
        return [(k, scene.events[k]) for k in sorted(first.values())]
    raise OptionError(f"unknown queries mode {config.queries!r}; choose target, all or classes")


def query_intervals(scene: Scene, index: int) -> list[list[float]] | None:
    """Every interval of event ``index``'s query text in ``scene`` (by onset), or None when it has one."""
    query = scene.events[index].query
    spans = sorted([e.onset_s, e.offset_s] for e in scene.events if e.query == query)
    return spans if len(spans) > 1 else None


#: Manifest duration and wav duration may differ by this much (sample rounding, resampling).
DURATION_TOLERANCE_S = 0.05


def manifest_path(scenes: str | os.PathLike[str]) -> Path:
    """A manifest.jsonl path, or the one inside a scenes directory."""
    path = Path(scenes)
    return path / MANIFEST_NAME if path.is_dir() else path


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
            info = audio_info(wav)
        except AudioError as exc:
            raise DataError(f"{where}: cannot read audio file ({exc})") from None
        if abs(info.duration_s - scene.duration_s) > DURATION_TOLERANCE_S:
            raise DataError(
                f"{where}: {wav} lasts {info.duration_s:.3f} s but the manifest says {scene.duration_s:.3f} s"
            )


def load_scenes(
    scenes: str | os.PathLike[str], config: BenchConfig, limit: int | None = None
) -> tuple[list[Scene], Path]:
    """Read, limit and check the manifest; returns the scenes and the manifest's directory."""
    manifest = manifest_path(scenes)
    loaded = load_manifest(manifest)
    if limit is not None:
        if limit < 1:
            raise OptionError(f"the scene limit must be at least 1, got {limit}")
        loaded = loaded[:limit]
    check_scenes(loaded, manifest, config)
    return loaded, manifest.parent
