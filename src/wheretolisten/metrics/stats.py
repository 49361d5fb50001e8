"""Uncertainty and paired tests: percentile bootstrap CIs, exact McNemar on hits, Wilcoxon on scores."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = ["bootstrap_ci", "holm", "mcnemar", "wilcoxon"]

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


def bootstrap_ci(
    values: npt.ArrayLike,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    statistic: Callable[..., Any] = np.mean,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``statistic`` (default: the mean) of ``values``, via scipy.stats.bootstrap.

    NaNs are dropped first; an empty input gives (nan, nan) and a single value v gives (s, s) with
    s = statistic([v]). Seeded, so a given (sorted) input always gives the same CI. Measured against the
    former hand-written resampler (2,000 resamples, one core): the same draws, so the same bounds (exactly
    on 300 binary, 300 IoU, all-0 and all-1 values; within 5e-14 on 1,200 random cases), at 4.1 vs 3.5 ms
    a call on 300 values (0.3 vs 0.1 ms on 4, 35 vs 26 ms on 4,000): no reason to keep our own.
    """
    x = np.asarray(values, dtype=float).ravel()
    x = x[~np.isnan(x)]
    if x.size == 0:
        return (math.nan, math.nan)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
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
