"""Scores of detection lists: rows with ``detections`` and ``gt_events`` (every occurrence of a class).

Per condition: DCASE event-based F1 with collars (:func:`~wheretolisten.metrics.events.event_f1`), per
query class and macro-averaged over classes, with a 95 % bootstrap CI over scenes (the scenes are
resampled, every query of a drawn scene comes along); the same on onsets alone; and PSDS
(sed_scores_eval, when installed) on the detection scores, where each scene's score of a class is,
at each time, the highest score of a detection of that class covering it (0 elsewhere).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from .curves import _require_sed, _writable_frame_type
from .events import event_f1
from .rows import Row, by_condition

__all__ = [
    "detection_f1",
    "detection_psds",
    "detection_scores",
    "f1_by_class",
    "f1_difference",
    "has_detections",
    "paired_differences",
    "psds_ci",
]

#: DCASE's collars: onset 0.2 s, offset max(0.2 s, 20 % of the event).
T_COLLAR = 0.2
PERCENTAGE_OF_LENGTH = 0.2


def has_detections(rows: Sequence[Row]) -> bool:
    """Whether any row carries a detection list (the detection conditions)."""
    return any(isinstance(r.get("detections"), list) for r in rows)


class Counts(NamedTuple):
    """(tp, fp, fn) per scene and class of one condition: ``counts`` is [scenes, classes, 3]."""

    scenes: list[str]
    labels: list[str]
    counts: np.ndarray


def _label(row: Row) -> str:
    return str(row.get("label") or row["query"])


def _events(row: Row, key: str) -> list[tuple[float, float]]:
    if key == "detections":
        return [(float(d["onset_s"]), float(d["offset_s"])) for d in row.get("detections") or []]
    return [(float(a), float(b)) for a, b in (row.get("gt_events") or [row["gt"]])]


def _connected(events: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Overlapping or touching occurrences of one class joined into one, as sed_scores_eval requires of
    ground truth (scenes with free placement can overlap two occurrences of a class)."""
    joined: list[tuple[float, float]] = []
    for a, b in sorted(events):
        if joined and a <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], b))
        else:
            joined.append((a, b))
    return joined


def _items(row: Row, key: str) -> list[dict[str, Any]]:
    """A row's detections or reference events as event_f1 / sed_eval event dicts."""
    scene, label = str(row["scene_id"]), _label(row)
    return [{"filename": scene, "onset": a, "offset": b, "event_label": label} for a, b in _events(row, key)]


def counts(group: Sequence[Row], evaluate_offset: bool = True) -> Counts:
    """Matched, extra and missed occurrences per (scene, class) of one condition's rows."""
    scenes = sorted({str(r["scene_id"]) for r in group})
    labels = sorted({_label(r) for r in group})
    out = np.zeros((len(scenes), len(labels), 3))
    for r in group:
        pred, ref = _items(r, "detections"), _items(r, "gt_events")
        res = event_f1(pred, ref, T_COLLAR, PERCENTAGE_OF_LENGTH, evaluate_offset)
        out[scenes.index(str(r["scene_id"])), labels.index(_label(r))] += (res["tp"], res["fp"], res["fn"])
    return Counts(scenes, labels, out)


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """F1 = 2 tp / (2 tp + fp + fn); NaN where a class has neither references nor detections."""
    den = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), np.nan)


