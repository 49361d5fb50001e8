"""The detection section of ``bench summary``: shown when rows carry detection lists."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wheretolisten.metrics.curves import SED_HINT, sed_available
from wheretolisten.metrics.detection import detection_scores, f1_by_class, has_detections, paired_differences
from wheretolisten.metrics.rows import Row

from .spec import Column, Section, Table, ci, has, number, per_class, text

__all__ = ["DETECTION", "DETECTION_CLASSES", "DETECTION_PAIRED", "detection_sections"]

#: The detection condition the others are compared with.
REFERENCE = "steered-det"

#: Per detection condition (``metrics.detection.detection_scores``): F1 with CI, P, R, onset F1, PSDS.
DETECTION = Table(
    (
        text("condition", "condition"),
        number("n", "n"),
        Column("det/events", lambda r, c: f"{r['detections']}/{r['events']}"),
        ci("F1 (95% CI)", "f1"),
        number("P", "precision"),
        number("R", "recall"),
        ci("onset F1 (CI)", "onset_f1"),
        number("PSDS", "psds", when=has("psds")),
        number("PSDS 0.1", "psds_lenient", when=has("psds")),
    )
)
#: Each condition's F1 minus the reference's (``metrics.detection.paired_differences``).
DETECTION_PAIRED = Table(
    (
        text("condition", "condition"),
        ci(f"F1 − {REFERENCE} (95% CI)", "f1_diff"),
        ci(f"onset F1 − {REFERENCE} (95% CI)", "onset_f1_diff"),
    )
)
#: Onset F1 per query class and condition (``metrics.detection.f1_by_class``).
DETECTION_CLASSES = per_class("query class", 2)


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


def detection_sections(rows: Sequence[Row], n_boot: int = 2000) -> list[Section]:
    """The sections of the detection tables; none without detection rows."""
    if not has_detections(rows):
        return []
    table = detection_scores(rows, n_boot, psds=sed_available())
    classes = f1_by_class(rows)
    class_legend = ["n: queries of that class; one column per condition, its onset F1 on those queries."]
    sections = [Section("Detection of every occurrence", table, DETECTION, _legend(table))]
    paired = paired_differences(rows, REFERENCE, n_boot)
    if paired:
        legend = [
            f"Macro F1 of each condition minus {REFERENCE}'s on the same scenes; 95 % CI of a paired "
            "bootstrap over scenes (each resample draws the scenes once for both conditions)."
        ]
        sections.append(Section(f"Detection F1 vs {REFERENCE}", paired, DETECTION_PAIRED, legend))
    sections.append(Section("Onset F1 by query class", classes, DETECTION_CLASSES, class_legend))
    return sections
