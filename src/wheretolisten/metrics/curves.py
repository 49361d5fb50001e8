"""Threshold-free scores of temporal curves (e.g. Δ-attention) as event detectors, via sed_scores_eval.

sed_scores_eval is optional (``pip install 'wheretolisten[sed]'``): it is imported on first use, never
when ``wheretolisten.metrics`` is imported, since it pulls sed_eval, dcase_util, pandas and librosa.
"""

from __future__ import annotations

import functools
import importlib
import warnings
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from wheretolisten.errors import WTLError

from .rows import Row, by_condition
from .scores import FloatArray

__all__ = [
    "CURVE_LABEL",
    "MISSING_SED",
    "SED_HINT",
    "curve_collar_f1",
    "curve_psds",
    "curve_scores",
    "has_curves",
    "sed_available",
]

CURVE_LABEL = "target"
SED_HINT = "pip install 'wheretolisten[sed]'"
MISSING_SED = f"scoring Δ curves needs sed_scores_eval: {SED_HINT}"


class _Sed(NamedTuple):
    scores: ModuleType
    collar_based: ModuleType
    intersection_based: ModuleType


@functools.cache
def _sed() -> _Sed | None:
    """The sed_scores_eval modules used here, or None when they cannot be imported (imported once)."""
    try:
        with warnings.catch_warnings():  # dcase_util imports the deprecated pkg_resources
            warnings.simplefilter("ignore", UserWarning)
            return _Sed(
                importlib.import_module("sed_scores_eval.base_modules.scores"),
                importlib.import_module("sed_scores_eval.collar_based"),
                importlib.import_module("sed_scores_eval.intersection_based"),
            )
    except ImportError:  # not installed, or dcase_util without pkg_resources (setuptools >= 81)
        return None


def sed_available() -> bool:
    """Whether sed_scores_eval can be imported, i.e. whether Δ curves can be scored (imports it once)."""
    return _sed() is not None


def _require_sed() -> _Sed:
    """The sed_scores_eval modules, or a one-line WTLError saying how to install them."""
    sed = _sed()
    if sed is None:
        raise WTLError(MISSING_SED)
    return sed


@functools.cache
def _writable_frame_type() -> type:
    """A pandas DataFrame subclass whose ``to_numpy`` returns writable arrays (defined once).

    sed_scores_eval 0.0.4 passes ``DataFrame.to_numpy()`` into Cython memoryviews that need writable
    buffers, which pandas >= 3 (copy-on-write) no longer returns; this thin subclass restores that.
    """
    import pandas as pd

    class _WritableFrame(pd.DataFrame):
        @property
        def _constructor(self) -> type[pd.DataFrame]:
            return _WritableFrame

        def to_numpy(self, *args: Any, **kwargs: Any) -> Any:
            return np.array(super().to_numpy(*args, **kwargs), copy=True)

    return _WritableFrame


def _writable_score_frame(curve: FloatArray, timestamps: FloatArray, label: str) -> Any:
    """A sed_scores_eval score DataFrame of one curve, in the writable subclass above."""
    frame = _require_sed().scores.create_score_dataframe(curve[:, None], timestamps, [label])
    return _writable_frame_type()(frame)


class _Inputs(NamedTuple):
    """sed_scores_eval inputs: a score frame, the ground-truth events and the duration of every item."""

    scores: dict[str, Any]
    truth: dict[str, list[tuple[float, float, str]]]
    durations: dict[str, float]


def _curve_inputs(
    curves: Mapping[str, npt.ArrayLike],
    time_s: npt.ArrayLike | Mapping[str, npt.ArrayLike],
    ground_truth: Mapping[str, Sequence[float]],
    token_s: float,
) -> _Inputs:
    """One score frame, one ground-truth event and one duration per item (built once for all scores)."""
    inputs = _Inputs({}, {}, {})
    for key, curve in curves.items():
        c = np.asarray(curve, dtype=float).ravel()
        t = np.asarray(time_s[key] if isinstance(time_s, Mapping) else time_s, dtype=float).ravel()
        if t.shape != c.shape:
            raise ValueError(f"{key}: {c.size} curve values but {t.size} token times")
        stamps = np.append(t, t[-1] + token_s)
        inputs.scores[key] = _writable_score_frame(c, stamps, CURVE_LABEL)
        onset, offset = (float(v) for v in ground_truth[key])
        inputs.truth[key] = [(onset, offset, CURVE_LABEL)]
        inputs.durations[key] = float(stamps[-1])
    return inputs


def _collar_f1(
    inputs: _Inputs, onset_collar: float = 0.2, offset_collar: float = 0.2, offset_collar_rate: float = 0.2
) -> dict[str, float]:
    """Collar-based F1 at the best threshold, with its precision, recall, threshold and counts."""
    label = CURVE_LABEL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f, p, r, thr, st = _require_sed().collar_based.best_fscore(
            inputs.scores,
            inputs.truth,
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


def _psds(inputs: _Inputs, dtc: float = 0.7, gtc: float = 0.7, max_efpr: float = 100.0) -> float:
    """Intersection-based PSDS of prepared inputs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value, *_ = _require_sed().intersection_based.psds(
            inputs.scores,
            inputs.truth,
            inputs.durations,
            dtc_threshold=dtc,
            gtc_threshold=gtc,
            max_efpr=max_efpr,
        )
    return float(value)


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
    inputs = _curve_inputs(curves, time_s, ground_truth, token_s)
    return _collar_f1(inputs, onset_collar, offset_collar, offset_collar_rate)


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
    return _psds(_curve_inputs(curves, time_s, ground_truth, token_s), dtc, gtc, max_efpr)


def _with_curve(row: Row) -> bool:
    """Whether a row carries a Δ profile (``bench run --save-profiles``)."""
    profile = row.get("profile")
    return isinstance(profile, Mapping) and "delta" in profile


def has_curves(rows: Sequence[Row]) -> bool:
    """Whether any row carries a Δ profile, i.e. whether :func:`curve_scores` has something to score."""
    return any(_with_curve(r) for r in rows)


def curve_scores(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Threshold-free scores of the Δ curves that rows carry (``bench run --save-profiles``), per condition.

    For each condition with profiles: the best collar-based F1 (with its precision and recall) and the
    PSDS of the Δ curves against the queried events. Conditions without profiles are left out; rows
    without any profile give [] without sed_scores_eval, otherwise its absence is a one-line WTLError.
    """
    if not has_curves(rows):
        return []
    _require_sed()
    out: list[dict[str, Any]] = []
    for cond, group in by_condition(rows).items():
        with_curves = [r for r in group if _with_curve(r)]
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
        inputs = _curve_inputs(curves, times, gt, token_s)  # built once for both scores
        f1 = _collar_f1(inputs)
        out.append(
            {
                "condition": cond,
                "n": len(with_curves),
                "collar_f1": f1["f1"],
                "collar_precision": f1["precision"],
                "collar_recall": f1["recall"],
                "psds": _psds(inputs),
            }
        )
    return out
