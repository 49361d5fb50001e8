"""A value typed by a person (a form field, a label file's cell) read as a finite number."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np


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


def is_real_number(value: Any) -> bool:
    """Whether ``value`` is a real number given as a number (numpy's too), never a bool or a string: a
    setting's ``True`` or ``'2'`` is a mistake, not 1 or 2."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def is_whole_number(value: Any) -> bool:
    """Whether ``value`` is a whole number given as one (numpy's too), never a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
