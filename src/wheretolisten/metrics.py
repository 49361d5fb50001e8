"""Scores for the three-event localization benchmark: per-query hits and overlaps, summaries, and tests.

A results row is one (scene, query, condition) record with at least ``scene_id``, ``query``,
``condition``, ``gt`` [onset, offset], ``peak_s`` (or None), ``interval_s`` ([start, end] or None),
``duration_s`` and ``position``; optional ``attn_share``, ``attn_entropy``, ``attn_share_base``,
``attn_entropy_base`` and ``parse_failed``. A missing prediction (None) counts as a miss / zero overlap,
so failures to answer are penalized rather than dropped.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from wheretolisten.errors import DataError

__all__ = [
    "attention_share",
    "bootstrap_ci",
    "breakdown_by_position",
    "coverage",
    "curve_collar_f1",
    "curve_psds",
    "curve_scores",
    "event_f1",
    "format_table",
    "hit",
    "hit_rate_by_label",
    "hits",
    "interval_scores",
    "iou",
    "mcnemar",
    "paired_tests",
    "precision",
    "profile_entropy",
    "random_hit_expectation",
    "random_iou_expectation",
    "summarize",
    "wilcoxon",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntervalLike = Sequence[float] | npt.ArrayLike | None
Row = Mapping[str, Any]

_REQUIRED_KEYS = ("scene_id", "query", "condition", "gt", "peak_s", "interval_s", "duration_s")
_POSITIONS = ("first", "middle", "last")


# --------------------------------------------------------------------------------------------------
# Per-query scores (vectorized core, scalar wrappers)
# --------------------------------------------------------------------------------------------------


def _intervals_array(intervals: Iterable[IntervalLike]) -> FloatArray:
    """Stack intervals into an (n, 2) float array with NaN rows for None (no prediction)."""
    out = []
    for iv in intervals:
        if iv is None:
            out.append((math.nan, math.nan))
        else:
            a, b = (float(v) for v in np.asarray(iv, dtype=float).reshape(2))
            out.append((min(a, b), max(a, b)))
    return np.asarray(out, dtype=float).reshape(-1, 2)


def _peaks_array(peaks: Iterable[float | None]) -> FloatArray:
    """Peaks as a float array with NaN for None."""
    return np.asarray([math.nan if p is None else float(p) for p in peaks], dtype=float)


def hits(peaks: Iterable[float | None], gts: Iterable[IntervalLike]) -> BoolArray:
    """Vectorized :func:`hit`: whether each peak lies inside its ground-truth interval (inclusive)."""
    p = _peaks_array(peaks)
    g = _intervals_array(gts)
    if p.shape[0] != g.shape[0]:
        raise ValueError(f"{p.shape[0]} peaks but {g.shape[0]} ground-truth intervals")
    with np.errstate(invalid="ignore"):
        return np.asarray((p >= g[:, 0]) & (p <= g[:, 1]), dtype=bool)


def interval_scores(intervals: Iterable[IntervalLike], gts: Iterable[IntervalLike]) -> dict[str, FloatArray]:
    """IoU, coverage (share of GT covered) and precision (share of prediction inside GT) per pair.

    None predictions score 0 on all three. A zero-width prediction has precision 1 if it lies inside the
    GT (inclusive) else 0, and IoU/coverage 0 unless the GT is itself a point at the same time.
    """
    pred = _intervals_array(intervals)
    gt = _intervals_array(gts)
    if pred.shape != gt.shape:
        raise ValueError(f"{pred.shape[0]} predictions but {gt.shape[0]} ground-truth intervals")
    valid = ~np.isnan(pred[:, 0])
    p0, p1 = np.where(valid, pred[:, 0], 0.0), np.where(valid, pred[:, 1], 0.0)
    g0, g1 = gt[:, 0], gt[:, 1]
    inter = np.clip(np.minimum(p1, g1) - np.maximum(p0, g0), 0.0, None)
    plen, glen = p1 - p0, g1 - g0
    union = plen + glen - inter
    point_inside = (p0 >= g0) & (p1 <= g1)  # for zero-width predictions or GTs
    with np.errstate(invalid="ignore", divide="ignore"):
        iou_v = np.where(union > 0, inter / np.where(union > 0, union, 1.0), (p0 == g0) & (p1 == g1))
        cov_v = np.where(glen > 0, inter / np.where(glen > 0, glen, 1.0), (p0 <= g0) & (p1 >= g1))
        prec_v = np.where(plen > 0, inter / np.where(plen > 0, plen, 1.0), point_inside)
    zero = np.zeros_like(inter)
    return {
        "iou": np.where(valid, iou_v, zero).astype(float),
        "coverage": np.where(valid, cov_v, zero).astype(float),
        "precision": np.where(valid, prec_v, zero).astype(float),
    }


def hit(peak_s: float | None, gt: IntervalLike) -> bool:
    """True when the predicted peak time lies inside [onset, offset] (inclusive); None is a miss."""
    return bool(hits([peak_s], [gt])[0])


def iou(interval: IntervalLike, gt: IntervalLike) -> float:
    """Temporal intersection over union of a predicted interval with the ground truth; None gives 0."""
    return float(interval_scores([interval], [gt])["iou"][0])


def coverage(interval: IntervalLike, gt: IntervalLike) -> float:
    """Fraction of the ground-truth interval covered by the prediction (recall-like); None gives 0."""
    return float(interval_scores([interval], [gt])["coverage"][0])


def precision(interval: IntervalLike, gt: IntervalLike) -> float:
    """Fraction of the prediction inside the ground truth; a point counts 1 if inside, else 0."""
    return float(interval_scores([interval], [gt])["precision"][0])


# --------------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------------


def _apply_statistic(statistic: Callable[..., Any], samples: FloatArray) -> FloatArray:
    """Apply a statistic to each bootstrap resample (row); use its axis= form when it has one."""
    try:
        out = np.asarray(statistic(samples, axis=1), dtype=float)
        if out.shape == (samples.shape[0],):
            return out
    except TypeError:
        pass
    return np.asarray([float(statistic(s)) for s in samples], dtype=float)


def bootstrap_ci(
    values: npt.ArrayLike,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    statistic: Callable[..., Any] = np.mean,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``statistic`` (default: the mean) of ``values``.

    NaNs are dropped first; an empty input gives (nan, nan). Resampling is chunked so that large inputs
    do not allocate an (n_boot, n) matrix at once.
    """
    x = np.asarray(values, dtype=float).ravel()
    x = x[~np.isnan(x)]
    if x.size == 0:
        return (math.nan, math.nan)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    chunk = max(1, 4_000_000 // x.size)
    stats_out: list[FloatArray] = []
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        idx = rng.integers(0, x.size, size=(size, x.size))
        stats_out.append(_apply_statistic(statistic, x[idx]))
    boot = np.concatenate(stats_out)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha])
    return (float(lo), float(hi))


