"""Real recordings with DCASE-style annotations → a scenes manifest the benchmark runs on.

The benchmark's setting is one clip, a few sound events, each queried once: every event of a clip needs
its own label (so a query names exactly one interval) and events must not overlap. Annotated recordings
(e.g. a DESED-format ``filename onset offset event_label`` TSV beside a folder of wavs) are imported clip
by clip; a clip that does not fit is skipped with its reason, never silently changed.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..audio import audio_info
from ..errors import DataError, WTLError
from ..files import check_replace
from .manifest import (
    EVENTS_TSV_NAME,
    MANIFEST_NAME,
    Event,
    Scene,
    check_manifest_output,
    position_name,
    read_text,
    write_manifest,
)

#: Columns of a DCASE/DESED strong-label TSV.
TSV_COLUMNS = ("filename", "onset", "offset", "event_label")


@dataclass
class ImportReport:
    """What an import kept and what it skipped (file name → reason)."""

    scenes: list[Scene]
    skipped: dict[str, str] = field(default_factory=dict)
    manifest: Path | None = None


def default_query(label: str) -> str:
    """A query from a class label: 'Alarm_bell_ringing' → 'alarm bell ringing'."""
    return label.replace("_", " ").strip().lower()


def read_annotations(tsv: str | os.PathLike[str]) -> dict[str, list[tuple[float, float, str]]]:
    """Strong labels per file name from a TSV with a header naming filename, onset, offset, event_label.

    Rows without onset/offset (weak labels) are refused with the line number: they cannot be localized.
    """
    path = Path(tsv)
    if not path.is_file():
        raise DataError(f"annotation file {path} does not exist")
    reader = csv.DictReader(io.StringIO(read_text(path, "annotation file"), newline=""), delimiter="\t")
    missing = [c for c in TSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise DataError(
            f"{path}: the header must name {', '.join(TSV_COLUMNS)} (tab-separated); missing {missing}"
        )
    out: dict[str, list[tuple[float, float, str]]] = {}
    for lineno, row in enumerate(reader, start=2):
        try:
            onset, offset = float(row["onset"]), float(row["offset"])
        except (TypeError, ValueError):
            raise DataError(
                f"{path}: line {lineno} has no numeric onset/offset (weak labels cannot be localized)"
            ) from None
        if not (math.isfinite(onset) and math.isfinite(offset)) or onset < 0:
            raise DataError(
                f"{path}: line {lineno}: onset and offset must be finite numbers >= 0, got "
                f"{row['onset']!r} and {row['offset']!r}"
            )
        label = (row["event_label"] or "").strip()
        if not label or offset <= onset:
            raise DataError(f"{path}: line {lineno} needs a label and offset > onset")
        out.setdefault(row["filename"], []).append((onset, offset, label))
    if not out:
        raise DataError(f"{path} has no annotations")
    return out


def _why_not(events: list[tuple[float, float, str]], duration_s: float) -> str | None:
    """Why a clip's events do not fit the benchmark's setting, or None when they do."""
    labels = [label for _, _, label in events]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        return f"label {repeated[0]!r} occurs more than once (a query must name one interval)"
    for (_, end, a), (start, _, b) in itertools.pairwise(events):
        if start < end:
            return f"events {a!r} and {b!r} overlap"
    if events[-1][1] > duration_s + 0.05:
        return f"event {events[-1][2]!r} ends at {events[-1][1]:g} s, after the clip ({duration_s:.2f} s)"
    return None


def import_annotations(
    tsv: str | os.PathLike[str],
    audio_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    queries: Mapping[str, str] | None = None,
    overwrite: bool = False,
) -> ImportReport:
    """Write ``out_dir/manifest.jsonl`` for the annotated clips that fit, and report the others.

    Each kept clip's events are ordered by onset (first / middle / last); their query is
    ``queries[label]`` or :func:`default_query`; the target event cycles through the positions over the
    clips (sorted by name), as in synthesized scenes. Paths in the manifest are relative to ``out_dir``.
    The output is checked first (writable, not the TSV itself, no existing manifest unless
    ``overwrite``); nothing is written when no clip fits.
    """
    audio_root, out = Path(audio_dir), Path(out_dir)
    check_manifest_output(out, inputs=[Path(tsv)])
    for name in (MANIFEST_NAME, EVENTS_TSV_NAME):
        check_replace(out / name, "--out", overwrite)
    annotations = read_annotations(tsv)
    report = ImportReport([])
    for name in sorted(annotations):
        wav = audio_root / name
        try:
            info = audio_info(wav)
        except WTLError as exc:
            report.skipped[name] = f"cannot read audio: {exc}"
            continue
        duration = info.duration_s
        events = sorted(annotations[name])
        reason = _why_not(events, duration)
        if reason is not None:
            report.skipped[name] = reason
            continue
        placed = [
            Event(
                label=label,
                onset_s=onset,
                offset_s=min(offset, duration),
                slot=(onset, min(offset, duration)),
                active=(onset, min(offset, duration)),
                position=position_name(i, len(events)),
                query=(queries or {}).get(label, default_query(label)),
            )
            for i, (onset, offset, label) in enumerate(events)
        ]
        report.scenes.append(
            Scene(
                scene_id=Path(name).stem,
                path=os.path.relpath(wav.resolve(), out.resolve()),
                duration_s=duration,
                sample_rate=info.sample_rate,
                events=placed,
                target=len(report.scenes) % len(placed),
                seed=0,
                bank=f"import:{Path(tsv).name}",
            )
        )
    if report.scenes:
        report.manifest = write_manifest(report.scenes, out)
    return report


def read_query_map(path: str | os.PathLike[str]) -> dict[str, str]:
    """A JSON object {label: query text}, for labels whose default query reads badly."""
    source = Path(path)
    try:
        data = json.loads(read_text(source, "query map"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{source}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise DataError(f"{source}: expected a JSON object mapping labels to query texts")
    return {str(k): v for k, v in data.items()}


__all__ = ["ImportReport", "default_query", "import_annotations", "read_annotations", "read_query_map"]
