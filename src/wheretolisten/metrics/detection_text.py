"""The detection section of ``bench summary``: shown when rows carry detection lists."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .curves import SED_HINT, sed_available
from .detection import detection_scores, f1_by_class, has_detections, paired_differences
from .rows import Row
from .tables import format_number

__all__ = ["detection_sections"]

Compact = Callable[[list[dict[str, Any]]], list[dict[str, str]]]
Table = tuple[str, list[dict[str, Any]], Compact, list[str]]
#: The detection condition the others are compared with.
REFERENCE = "steered-det"


def _ci(value: Any, ci: Any) -> str:
    lo, hi = (format_number(c) for c in (ci or (None, None)))
    text = format_number(value)
    return f"{text} ({lo}–{hi})" if text and lo and hi else text


def _view(table: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Condition, queries, detections / events, F1 with CI (DCASE collars, onsets), P, R, PSDS."""
    out = []
    for s in table:
        line = {
            "condition": str(s["condition"]),
            "n": format_number(s["n"]),
            "det/events": f"{s['detections']}/{s['events']}",
            "F1 (95% CI)": _ci(s["f1"], s["f1_ci"]),
            "P": format_number(s["precision"]),
            "R": format_number(s["recall"]),
            "onset F1 (CI)": _ci(s["onset_f1"], s["onset_f1_ci"]),
        }
        if "psds" in s:
            line["PSDS"] = format_number(s["psds"])
            line["PSDS 0.1"] = format_number(s["psds_lenient"])
        out.append(line)
    return out


def _paired_view(table: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {
            "condition": str(s["condition"]),
            f"F1 − {REFERENCE} (95% CI)": _ci(s["f1_diff"], s["f1_diff_ci"]),
            f"onset F1 − {REFERENCE} (95% CI)": _ci(s["onset_f1_diff"], s["onset_f1_diff_ci"]),
        }
        for s in table
    ]


def _classes_view(table: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{("query class" if k == "label" else k): format_number(v) for k, v in s.items()} for s in table]


def _legend(table: list[dict[str, Any]]) -> list[str]:
    legend = [
        "Every occurrence of the queried class. n: queries; det/events: detections made / occurrences. "
        "F1: DCASE event-based F1 (onset collar 0.2 s, offset collar max(0.2 s, 20 % of the event)), "
        "macro over query classes; P, R: micro precision and recall; onset F1: the same on onsets alone. "
        "CIs: 95 % percentile bootstrap over scenes.",
    ]
    if any("psds" in s for s in table):
        legend.append(
            "PSDS: intersection-based on the detection scores, macro over classes, up to 100 false "
            "positives per hour: DTC = GTC = 0.7 (DCASE scenario 1), and 0.1 (PSDS 0.1)."
        )
    else:
        legend.append(f"PSDS is not computed: that needs sed_scores_eval ({SED_HINT}).")
    return legend


def detection_sections(rows: Sequence[Row], n_boot: int = 2000) -> list[Table]:
    """(title, data, compact view, legend) of the detection tables; none without detection rows."""
    if not has_detections(rows):
        return []
    table = detection_scores(rows, n_boot, psds=sed_available())
    classes = f1_by_class(rows)
    class_legend = ["n: queries of that class; one column per condition, its onset F1 on those queries."]
    sections: list[Table] = [("Detection of every occurrence", table, _view, _legend(table))]
    paired = paired_differences(rows, REFERENCE, n_boot)
    if paired:
        legend = [
            f"Macro F1 of each condition minus {REFERENCE}'s on the same scenes; 95 % CI of a paired "
            "bootstrap over scenes (each resample draws the scenes once for both conditions)."
        ]
        sections.append((f"Detection F1 vs {REFERENCE}", paired, _paired_view, legend))
    sections.append(("Onset F1 by query class", classes, _classes_view, class_legend))
    return sections
