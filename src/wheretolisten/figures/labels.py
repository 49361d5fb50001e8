"""The words on figures: layer sets, model names, and whether a ground-truth label is the query."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def format_layers(layers: Sequence[int] | None) -> str:
    """[8, 9, 10, 12] → '8–10, 12' (runs of consecutive layers collapsed)."""
    if not layers:
        return "default"
    values = sorted(set(int(x) for x in layers))
    parts: list[str] = []
    start = prev = values[0]
    for v in [*values[1:], None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(str(start) if start == prev else f"{start}–{prev}")
        if v is not None:
            start = prev = v
    return ", ".join(parts)


def short_model_name(name: str) -> str:
    """A hub id as is; a local directory by its last component (tmp paths make poor titles)."""
    if os.sep in name and Path(name).exists():
        return Path(name).name or name
    return name


def is_queried(label: str, query: str) -> bool:
    """Whether a GT label names the queried sound ('siren' in 'a siren'), case-insensitively."""
    label, query = label.strip().lower(), query.strip().lower()
    return bool(label) and (label == query or label.replace("_", " ") in query)