def _macro(summed: np.ndarray) -> np.ndarray:
    """Macro F1 over classes of summed counts [..., classes, 3] (classes with no events left out)."""
    per_class = _f1(summed[..., 0], summed[..., 1], summed[..., 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN resamples give NaN
        return np.nanmean(per_class, axis=-1)


def _resample_weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """[n_boot, n] multiplicities of n scenes drawn with replacement."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(n_boot, n))
    return np.stack([np.bincount(d, minlength=n) for d in draws]).astype(float)


def detection_f1(
    group: Sequence[Row], evaluate_offset: bool = True, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> dict[str, Any]:
    """Macro F1 over classes (with its bootstrap CI over scenes), micro F1, precision and recall."""
    c = counts(group, evaluate_offset)
    total = c.counts.sum(axis=0)
    tp, fp, fn = (float(x) for x in total.sum(axis=0))
    lo = hi = math.nan
    if n_boot > 0:
        weights = _resample_weights(len(c.scenes), n_boot, seed)
        boot = _macro(np.einsum("bs,sct->bct", weights, c.counts))
        lo, hi = (float(x) for x in np.nanpercentile(boot, [50 * (1 - level), 50 * (1 + level)]))
    return {
        "f1": float(_macro(total)),
        "f1_ci": [float(lo), float(hi)],
        "f1_micro": float(_f1(np.array(tp), np.array(fp), np.array(fn))),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "per_class": {label: float(f) for label, f in zip(c.labels, _f1(*total.T), strict=True)},
    }


def _aligned(group: Sequence[Row], scenes: list[str], labels: list[str], evaluate_offset: bool) -> np.ndarray:
    """A condition's counts on a given (scenes, labels) grid (zeros where it has no rows)."""
    c = counts(group, evaluate_offset)
    out = np.zeros((len(scenes), len(labels), 3))
    for i, scene in enumerate(c.scenes):
        for j, label in enumerate(c.labels):
            out[scenes.index(scene), labels.index(label)] = c.counts[i, j]
    return out


def f1_difference(
    group: Sequence[Row],
    reference: Sequence[Row],
    evaluate_offset: bool = True,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Macro F1 of ``group`` minus that of ``reference`` (same scenes), with a paired bootstrap CI: each
    resample draws scenes once for both conditions."""
    scenes = sorted({str(r["scene_id"]) for r in [*group, *reference]})
    labels = sorted({_label(r) for r in [*group, *reference]})
    mine, ref = (_aligned(g, scenes, labels, evaluate_offset) for g in (group, reference))
    diff = float(_macro(mine.sum(axis=0)) - _macro(ref.sum(axis=0)))
    weights = _resample_weights(len(scenes), n_boot, seed)
    boot = _macro(np.einsum("bs,sct->bct", weights, mine)) - _macro(np.einsum("bs,sct->bct", weights, ref))
    lo, hi = (float(x) for x in np.nanpercentile(boot, [2.5, 97.5]))
    return {"diff": diff, "ci": [lo, hi], "share_above_zero": float(np.mean(boot > 0))}


def _score_frame(rows: Sequence[Row], labels: list[str], duration_s: float) -> Any:
    """One scene's score frame: per class, the highest detection score covering each time (0 elsewhere)."""
    bounds = {0.0, duration_s}
    for r in rows:
        for a, b in _events(r, "detections"):
            bounds.update((min(max(a, 0.0), duration_s), min(max(b, 0.0), duration_s)))
    stamps = np.array(sorted(bounds))
    values = np.zeros((stamps.size - 1, len(labels)))
    for r in rows:
        column = labels.index(_label(r))
        for d in r.get("detections") or []:
            inside = (stamps[:-1] >= float(d["onset_s"])) & (stamps[1:] <= float(d["offset_s"]))
            values[inside, column] = np.maximum(values[inside, column], float(d["score"]))
    frame = _require_sed().scores.create_score_dataframe(values, stamps, labels)
    return _writable_frame_type()(frame)


def detection_psds(
    group: Sequence[Row], dtc: float = 0.7, gtc: float = 0.7, max_efpr: float = 100.0
) -> float:
    """Intersection-based PSDS (macro over classes, DCASE scenario 1 by default) of the detection scores."""
    labels = sorted({_label(r) for r in group})
    by_scene: dict[str, list[Row]] = {}
    for r in group:
        by_scene.setdefault(str(r["scene_id"]), []).append(r)
    scores, truth, durations = {}, {}, {}
    for scene, rows in by_scene.items():
        duration = float(rows[0]["duration_s"])
        scores[scene] = _score_frame(rows, labels, duration)
        per_label: dict[str, list[tuple[float, float]]] = {}
        for r in rows:  # a class asked twice in a scene names its occurrences twice: one ground truth
            per_label.setdefault(_label(r), []).extend(_events(r, "gt_events"))
        truth[scene] = [(a, b, label) for label, found in per_label.items() for a, b in _connected(found)]
        durations[scene] = duration
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value, *_ = _require_sed().intersection_based.psds(
            scores, truth, durations, dtc_threshold=dtc, gtc_threshold=gtc, max_efpr=max_efpr
        )
    return float(value)


def psds_ci(
    group: Sequence[Row],
    n_boot: int = 200,
    seed: int = 0,
    dtc: float = 0.7,
    gtc: float = 0.7,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap CI of :func:`detection_psds` over scenes (a drawn scene's copies count as
    distinct recordings). Each resample recomputes PSDS, so this takes ``n_boot`` times as long."""
    by_scene: dict[str, list[Row]] = {}
    for r in group:
        by_scene.setdefault(str(r["scene_id"]), []).append(r)
    scenes = sorted(by_scene)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        draw = rng.integers(0, len(scenes), len(scenes))
        rows = [
            {**r, "scene_id": f"{scenes[i]}#{k}"} for k, i in enumerate(draw) for r in by_scene[scenes[i]]
        ]
        values.append(detection_psds(rows, dtc, gtc))
    lo, hi = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def _with_detections(rows: Sequence[Row]) -> dict[str, list[Row]]:
    groups = by_condition([r for r in rows if isinstance(r.get("detections"), list)])
    return {cond: group for cond, group in groups.items() if group}


def detection_scores(
    rows: Sequence[Row], n_boot: int = 2000, seed: int = 0, psds: bool = True
) -> list[dict[str, Any]]:
    """Per detection condition: queries, scenes, event F1 (DCASE collars; onsets only) and, with
    ``psds`` (needs sed_scores_eval), PSDS at DTC = GTC = 0.7 and 0.1."""
    out = []
    for cond, group in _with_detections(rows).items():
        full = detection_f1(group, True, n_boot, seed)
        onset = detection_f1(group, False, n_boot, seed)
        line: dict[str, Any] = {
            "condition": cond,
            "n": len(group),
            "scenes": len({str(r["scene_id"]) for r in group}),
            "detections": sum(len(r.get("detections") or []) for r in group),
            "events": sum(len(_events(r, "gt_events")) for r in group),
            "f1": full["f1"],
            "f1_ci": full["f1_ci"],
            "precision": full["precision"],
            "recall": full["recall"],
            "onset_f1": onset["f1"],
            "onset_f1_ci": onset["f1_ci"],
        }
        if psds:
            line["psds"] = detection_psds(group)
            line["psds_lenient"] = detection_psds(group, 0.1, 0.1)
        out.append(line)
    return out


def paired_differences(rows: Sequence[Row], reference: str, n_boot: int = 2000) -> list[dict[str, Any]]:
    """Each other detection condition's F1 minus the reference condition's (DCASE collars; onsets only),
    paired by scene, with bootstrap CIs."""
    groups = _with_detections(rows)
    if reference not in groups:
        return []
    out = []
    for cond, group in groups.items():
        if cond == reference:
            continue
        full = f1_difference(group, groups[reference], True, n_boot)
        onset = f1_difference(group, groups[reference], False, n_boot)
        out.append(
            {
                "condition": cond,
                "f1_diff": full["diff"],
                "f1_diff_ci": full["ci"],
                "onset_f1_diff": onset["diff"],
                "onset_f1_diff_ci": onset["ci"],
            }
        )
    return out


def f1_by_class(rows: Sequence[Row], evaluate_offset: bool = False) -> list[dict[str, Any]]:
    """One line per query class: its number of queries and each detection condition's F1 (onsets only)."""
    groups = _with_detections(rows)
    per = {cond: detection_f1(g, evaluate_offset, n_boot=0)["per_class"] for cond, g in groups.items()}
    labels = sorted({label for values in per.values() for label in values})
    first = next(iter(groups.values()), [])
    lines = []
    for label in labels:
        line: dict[str, Any] = {"label": label, "n": sum(1 for r in first if _label(r) == label)}
        line.update({cond: per[cond].get(label, math.nan) for cond in groups})
        lines.append(line)
    return lines
