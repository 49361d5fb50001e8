"""The resumable localize log (``localize --jsonl``): one JSON line per (file, query), its resume keys,
and the check that a resumed file was made with this run's settings."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import WTLError
from .jsonl import open_jsonl, read_jsonl
from .runs import other_model

#: The first key of every ``localize --jsonl`` line (how an unfinished line of ours is recognized).
LOG_FIRST_KEY = "model"


def resume_key(
    audio: Path, span: tuple[float | None, float | None], vector: Path | None, segments: tuple[float, float]
) -> dict[str, Any]:
    """What a ``--jsonl`` line was computed from beyond model, configuration and detection settings
    (which must match, or the file is refused): the audio's bytes, the span, the vector file's bytes
    and the window plan. A line whose key differs is other work, computed and written as a new line."""
    from ..files import file_sha256

    return {
        "audio_sha256": file_sha256(audio),
        "span_s": list(span),
        "vector_sha256": file_sha256(vector) if vector is not None else None,
        "windows": list(segments),
    }


def done_key(audio: Path, query: str, keys: dict[Path, dict[str, Any]]) -> tuple[str, str, str]:
    """What identifies one (file, query) pair's work in the log: path, query and its resume key."""
    return str(audio), query, json.dumps(keys.get(audio), sort_keys=True)


def log_lines(
    results: Sequence[Any], key: dict[str, Any] | None, computed_with: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The log lines of one file's results: each result's JSON (``to_json()``), plus its resume key and
    the weights and precision it was computed with (``Adapter.computed_with``)."""
    extra = {
        **({"resume": key} if key is not None else {}),
        **({"computed_with": computed_with} if computed_with is not None else {}),
    }
    return [{**r.to_json(), **extra} for r in results]


def _log_problem(row: Any) -> str | None:
    if not isinstance(row, dict):
        return f"expected a JSON object, got {type(row).__name__}"
    missing = [k for k in ("model", "audio", "query", "config") if k not in row]
    if missing or not isinstance(row["audio"], dict):
        return f"not a localize line (missing {', '.join(missing) or 'audio'})"
    return None


def check_log(path: Path | None) -> None:
    """Before the model loads: an existing, non-empty ``path`` holds localize-log lines (a notes file
    named by mistake was refused only after 8 s of loading); its settings are compared once it opens."""
    if path is not None and path.is_file() and path.stat().st_size:
        read_jsonl(path, _log_problem, LOG_FIRST_KEY, "localize log")


@contextmanager
def results_log(
    path: Path | None,
    model: str,
    config: dict[str, Any],
    detection: dict[str, Any],
    segments: tuple[float, float],
    computed_with: dict[str, Any] | None = None,
) -> Iterator[tuple[dict[tuple[str, str, str], list[Any]], Callable[[list[dict[str, Any]]], None]]]:
    """(done (audio path, query, resume key) → their detections, append function) for the log at
    ``path``; a no-op pair without one.

    The file is locked while in use; lines of another model (other weights or precision, when the
    lines record them: ``computed_with``; the same weights under another name are the same model),
    configuration, detection or window (segment, overlap) settings are refused, so a resumed file never
    mixes settings (lines older than detections carry none). A line is done work only if its resume key
    (:func:`resume_key`: audio bytes, span, vector bytes, windows) is this run's; lines without one (older
    files) never are.
    """
    if path is None:
        yield {}, lambda _rows: None
        return
    wanted = json.loads(json.dumps(config))
    with open_jsonl(path, _log_problem, LOG_FIRST_KEY, "localize log") as (append, rows):
        for i, row in enumerate(rows, start=1):
            why = other_model(row, model, computed_with)
            if why is not None and why.startswith("other weights"):
                raise WTLError(
                    f"{path}: line {i} was computed with {why}; use the same model and --dtype, or another "
                    "jsonl log"
                )
            same = why is None and row.get("config") == wanted
            cut = row.get("windows")
            cut_same = not isinstance(cut, dict) or (cut.get("segment_s"), cut.get("overlap_s")) == segments
            key = row.get("resume")
            if isinstance(key, dict) and isinstance(key.get("windows"), list):  # short clips' lines too
                cut_same = cut_same and tuple(key["windows"]) == segments
            if not same or not cut_same or row.get("detection", detection) != detection:
                raise WTLError(
                    f"{path}: line {i} was computed with another model or configuration; use the same "
                    f"options or another jsonl log"
                )
        yield (
            {
                (str(r["audio"].get("path")), str(r["query"]), json.dumps(r.get("resume"), sort_keys=True)): (
                    r.get("detections") or []
                )
                for r in rows
            },
            append,
        )
