"""Real recordings with DCASE-style annotations → a scenes manifest the benchmark runs on.

Annotated recordings (e.g. a DESED-format ``filename onset offset event_label`` TSV beside a folder of
wavs) are imported clip by clip. Real recordings repeat and overlap sounds: a query may name several
intervals (one label, several events) and the scene is marked ``overlaps``. A clip that cannot be read is
skipped with its reason, never silently changed. The public data sets' own label files are read by
``scenes.datasets``.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..audio import AUDIO_SUFFIXES, audio_info
from ..errors import DataError, WTLError
from ..records.documents import read_text
from .manifest import Event, Scene, check_audio_dir, check_import_output, position_name, write_manifest

#: Suffixes that label files put on audio names (dropped to look for the same clip in another format).
_NAMED_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg", ".m4a", ".opus")
#: Columns of a DCASE/DESED strong-label TSV.
TSV_COLUMNS = ("filename", "onset", "offset", "event_label")


#: A query map {label: query text}, or the JSON file holding one: given as a file, it is an input of the
#: import (the output may not replace it) and is read after the output is checked.
QueryMap = Mapping[str, str] | str | os.PathLike[str]


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
    if path.is_dir():
        raise DataError(f"annotation file {path} is a directory; give the label file itself")
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


@dataclass(frozen=True)
class Annotation:
    """One labelled interval of a clip; ``query`` is the data set's own text (a phrase, a caption), or None
    when the query is made from the label."""

    onset_s: float
    offset_s: float
    label: str
    query: str | None = None


def _why_not(events: list[Annotation], duration_s: float) -> str | None:
    """Why a clip does not fit the one-interval-per-label, no-overlap setting (``single``), or None."""
    labels = [a.label for a in events]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        return f"label {repeated[0]!r} occurs more than once (a query must name one interval)"
    for a, b in itertools.pairwise(events):
        if b.onset_s < a.offset_s:
            return f"events {a.label!r} and {b.label!r} overlap"
    if events[-1].offset_s > duration_s + 0.05:
        last = events[-1]
        return f"event {last.label!r} ends at {last.offset_s:g} s, after the clip ({duration_s:.2f} s)"
    return None


def merge_repeats(events: list[Annotation]) -> list[Annotation]:
    """Intervals of one label that overlap or touch become one (a query's intervals are disjoint); sorted."""
    merged: list[Annotation] = []
    for a in sorted(events, key=lambda e: (e.label, e.onset_s, e.offset_s)):
        last = merged[-1] if merged else None
        if last is not None and last.label == a.label and a.onset_s <= last.offset_s:
            merged[-1] = Annotation(last.onset_s, max(last.offset_s, a.offset_s), a.label, last.query)
        else:
            merged.append(a)
    return sorted(merged, key=lambda e: (e.onset_s, e.offset_s, e.label))


def find_audio(audio_root: Path, names: Sequence[str]) -> Path | None:
    """The first of ``names`` under ``audio_root`` that exists, as named or with another audio suffix
    (labels often name ``.mp3`` or ``.wav`` files that were converted)."""
    for name in names:
        stem = name[: -len(Path(name).suffix)] if Path(name).suffix.lower() in _NAMED_SUFFIXES else name
        for candidate in (name, *(stem + suffix for suffix in AUDIO_SUFFIXES)):
            if (audio_root / candidate).is_file():
                return audio_root / candidate
    return None


def import_clips(
    clips: Mapping[str, list[Annotation]],
    audio_root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    source: str,
    queries: Mapping[str, str] | None = None,
    single: bool = False,
    audio_names: Callable[[str], Sequence[str]] = lambda name: [name],
) -> ImportReport:
    """Write ``out_dir/manifest.jsonl`` for the annotated clips, and report those skipped and why.

    Repeated and overlapping events are kept (the scene is marked ``overlaps``): a query with several
    intervals is one label with several events; a label's own overlapping intervals are merged. With
    ``single``, clips whose labels repeat or whose events overlap are skipped instead (the synthetic
    setting). Events are ordered by onset (first / middle / last); their query is ``queries[label]``, the
    data set's own text, or :func:`default_query`; the target cycles through the events over the clips
    (sorted by name). Events past the clip's end are cut at it (dropped, and reported, when they start
    after it). ``audio_names(clip)`` lists the file names to look for. Nothing is written when no clip fits.
    A query map with an empty text, or with a label that no clip's annotation uses (a typo, or the map
    of another data set), is refused before any audio is read (:func:`check_query_map`).
    """
    root, out = Path(audio_root), Path(out_dir)
    if queries is not None:
        check_query_map(queries, "query map", {a.label for events in clips.values() for a in events}, source)
    report = ImportReport([])
    for name in sorted(clips):
        wav = find_audio(root, audio_names(name))
        if wav is None:
            report.skipped[name] = f"cannot read audio: no file {' or '.join(audio_names(name))} in {root}"
            continue
        try:
            info = audio_info(wav)
        except WTLError as exc:
            report.skipped[name] = f"cannot read audio: {exc}"
            continue
        duration = info.duration_s
        events = sorted(clips[name], key=lambda e: (e.onset_s, e.offset_s, e.label))
        if single:
            reason = _why_not(events, duration)
            if reason is not None:
                report.skipped[name] = reason
                continue
        kept = []
        for a in events:
            if a.onset_s >= duration:
                report.skipped[f"{name}: {a.label}"] = (
                    f"starts at {a.onset_s:g} s, after the clip ({duration:.2f} s)"
                )
            else:
                kept.append(Annotation(a.onset_s, min(a.offset_s, duration), a.label, a.query))
        events = merge_repeats(kept)
        if not events:
            report.skipped.setdefault(name, "no event inside the clip")
            continue
        placed = [
            Event(
                label=a.label,
                onset_s=a.onset_s,
                offset_s=a.offset_s,
                slot=(a.onset_s, a.offset_s),
                active=(a.onset_s, a.offset_s),
                position=position_name(i, len(events)),
                query=(queries or {}).get(a.label, a.query or default_query(a.label)),
            )
            for i, a in enumerate(events)
        ]
        report.scenes.append(
            Scene(
                scene_id=Path(name).stem if Path(name).suffix else name,
                path=os.path.relpath(wav.resolve(), out.resolve()),
                duration_s=duration,
                sample_rate=info.sample_rate,
                events=placed,
                target=len(report.scenes) % len(placed),
                seed=0,
                bank=source,
                overlaps=not single and _why_not(events, duration) is not None,
            )
        )
    if report.scenes:
        report.manifest = write_manifest(report.scenes, out)
    return report


def import_annotations(
    tsv: str | os.PathLike[str],
    audio_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    queries: QueryMap | None = None,
    single: bool = False,
    overwrite: bool = False,
) -> ImportReport:
    """A DESED-style TSV (``filename onset offset event_label``) beside a folder of audio → a manifest
    (:func:`import_clips`). The output is checked first (writable, neither the TSV nor the query map's
    file, no existing manifest unless ``overwrite``)."""
    check_import_output(Path(out_dir), [Path(tsv), *query_map_files(queries)], overwrite)
    check_audio_dir(audio_dir)
    clips = {
        name: [Annotation(on, off, label) for on, off, label in events]
        for name, events in read_annotations(tsv).items()
    }
    return import_clips(clips, audio_dir, out_dir, f"import:{Path(tsv).name}", as_query_map(queries), single)


def read_json_document(path: str | os.PathLike[str], what: str) -> Any:
    """One JSON document (a query map, a data set's label file); unreadable is one DataError line."""
    source = Path(path)
    try:
        return json.loads(read_text(source, what))
    except json.JSONDecodeError as exc:
        raise DataError(f"{source}: not a readable JSON file ({exc})") from None


def read_query_map(path: str | os.PathLike[str]) -> dict[str, str]:
    """A JSON object {label: query text}, for labels whose default query reads badly; an empty text is
    refused here, naming the file (:func:`check_query_map`)."""
    source = Path(path)
    data = read_json_document(source, "query map")
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise DataError(f"{source}: expected a JSON object mapping labels to query texts")
    queries = {str(k): v for k, v in data.items()}
    check_query_map(queries, str(source))
    return queries


def check_query_map(
    queries: Mapping[str, str], where: str, labels: Collection[str] | None = None, source: str = ""
) -> None:
    """Refuse a query map with an empty (or blank) text: a query of nothing asks the model nothing, and
    would be refused only after a model loaded. With ``labels`` (those of the label file ``source``),
    refuse a label none of them is: a map only rewrites the queries of labels that occur, so a label
    that does not is a typo or another data set's, and silently ignoring it would keep a default query
    the user meant to replace."""
    for label, text in queries.items():
        if not isinstance(text, str) or not text.strip():
            raise DataError(
                f"{where}: the query of label {label!r} is empty; give a text, or leave the label out "
                "(its default query is used)"
            )
    unknown = sorted(set(queries) - set(labels)) if labels is not None else []
    if unknown:
        known = sorted(labels or ())
        shown = ", ".join(map(repr, known[:10])) + (f" and {len(known) - 10} more" if len(known) > 10 else "")
        raise DataError(
            f"{where}: label {unknown[0]!r} occurs in no annotation of {source or 'the label file'} "
            f"(its labels: {shown}); remove it or fix its spelling"
        )


def query_map_files(queries: QueryMap | None) -> list[Path]:
    """The query map's file when it was given as one (an input the output may not replace), else none."""
    return [] if queries is None or isinstance(queries, Mapping) else [Path(queries)]


def as_query_map(queries: QueryMap | None) -> Mapping[str, str] | None:
    """The query map itself: as given, or read from its file (:func:`read_query_map`)."""
    return queries if queries is None or isinstance(queries, Mapping) else read_query_map(queries)


__all__ = [
    "Annotation",
    "ImportReport",
    "QueryMap",
    "as_query_map",
    "check_query_map",
    "default_query",
    "find_audio",
    "import_annotations",
    "import_clips",
    "merge_repeats",
    "query_map_files",
    "read_annotations",
    "read_json_document",
    "read_query_map",
]
