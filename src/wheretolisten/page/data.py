"""What the page draws, read from results in their JSON form (``LocalizeResult.to_json()``).

Curves travel as base64 float32 (a curve shared by several queries, as the unsteered profile of one run
is, travels once); a uniform time axis travels as its start and step. Nothing here runs a model.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import DataError

#: One ground-truth event: (label, onset_s, offset_s).
GTSpan = tuple[str, float, float]


class _Arrays:
    """The page's float32 arrays, each stored once."""

    def __init__(self) -> None:
        self.items: list[np.ndarray] = []

    def add(self, values: np.ndarray) -> int:
        arr = np.asarray(values, dtype=np.float32)
        for i, seen in enumerate(self.items):
            if seen.shape == arr.shape and np.array_equal(seen, arr):
                return i
        self.items.append(arr)
        return len(self.items) - 1

    def encoded(self) -> list[str]:
        return [base64.b64encode(a.astype("<f4").tobytes()).decode("ascii") for a in self.items]


def _axis(time_s: np.ndarray) -> dict[str, Any]:
    """{t0, step} for a uniform axis (token i starts at t0 + i · step), else the times themselves."""
    if time_s.size == 0:
        raise DataError("a result without audio tokens cannot be drawn")
    step = float(np.median(np.diff(time_s))) if time_s.size > 1 else 0.04
    uniform = np.allclose(time_s, time_s[0] + step * np.arange(time_s.size), atol=1e-4)
    return {"t0": float(time_s[0]), "step": step, "time": None if uniform else time_s.tolist()}


def _query(data: Mapping[str, Any], arrays: _Arrays) -> dict[str, Any]:
    try:
        prof = data["profile"]
        time_s = np.asarray(prof["time_s"], dtype=np.float64)
        base = np.asarray(prof["base"], dtype=np.float64)
        steered = np.asarray(prof["steered"], dtype=np.float64)
        if not base.shape == steered.shape == time_s.shape:
            raise ValueError("profile curves of different lengths")
        found = [
            {"onset_s": float(d["onset_s"]), "offset_s": float(d["offset_s"]), "score": float(d["score"])}
            for d in data.get("detections") or []
        ]
        interval = data.get("interval_s")
        return {
            "query": str(data["query"]),
            "base": arrays.add(base),
            "steered": arrays.add(steered),
            **_axis(time_s),
            "peak_s": None if data.get("peak_s") is None else float(data["peak_s"]),
            "interval_s": None if interval is None else [float(interval[0]), float(interval[1])],
            "detections": found,
        }
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise DataError(f"not a localization result ({type(exc).__name__}: {exc})") from None


def settings_rows(first: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, value) pairs of the settings a run used: model, steering, readout, detection, windows."""
    rows = [("model", str(first.get("model", "")))]
    config = first.get("config") or {}
    rows += [(str(k), _text(v)) for k, v in config.items()]
    rows += [(f"detection {k}", _text(v)) for k, v in (first.get("detection") or {}).items()]
    windows = first.get("windows")
    if isinstance(windows, Mapping):
        rows += [
            ("segment_s", _text(windows.get("segment_s"))),
            ("overlap_s", _text(windows.get("overlap_s"))),
            ("windows", str(len(windows.get("spans_s") or []))),
            ("silent windows", _text(windows.get("silent") or [])),
        ]
    return rows


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value) or "none"
    return "none" if value is None else str(value)


def page_data(
    results: Sequence[Mapping[str, Any]], gt: Sequence[GTSpan] = (), duration_s: float | None = None
) -> dict[str, Any]:
    """The JSON the page's script reads: queries (curves by index), detections, GT, settings, extent."""
    if not results:
        raise DataError("the page needs at least one result")
    arrays = _Arrays()
    queries = [_query(r, arrays) for r in results]
    audio = results[0].get("audio") or {}
    start = min(q["t0"] for q in queries)  # token 0 starts where the clip (or its span) starts
    ends = [q["t0"] + q["step"] * len(arrays.items[q["base"]]) for q in queries]
    if duration_s is None:
        duration_s = float(audio.get("duration_s") or (max(ends) - start))
    return {
        "audio": {"path": audio.get("path"), "start_s": start, "duration_s": float(duration_s)},
        "queries": queries,
        "arrays": arrays.encoded(),
        "gt": [{"label": str(a), "onset_s": float(b), "offset_s": float(c)} for a, b, c in gt],
        "settings": settings_rows(results[0]),
        "extent": [start, max(start + float(duration_s), *ends)],
    }
