"""Scores for the localization benchmark: per-query scores, statistics, event F1, Δ-curve scores and
summaries of result rows (``records.ResultRow``), as numbers; their tables and text are ``tables``.

Importing this package does not import sed_scores_eval (the optional ``[sed]`` extra) nor what it pulls.
"""

from .curves import curve_collar_f1, curve_psds, curve_scores, sed_available
from .events import event_f1
from .scores import (
    attention_share,
    coverage,
    hit,
    hits,
    interval_scores,
    iou,
    precision,
    profile_entropy,
)
from .stats import bootstrap_ci, mcnemar, wilcoxon
from .summary import (
    breakdown_by_position,
    hit_rate_by_label,
    paired_tests,
    random_hit_expectation,
    random_iou_expectation,
    summarize,
)

__all__ = [
    "attention_share",
    "bootstrap_ci",
    "breakdown_by_position",
    "coverage",
    "curve_collar_f1",
    "curve_psds",
    "curve_scores",
    "event_f1",
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
    "sed_available",
    "summarize",
    "wilcoxon",
]
