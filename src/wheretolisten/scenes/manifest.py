"""The scenes manifest: Event and Scene rows, their validation, and the files that hold them.

A scenes directory holds ``manifest.jsonl`` (one :class:`Scene` per line, wav paths relative to the
directory), the DESED-style ``events.tsv`` beside it, and usually the wavs under ``audio/``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, OutputError
from ..files import check_output, write_atomic
from ..records import read_numbered
from .options import BACKGROUNDS, PLACEMENTS

POSITIONS = ("first", "middle", "last")
MANIFEST_NAME = "manifest.jsonl"
EVENTS_TSV_NAME = "events.tsv"
AUDIO_DIR_NAME = "audio"

_EPS = 1e-6
_HASH_CHUNK = 1 << 20  # audio is hashed a MiB at a time, never loaded whole
_HASH_HEX = 16


# ---- field validators -----------------------------------------------------------------------------


def _where(where: str) -> str:
    return f"{where}: " if where else ""


def _get(d: Mapping[str, Any], key: str, where: str) -> Any:
    """Fetch a required field, raising DataError naming it and the row."""
    if key not in d:
        raise DataError(f"{_where(where)}missing field {key!r}")
    return d[key]


def _as_str(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str):
        raise DataError(f"{_where(where)}field {key!r} must be a string, got {value!r}")
    return value


def _as_float(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise DataError(f"{_where(where)}field {key!r} must be a finite number, got {value!r}")
    return float(value)


def _as_int(value: Any, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(f"{_where(where)}field {key!r} must be an integer, got {value!r}")
    return value


def _as_span(value: Any, key: str, where: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise DataError(f"{_where(where)}field {key!r} must be a [start, end] pair, got {value!r}")
    start, end = (_as_float(v, key, where) for v in value)
    if end < start:
        raise DataError(f"{_where(where)}field {key!r} ends before it starts: {value!r}")
    return start, end


def _optional_float(d: Mapping[str, Any], key: str, where: str) -> float | None:
    """A finite number when the field is present (and not null), else None: fields added later."""
    value = d.get(key)
    return None if value is None else _as_float(value, key, where)


def _optional_str(d: Mapping[str, Any], key: str, where: str, choices: Sequence[str]) -> str | None:
    value = d.get(key)
    if value is None:
        return None
    if _as_str(value, key, where) not in choices:
        raise DataError(f"{_where(where)}field {key!r} must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


# ---- rows -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One placed sound event: where its audio sits, its slot, and its energy-trimmed active span.

    ``slot`` is the span the event was placed in: its equal slot, or the whole clip (free placement).
    """

    label: str
    onset_s: float
    offset_s: float
    slot: tuple[float, float]
    active: tuple[float, float]
    position: str
    query: str
    #: Gain of the event in dB relative to the synthesizer's TARGET_RMS (None: not recorded, 0 dB).
    level_db: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (spans as lists); ``level_db`` only when recorded."""
        row: dict[str, Any] = {
            "label": self.label,
            "onset_s": self.onset_s,
            "offset_s": self.offset_s,
            "slot": [self.slot[0], self.slot[1]],
            "active": [self.active[0], self.active[1]],
            "position": self.position,
            "query": self.query,
        }
        if self.level_db is not None:
            row["level_db"] = self.level_db
        return row

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "") -> Event:
        """Parse and type-check one event; ``where`` prefixes error messages (file/row)."""
        if not isinstance(d, Mapping):
            raise DataError(f"{_where(where)}an event must be an object, got {d!r}")
        position = _as_str(_get(d, "position", where), "position", where)
        if position not in POSITIONS:
            raise DataError(f"{_where(where)}field 'position' must be one of {POSITIONS}, got {position!r}")
        onset = _as_float(_get(d, "onset_s", where), "onset_s", where)
        offset = _as_float(_get(d, "offset_s", where), "offset_s", where)
        if offset <= onset:
            raise DataError(f"{_where(where)}event offset_s={offset} is not after onset_s={onset}")
        return cls(
            label=_as_str(_get(d, "label", where), "label", where),
            onset_s=onset,
            offset_s=offset,
            slot=_as_span(_get(d, "slot", where), "slot", where),
            active=_as_span(_get(d, "active", where), "active", where),
            position=position,
            query=_as_str(_get(d, "query", where), "query", where),
            level_db=_optional_float(d, "level_db", where),
        )


@dataclass
class Scene:
    """One synthesized clip and its ground truth; ``path`` is relative to the manifest's directory."""

    scene_id: str
    path: str
    duration_s: float
    sample_rate: int
    events: list[Event]
    target: int
    seed: int
    bank: str = ""
    #: The layout (see ``scenes.options``), recorded for scenes made with non-default options only;
    #: None in older manifests and for the original slot scenes.
    placement: str | None = None
    #: Largest fraction of an event that overlaps others (None or 0: events never overlap).
    max_overlap: float | None = None
    background: str | None = None
    #: Background level in dB relative to TARGET_RMS (None when there is no background).
    background_db: float | None = None
    #: Gain the peak limiter applied to the whole mix, dB (<= 0); event and background levels are
    #: relative to TARGET_RMS before it.
    gain_db: float | None = None
    #: Events may overlap and a label may repeat (real recordings); synthesized scenes keep them apart.
    overlaps: bool = False

    @property
    def target_event(self) -> Event:
        """The designated target event."""
        return self.events[self.target]

    def audio_path(self, manifest_dir: str | os.PathLike[str]) -> Path:
        """Resolve the wav path against the manifest's directory (absolute paths stay as they are)."""
        return Path(manifest_dir) / self.path

    def content_hash(self, manifest_dir: str | os.PathLike[str]) -> str:
        """Short stable hash (16 hex digits) of what a result is computed from: this row and its audio.

        Covers the events, duration, sample rate, target and path, then the audio file's bytes (read in
        chunks); scene_id, seed and bank are names, not content, and are left out.
        """
        content = {
            "path": self.path,
            "duration_s": self.duration_s,
            "sample_rate": self.sample_rate,
            "target": self.target,
            "events": [e.to_dict() for e in self.events],
        }
        digest = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode())
        digest.update(b"\0")
        wav = self.audio_path(manifest_dir)
        try:
            with wav.open("rb") as handle:
                for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
                    digest.update(chunk)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise DataError(f"{wav}: cannot read the audio of scene {self.scene_id!r} ({reason})") from None
        return digest.hexdigest()[:_HASH_HEX]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, one manifest row: the fields in order, the layout ones only when set."""
        row = {f.name: getattr(self, f.name) for f in fields(self)}
        row["events"] = [e.to_dict() for e in self.events]
        row["overlaps"] = True if self.overlaps else None
        return {key: value for key, value in row.items() if value is not None}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "") -> Scene:
        """Parse and type-check one manifest row; ``where`` prefixes error messages (file/row)."""
        if not isinstance(d, Mapping):
            raise DataError(f"{_where(where)}a scene must be a JSON object, got {type(d).__name__}")
        raw_events = _get(d, "events", where)
        if not isinstance(raw_events, list) or not raw_events:
            raise DataError(f"{_where(where)}field 'events' must be a non-empty list")
        events = [Event.from_dict(e, f"{where} event {k}".strip()) for k, e in enumerate(raw_events)]
        target = _as_int(_get(d, "target", where), "target", where)
        if not 0 <= target < len(events):
            raise DataError(f"{_where(where)}target={target} is not an index into {len(events)} events")
        sample_rate = _as_int(_get(d, "sample_rate", where), "sample_rate", where)
        duration = _as_float(_get(d, "duration_s", where), "duration_s", where)
        if sample_rate <= 0 or duration <= 0:
            raise DataError(f"{_where(where)}sample_rate and duration_s must be positive")
        bank = d.get("bank", "")
        max_overlap = _optional_float(d, "max_overlap", where)
        if max_overlap is not None and not 0 <= max_overlap < 1:
            raise DataError(f"{_where(where)}field 'max_overlap' must be in [0, 1), got {max_overlap!r}")
        overlaps = d.get("overlaps", False)
        if not isinstance(overlaps, bool):
            raise DataError(f"{_where(where)}field 'overlaps' must be true or false, got {overlaps!r}")
        return cls(
            scene_id=_as_str(_get(d, "scene_id", where), "scene_id", where),
            path=_as_str(_get(d, "path", where), "path", where),
            duration_s=duration,
            sample_rate=sample_rate,
            events=events,
            target=target,
            seed=_as_int(_get(d, "seed", where), "seed", where),
            bank=_as_str(bank, "bank", where),
            placement=_optional_str(d, "placement", where, PLACEMENTS),
            max_overlap=max_overlap,
            background=_optional_str(d, "background", where, BACKGROUNDS),
            background_db=_optional_float(d, "background_db", where),
            gain_db=_optional_float(d, "gain_db", where),
            overlaps=overlaps,
        )


def position_name(index: int, n_events: int) -> str:
    """'first' for index 0, 'last' for index n-1, 'middle' for the inner ones."""
    if index == 0:
        return "first"
    return "last" if index == n_events - 1 else "middle"


# ---- writing --------------------------------------------------------------------------------------


def _manifest_text(scenes: Iterable[Scene]) -> str:
    """Strict JSON lines: a NaN or infinite number is refused, never written as a bare ``NaN``."""
    lines = []
    for s in scenes:
        try:
            lines.append(json.dumps(s.to_dict(), ensure_ascii=False, allow_nan=False) + "\n")
        except ValueError:
            raise DataError(f"scene {s.scene_id!r} holds a number that is not finite (NaN or inf)") from None
    return "".join(lines)


def _events_tsv_text(scenes: Iterable[Scene]) -> str:
    """DESED-style ground truth (placement onset/offset of every event), one row per event."""
    rows = ["filename\tonset\toffset\tevent_label"]
    for s in scenes:
        name = Path(s.path).name
        rows.extend(f"{name}\t{e.onset_s}\t{e.offset_s}\t{e.label}" for e in s.events)
    return "\n".join(rows) + "\n"


def check_manifest_output(out_dir: str | os.PathLike[str], inputs: Sequence[Path] = ()) -> Path:
    """Refuse, creating nothing, a directory where manifest.jsonl and events.tsv cannot be written."""
    out = check_output(out_dir, directory=True)
    for name in (MANIFEST_NAME, EVENTS_TSV_NAME):
        check_output(out / name, inputs=inputs)
    return out


def check_import_output(out: Path, inputs: Sequence[Path], overwrite: bool) -> None:
    """Refuse an output folder that cannot be written, is an input, or holds a manifest (unless
    ``overwrite``): an import never replaces scenes unasked, its own earlier ones included."""
    check_manifest_output(out, inputs=list(inputs))
    refuse_held_scenes(out, overwrite)


def refuse_held_scenes(out: Path, overwrite: bool, audio: bool = False) -> None:
    """Refuse (unless ``overwrite``) an output folder that already holds a manifest or an events.tsv, or
    with ``audio`` any file in its audio/ folder: scenes (a data set's audio) are never replaced unasked."""
    held = [name for name in (MANIFEST_NAME, EVENTS_TSV_NAME) if (out / name).exists()]
    audio_dir = out / AUDIO_DIR_NAME
    if audio and audio_dir.is_dir() and any(audio_dir.iterdir()):
        held.append(f"audio files in {AUDIO_DIR_NAME}/")
    if held and not overwrite:
        raise OutputError(
            f"out folder {out} already holds {', '.join(held)}; pass overwrite=True to replace them, or "
            "choose another folder"
        )


def check_audio_dir(audio_dir: str | os.PathLike[str]) -> None:
    """The folder an import reads its audio from exists and is a folder (one DataError line otherwise)."""
    folder = Path(audio_dir)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise DataError(f"audio folder {folder} {what}")


def write_manifest(scenes: Sequence[Scene], out_dir: str | os.PathLike[str]) -> Path:
    """Write ``out_dir/manifest.jsonl`` and the DESED-style ``events.tsv`` beside it, atomically."""
    out = Path(out_dir)
    write_atomic(out / MANIFEST_NAME, _manifest_text(scenes))
    write_atomic(out / EVENTS_TSV_NAME, _events_tsv_text(scenes))
    return out / MANIFEST_NAME


# ---- loading --------------------------------------------------------------------------------------


def _check_scene(scene: Scene, manifest_dir: Path, where: str) -> None:
    """Consistency checks of one parsed row: wav exists, events inside the clip, in slots, no overlaps
    (unless the scene says its events overlap)."""
    wav = scene.audio_path(manifest_dir)
    if not wav.is_file():
        raise DataError(f"{where}: audio file {wav} does not exist")
    for k, e in enumerate(scene.events):
        if e.onset_s < -_EPS or e.offset_s > scene.duration_s + _EPS:
            raise DataError(
                f"{where}: event {k} ({e.label}) [{e.onset_s}, {e.offset_s}] "
                f"is outside [0, {scene.duration_s}]"
            )
        if e.active[0] < e.onset_s - _EPS or e.active[1] > e.offset_s + _EPS:
            raise DataError(f"{where}: event {k} ({e.label}) active span {e.active} is outside onset/offset")
    if scene.max_overlap:
        for k, e in enumerate(scene.events):
            share = overlap_share(e, [o for j, o in enumerate(scene.events) if j != k])
            if share > scene.max_overlap + _EPS:
                raise DataError(
                    f"{where}: event {k} ({e.label}) overlaps others by {share:.3f} of its length, "
                    f"more than max_overlap={scene.max_overlap}"
                )
        return
    if scene.overlaps:  # real recordings: overlapping and repeated events are the ground truth
        return
    ordered = sorted(scene.events, key=lambda e: e.onset_s)
    for prev, nxt in itertools.pairwise(ordered):
        if nxt.onset_s < prev.offset_s - _EPS:
            raise DataError(
                f"{where}: overlapping ground truth: {prev.label} [{prev.onset_s}, {prev.offset_s}] and "
                f"{nxt.label} [{nxt.onset_s}, {nxt.offset_s}]"
            )


def overlap_share(event: Event, others: Sequence[Event]) -> float:
    """Fraction of ``event``'s [onset, offset) covered by the union of the ``others``."""
    spans = sorted(
        (max(event.onset_s, o.onset_s), min(event.offset_s, o.offset_s))
        for o in others
        if o.onset_s < event.offset_s and o.offset_s > event.onset_s
    )
    covered, reach = 0.0, event.onset_s
    for start, stop in spans:
        if stop > reach:
            covered += stop - max(start, reach)
            reach = stop
    return covered / (event.offset_s - event.onset_s)


def manifest_file(path: str | os.PathLike[str]) -> Path:
    """The manifest a path names: the path itself, or ``manifest.jsonl`` in it when it is a directory."""
    manifest = Path(path)
    return manifest / MANIFEST_NAME if manifest.is_dir() else manifest


def load_manifest(path: str | os.PathLike[str]) -> list[Scene]:
    """Read and validate a manifest.jsonl (or a directory holding one); DataError names the bad row."""
    manifest = manifest_file(path)
    if not manifest.is_file():
        raise DataError(f"manifest {manifest} does not exist")
    scenes: list[Scene] = []
    seen: dict[str, int] = {}
    rows, _ = read_numbered(manifest, what="manifest", allow_torn=False)
    for lineno, row in rows:
        where = f"{manifest}: line {lineno}"
        if isinstance(row, dict) and isinstance(row.get("scene_id"), str):
            where += f" (scene {row['scene_id']!r})"
        scene = Scene.from_dict(row, where)
        if scene.scene_id in seen:
            raise DataError(f"{where}: duplicate scene_id, first seen on line {seen[scene.scene_id]}")
        seen[scene.scene_id] = lineno
        _check_scene(scene, manifest.parent, where)
        scenes.append(scene)
    if not scenes:
        raise DataError(f"manifest {manifest} has no scenes")
    return scenes
