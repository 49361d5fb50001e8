"""Public data sets' label files → annotated clips (``scenes import --format``); docs/datasets.md cites each.

Each reader takes the data set's own label file, as published, and returns the labelled intervals of every
clip (:class:`~wheretolisten.scenes.annotations.Annotation`), repeats and overlaps included; each format
also says which audio file names a clip may have. ``import_dataset`` checks the output, reads the labels
and hands them to ``annotations.import_clips``.

- ``desed``: DCASE/DESED strong labels, a TSV ``filename onset offset event_label``.
- ``audiogrounding``: AudioGrounding v2 (Xu et al. 2021), a JSON list of ``{audio_id, phrases: [{phrase,
  segments: [[onset, offset], ...]}]}``; each phrase is a query with its own segments.
- ``tacos``: TACOS ``annotations_strong.csv`` (Primus et al. 2025), comma-separated ``filename, text,
  onset, offset`` (more columns allowed); each text is a query.
- ``audioset-strong``: AudioSet strong labels (Hershey et al. 2021), a TSV ``segment_id
  start_time_seconds end_time_seconds label`` of MIDs, named by ``mid_to_display_name.tsv`` (``--label-map``).
- ``castella``: CASTELLA (Munakata et al. 2025), a JSON list of ``{yid, moments: [{local_caption,
  timestamps: [[start, end], ...]}]}``: long recordings, several moments per caption.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataError, OptionError
from ..parsing import finite_float
from ..records.documents import read_text
from .annotations import (
    Annotation,
    ImportReport,
    QueryMap,
    as_query_map,
    import_clips,
    query_map_files,
    read_annotations,
    read_json_document,
)
from .manifest import check_audio_dir, check_import_output

Clips = dict[str, list[Annotation]]


def _number(value: Any, where: str) -> float:
    try:
        return finite_float(value)
    except ValueError as exc:
        raise DataError(f"{where}: expected {exc}, got {value!r}") from None


def _span(onset: Any, offset: Any, where: str) -> tuple[float, float]:
    """A checked [onset, offset] (offset after onset, onset >= 0)."""
    a, b = _number(onset, where), _number(offset, where)
    if a < 0 or b <= a:
        raise DataError(f"{where}: needs 0 <= onset < offset, got [{a:g}, {b:g}]")
    return a, b


def _json(path: Path, what: str) -> Any:
    return read_json_document(path, what)


def _json_items(
    path: Path, what: str, expected: str, key: str, entries: str, needs: str
) -> Iterator[tuple[str, str, list[Any]]]:
    """Each item of a JSON list of clips: where it is (for errors), its ``key`` and its list ``entries``."""
    data = _json(path, what)
    if not isinstance(data, list):
        raise DataError(f"{path}: expected {expected}")
    for i, item in enumerate(data):
        where = f"{path}: item {i}"
        if not isinstance(item, dict) or not isinstance(item.get(key), str):
            raise DataError(f"{where}: needs {needs}")
        found = item.get(entries)
        if not isinstance(found, list):
            raise DataError(f"{where}: '{entries}' must be a list")
        yield where, item[key], found


def _table(path: Path, delimiter: str, columns: Sequence[str], what: str) -> list[tuple[int, dict[str, str]]]:
    """Rows (with their line numbers) of a delimited file whose header names ``columns``."""
    reader = csv.DictReader(io.StringIO(read_text(path, what), newline=""), delimiter=delimiter)
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        sep = "tab" if delimiter == "\t" else "comma"
        raise DataError(
            f"{path}: the header must name {', '.join(columns)} ({sep}-separated); missing {missing}"
        )
    return list(enumerate(reader, start=2))


def read_desed(path: Path, label_map: Mapping[str, str] | None = None) -> Clips:
    """DESED strong labels (``annotations.read_annotations``)."""
    return {n: [Annotation(a, b, lab) for a, b, lab in ev] for n, ev in read_annotations(path).items()}


def _phrase_text(phrase: Any, where: str) -> str:
    """An AudioGrounding phrase: a string, or its list of tokens."""
    if isinstance(phrase, list) and all(isinstance(t, str) for t in phrase):
        phrase = " ".join(phrase)
    if not isinstance(phrase, str) or not phrase.strip():
        raise DataError(f"{where}: 'phrase' must be a non-empty string, got {phrase!r}")
    return " ".join(phrase.split())


def read_audiogrounding(path: Path, label_map: Mapping[str, str] | None = None) -> Clips:
    """AudioGrounding v2: every phrase of every caption is a query; its segments are its intervals."""
    expected = "a JSON list of audio items (AudioGrounding v2)"
    needs = "'audio_id' (a file name) and 'phrases'"
    clips: Clips = {}
    items = _json_items(path, "AudioGrounding label file", expected, "audio_id", "phrases", needs)
    for where, audio_id, phrases in items:
        events = clips.setdefault(audio_id, [])
        for k, p in enumerate(phrases):
            here = f"{where} phrase {k}"
            if not isinstance(p, dict) or not isinstance(p.get("segments"), list):
                raise DataError(f"{here}: needs 'phrase' and 'segments' (a list of [onset, offset])")
            text = _phrase_text(p.get("phrase"), here)
            for seg in p["segments"]:
                if not isinstance(seg, list) or len(seg) != 2:
                    raise DataError(f"{here}: a segment must be [onset, offset], got {seg!r}")
                events.append(Annotation(*_span(seg[0], seg[1], here), text, text))
    return {k: v for k, v in clips.items() if v}


def read_tacos(path: Path, label_map: Mapping[str, str] | None = None) -> Clips:
    """TACOS ``annotations_strong.csv``: each free-text description is a query tied to its segment."""
    clips: Clips = {}
    for line, row in _table(path, ",", ("filename", "text", "onset", "offset"), "TACOS label file"):
        where = f"{path}: line {line}"
        text = " ".join((row["text"] or "").split())
        if not text or not row["filename"]:
            raise DataError(f"{where}: needs a filename and a text")
        clips.setdefault(row["filename"], []).append(
            Annotation(*_span(row["onset"], row["offset"], where), text, text)
        )
    return clips


def read_label_map(path: Path) -> dict[str, str]:
    """AudioSet's ``mid_to_display_name.tsv``: ``mid<TAB>display name`` per line, no header."""
    out: dict[str, str] = {}
    for line, text in enumerate(read_text(path, "label map").splitlines(), start=1):
        if not text.strip():
            continue
        parts = text.split("\t")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise DataError(f"{path}: line {line} must be 'mid<TAB>display name', got {text!r}")
        out[parts[0].strip()] = parts[1].strip()
    if not out:
        raise DataError(f"{path}: the label map is empty")
    return out


