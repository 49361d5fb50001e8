"""Ground truth for an audio file: the scene of a manifest that lists it (for figures of any clip)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError, WTLError
from .manifest import MANIFEST_NAME, Scene, load_manifest, manifest_file

#: One ground-truth event: (label, onset_s, offset_s).
GTSpan = tuple[str, float, float]


def gt_from_scene(scene: Scene) -> list[GTSpan]:
    """All events of a scene as (label, onset, offset)."""
    return [(e.label, e.onset_s, e.offset_s) for e in scene.events]


def find_scene_for_audio(audio: str | os.PathLike[str], manifest: str | os.PathLike[str]) -> Scene:
    """The scene of ``manifest`` whose wav is ``audio`` (by resolved path); DataError when none is."""
    path = Path(manifest)
    root = path if path.is_dir() else path.parent
    target = Path(audio).resolve()
    for scene in load_manifest(path):
        if scene.audio_path(root).resolve() == target:
            return scene
    raise DataError(f"{audio} is not one of the scenes of {path if path.is_file() else path / MANIFEST_NAME}")


def auto_scene_for_audio(audio: str | os.PathLike[str]) -> Scene | None:
    """The scene of ``AUDIO`` when it lies in ``DIR/audio/`` beside a valid ``DIR/manifest.jsonl``."""
    manifest = Path(audio).resolve().parent.parent / MANIFEST_NAME
    if not manifest.is_file():
        return None
    try:
        return find_scene_for_audio(audio, manifest)
    except WTLError:
        return None


def gt_manifest_read(
    audio: str | os.PathLike[str], manifest: str | os.PathLike[str] | None = None
) -> Path | None:
    """The manifest file :func:`gt_for_audio` reads for ``audio`` (None: none), so that a command can
    refuse an output that would replace it."""
    if manifest is not None:
        return manifest_file(manifest)
    auto = Path(audio).resolve().parent.parent / MANIFEST_NAME
    return auto if auto.is_file() else None


def gt_for_audio(
    audio: str | os.PathLike[str], manifest: str | os.PathLike[str] | None = None
) -> list[GTSpan]:
    """GT events of a scene wav: from ``manifest`` when given (the wav must be listed), else found
    automatically when the wav lies in ``DIR/audio/`` beside ``DIR/manifest.jsonl``; [] when unknown."""
    if manifest is not None:
        return gt_from_scene(find_scene_for_audio(audio, manifest))
    scene = auto_scene_for_audio(audio)
    return gt_from_scene(scene) if scene is not None else []
