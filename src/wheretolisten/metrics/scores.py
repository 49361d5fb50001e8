"""Per-query scores: did the predicted peak hit the event, how well does the interval overlap it, and how
much of an attention profile falls inside it. A missing prediction (None) is a miss / zero overlap."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "BoolArray",
    "FloatArray",
    "IntervalLike",
    "attention_share",
    "best_interval_scores",
    "coverage",
    "hit",
    "hits",
    "hits_any",
    "interval_scores",
    "intervals_array",
    "iou",
    "precision",
    "profile_entropy",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntervalLike = Sequence[float] | npt.ArrayLike | None


def intervals_array(intervals: Iterable[IntervalLike]) -> FloatArray:
    """Stack intervals into an ordered (n, 2) float array, with NaN rows for None (no prediction)."""
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
    g = intervals_array(gts)
    if p.shape[0] != g.shape[0]:
        raise ValueError(f"{p.shape[0]} peaks but {g.shape[0]} ground-truth intervals")
    with np.errstate(invalid="ignore"):
        return np.asarray((p >= g[:, 0]) & (p <= g[:, 1]), dtype=bool)


def interval_scores(intervals: Iterable[IntervalLike], gts: Iterable[IntervalLike]) -> dict[str, FloatArray]:
    """IoU, coverage (share of GT covered) and precision (share of prediction inside GT) per pair.

    None predictions score 0 on all three. A zero-width prediction has precision 1 if it lies inside the
    GT (inclusive) else 0, and IoU/coverage 0 unless the GT is itself a point at the same time.
    """
    pred = intervals_array(intervals)
    gt = intervals_array(gts)
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


def best_interval_scores(
    intervals: Iterable[IntervalLike], gt_lists: Iterable[Sequence[IntervalLike]]
) -> dict[str, FloatArray]:
    """:func:`interval_scores` against the best-matching (highest IoU) of each row's ground-truth intervals,
    (a query with several intervals). A row with one interval scores as :func:`interval_scores`."""
    preds = intervals_array(intervals)
    lists = [list(g) for g in gt_lists]
    if len(lists) != preds.shape[0]:
        raise ValueError(f"{preds.shape[0]} predictions but {len(lists)} ground-truth lists")
    owner = np.repeat(np.arange(len(lists)), [len(g) for g in lists])
    flat = interval_scores(preds[owner], [iv for g in lists for iv in g])
    out = {k: np.zeros(len(lists)) for k in flat}
    best = np.full(len(lists), -1.0)
    for j, i in enumerate(owner):  # the first interval of the highest IoU wins
        if flat["iou"][j] > best[i]:
            best[i] = flat["iou"][j]
            for k in flat:
                out[k][i] = flat[k][j]
    return out


def hits_any(peaks: Iterable[float | None], gt_lists: Iterable[Sequence[IntervalLike]]) -> BoolArray:
    """Whether each peak lies inside any of its row's ground-truth intervals (inclusive)."""
    p = _peaks_array(peaks)
    lists = [list(g) for g in gt_lists]
    if p.shape[0] != len(lists):
        raise ValueError(f"{p.shape[0]} peaks but {len(lists)} ground-truth lists")
    owner = np.repeat(np.arange(len(lists)), [len(g) for g in lists])
    inside = hits(p[owner], [iv for g in lists for iv in g])
    out = np.zeros(len(lists), dtype=bool)
    np.logical_or.at(out, owner, inside)
    return out


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


def _check_profile(p: FloatArray) -> None:
    """Refuse a profile with negative or non-finite values (it is not a distribution of attention)."""
    if np.any(p < 0) or np.any(~np.isfinite(p)):
        raise ValueError("attention profile must be finite and non-negative")


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
    _check_profile(p)
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
    _check_profile(p)
    total = float(p.sum())
    if total == 0.0:
        return math.nan
    if p.size == 1:
        return 0.0
    q = p[p > 0] / total
    return float(np.clip(-np.sum(q * np.log(q)) / math.log(p.size), 0.0, 1.0))
