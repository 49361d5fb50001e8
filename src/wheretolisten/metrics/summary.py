"""Summaries of result rows: per condition, per target position and event class, paired tests, chance.

Hit rates and R@IoU are percents; IoU, coverage and precision fractions in [0, 1]. A missing prediction
counts as a miss / zero overlap, so failures to answer are penalized rather than dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from wheretolisten.errors import DataError

from .rows import Row, by_condition, check_rows, optional_values, query_intervals, row_scores, scenes_of
from .scores import FloatArray, interval_scores, intervals_array
from .stats import bootstrap_ci, mcnemar, wilcoxon

__all__ = [
    "breakdown_by_position",
    "hit_rate_by_label",
    "paired_tests",
    "random_hit_expectation",
    "random_iou_expectation",
    "summarize",
]

_POSITIONS = ("first", "middle", "last")


def _pct(ci: tuple[float, float]) -> list[float]:
    """A CI of fractions as percents."""
    return [100.0 * ci[0], 100.0 * ci[1]]


def _attention_stats(group: Sequence[Row], name: str, n_boot: int, seed: int) -> dict[str, Any]:
    """Mean/CI of an attention field, and its paired change vs the ``<name>_base`` field when present."""
    out: dict[str, Any] = {}
    val = optional_values(group, name)
    if np.all(np.isnan(val)):
        return out
    out[name] = float(np.nanmean(val))
    out[f"{name}_ci"] = list(bootstrap_ci(val, n_boot=n_boot, seed=seed))
    base = optional_values(group, f"{name}_base")
    both = ~(np.isnan(val) | np.isnan(base))
    if np.any(both):
        delta = val[both] - base[both]
        out[f"{name}_delta"] = float(np.mean(delta))
        out[f"{name}_delta_ci"] = list(bootstrap_ci(delta, n_boot=n_boot, seed=seed))
        out[f"{name}_p"] = wilcoxon(val[both], base[both])["p_value"]
    return out


def summarize(rows: Sequence[Row], n_boot: int = 2000, seed: int = 0) -> list[dict[str, Any]]:
    """One summary dict per condition (order of first appearance): hit rate, overlaps, attention change.

    Hit rate and R@IoU are in percent; IoU, coverage and precision are fractions in [0, 1]. CIs are
    percentile bootstraps of the mean. ``parse_failures`` appears for conditions whose rows carry
    ``parse_failed``; attention fields appear when the rows carry them, with the change vs base and a
    Wilcoxon p-value (``attn_share_p``, ``attn_entropy_p``).
    """
    check_rows(rows)
    summary: list[dict[str, Any]] = []
    for cond, group in by_condition(rows).items():
        sc = row_scores(group)
        s: dict[str, Any] = {"condition": cond, "n": len(group)}
        s["hit_rate"] = 100.0 * float(np.mean(sc["hit"]))
        scenes = scenes_of(group)
        s["hit_rate_ci"] = _pct(bootstrap_ci(sc["hit"], n_boot=n_boot, seed=seed, clusters=scenes))
        s["iou"] = float(np.mean(sc["iou"]))
        s["iou_ci"] = list(bootstrap_ci(sc["iou"], n_boot=n_boot, seed=seed, clusters=scenes))
        s["coverage"] = float(np.mean(sc["coverage"]))
        s["precision"] = float(np.mean(sc["precision"]))
        s["r_at_iou_0.3"] = 100.0 * float(np.mean(sc["iou"] >= 0.3))
        s["r_at_iou_0.5"] = 100.0 * float(np.mean(sc["iou"] >= 0.5))
        s["n_with_interval"] = sum(r["interval_s"] is not None for r in group)
        if any("parse_failed" in r for r in group):
            s["parse_failures"] = sum(bool(r.get("parse_failed")) for r in group)
        s.update(_attention_stats(group, "attn_share", n_boot, seed))
        s.update(_attention_stats(group, "attn_entropy", n_boot, seed))
        summary.append(s)
    return summary


def breakdown_by_position(rows: Sequence[Row], n_boot: int = 2000, seed: int = 0) -> list[dict[str, Any]]:
    """Hit rate (percent, with CI) per (condition, position of the queried event in the clip)."""
    check_rows(rows)
    out: list[dict[str, Any]] = []
    for cond, group in by_condition(rows).items():
        positions = [str(r.get("position")) for r in group]
        order = [p for p in _POSITIONS if p in positions] + sorted(set(positions) - set(_POSITIONS))
        h = row_scores(group)["hit"]
        pos = np.asarray(positions, dtype=object)
        for p in order:
            hp = h[pos == p]
            out.append(
                {
                    "condition": cond,
                    "position": p,
                    "n": int(hp.size),
                    "hit_rate": 100.0 * float(np.mean(hp)),
                    "hit_rate_ci": _pct(bootstrap_ci(hp, n_boot=n_boot, seed=seed)),
                }
            )
    return out


def hit_rate_by_label(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Hit rate (percent) of every condition per queried event class: one dict per label, conditions as
    keys, with the number of queries of that label (``n``) — which sounds a method finds, and which not."""
    check_rows(rows)
    groups = by_condition(rows)
    labels = sorted({str(r.get("label")) for r in rows})
    out: list[dict[str, Any]] = []
    for label in labels:
        line: dict[str, Any] = {"label": label}
        for cond, group in groups.items():
            mine = [r for r in group if str(r.get("label")) == label]
            line.setdefault("n", len(mine))
            line[cond] = 100.0 * float(np.mean(row_scores(mine)["hit"])) if mine else None
        out.append(line)
    return out


