"""The sweep file (``sweep.jsonl``): one line per grid point on the dev split, resumable, sharded."""

from __future__ import annotations

import os
from typing import Any

from .jsonl import read_jsonl
from .rows import is_number, object_problem

#: The sweep file of a run folder (shards add ``.K-of-N``).
SWEEP_NAME = "sweep.jsonl"
#: Fields of a sweep line.
SWEEP_FIELDS = ("layers", "alpha", "hit_rate")
#: The first key of every sweep line ``bench sweep`` writes (how an unfinished line of ours is recognized).
SWEEP_FIRST_KEY = "layers"


def check_sweep_line(line: Any) -> str | None:
    """Why a sweep line is unusable, or None."""
    problem = object_problem(line, SWEEP_FIELDS)
    if problem is None and not (is_number(line["alpha"]) and is_number(line["hit_rate"])):
        return "'alpha' and 'hit_rate' must be numbers"
    return problem


def read_sweep(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Validated lines of a sweep.jsonl (``layers``, ``alpha``, ``hit_rate`` per grid point)."""
    return read_jsonl(path, check_sweep_line, SWEEP_FIRST_KEY, "sweep file")[0]


__all__ = ["SWEEP_FIELDS", "SWEEP_FIRST_KEY", "SWEEP_NAME", "check_sweep_line", "read_sweep"]
