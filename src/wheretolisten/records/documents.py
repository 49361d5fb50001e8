"""Whole files read as one document: UTF-8 text and JSON (a protocol record, tuning choices, a summary);
unreadable is one DataError line naming what the file was for."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError


def read_text(path: Path, what: str) -> str:
    """The text of a UTF-8 file (a leading BOM is dropped); unreadable or not UTF-8 is one DataError line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{what} {path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{what} {path} is not UTF-8 text (invalid byte at offset {exc.start}); save it as UTF-8"
        ) from None


def read_json(path: str | os.PathLike[str], what: str) -> Any:
    """One JSON document; unreadable or not JSON is one DataError line."""
    source = Path(path)
    try:
        return json.loads(read_text(source, what))
    except ValueError as exc:
        raise DataError(f"{what} {source} is not valid JSON ({exc})") from None


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float (numpy's too) replaced by None, recursively; numpy
    integers, booleans and arrays become JSON numbers, booleans and lists (not their strings)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.ndarray):
        return _finite(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def strict_json(value: Any, indent: int | None = 1) -> str:
    """JSON text any strict parser reads (jq, a browser's ``JSON.parse``): a statistic of no rows (NaN)
    or an infinite value is written as ``null``, never as Python's bare ``NaN`` token; ends in a newline."""
    return json.dumps(_finite(value), indent=indent, ensure_ascii=False, allow_nan=False, default=str) + "\n"


__all__ = ["read_json", "read_text", "strict_json"]
