"""Parse a model's free-text answer about *when* a sound happens into a (start_s, end_s) interval.

Audio-language models answer localization questions in many surface forms ("from 2.5 to 4 seconds",
"00:02-00:04", "[2.5, 4.0]", "at 3 s", ...). The parser tries the most specific patterns first
(explicit ranges, bracketed pairs, start/end phrasing) and falls back to unit-bearing numbers, so that
incidental numbers ("the 2 dogs bark from 1s to 3s") do not get mistaken for times.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["parse_time_answer"]

# Longest alternatives first so that "ms" is not read as "m" + "s" and "seconds" not as "s".
_UNIT = r"milliseconds?|millisecs?|msecs?|ms|seconds?|secs?|s|minutes?|mins?"
_MS_UNITS = frozenset({"ms", "msec", "msecs", "millisec", "millisecs", "millisecond", "milliseconds"})
_MIN_UNITS = frozenset({"min", "mins", "minute", "minutes"})
_NUM = r"(?<![\w.])(\d+(?:\.\d+)?|\.\d+)"
# A number, an optional unit right after it, and nothing word-like glued on ("3rd", "2x" are not times).
_TIME = rf"{_NUM}(?:\s*({_UNIT})\b|(?!\w))(?!\.\d)"
_TIME_RE = re.compile(_TIME)
# Words or symbols that join the two ends of a range.
_CONNECTOR = r"(?:-{1,2}|~|->|→|to|until|till|til|through|thru|and)"
_RANGE_RE = re.compile(rf"{_TIME}\s*{_CONNECTOR}\s*{_TIME}")
_BRACKET_RE = re.compile(rf"[\[(]\s*{_TIME}\s*[,;]\s*{_TIME}\s*[\])]")
_START_WORD = r"(?:start|begin|onset|commenc)\w*"
_END_WORD = r"(?:end|stop|finish|offset|ceas|conclud)\w*"
_START_END_RE = re.compile(
    rf"\b{_START_WORD}\b[^\d]{{0,30}}?{_TIME}.*?\b{_END_WORD}\b[^\d]{{0,30}}?{_TIME}", re.DOTALL
)
# A lone number is a time only with a unit or after a word that announces a time.
_POINT_CUE_RE = re.compile(
    rf"(?:\bat|\baround|\babout|\bapproximately|\bapprox\.?|\bnear|\bat\s+roughly|\broughly|~|@)\s*{_TIME}"
)
_ONLY_NUMBER_RE = re.compile(rf"^\W*{_TIME}\W*$")
_TIMESTAMP_RE = re.compile(r"(?<![\d.:])(\d{1,3}):(\d{1,2}(?:\.\d+)?)(?::(\d{1,2}(?:\.\d+)?))?(?![\d:])")
_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"), "-")
_SPACES = dict.fromkeys(map(ord, "\u00a0\u2007\u202f\u2009\u200a"), " ")
_COMMA_NUM_RE = re.compile(r"(?<![\d.,])(\d+),(\d+)(?![\d.,])")
_DOT_DECIMAL_RE = re.compile(r"\d\.\d")


@dataclass(frozen=True)
class _Time:
    """One number read from the text and the unit written after it (None if bare)."""

    value: float
    unit: str | None


def _to_seconds(value: float, unit: str | None) -> float:
    """Convert a value to seconds; bare numbers are taken to be seconds."""
    if unit in _MS_UNITS:
        return value * 1e-3
    if unit in _MIN_UNITS:
        return value * 60.0
    return value


def _normalize(text: str) -> str:
    """Lower-case, map unicode dashes and spaces to ASCII, and resolve unambiguous decimal commas."""
    text = text.translate(_DASHES).translate(_SPACES).lower()
    return _resolve_decimal_commas(text)


def _resolve_decimal_commas(text: str) -> str:
    """Turn "2,5" into "2.5" only when a comma between digits cannot be a list separator.

    A comma is read as decimal when the text has no dot decimals and either several "d,d" tokens appear
    ("2,5 - 4,0 s"), or the single one sits next to another number or directly before a unit
    ("2,5 to 4 s", "2,5 s"). "[2,4]" or a bare "2,4" stay pairs of numbers.
    """
    if _DOT_DECIMAL_RE.search(text):
        return text
    matches = list(_COMMA_NUM_RE.finditer(text))
    if not matches:
        return text
    if len(matches) == 1:
        m = matches[0]
        before = text[: m.start()].rstrip()
        if before.endswith(("[", "(")):
            return text
        rest = text[: m.start()] + " " + text[m.end() :]
        has_other_number = re.search(r"\d", rest) is not None
        unit_after = re.match(rf"\s*(?:{_UNIT})\b", text[m.end() :]) is not None
        if not (has_other_number or unit_after):
            return text
    return _COMMA_NUM_RE.sub(r"\1.\2", text)


def _replace_timestamps(text: str) -> str:
    """Rewrite clock times ("0:02.5", "00:04", "1:02:03") as plain seconds with an explicit "s" unit."""

    def repl(m: re.Match[str]) -> str:
        first, second, third = m.group(1), m.group(2), m.group(3)
        if third is None:  # mm:ss(.f)
            if float(second) >= 60:
                return m.group(0)
            return f"{int(first) * 60 + float(second):g}s"
        if "." in second or float(third) >= 60:  # hh:mm:ss(.f) needs whole minutes
            return m.group(0)
        return f"{int(first) * 3600 + int(second) * 60 + float(third):g}s"

    return _TIMESTAMP_RE.sub(repl, text)


def _times(m: re.Match[str], first_group: int = 1) -> tuple[_Time, _Time]:
    """The two (value, unit) pairs captured by a two-time pattern."""
    g = first_group
    return (
        _Time(float(m.group(g)), m.group(g + 1)),
        _Time(float(m.group(g + 2)), m.group(g + 3)),
    )


def _pair_seconds(a: _Time, b: _Time) -> tuple[float, float]:
    """Convert a range to seconds, letting a unit written only once apply to both ends ("2 to 4 ms")."""
    ua = a.unit if a.unit is not None else b.unit
    ub = b.unit if b.unit is not None else a.unit
    return _to_seconds(a.value, ua), _to_seconds(b.value, ub)


def _find_interval(text: str) -> tuple[float, float] | None:
    """Raw (start, end) in seconds from normalized text, before ordering and clipping."""
    for pattern in (_RANGE_RE, _BRACKET_RE):
        m = pattern.search(text)
        if m is not None:
            return _pair_seconds(*_times(m))
    m = _START_END_RE.search(text)
    if m is not None:
        return _pair_seconds(*_times(m))
    with_unit = [t for t in _TIME_RE.finditer(text) if t.group(2) is not None]
    if len(with_unit) >= 2:
        a, b = (_to_seconds(float(t.group(1)), t.group(2)) for t in with_unit[:2])
        return a, b
    if len(with_unit) == 1:
        t = with_unit[0]
        s = _to_seconds(float(t.group(1)), t.group(2))
        return s, s
    m = _POINT_CUE_RE.search(text) or _ONLY_NUMBER_RE.match(text)
    if m is not None:
        s = float(m.group(1))
        return s, s
    return None


def parse_time_answer(text: str, duration_s: float | None = None) -> tuple[float, float] | None:
    """Parse a free-text answer into (start_s, end_s), or None when it names no usable time.

    A single time ("at 3 seconds") gives a zero-width interval. Reversed ends are swapped. With
    ``duration_s`` the interval is clipped to [0, duration_s], and None is returned when it lies
    entirely after the clip.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    norm = _replace_timestamps(_normalize(text))
    found = _find_interval(norm)
    if found is None:
        return None
    start, end = found
    if not (math.isfinite(start) and math.isfinite(end)):
        return None
    if start > end:
        start, end = end, start
    if duration_s is not None:
        if start > duration_s:
            return None
        start, end = max(0.0, start), min(float(duration_s), end)
    return float(start), float(end)
