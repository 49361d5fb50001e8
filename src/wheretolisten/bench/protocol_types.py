"""Type checks of the protocol file's fields: a parsed value of the wrong type is one line naming the
field as the file does (``dev.n must be an integer``), never a failure deep inside a run."""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from ..errors import DataError, OptionError


def _plural(hint: Any) -> str:
    if typing.get_origin(hint) is tuple:
        return f"lists of {_plural(typing.get_args(hint)[0])}"
    names = {int: "integers", float: "finite numbers", str: "strings", bool: "booleans"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _type_name(hint: Any) -> str:
    """How a field's type reads in an error line: 'an integer', 'a list of lists of integers'."""
    if typing.get_origin(hint) is tuple:
        return f"a list of {_plural(typing.get_args(hint)[0])}"
    names = {int: "an integer", float: "a finite number", str: "a string", bool: "true or false"}
    return names.get(hint, f"a {getattr(hint, '__name__', hint)} table")


def _fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` (as parsed from JSON/TOML) is of type ``hint``: an int is not a bool, a float
    is a finite int or float, a tuple is a list or tuple of fitting items."""
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        return isinstance(value, (list, tuple)) and all(_fits(v, item) for v in value)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    return isinstance(value, hint) if isinstance(hint, type) else True


def check_values(cls: Any, data: Mapping[str, Any], prefix: str, skip: Sequence[str] = ()) -> None:
    """Refuse a parsed value that is not of its field's type, naming it as the file does (``dev.n``)."""
    hints = typing.get_type_hints(cls)
    for key, value in data.items():
        if key in hints and key not in skip and not _fits(value, hints[key]):
            raise DataError(f"protocol: {prefix}{key} must be {_type_name(hints[key])}, got {value!r}")


def check_types(obj: Any, where: str, skip: Sequence[str] = ()) -> None:
    """Refuse a field whose value is not of its declared type (one line naming the field and value)."""
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):
        if f.name in skip:
            continue
        value = getattr(obj, f.name)
        if not _fits(value, hints[f.name]):
            wanted = _type_name(hints[f.name])
            raise OptionError(f"protocol: {where}.{f.name} must be {wanted}, got {value!r}")
