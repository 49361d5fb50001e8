"""See and hear where the model listens: one self-contained HTML page per localization run.

The page holds the audio (a small Ogg/Opus copy, or a link to the file), its spectrogram, the base,
steered and Δ curves of every query on one time axis, the detections (spans and a table), the ground
truth when known, and the settings used; clicking plays from there. It draws results in their JSON
form and never runs a model. Modules: ``data`` (results → what the page draws), ``sound`` (the audio
copy and spectrogram, read in chunks), ``spectrogram`` (numpy log-mel → PNG), ``html`` (the document).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import numpy as np

from ..files import write_atomic
from .data import GTSpan, page_data
from .html import render
from .sound import PageSound, array_sound, page_sound
from .spectrogram import png_bytes


class ResultLike(Protocol):
    """A localization result (``LocalizeResult`` or ``WindowedResult``): anything with its JSON form."""

    def to_json(self) -> dict[str, Any]: ...


Audio = str | os.PathLike[str] | np.ndarray | None


def _json(result: ResultLike | Mapping[str, Any]) -> Mapping[str, Any]:
    return result if isinstance(result, Mapping) else result.to_json()


def render_page(
    results: Sequence[ResultLike | Mapping[str, Any]],
    audio: Audio,
    *,
    sample_rate: int | None = None,
    gt: Sequence[GTSpan] = (),
    title: str | None = None,
    link: str | None = None,
    audio_name: str | None = None,
) -> str:
    """The page of one run (every query of one audio) as HTML text.

    ``audio``: the file the results come from (its span is read again, in chunks), the clip as an array
    (with ``sample_rate``), or None (curves only). ``link``: refer to the audio at this URL (relative to
    the page) instead of embedding a compressed copy.
    """
    rows = [_json(r) for r in results]
    data = page_data(rows, gt)
    if audio_name is not None:  # the name to show instead of the results' path (explore's upload name)
        data["audio"]["path"] = audio_name
    start, duration = data["audio"]["start_s"], data["audio"]["duration_s"]
    if audio is None:
        sound = PageSound(None, png_bytes(np.zeros((1, 1), np.uint8)), duration, start, duration)
    elif isinstance(audio, np.ndarray):
        if sample_rate is None:
            raise ValueError("sample_rate is required when audio is an array")
        sound = array_sound(audio, sample_rate)
        sound = PageSound(sound.ogg, sound.png, sound.column_s, start, sound.duration_s)
    else:
        sound = page_sound(audio, (start, start + duration), embed=link is None)
    data["audio"]["offset"] = 0.0 if link is not None else start
    data["audio"]["link"] = link
    data["spectrogram"] = {"column_s": sound.column_s, "start_s": sound.start_s}
    name = Path(str(rows[0].get("audio", {}).get("path") or "audio")).name
    heading = title or f"wheretolisten: {name}"
    return render(heading, data, sound.png, sound.ogg, link)


def write_page(
    results: Sequence[ResultLike | Mapping[str, Any]],
    audio: Audio,
    out: str | os.PathLike[str],
    *,
    sample_rate: int | None = None,
    gt: Sequence[GTSpan] = (),
    title: str | None = None,
    link_audio: bool = False,
) -> Path:
    """Write the page to ``out`` atomically; ``link_audio`` links the audio file (by its path relative to
    the page's folder) instead of embedding a copy."""
    link = None
    if link_audio:
        if audio is None or isinstance(audio, np.ndarray):
            raise ValueError("link_audio needs the audio as a file path")
        relative = Path(os.path.relpath(Path(audio).resolve(), Path(out).resolve().parent)).as_posix()
        link = quote(relative)
    text = render_page(results, audio, sample_rate=sample_rate, gt=gt, title=title, link=link)
    return write_atomic(out, text)


__all__ = ["GTSpan", "ResultLike", "render_page", "write_page"]
