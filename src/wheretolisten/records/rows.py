"""The typed benchmark result row: one (scene, query, condition) record, and its one validation."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from typing_extensions import NotRequired, TypedDict

#: Fields every results row carries; summaries, reports and figures need nothing else.
REQUIRED_FIELDS = ("scene_id", "query", "condition", "gt", "peak_s", "interval_s", "duration_s")
#: Optional numeric fields (None allowed).
OPTIONAL_NUMBERS = ("attn_share", "attn_entropy", "attn_share_base", "attn_entropy_base", "elapsed_s")
#: (scene_id, query, condition): the identity of a row inside one run.
RowKey = tuple[str, str, str]


class Profile(TypedDict):
    """Attention profiles of a row (``bench run --save-profiles``), one value per audio token."""

    time_s: list[float]
    delta: list[float]
    base: NotRequired[list[float]]
    steered: NotRequired[list[float]]


class DetectionItem(TypedDict):
    """One detected occurrence (``wheretolisten.detections.Detection``)."""

    onset_s: float
    offset_s: float
    score: float


class ResultRow(TypedDict):
    """One results line of ``bench run``: the prediction for one query of one scene under one condition."""

    scene_id: str
    query: str
    condition: str
    gt: list[float]  # [onset, offset] of the queried event, seconds
    peak_s: float | None  # predicted time; None when the condition gave none (a miss)
    interval_s: list[float] | None  # predicted [start, end]
    duration_s: float
    label: NotRequired[str]
    gt_active: NotRequired[list[float]]
    position: NotRequired[str]  # first / middle / last
    event_index: NotRequired[int]
    is_target: NotRequired[bool]
    model: NotRequired[str | None]
    #: The weights and precision a model condition ran with (``Adapter.computed_with``).
    computed_with: NotRequired[dict[str, str | None]]
    config_hash: NotRequired[str]
    config: NotRequired[dict[str, Any]]
    scene_hash: NotRequired[str]  # what the row was computed from: the scene's events and audio
    control: NotRequired[str | None]  # which control a control condition is (None: not a control)
    elapsed_s: NotRequired[float]
    attn_share: NotRequired[float | None]
    attn_entropy: NotRequired[float | None]
    attn_share_base: NotRequired[float | None]
    attn_entropy_base: NotRequired[float | None]
    readout_rule: NotRequired[str]  # the readout rule the peak and interval were read with
    intervals: NotRequired[dict[str, list[float] | None]]  # interval of each recorded rule, by name
    tuned: NotRequired[str]  # where the settings were chosen (e.g. "dev")
    draw_peaks_s: NotRequired[list[float | None]]  # random-vector: the peak of every draw
    events: NotRequired[list[list[float]]]  # [onset, offset] of every event of the scene (controls)
    vector_event: NotRequired[int]  # wrong-query: the event whose query built the vector
    vector_query: NotRequired[str]  # wrong-query and absent-class: the query that built the vector
    parse_failed: NotRequired[bool]
    answer: NotRequired[str]
    profile: NotRequired[Profile]
    detections: NotRequired[list[DetectionItem]]  # every predicted occurrence (detection conditions)
    #: [onset, offset] of every interval of the queried sound (detection: every event of its class; any
    #: condition: a query with several intervals, scored against all: ``metrics.rows.query_intervals``)
    gt_events: NotRequired[list[list[float]]]


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_pair(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(is_number(v) for v in value)


def _is_span(value: Any) -> bool:
    """[start, end] of finite numbers with start <= end (a reversed span would be scored as its mirror)."""
    return _is_pair(value) and value[0] <= value[1]


def _is_spans(value: Any) -> bool:
    return isinstance(value, list) and all(_is_span(v) for v in value)


def _profile_problem(profile: Any) -> str | None:
    if profile is None:
        return None
    if not isinstance(profile, dict) or "time_s" not in profile or "delta" not in profile:
        return "'profile' must be an object with time_s and delta (and optionally base, steered)"
    n = len(profile["time_s"]) if isinstance(profile["time_s"], list) else -1
    for key in ("time_s", "delta", "base", "steered"):
        values = profile.get(key)
        if key in profile and (
            not isinstance(values, list) or len(values) != n or not all(is_number(v) for v in values)
        ):
            return f"'profile.{key}' must be a list of {max(n, 0)} finite numbers"
    if n <= 0:
        return "'profile.time_s' is empty"
    times = profile["time_s"]
    if any(b <= a for a, b in itertools.pairwise(times)):
        return "'profile.time_s' must increase from token to token"
    return None


def _detections_problem(row: dict[str, Any]) -> str | None:
    found, truth = row.get("detections"), row.get("gt_events")
    if found is not None:
        if not isinstance(found, list):
            return "'detections' must be a list of {onset_s, offset_s, score}"
        for d in found:
            ok = isinstance(d, dict) and all(is_number(d.get(k)) for k in ("onset_s", "offset_s", "score"))
            if not ok or d["offset_s"] < d["onset_s"]:
                return f"'detections' must hold {{onset_s, offset_s, score}} with onset <= offset, got {d!r}"
    if truth is not None and not _is_spans(truth):
        return f"'gt_events' must be a list of [onset, offset], got {truth!r}"
    return None


def _first_bad(values: Any, ok: Callable[[Any], bool], container: type) -> str | None:
    """What is wrong with a container field: not a ``container``, or its first item that is not ``ok``."""
    items: Iterable[tuple[Any, Any]] = (
        values.items() if isinstance(values, dict) else enumerate(values) if isinstance(values, list) else ()
    )
    if not isinstance(values, container):
        return f"got {values!r}"
    bad = next(((k, v) for k, v in items if not ok(v)), None)
    return None if bad is None else f"item {bad[0]!r} is {bad[1]!r}"


def _extras_problem(row: dict[str, Any]) -> str | None:
    """Why an optional field the metrics read (events, config, intervals, draw_peaks_s) is malformed."""
    checks: tuple[tuple[str, Callable[[Any], bool], type, str], ...] = (
        ("events", _is_span, list, "a list of [onset, offset] with onset <= offset"),
        (
            "intervals",
            lambda v: v is None or _is_span(v),
            dict,
            "an object of [start, end] (start <= end) or null",
        ),
        ("draw_peaks_s", lambda v: v is None or is_number(v), list, "a list of numbers or nulls"),
        ("config", lambda v: True, dict, "an object"),
        ("computed_with", lambda v: v is None or isinstance(v, str), dict, "an object of strings or nulls"),
    )
    for key, ok, container, shape in checks:
        problem = _first_bad(row[key], ok, container) if key in row else None
        if problem is not None:
            return f"'{key}' must be {shape}, {problem}"
    return None


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


#: The row's other typed fields: (name, check, what it must be). The tables group and label by them
#: (position, control, readout rule, tuned), the controls read the vector's event, the direct condition
#: counts parse failures: a wrong type mis-grouped rows or failed inside a table.
SCALAR_FIELDS: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("label", lambda v: isinstance(v, str), "a string"),
    ("gt_active", _is_span, "[onset, offset] with onset <= offset"),
    ("position", lambda v: v is None or isinstance(v, str), "a string or null"),
    ("event_index", _is_index, "a whole number >= 0"),
    ("is_target", lambda v: isinstance(v, bool), "true or false"),
    ("model", lambda v: v is None or isinstance(v, str), "a string or null"),
    ("config_hash", lambda v: isinstance(v, str), "a string"),
    ("scene_hash", lambda v: isinstance(v, str), "a string"),
    ("control", lambda v: v is None or isinstance(v, str), "a string or null"),
    ("readout_rule", lambda v: v is None or isinstance(v, str), "a string or null"),
    ("tuned", lambda v: v is None or isinstance(v, str), "a string or null"),
    ("vector_event", _is_index, "a whole number >= 0"),
    ("vector_query", lambda v: isinstance(v, str), "a string"),
    ("parse_failed", lambda v: isinstance(v, bool), "true or false"),
    ("answer", lambda v: v is None or isinstance(v, str), "a string or null"),
)


def _scalars_problem(row: dict[str, Any]) -> str | None:
    """Why one of :data:`SCALAR_FIELDS` present in ``row`` has the wrong type, or None."""
    for key, ok, shape in SCALAR_FIELDS:
        if key in row and not ok(row[key]):
            return f"'{key}' must be {shape}, got {row[key]!r}"
    return None


def object_problem(line: Any, fields: Sequence[str]) -> str | None:
    """Why a parsed line is not a JSON object holding ``fields``, or None (the start of every line check)."""
    if not isinstance(line, dict):
        return f"expected a JSON object, got {type(line).__name__}"
    missing = [k for k in fields if k not in line]
    return f"missing {', '.join(missing)}" if missing else None


def check_row(row: Any) -> str | None:
    """Why a parsed line is not a usable result row, or None when it is (the one row validation)."""
    problem = object_problem(row, REQUIRED_FIELDS)
    if problem is not None:
        return problem
    for key in ("scene_id", "query", "condition"):
        if not isinstance(row[key], str):
            return f"'{key}' must be a string, got {row[key]!r}"
    if not _is_span(row["gt"]):
        return f"'gt' must be [onset, offset] with onset <= offset, got {row['gt']!r}"
    if row["peak_s"] is not None and not is_number(row["peak_s"]):
        return f"'peak_s' must be a number or null, got {row['peak_s']!r}"
    if row["interval_s"] is not None and not _is_span(row["interval_s"]):
        return f"'interval_s' must be [start, end] with start <= end, or null, got {row['interval_s']!r}"
    if not is_number(row["duration_s"]) or row["duration_s"] <= 0:
        return f"'duration_s' must be a positive number, got {row['duration_s']!r}"
    for key in OPTIONAL_NUMBERS:
        if row.get(key) is not None and not is_number(row[key]):
            return f"'{key}' must be a number or null, got {row[key]!r}"
    return (
        _profile_problem(row.get("profile"))
        or _detections_problem(row)
        or _extras_problem(row)
        or _scalars_problem(row)
    )


def row_key(row: Mapping[str, Any]) -> RowKey:
    """(scene_id, query, condition): the identity of a results row within one run."""
    return (str(row["scene_id"]), str(row["query"]), str(row["condition"]))