def read_audioset_strong(path: Path, label_map: Mapping[str, str] | None = None) -> Clips:
    """AudioSet strong labels; each MID is named by ``label_map`` (needed: a MID is not a query)."""
    if label_map is None:
        raise OptionError("fmt audioset-strong needs label_map (AudioSet's mid_to_display_name.tsv)")
    columns = ("segment_id", "start_time_seconds", "end_time_seconds", "label")
    clips: Clips = {}
    for line, row in _table(path, "\t", columns, "AudioSet strong label file"):
        where = f"{path}: line {line}"
        mid = (row["label"] or "").strip()
        if mid not in label_map:
            raise DataError(f"{where}: label {mid!r} is not in the label map")
        span = _span(row["start_time_seconds"], row["end_time_seconds"], where)
        clips.setdefault(row["segment_id"], []).append(Annotation(*span, label_map[mid]))
    return clips


def audioset_names(segment_id: str) -> list[str]:
    """File names of an AudioSet segment ``YTID_STARTMS``: as named, with a leading Y, and the common
    ``YYTID_START.000_END.000`` of 10-s downloads."""
    names = [segment_id, f"Y{segment_id}"]
    ytid, _, start_ms = segment_id.rpartition("_")
    if ytid and start_ms.isdigit():
        start = int(start_ms) / 1000
        names.append(f"Y{ytid}_{start:.3f}_{start + 10:.3f}")
    return names


