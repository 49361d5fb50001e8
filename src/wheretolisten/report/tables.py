"""The report's tables of summary dicts (``metrics.summarize`` and friends) as HTML, CIs in muted spans."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..metrics import format_number, format_p
from .html import esc, fmt, fmt_ci, html_table

SUMMARY_HEADERS = (
    "condition",
    "n",
    "hit rate % [95% CI]",
    "IoU [95% CI]",
    "coverage",
    "precision",
    "R@IoU≥0.3 %",
    "R@IoU≥0.5 %",
    "with interval",
)
ATTENTION_HEADERS = (
    "condition",
    "attention share in GT [CI]",
    "Δ share vs base [CI]",
    "p (Wilcoxon)",
    "entropy [CI]",
    "Δ entropy vs base [CI]",
    "p (Wilcoxon)",
)
PAIRED_HEADERS = (
    "condition",
    "pairs",
    "hit % ref",
    "hit %",
    "b01",
    "b10",
    "McNemar p",
    "IoU ref",
    "IoU",
    "Wilcoxon p",
)


def summary_table(summary: Sequence[Mapping[str, Any]]) -> str:
    """Hit rate, IoU (with 95% CIs), coverage, precision, R@IoU per condition."""
    headers = list(SUMMARY_HEADERS)
    has_parse = any("parse_failures" in s for s in summary)
    if has_parse:
        headers.append("parse failures")
    rows = []
    for s in summary:
        cells = [
            esc(s["condition"]),
            fmt(s["n"]),
            fmt_ci(s["hit_rate"], s.get("hit_rate_ci"), 1),
            fmt_ci(s["iou"], s.get("iou_ci"), 3),
            fmt(s["coverage"], 3),
            fmt(s["precision"], 3),
            fmt(s["r_at_iou_0.3"], 1),
            fmt(s["r_at_iou_0.5"], 1),
            fmt(s["n_with_interval"]),
        ]
        if has_parse:
            cells.append(fmt(s.get("parse_failures")))
        rows.append(cells)
    return html_table(headers, rows)


def position_table(breakdown: Sequence[Mapping[str, Any]]) -> str:
    """Hit rate % [CI] (n) per condition (rows) and target position (columns)."""
    conditions = list(dict.fromkeys(str(b["condition"]) for b in breakdown))
    positions = list(dict.fromkeys(str(b["position"]) for b in breakdown))
    cell = {(str(b["condition"]), str(b["position"])): b for b in breakdown}
    rows = []
    for cond in conditions:
        cells = [esc(cond)]
        for pos in positions:
            b = cell.get((cond, pos))
            cells.append("" if b is None else f"{fmt_ci(b['hit_rate'], b['hit_rate_ci'], 1)} (n={b['n']})")
        rows.append(cells)
    return html_table(["condition", *(f"{p}: hit rate %" for p in positions)], rows)


def attention_table(summary: Sequence[Mapping[str, Any]]) -> str | None:
    """attn_share / attn_entropy per condition and their paired change vs base; None when absent."""
    present = [s for s in summary if "attn_share" in s or "attn_entropy" in s]
    if not present:
        return None
    rows = [
        [
            esc(s["condition"]),
            fmt_ci(s.get("attn_share"), s.get("attn_share_ci"), 3),
            fmt_ci(s.get("attn_share_delta"), s.get("attn_share_delta_ci"), 4),
            format_p(s.get("attn_share_p")),
            fmt_ci(s.get("attn_entropy"), s.get("attn_entropy_ci"), 3),
            fmt_ci(s.get("attn_entropy_delta"), s.get("attn_entropy_delta_ci"), 4),
            format_p(s.get("attn_entropy_p")),
        ]
        for s in present
    ]
    return html_table(ATTENTION_HEADERS, rows)


def paired_table(tests: Sequence[Mapping[str, Any]]) -> str:
    """McNemar on hits and Wilcoxon on IoU, reference vs each other condition."""
    rows = [
        [
            esc(t["condition"]),
            fmt(t["n_pairs"]),
            fmt(t["hit_rate_ref"], 1),
            fmt(t["hit_rate"], 1),
            fmt(t["b01"]),
            fmt(t["b10"]),
            format_p(t["mcnemar_p"]),
            fmt(t["iou_ref"], 3),
            fmt(t["iou"], 3),
            format_p(t["wilcoxon_p"]),
        ]
        for t in tests
    ]
    return html_table(PAIRED_HEADERS, rows)


def label_table(table: Sequence[Mapping[str, Any]]) -> str:
    """Queries and hit rate % per condition for each event class (``metrics.hit_rate_by_label``)."""
    conditions = [k for k in table[0] if k not in ("label", "n")]
    return html_table(
        ["event class", "queries", *(f"{c}: hit %" for c in conditions)],
        [[esc(t["label"]), str(t["n"]), *(format_number(t[c], 1) for c in conditions)] for t in table],
    )


def curve_table(scores: Sequence[Mapping[str, Any]]) -> str:
    """Collar F1 (with its precision and recall) and PSDS of the Δ curves per condition."""
    rows = [
        [
            esc(s["condition"]),
            str(s["n"]),
            *(format_number(s[k], 3) for k in ("collar_f1", "collar_precision", "collar_recall", "psds")),
        ]
        for s in scores
    ]
    return html_table(["condition", "items", "collar F1", "precision", "recall", "PSDS"], rows)


__all__ = [
    "attention_table",
    "curve_table",
    "label_table",
    "paired_table",
    "position_table",
    "summary_table",
]
