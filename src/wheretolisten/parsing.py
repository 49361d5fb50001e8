"""A value typed by a person (a form field, a label file's cell) read as a finite number."""

from __future__ import annotations

import math
from typing import Any


def finite_float(value: Any) -> float:
    """``value`` as a finite float; else ValueError saying what it must be ("a number", "a finite number"),
    for the caller's own error line."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError("a number") from None
    if not math.isfinite(x):
        raise ValueError("a finite number")
    return x


__all__ = ["finite_float"]
