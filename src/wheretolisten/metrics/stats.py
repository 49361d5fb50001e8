"""Uncertainty and paired tests: percentile bootstrap CIs, exact McNemar on hits, Wilcoxon on scores.

With ``clusters`` (e.g. the scene of each query) and some cluster holding several values, the queries are
not independent: the bootstrap resamples whole clusters, McNemar becomes Durkalski et al.'s (2003)
clustered test and Wilcoxon is run on the clusters' mean values. With one value per cluster every
function gives exactly what it gives without clusters.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = ["bootstrap_ci", "clustered", "holm", "mcnemar", "wilcoxon"]

#: scipy >= 1.15 takes ``rng``; older releases (the floor is 1.10) only ``random_state``. Same draws.
_RNG_ARG = "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"
#: Resamples per batch are capped so that (batch, n) index matrices stay near 4 million entries.
_BATCH_ENTRIES = 4_000_000


def _takes_axis(statistic: Callable[..., Any]) -> bool:
    """Whether a statistic takes ``axis=`` (scipy then evaluates all resamples in one call)."""
    try:
        return "axis" in inspect.signature(statistic).parameters
    except (TypeError, ValueError):  # builtins without a signature: one call per resample
        return False


Clusters = npt.ArrayLike | None


def clustered(clusters: Clusters, n: int) -> np.ndarray | None:
    """Cluster index (0..m-1) of each of ``n`` values, or None when there are no clusters or every
    cluster holds one value (then the plain methods apply)."""
    if clusters is None:
        return None
    labels = np.asarray(clusters, dtype=object).ravel()
    if labels.size != n:
        raise ValueError(f"{n} values but {labels.size} cluster labels")
    _, index = np.unique(labels.astype(str), return_inverse=True)
    return index if index.size and np.bincount(index).max() > 1 else None


def _cluster_mean_ci(
    x: np.ndarray, index: np.ndarray, n_boot: int, level: float, seed: int
) -> tuple[float, float]:
    """Percentile CI of the mean when whole clusters are resampled (the ratio of resampled sums)."""
    sums, counts = np.bincount(index, weights=x), np.bincount(index).astype(float)
    m = sums.size
    rng = np.random.default_rng(seed)
    stats_ = np.empty(n_boot)
    batch = max(1, _BATCH_ENTRIES // m)
    for start in range(0, n_boot, batch):
        pick = rng.integers(0, m, size=(min(batch, n_boot - start), m))
        stats_[start : start + pick.shape[0]] = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    alpha = (1.0 - level) / 2
    return (float(np.quantile(stats_, alpha)), float(np.quantile(stats_, 1 - alpha)))


def bootstrap_ci(
    values: npt.ArrayLike,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    statistic: Callable[..., Any] = np.mean,
    clusters: Clusters = None,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``statistic`` (default: the mean) of ``values``, via scipy.stats.bootstrap.

    NaNs are dropped first; an empty input gives (nan, nan) and a single value v gives (s, s) with
    s = statistic([v]). Seeded, so a given (sorted) input always gives the same CI. ``clusters`` (the mean
    only): whole clusters are resampled when some cluster holds several values. Measured against the
    former hand-written resampler (2,000 resamples, one core): the same draws, so the same bounds (exactly
    on 300 binary, 300 IoU, all-0 and all-1 values; within 5e-14 on 1,200 random cases), at 4.1 vs 3.5 ms
    a call on 300 values (0.3 vs 0.1 ms on 4, 35 vs 26 ms on 4,000): no reason to keep our own.
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a whole number >= 1, got {n_boot!r}")
    x = np.asarray(values, dtype=float).ravel()
    index = clustered(clusters, x.size)
    keep = ~np.isnan(x)
    x = x[keep]
    if x.size == 0:
        return (math.nan, math.nan)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if index is not None and statistic is np.mean:
        _, index = np.unique(index[keep], return_inverse=True)
        if np.bincount(index).max() > 1:
            return _cluster_mean_ci(x, index, n_boot, level, seed)
    if x.size == 1:  # scipy refuses one observation; every resample is that observation
        value = float(statistic(x))
        return (value, value)
    res = stats.bootstrap(
        (x,),
        statistic,
        n_resamples=n_boot,
        batch=max(1, _BATCH_ENTRIES // x.size),
        confidence_level=level,
        method="percentile",
        vectorized=_takes_axis(statistic),
        **{_RNG_ARG: np.random.default_rng(seed)},
    )
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def mcnemar(a: npt.ArrayLike, b: npt.ArrayLike, clusters: Clusters = None) -> dict[str, float | int]:
    """Exact two-sided McNemar test on paired booleans (binomial test on the discordant pairs).

    ``b01`` counts pairs with a false and b true, ``b10`` pairs with a true and b false. No discordant
    pairs gives p = 1. With ``clusters`` holding several pairs: Durkalski et al.'s (2003) clustered
    McNemar, (Σ_k d_k)² / Σ_k d_k² against χ²(1), d_k = b01 − b10 of cluster k.
    """
    x = np.asarray(a, dtype=bool).ravel()
    y = np.asarray(b, dtype=bool).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired arrays differ in length: {x.size} vs {y.size}")
    b01 = int(np.sum(~x & y))
    b10 = int(np.sum(x & ~y))
    n = b01 + b10
    index = clustered(clusters, x.size)
    if index is not None and n:
        d = np.bincount(index, weights=(~x & y).astype(float) - (x & ~y).astype(float))
        denom = float(np.sum(d**2))
        p = 1.0 if denom == 0 else float(stats.chi2.sf(float(d.sum()) ** 2 / denom, 1))
        return {"b01": b01, "b10": b10, "p_value": p}
    p = 1.0 if n == 0 else float(stats.binomtest(b01, n, 0.5, alternative="two-sided").pvalue)
    return {"b01": b01, "b10": b10, "p_value": p}


def wilcoxon(a: npt.ArrayLike, b: npt.ArrayLike, clusters: Clusters = None) -> dict[str, float | int]:
    """Wilcoxon signed-rank test of paired samples a vs b (scipy defaults, zero differences dropped).

    Pairs with a NaN are dropped. When no pair differs (or none is left) the test is undefined and we
    report statistic 0 and p = 1, i.e. no evidence of a difference. With ``clusters`` holding several
    pairs, the test is on the clusters' mean values (``n``: clusters).
    """
    x = np.asarray(a, dtype=float).ravel()
    y = np.asarray(b, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired arrays differ in length: {x.size} vs {y.size}")
    index = clustered(clusters, x.size)
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if index is not None:
        _, index = np.unique(index[keep], return_inverse=True)
        counts = np.bincount(index, minlength=int(index.max(initial=-1)) + 1).astype(float)
        if counts.size and counts.max() > 1:
            x, y = np.bincount(index, weights=x) / counts, np.bincount(index, weights=y) / counts
    if x.size == 0 or np.all(x == y):
        return {"statistic": 0.0, "p_value": 1.0, "n": int(x.size)}
    res = stats.wilcoxon(x, y)
    return {"statistic": float(res.statistic), "p_value": float(res.pvalue), "n": int(x.size)}


def holm(p_values: npt.ArrayLike) -> list[float]:
    """Holm–Bonferroni adjusted p-values of one family of tests (NaNs stay NaN and do not count)."""
    p = np.asarray(p_values, dtype=float).ravel()
    out = np.full(p.shape, math.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * float(p[i])))
        out[i] = running
    return [float(v) for v in out]