def mcnemar(a: npt.ArrayLike, b: npt.ArrayLike) -> dict[str, float | int]:
    """Exact two-sided McNemar test on paired booleans (binomial test on the discordant pairs).

    ``b01`` counts pairs with a false and b true, ``b10`` pairs with a true and b false. No discordant
    pairs gives p = 1.
    """
    x = np.asarray(a, dtype=bool).ravel()
    y = np.asarray(b, dtype=bool).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired arrays differ in length: {x.size} vs {y.size}")
    b01 = int(np.sum(~x & y))
    b10 = int(np.sum(x & ~y))
    n = b01 + b10
    p = 1.0 if n == 0 else float(stats.binomtest(b01, n, 0.5, alternative="two-sided").pvalue)
    return {"b01": b01, "b10": b10, "p_value": p}


def wilcoxon(a: npt.ArrayLike, b: npt.ArrayLike) -> dict[str, float | int]:
    """Wilcoxon signed-rank test of paired samples a vs b (scipy defaults, zero differences dropped).

    Pairs with a NaN are dropped. When no pair differs (or none is left) the test is undefined and we
    report statistic 0 and p = 1, i.e. no evidence of a difference.
    """
    x = np.asarray(a, dtype=float).ravel()
    y = np.asarray(b, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired arrays differ in length: {x.size} vs {y.size}")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if x.size == 0 or np.all(x == y):
        return {"statistic": 0.0, "p_value": 1.0, "n": int(x.size)}
    res = stats.wilcoxon(x, y)
    return {"statistic": float(res.statistic), "p_value": float(res.pvalue), "n": int(x.size)}


# --------------------------------------------------------------------------------------------------
# DCASE event-based F1
# --------------------------------------------------------------------------------------------------


def _max_bipartite_matching(adj: BoolArray) -> int:
    """Size of a maximum matching in a bipartite graph given as a (n_ref, n_est) adjacency matrix."""
    n_ref, n_est = adj.shape
    match_of_est = [-1] * n_est

    def augment(r: int, seen: list[bool]) -> bool:
        for e in np.flatnonzero(adj[r]):
            if seen[e]:
                continue
            seen[e] = True
            if match_of_est[e] < 0 or augment(match_of_est[e], seen):
                match_of_est[e] = r
                return True
        return False

    return sum(augment(r, [False] * n_est) for r in range(n_ref))


def _event_key(ev: Mapping[str, Any]) -> tuple[str, float, float, str]:
    """(filename, onset, offset, label) of an event dict, accepting sed_eval's event_onset/event_offset."""
    onset = ev["onset"] if "onset" in ev else ev["event_onset"]
    offset = ev["offset"] if "offset" in ev else ev["event_offset"]
    return (str(ev.get("filename", "")), float(onset), float(offset), str(ev["event_label"]))


def event_f1(
    pred_events: Iterable[Mapping[str, Any]],
    ref_events: Iterable[Mapping[str, Any]],
    t_collar: float = 0.2,
    percentage_of_length: float = 0.2,
) -> dict[str, float | int]:
    """DCASE event-based F1 (micro-averaged over all events) with onset and offset collars.

    A predicted event matches a reference of the same label in the same file when
    |onset difference| <= t_collar and |offset difference| <= max(t_collar, percentage_of_length *
    reference length). Matching is one-to-one and maximal per file, as sed_eval's "optimal" mode.
    Precision (recall) is 0 when there are no predictions (references), instead of sed_eval's NaN.
    """
    preds = [_event_key(e) for e in pred_events]
    refs = [_event_key(e) for e in ref_events]
    tp = 0
    for fname in {f for f, *_ in preds} | {f for f, *_ in refs}:
        p = [e for e in preds if e[0] == fname]
        r = [e for e in refs if e[0] == fname]
        if not p or not r:
            continue
        p_on = np.array([e[1] for e in p])
        p_off = np.array([e[2] for e in p])
        p_lab = np.array([e[3] for e in p], dtype=object)
        r_on = np.array([e[1] for e in r])
        r_off = np.array([e[2] for e in r])
        r_lab = np.array([e[3] for e in r], dtype=object)
        off_collar = np.maximum(t_collar, percentage_of_length * (r_off - r_on))
        adj = (
            (r_lab[:, None] == p_lab[None, :])
            & (np.abs(r_on[:, None] - p_on[None, :]) <= t_collar)
            & (np.abs(r_off[:, None] - p_off[None, :]) <= off_collar[:, None])
        )
        tp += _max_bipartite_matching(np.asarray(adj, dtype=bool))
    n_sys, n_ref = len(preds), len(refs)
    prec = tp / n_sys if n_sys else 0.0
    rec = tp / n_ref if n_ref else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0
    return {"f1": f1, "precision": prec, "recall": rec, "tp": tp, "fp": n_sys - tp, "fn": n_ref - tp}


# --------------------------------------------------------------------------------------------------
# Threshold-free scoring of attention curves (sed_scores_eval)
# --------------------------------------------------------------------------------------------------


def _sed_scores_eval(module: str) -> Any:
    """A sed_scores_eval submodule, imported without dcase_util's pkg_resources deprecation warning."""
    import importlib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return importlib.import_module(f"sed_scores_eval.{module}")


def _writable_score_frame(curve: FloatArray, timestamps: FloatArray, label: str) -> Any:
    """A sed_scores_eval score DataFrame whose ``to_numpy`` returns writable arrays.

    sed_scores_eval 0.0.4 passes ``DataFrame.to_numpy()`` into Cython memoryviews that need writable
    buffers, which pandas >= 3 (copy-on-write) no longer returns; a thin subclass restores that.
    """
    import pandas as pd

    create_score_dataframe = _sed_scores_eval("base_modules.scores").create_score_dataframe

    class _WritableFrame(pd.DataFrame):
        @property
        def _constructor(self) -> type[pd.DataFrame]:
            return _WritableFrame

        def to_numpy(self, *args: Any, **kwargs: Any) -> Any:
            return np.array(super().to_numpy(*args, **kwargs), copy=True)

    return _WritableFrame(create_score_dataframe(curve[:, None], timestamps, [label]))


CURVE_LABEL = "target"


def _curve_inputs(
    curves: Mapping[str, npt.ArrayLike],
    time_s: npt.ArrayLike | Mapping[str, npt.ArrayLike],
    ground_truth: Mapping[str, Sequence[float]],
    token_s: float,
) -> tuple[dict[str, Any], dict[str, list[tuple[float, float, str]]], dict[str, float]]:
    """sed_scores_eval inputs: one score frame, one ground-truth event and one duration per item."""
    scores: dict[str, Any] = {}
    gt: dict[str, list[tuple[float, float, str]]] = {}
    durations: dict[str, float] = {}
    for key, curve in curves.items():
        c = np.asarray(curve, dtype=float).ravel()
        t = np.asarray(time_s[key] if isinstance(time_s, Mapping) else time_s, dtype=float).ravel()
        if t.shape != c.shape:
            raise ValueError(f"{key}: {c.size} curve values but {t.size} token times")
        stamps = np.append(t, t[-1] + token_s)
        scores[key] = _writable_score_frame(c, stamps, CURVE_LABEL)
        onset, offset = (float(v) for v in ground_truth[key])
        gt[key] = [(onset, offset, CURVE_LABEL)]
        durations[key] = float(stamps[-1])
    return scores, gt, durations


def curve_collar_f1(
    curves: Mapping[str, npt.ArrayLike],
    time_s: npt.ArrayLike | Mapping[str, npt.ArrayLike],
    ground_truth: Mapping[str, Sequence[float]],
    token_s: float = 0.04,
    onset_collar: float = 0.2,
    offset_collar: float = 0.2,
    offset_collar_rate: float = 0.2,
) -> dict[str, float]:
    """Best collar-based F1 over all thresholds of temporal curves (e.g. Δ-attention), via sed_scores_eval.

    Each key is one (scene, query) item: ``curves[key]`` holds one score per audio token, token i covering
    [time_s[i], time_s[i] + token_s); ``ground_truth[key]`` is the queried event's (onset, offset).
    Thresholding a curve yields detected segments; the threshold that maximizes F1 over all items is
    reported with its precision and recall. ``time_s`` is one array shared by all items or one per key.
    """
    scores, gt, _ = _curve_inputs(curves, time_s, ground_truth, token_s)
    return _collar_f1(scores, gt, onset_collar, offset_collar, offset_collar_rate)


def _collar_f1(
    scores: dict[str, Any],
    gt: dict[str, list[tuple[float, float, str]]],
    onset_collar: float = 0.2,
    offset_collar: float = 0.2,
    offset_collar_rate: float = 0.2,
) -> dict[str, float]:
    collar_based = _sed_scores_eval("collar_based")
    label = CURVE_LABEL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f, p, r, thr, st = collar_based.best_fscore(
            scores,
            gt,
            onset_collar=onset_collar,
            offset_collar=offset_collar,
            offset_collar_rate=offset_collar_rate,
        )
    return {
        "f1": float(f[label]),
        "precision": float(p[label]),
        "recall": float(r[label]),
        "threshold": float(thr[label]),
        "tp": float(st[label]["tps"]),
        "fp": float(st[label]["fps"]),
        "n_ref": float(st[label]["n_ref"]),
    }


def curve_psds(
    curves: Mapping[str, npt.ArrayLike],
    time_s: npt.ArrayLike | Mapping[str, npt.ArrayLike],
    ground_truth: Mapping[str, Sequence[float]],
    token_s: float = 0.04,
    dtc: float = 0.7,
    gtc: float = 0.7,
    max_efpr: float = 100.0,
) -> float:
    """Intersection-based PSDS of temporal curves (the area under the PSD-ROC up to ``max_efpr`` false
    positives per hour, normalized to [0, 1]), via sed_scores_eval; inputs as :func:`curve_collar_f1`.

    One class (the queried sound), so the cross-trigger and across-class terms do not apply; the
    detection- and ground-truth-intersection criteria default to DCASE scenario 1 (0.7, 0.7). Beware
    lenient criteria with one event per item: a detection of the whole clip meets DTC = GTC = 0.1 as
    soon as the event fills a tenth of it, so every curve would score 1.
    """
    scores, gt, durations = _curve_inputs(curves, time_s, ground_truth, token_s)
    return _psds(scores, gt, durations, dtc, gtc, max_efpr)


def _psds(
    scores: dict[str, Any],
    gt: dict[str, list[tuple[float, float, str]]],
    durations: dict[str, float],
    dtc: float = 0.7,
    gtc: float = 0.7,
    max_efpr: float = 100.0,
) -> float:
    intersection_based = _sed_scores_eval("intersection_based")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value, *_ = intersection_based.psds(
            scores, gt, durations, dtc_threshold=dtc, gtc_threshold=gtc, max_efpr=max_efpr
        )
    return float(value)


def curve_scores(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Threshold-free scores of the Δ curves that rows carry (``bench run --save-profiles``), per condition.

    For each condition with profiles: the best collar-based F1 (with its precision and recall) and the
    PSDS of the Δ curves against the queried events. Conditions without profiles are left out.
    """
    out: list[dict[str, Any]] = []
    for cond, group in _by_condition(rows).items():
        with_curves = [r for r in group if isinstance(r.get("profile"), Mapping) and "delta" in r["profile"]]
        if not with_curves:
            continue
        curves, times, gt = {}, {}, {}
        for r in with_curves:
            key = f"{r['scene_id']}\u241f{r['query']}"
            curves[key] = r["profile"]["delta"]
            times[key] = r["profile"]["time_s"]
            gt[key] = r["gt"]
        first = np.asarray(with_curves[0]["profile"]["time_s"], dtype=float)
        token_s = float(first[1] - first[0]) if first.size > 1 else 0.04
        scores, truth, durations = _curve_inputs(curves, times, gt, token_s)  # built once for both
        f1 = _collar_f1(scores, truth)
        out.append(
            {
                "condition": cond,
                "n": len(with_curves),
                "collar_f1": f1["f1"],
                "collar_precision": f1["precision"],
                "collar_recall": f1["recall"],
                "psds": _psds(scores, truth, durations),
            }
        )
    return out


# --------------------------------------------------------------------------------------------------
# Chance levels
# --------------------------------------------------------------------------------------------------


def _gt_and_duration(rows: Sequence[Row]) -> tuple[FloatArray, FloatArray]:
    """(n, 2) ground truths and (n,) durations of the rows."""
    gt = _intervals_array(r["gt"] for r in rows)
    dur = np.asarray([float(r["duration_s"]) for r in rows], dtype=float)
    if np.any(dur <= 0):
        raise DataError("duration_s must be positive in every row")
    return gt, dur


def random_hit_expectation(rows: Sequence[Row]) -> float:
    """Expected hit rate (fraction) of a peak drawn uniformly in [0, duration]: mean GT length / duration."""
    if not rows:
        return math.nan
    gt, dur = _gt_and_duration(rows)
    inside = np.clip(np.minimum(gt[:, 1], dur) - np.clip(gt[:, 0], 0.0, None), 0.0, None)
    return float(np.mean(inside / dur))


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


# --------------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------------


def _check_rows(rows: Sequence[Row]) -> None:
    """Raise DataError naming the first row that lacks a required field."""
    for i, r in enumerate(rows):
        missing = [k for k in _REQUIRED_KEYS if k not in r]
        if missing:
            raise DataError(f"results row {i} lacks {', '.join(missing)}")


def _by_condition(rows: Sequence[Row]) -> dict[str, list[Row]]:
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


def _row_scores(rows: Sequence[Row]) -> dict[str, FloatArray]:
    """Hit (0/1), IoU, coverage and precision per row."""
    gts = [r["gt"] for r in rows]
    out = interval_scores((r["interval_s"] for r in rows), gts)
    out["hit"] = hits((r["peak_s"] for r in rows), gts).astype(float)
    return out


def _optional(rows: Sequence[Row], key: str) -> FloatArray:
    """Values of an optional numeric field, NaN where absent or None."""
    return np.asarray([math.nan if r.get(key) is None else float(r[key]) for r in rows], dtype=float)


def _pct(ci: tuple[float, float]) -> list[float]:
    """A CI of fractions as percents."""
    return [100.0 * ci[0], 100.0 * ci[1]]


def _attention_stats(group: Sequence[Row], name: str, n_boot: int, seed: int) -> dict[str, Any]:
    """Mean/CI of an attention field, and its paired change vs the ``<name>_base`` field when present."""
    out: dict[str, Any] = {}
    val = _optional(group, name)
    if np.all(np.isnan(val)):
        return out
    out[name] = float(np.nanmean(val))
    out[f"{name}_ci"] = list(bootstrap_ci(val, n_boot=n_boot, seed=seed))
    base = _optional(group, f"{name}_base")
    both = ~(np.isnan(val) | np.isnan(base))
    if np.any(both):
        delta = val[both] - base[both]
        out[f"{name}_delta"] = float(np.mean(delta))
        out[f"{name}_delta_ci"] = list(bootstrap_ci(delta, n_boot=n_boot, seed=seed))
        out[f"{name}_p"] = wilcoxon(val[both], base[both])["p_value"]
    return out


def summarize(rows: Sequence[Row], n_boot: int = 2000, seed: int = 0) -> list[dict[str, Any]]:
    """One summary dict per condition (order of first appearance).

    Hit rate and R@IoU are in percent; IoU, coverage and precision are fractions in [0, 1]. CIs are
    percentile bootstraps of the mean. ``parse_failures`` appears for conditions whose rows carry
    ``parse_failed``; attention fields appear when the rows carry them, with the change vs base and a
    Wilcoxon p-value (``attn_share_p``, ``attn_entropy_p``).
    """
    _check_rows(rows)
    summary: list[dict[str, Any]] = []
    for cond, group in _by_condition(rows).items():
        sc = _row_scores(group)
        s: dict[str, Any] = {"condition": cond, "n": len(group)}
        s["hit_rate"] = 100.0 * float(np.mean(sc["hit"]))
        s["hit_rate_ci"] = _pct(bootstrap_ci(sc["hit"], n_boot=n_boot, seed=seed))
        s["iou"] = float(np.mean(sc["iou"]))
        s["iou_ci"] = list(bootstrap_ci(sc["iou"], n_boot=n_boot, seed=seed))
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
    _check_rows(rows)
    out: list[dict[str, Any]] = []
    for cond, group in _by_condition(rows).items():
        positions = [str(r.get("position")) for r in group]
        order = [p for p in _POSITIONS if p in positions] + sorted(set(positions) - set(_POSITIONS))
        h = _row_scores(group)["hit"]
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
    _check_rows(rows)
    groups = _by_condition(rows)
    labels = sorted({str(r.get("label")) for r in rows})
    out: list[dict[str, Any]] = []
    for label in labels:
        line: dict[str, Any] = {"label": label}
        for cond, group in groups.items():
            mine = [r for r in group if str(r.get("label")) == label]
            line.setdefault("n", len(mine))
            line[cond] = 100.0 * float(np.mean(_row_scores(mine)["hit"])) if mine else None
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
    _check_rows(rows)
    groups = _by_condition(rows)
    if reference not in groups:
        raise DataError(f"reference condition {reference!r} not in results ({', '.join(groups)})")
    ref_rows = groups[reference]
    ref_idx = _keyed(ref_rows, reference)
    ref_sc = _row_scores(ref_rows)
    out: list[dict[str, Any]] = []
    for cond, group in groups.items():
        if cond == reference:
            continue
        idx = _keyed(group, cond)
        common = [k for k in ref_idx if k in idx]
        sc = _row_scores(group)
        ia = np.asarray([ref_idx[k] for k in common], dtype=int)
        ib = np.asarray([idx[k] for k in common], dtype=int)
        ha, hb = ref_sc["hit"][ia] > 0, sc["hit"][ib] > 0
        ua, ub = ref_sc["iou"][ia], sc["iou"][ib]
        mc = mcnemar(ha, hb)
        wx = wilcoxon(ua, ub)
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


# --------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------


def _is_p_value(key: str) -> bool:
    """Whether a column holds p-values (shown with more precision than other numbers)."""
    return key.endswith("_p") or key == "p_value"


def format_number(value: Any, digits: int = 2) -> str:
    """A table cell: ints as is, floats with ``digits`` decimals, None/NaN as empty, anything else as text."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return "" if math.isnan(v) else f"{v:.{digits}f}"
    return str(value)


def format_p(value: Any) -> str:
    """A p-value: three decimals, or "<0.001"; None/NaN as empty."""
    if value is None or math.isnan(float(value)):
        return ""
    return "<0.001" if float(value) < 0.001 else f"{float(value):.3f}"


def _fmt_number(value: Any, key: str) -> str:
    """A cell: ints as is, floats with 2 decimals (p-values with 3, or "<0.001"), NaN/None as empty."""
    if _is_p_value(key) and isinstance(value, (float, np.floating)):
        return format_p(value)
    return format_number(value)


def _ci_pair(value: Any) -> tuple[float, float] | None:
    """The (lo, hi) of a [lo, hi] cell, or None when the cell is not a pair."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return float(value[0]), float(value[1])
    return None


def format_table(summary: Sequence[Mapping[str, Any]], fmt: str = "markdown") -> str:
    """Render summary dicts as a markdown table or CSV (header first), columns in order of appearance.

    Numbers get 2 decimals. A CI [lo, hi] is one "lo–hi" cell in markdown and two columns
    ``<name>_lo``, ``<name>_hi`` in CSV. Works for the outputs of summarize, breakdown_by_position and
    paired_tests alike.
    """
    if fmt not in ("markdown", "csv"):
        raise ValueError(f"fmt must be 'markdown' or 'csv', got {fmt!r}")
    keys: list[str] = []
    for row in summary:
        keys.extend(k for k in row if k not in keys)
    if not keys:
        return ""
    ci_keys = {k for k in keys if any(_ci_pair(row.get(k)) is not None for row in summary)}
    if fmt == "markdown":
        lines = ["| " + " | ".join(keys) + " |", "|" + "|".join("---" for _ in keys) + "|"]
        for row in summary:
            cells = []
            for k in keys:
                pair = _ci_pair(row.get(k))
                if pair is not None:
                    lo, hi = (_fmt_number(x, k) for x in pair)
                    cells.append(f"{lo}–{hi}" if lo and hi else "")
                else:
                    cells.append(_fmt_number(row.get(k), k))
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"
    header: list[str] = []
    for k in keys:
        header.extend([f"{k}_lo", f"{k}_hi"] if k in ci_keys else [k])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in summary:
        out: list[str] = []
        for k in keys:
            pair = _ci_pair(row.get(k))
            if k in ci_keys:
                out.extend([_fmt_number(x, k) for x in pair] if pair is not None else ["", ""])
            else:
                out.append(_fmt_number(row.get(k), k))
        writer.writerow(out)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------
# Attention profiles
# --------------------------------------------------------------------------------------------------


def attention_share(
    profile: npt.ArrayLike, time_s: npt.ArrayLike, gt: IntervalLike, token_s: float = 0.04
) -> float:
    """Share of a non-negative temporal attention profile that falls inside the GT interval.

    Token i covers [time_s[i], time_s[i] + token_s) and contributes in proportion to the part of that bin
    inside [onset, offset]. An all-zero profile has no share to give: NaN.
    """
    p = np.asarray(profile, dtype=float).ravel()
    t = np.asarray(time_s, dtype=float).ravel()
    if p.shape != t.shape:
        raise ValueError(f"{p.size} profile values but {t.size} token times")
    if np.any(p < 0) or np.any(~np.isfinite(p)):
        raise ValueError("attention profile must be finite and non-negative")
    if token_s <= 0:
        raise ValueError("token_s must be positive")
    if gt is None:
        raise ValueError("gt interval is required")
    onset, offset = sorted(float(v) for v in np.asarray(gt, dtype=float).reshape(2))
    total = float(p.sum())
    if total == 0.0:
        return math.nan
    overlap = np.clip(np.minimum(t + token_s, offset) - np.maximum(t, onset), 0.0, None) / token_s
    return float(np.sum(p * overlap) / total)


def profile_entropy(profile: npt.ArrayLike) -> float:
    """Shannon entropy of a non-negative profile, normalized by log(n) to [0, 1] (1 = uniform).

    Low entropy means attention is concentrated on a few tokens. One token gives 0; all zeros gives NaN.
    """
    p = np.asarray(profile, dtype=float).ravel()
    if np.any(p < 0) or np.any(~np.isfinite(p)):
        raise ValueError("attention profile must be finite and non-negative")
    total = float(p.sum())
    if total == 0.0:
        return math.nan
    if p.size == 1:
        return 0.0
    q = p[p > 0] / total
    return float(np.clip(-np.sum(q * np.log(q)) / math.log(p.size), 0.0, 1.0))
