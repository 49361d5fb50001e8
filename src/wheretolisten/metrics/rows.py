"""Result rows as the scores see them: validated once, grouped by condition in a fixed order, scored."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias, cast

import numpy as np

from wheretolisten.errors import DataError
from wheretolisten.records import ResultRow, check_row

from .scores import FloatArray, best_interval_scores, hits_any

__all__ = [
    "Row",
    "by_condition",
    "carrying",
    "check_rows",
    "optional_values",
    "query_intervals",
    "row_scores",
    "scenes_of",
]

#: A results row: the typed ``records.ResultRow``; plain mappings (parsed JSON) are accepted alike.
Row: TypeAlias = ResultRow | Mapping[str, Any]


def check_rows(rows: Sequence[Row]) -> None:
    """Raise DataError naming the first unusable row and why (the one validation, ``records.check_row``)."""
    for i, row in enumerate(rows):
        problem = check_row(row)
        if problem is not None:
            raise DataError(f"results row {i}: {problem}")


def by_condition(rows: Sequence[Row]) -> dict[str, list[Row]]:
    """Rows grouped by condition (in order of first appearance), each group sorted by (scene, query).

    Sorting makes every statistic, bootstrap CIs included, independent of the order of the rows, so the
    shards of a run summarize exactly like the run done in one piece.
    """
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(str(r["condition"]), []).append(r)
    for group in groups.values():
        group.sort(key=lambda r: (str(r.get("scene_id")), str(r.get("query"))))
    return groups


def carrying(rows: Sequence[Row], field: str) -> dict[str, list[Row]]:
    """The groups of :func:`by_condition` whose every row carries ``field`` (a table of that field skips
    the conditions that do not record it)."""
    return {c: g for c, g in by_condition(rows).items() if all(field in r for r in g)}


def query_intervals(row: Row) -> list[list[float]]:
    """Every interval of the row's query: ``gt_events`` (a query with several intervals: repeated
    sounds), else the one ``gt``."""
    return [list(iv) for iv in (cast(Mapping[str, Any], row).get("gt_events") or [row["gt"]])]


def row_scores(rows: Sequence[Row], key: str = "interval_s") -> dict[str, FloatArray]:
    """Hit (0/1), IoU, coverage and precision per row: a hit is a peak inside any of the query's
    intervals, the overlaps are against the best-matching one. ``key``: the interval scored."""
    gts = [query_intervals(r) for r in rows]
    out = best_interval_scores((cast(Mapping[str, Any], r).get(key) for r in rows), gts)
    out["hit"] = hits_any((r["peak_s"] for r in rows), gts).astype(float)
    return out


def scenes_of(rows: Sequence[Row]) -> list[str]:
    """Each row's scene: the cluster of its queries (bootstrap and tests resample scenes when a scene
    has several queries, ``stats``)."""
    return [str(r["scene_id"]) for r in rows]


def optional_values(rows: Sequence[Row], key: str) -> FloatArray:
    """Values of an optional numeric field, NaN where absent or None."""
    values = [cast(Mapping[str, Any], r).get(key) for r in rows]  # a field named at run time
    return np.asarray([math.nan if v is None else float(v) for v in values], dtype=float)