def read_castella(path: Path, label_map: Mapping[str, str] | None = None) -> Clips:
    """CASTELLA: each local caption of a long recording is a query; its timestamps are its moments."""
    expected = "a JSON list of recordings (CASTELLA json/<lang>/<split>.json)"
    clips: Clips = {}
    items = _json_items(path, "CASTELLA label file", expected, "yid", "moments", "'yid' and 'moments'")
    for where, yid, moments in items:
        events = clips.setdefault(yid, [])
        for k, m in enumerate(moments):
            here = f"{where} moment {k}"
            caption = m.get("local_caption") if isinstance(m, dict) else None
            stamps = m.get("timestamps") if isinstance(m, dict) else None
            if not isinstance(caption, str) or not caption.strip() or not isinstance(stamps, list):
                raise DataError(f"{here}: needs 'local_caption' and 'timestamps' (a list of [start, end])")
            text = " ".join(caption.split())
            for ts in stamps:
                if not isinstance(ts, list) or len(ts) != 2:
                    raise DataError(f"{here}: a timestamp must be [start, end], got {ts!r}")
                events.append(Annotation(*_span(ts[0], ts[1], here), text, text))
    return {k: v for k, v in clips.items() if v}


@dataclass(frozen=True)
class Format:
    """One data set's label format: its reader and the audio file names of a clip."""

    read: Callable[[Path, Mapping[str, str] | None], Clips]
    audio_names: Callable[[str], Sequence[str]] = lambda name: [name]


FORMATS: dict[str, Format] = {
    "desed": Format(read_desed),
    "audiogrounding": Format(read_audiogrounding),
    "tacos": Format(read_tacos),
    "audioset-strong": Format(read_audioset_strong, audioset_names),
    "castella": Format(read_castella, lambda yid: [yid, f"Y{yid}"]),
}


def import_dataset(
    fmt: str,
    labels: str | os.PathLike[str],
    audio_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    queries: QueryMap | None = None,
    label_map: str | os.PathLike[str] | None = None,
    single: bool = False,
    overwrite: bool = False,
) -> ImportReport:
    """Read ``labels`` in format ``fmt`` and write the manifest of the clips found in ``audio_dir``.

    ``queries``: {label: query text}, or its JSON file; the files read (labels, query map, label map)
    are checked against the manifest and events.tsv first, so no input is replaced, ``overwrite`` or not.
    """
    if fmt not in FORMATS:
        raise OptionError(f"unknown fmt {fmt!r}; choose {', '.join(FORMATS)}")
    source = Path(labels)
    inputs = [source, *query_map_files(queries), *([Path(label_map)] if label_map is not None else [])]
    check_import_output(Path(out_dir), inputs, overwrite)
    if source.is_dir():
        raise DataError(f"label file {source} is a directory; give the label file itself")
    if not source.is_file():
        raise DataError(f"label file {source} does not exist")
    check_audio_dir(audio_dir)
    names = read_label_map(Path(label_map)) if label_map is not None else None
    clips = FORMATS[fmt].read(source, names)
    if not clips:
        raise DataError(f"{source} has no annotated interval")
    return import_clips(
        clips,
        audio_dir,
        out_dir,
        f"{fmt}:{source.name}",
        as_query_map(queries),
        single,
        FORMATS[fmt].audio_names,
    )


__all__ = [
    "FORMATS",
    "Format",
    "audioset_names",
    "import_dataset",
    "read_audiogrounding",
    "read_audioset_strong",
    "read_castella",
    "read_desed",
    "read_label_map",
    "read_tacos",
]