def _keyed(group: Sequence[Row], cond: str) -> dict[tuple[str, str], int]:
    """Index of each (scene_id, query) in a condition's rows; duplicates are a malformed results file."""
    index: dict[tuple[str, str], int] = {}
    for i, r in enumerate(group):
        key = (str(r["scene_id"]), str(r["query"]))
        if key in index:
            raise DataError(
                f"condition {cond!r} has more than one row for scene {key[0]!r}, query {key[1]!r}"
            )
        index[key] = i
    return index


def paired_tests(rows: Sequence[Row], reference: str = "steered") -> list[dict[str, Any]]:
    """McNemar on hits and Wilcoxon on IoU of ``reference`` vs every other condition, paired by query.

    Pairs are (scene_id, query) items present in both conditions. ``b01`` counts items the reference
    missed and the other condition hit; ``b10`` the reverse.
    """
    check_rows(rows)
    groups = by_condition(rows)
    if reference not in groups:
        raise DataError(f"reference condition {reference!r} not in results ({', '.join(groups)})")
    ref_rows = groups[reference]
    ref_idx = _keyed(ref_rows, reference)
    ref_sc = row_scores(ref_rows)
    out: list[dict[str, Any]] = []
    for cond, group in groups.items():
        if cond == reference:
            continue
        idx = _keyed(group, cond)
        common = [k for k in ref_idx if k in idx]
        sc = row_scores(group)
        ia = np.asarray([ref_idx[k] for k in common], dtype=int)
        ib = np.asarray([idx[k] for k in common], dtype=int)
        ha, hb = ref_sc["hit"][ia] > 0, sc["hit"][ib] > 0
        ua, ub = ref_sc["iou"][ia], sc["iou"][ib]
        pair_scenes = [k[0] for k in common]
        mc = mcnemar(ha, hb, clusters=pair_scenes)
        wx = wilcoxon(ua, ub, clusters=pair_scenes)
        empty = len(common) == 0
        out.append(
            {
                "reference": reference,
                "condition": cond,
                "n_pairs": len(common),
                "hit_rate_ref": math.nan if empty else 100.0 * float(np.mean(ha)),
                "hit_rate": math.nan if empty else 100.0 * float(np.mean(hb)),
                "b01": mc["b01"],
                "b10": mc["b10"],
                "mcnemar_p": mc["p_value"],
                "iou_ref": math.nan if empty else float(np.mean(ua)),
                "iou": math.nan if empty else float(np.mean(ub)),
                "wilcoxon_stat": wx["statistic"],
                "wilcoxon_p": wx["p_value"],
            }
        )
    return out


def _gt_and_duration(rows: Sequence[Row]) -> tuple[FloatArray, FloatArray]:
    """(n, 2) ground truths and (n,) durations of the rows."""
    gt = intervals_array(r["gt"] for r in rows)
    dur = np.asarray([float(r["duration_s"]) for r in rows], dtype=float)
    if np.any(dur <= 0):
        raise DataError("duration_s must be positive in every row")
    return gt, dur


def random_hit_expectation(rows: Sequence[Row]) -> float:
    """Expected hit rate (fraction) of a peak drawn uniformly in [0, duration]: mean length of the query's
    intervals (their union, inside the clip) / duration."""
    if not rows:
        return math.nan
    _, dur = _gt_and_duration(rows)
    inside = np.asarray([_covered(query_intervals(r), d) for r, d in zip(rows, dur, strict=True)])
    return float(np.mean(inside / dur))


def _covered(intervals: Sequence[Sequence[float]], duration: float) -> float:
    """Seconds of [0, duration] inside the union of ``intervals``."""
    total, reach = 0.0, 0.0
    for a, b in sorted((max(0.0, float(a)), min(duration, float(b))) for a, b in intervals):
        start = max(a, reach)
        if b > start:
            total += b - start
        reach = max(reach, b)
    return total


def random_iou_expectation(rows: Sequence[Row], n_samples: int = 20_000, seed: int = 0) -> float:
    """Expected IoU of an interval with both ends drawn uniformly in [0, duration] (Monte Carlo)."""
    if not rows:
        return math.nan
    gt, dur = _gt_and_duration(rows)
    rng = np.random.default_rng(seed)
    per_row = max(1, n_samples // len(rows))
    ends = rng.uniform(0.0, 1.0, size=(len(rows), per_row, 2)) * dur[:, None, None]
    pred = np.sort(ends, axis=2).reshape(-1, 2)
    gts = np.repeat(gt, per_row, axis=0)
    return float(np.mean(interval_scores(list(pred), list(gts))["iou"]))
