"""Whole files read as one document: UTF-8 text and JSON (a protocol record, tuning choices, a summary);
unreadable is one DataError line naming what the file was for."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

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


__all__ = ["read_json", "read_text"]
