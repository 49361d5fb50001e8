"""The summary of a results file (``bench summary``): the specs of its tables, and the text: sections of
tables with a legend, sized for a terminal.

By default each markdown line fits in :data:`WIDTH` columns (the essential columns, with units in the
headers); ``wide=True`` shows every column, and CSV keeps every column for machines.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

from wheretolisten.errors import DataError, OptionError
from wheretolisten.metrics.curves import SED_HINT, curve_scores, has_curves, sed_available
from wheretolisten.metrics.rows import Row, check_rows
from wheretolisten.metrics.summary import (
    breakdown_by_position,
    hit_rate_by_label,
    paired_tests,
    random_hit_expectation,
    summarize,
)

from .detection import detection_sections
from .markdown import format_number, format_table, view
from .rigor import rigor_sections
from .spec import Column, Section, Table, ci, has, number, p_value, pair, per_class, text

__all__ = ["ATTENTION", "CONDITIONS", "CURVES", "LABELS", "PAIRED", "POSITIONS", "WIDTH", "summary_text"]

#: Widest line of the default markdown summary: an 80–100 column terminal shows it without wrapping.
WIDTH = 100
RANDOM_ROW = "random (expected)"
REFERENCE = "steered"
_CI = "95% percentile bootstrap over queries"


def _signed(value: Any, digits: int) -> str:
    """A change with its sign (+0.120); empty for None/NaN."""
    text = format_number(value, digits)
    return f"+{text}" if text and not text.startswith("-") else text


#: Per condition (``metrics.summarize``): the terminal's essential columns, the page's every score.
CONDITIONS = Table(
    (
        text("condition", "condition"),
        number("n", "n"),
        ci("hit % (95% CI)", "hit_rate", 1),
        ci("IoU 0–1 (95% CI)", "iou", 2),
        number("coverage", "coverage", 3, show="html"),
        number("precision", "precision", 3, show="html"),
        number("R@IoU≥0.3 %", "r_at_iou_0.3", 1),
        number("R@IoU≥0.5 %", "r_at_iou_0.5", 1, show="html"),
        number("with interval", "n_with_interval", show="html"),
        number("unparsed", "parse_failures", when=has("parse_failures")),
        Column(
            "share Δ", lambda r, c: _signed(r.get("attn_share_delta"), 3), "markdown", has("attn_share_delta")
        ),
        p_value("Δ p", "attn_share_p", "markdown", has("attn_share_delta")),
    )
)
#: Attention share and entropy per condition, and their paired change vs the unsteered profile (the page).
ATTENTION = Table(
    (
        text("condition", "condition"),
        ci("attention share in GT (95% CI)", "attn_share", 3),
        ci("Δ share vs base (95% CI)", "attn_share_delta", 4),
        p_value("p (Wilcoxon)", "attn_share_p"),
        ci("entropy (95% CI)", "attn_entropy", 3),
        ci("Δ entropy vs base (95% CI)", "attn_entropy_delta", 4),
        p_value("p (Wilcoxon)", "attn_entropy_p"),
    )
)
#: Hit rate per condition and target position (``metrics.breakdown_by_position``).
POSITIONS = Table(
    (
        text("condition", "condition"),
        text("position", "position"),
        number("n", "n"),
        ci("hit % (95% CI)", "hit_rate", 1),
    )
)
#: Hit rate % per event class and condition (``metrics.hit_rate_by_label``).
LABELS = per_class("event class", 1)
#: McNemar on hits and Wilcoxon on IoU vs the reference (``metrics.paired_tests``).
PAIRED = Table(
    (
        text("condition", "condition"),
        number("pairs", "n_pairs"),
        pair("hit % ref / this", "hit_rate_ref", "hit_rate", 1),
        number("b01", "b01"),
        number("b10", "b10"),
        p_value("McNemar p", "mcnemar_p"),
        pair("IoU ref / this", "iou_ref", "iou", 2),
        p_value("Wilcoxon p", "wilcoxon_p"),
    )
)
#: The Δ curves scored as detectors (``metrics.curve_scores``).
CURVES = Table(
    (
        text("condition", "condition"),
        number("items", "n"),
        number("collar F1", "collar_f1"),
        number("precision", "collar_precision"),
        number("recall", "collar_recall"),
        number("PSDS 0–1", "psds"),
    )
)


#: The names the legends use for the columns of the compact view (False) and the wide view (True).
_NAMES = {
    False: {"hit": "hit %", "iou": "IoU", "ci": "CIs", "fail": "unparsed", "delta": "share Δ", "p": "Δ p"},
    True: {
        "hit": "hit_rate",
        "iou": "iou",
        "ci": "*_ci",
        "fail": "parse_failures",
        "delta": "attn_share_delta",
        "p": "attn_share_p",
    },
}


def _conditions_legend(table: list[dict[str, Any]], wide: bool) -> list[str]:
    """What the by-condition columns and the random row mean."""
    n = _NAMES[wide]
    r03 = "r_at_iou_0.3 / 0.5: % of queries with IoU ≥ 0.3 / 0.5" if wide else "R@IoU≥0.3: % with IoU ≥ 0.3"
    legend = [
        f"{n['hit']}: share of queries whose predicted peak lies inside the queried event (any of its "
        f"intervals when it repeats). {n['iou']}: overlap of the predicted interval with the event (the "
        f"best-matching interval; 0–1; no answer scores 0). {r03}. "
        f"{n['ci']}: {_CI}.",
        f"{RANDOM_ROW}: the hit rate of a peak drawn uniformly over each clip (analytic chance level).",
    ]
    if any("parse_failures" in s for s in table):
        legend.append(f"{n['fail']}: answers that could not be read as a time (counted as misses).")
    if any("attn_share_delta" in s for s in table):
        legend.append(
            f"{n['delta']}: change of the share of attention inside the event vs the unsteered profile "
            f"of the same query (0–1 scale); {n['p']}: Wilcoxon signed-rank test of that change."
        )
    if wide and any("attn_entropy" in s for s in table):
        legend.append("attn_entropy: normalized entropy of the attention profile (1 = uniform).")
    return legend


def _paired_legend(wide: bool) -> list[str]:
    """What b01, b10 and the two tests are."""
    both = "hit_rate_ref / iou_ref: steered" if wide else "ref: steered, this: the row's condition"
    tests = "mcnemar_p / wilcoxon_p" if wide else "McNemar p / Wilcoxon p"
    return [
        f"Pairs: the same (scene, query) under steered and the other condition ({both}). b01 = pairs "
        f"steered missed and the other condition hit; b10 = the reverse. {tests}: exact McNemar test on "
        "b01 vs b10 / signed-rank test on the paired IoU."
    ]


def _curves_legend() -> list[str]:
    """How the Δ curves are scored."""
    return [
        "Each Δ-attention curve, thresholded, is a detector of the queried event. collar F1 at the best "
        "threshold (onset collar 0.2 s, offset collar max(0.2 s, 20 % of the event)) with its precision "
        "and recall; PSDS: intersection-based (DTC = GTC = 0.7), up to 100 false positives per hour."
    ]


def _fit(lines: list[dict[str, str]], width: int) -> list[dict[str, str]]:
    """Shorten the first cell of any table line longer than ``width`` (ellipsis; at least 8 characters)."""
    out = []
    for line in lines:
        length = 4 + sum(len(v) + 3 for v in line.values()) - 3  # "| a | b |"
        first = next(iter(line), None)
        if first is not None and length > width and len(line[first]) > 8:
            keep = max(8, len(line[first]) - (length - width) - 1)
            line = {**line, first: line[first][:keep] + "…"}
        out.append(line)
    return _fit_header(out, width)


def _fit_header(lines: list[dict[str, str]], width: int) -> list[dict[str, str]]:
    """Shorten the longest column names (ellipsis; at least 8 characters) while the header is too wide."""
    short = {k: k for line in lines for k in line}
    while 1 + sum(len(v) + 3 for v in short.values()) > width:
        longest = max(short, key=lambda k: len(short[k]))
        if len(short[longest]) <= 8:
            break
        short[longest] = short[longest].rstrip("…")[:-1] + "…"
    return [{short[k]: v for k, v in line.items()} for line in lines]


def _legend_text(legend: Sequence[str]) -> str:
    """The legend as paragraphs wrapped to :data:`WIDTH` columns."""
    return "".join(textwrap.fill(item, WIDTH) + "\n" for item in legend)


def _sections(rows: Sequence[Row], n_boot: int, wide: bool) -> list[Section]:
    """The sections of the summary: by condition, position, event class, paired tests and Δ curves."""
    table = summarize(rows, n_boot=n_boot)
    items = list({(str(r["scene_id"]), str(r["query"])): r for r in rows}.values())
    chance = 100.0 * random_hit_expectation(items)
    table.append({"condition": RANDOM_ROW, "n": len(items), "hit_rate": chance})
    n = _NAMES[wide]
    hit = f"{n['hit']}: share of queries whose predicted peak lies inside the event; {n['ci']}: {_CI}."
    sections = [
        Section("Localization by condition", table, CONDITIONS, _conditions_legend(table, wide)),
        Section(
            "Hit rate by target position",
            breakdown_by_position(rows, n_boot=n_boot),
            POSITIONS,
            [hit, "position: where the queried event sits in its clip (first, middle, last)."],
        ),
    ]
    if len({str(r.get("label")) for r in rows}) > 1:
        legend = ["n: queries of that class; one column per condition, its hit % on those queries."]
        plain = [r for r in rows if not r.get("control")]  # controls: their own section
        sections.append(Section("Hit rate (%) by event class", hit_rate_by_label(plain), LABELS, legend))
    conditions = {str(r["condition"]) for r in rows}
    if REFERENCE in conditions and len(conditions) > 1:
        tests = paired_tests(rows, REFERENCE)
        sections.append(Section(f"Paired tests vs {REFERENCE}", tests, PAIRED, _paired_legend(wide)))
    if has_curves(rows) and sed_available():
        title = "Δ curves as detectors (collar F1 at the best threshold, PSDS)"
        sections.append(Section(title, curve_scores(rows), CURVES, _curves_legend()))
    sections.extend(detection_sections(rows, n_boot))
    return sections + rigor_sections(rows, n_boot)


def summary_text(rows: Sequence[Row], fmt: str = "markdown", wide: bool = False, n_boot: int = 2000) -> str:
    """The summary of result rows for a terminal (markdown, lines ≤ 100 columns unless ``wide``) or CSV.

    Sections: by condition (with the analytic random row), by target position, by event class (several
    labels), paired tests vs steered, and Δ curves when rows carry profiles — in markdown, one line on
    how to enable them when sed_scores_eval is missing. CSV has every column and no titles or legends.
    """
    if fmt not in ("markdown", "csv"):
        raise OptionError(f"unknown format {fmt!r}; choose markdown or csv")
    if not rows:
        raise DataError("no result rows to summarize")
    check_rows(rows)
    sections = _sections(rows, n_boot, wide)
    if fmt == "csv":
        return "\n".join(format_table(s.data, "csv") for s in sections)
    parts = []
    for s in sections:
        lines = s.data if wide else _fit(view(s.table, s.data), WIDTH)
        parts.append(f"## {s.title}\n\n{format_table(lines)}\n{_legend_text(s.legend)}")
    if has_curves(rows) and not sed_available():
        parts.append(f"Δ curves are not scored: that needs sed_scores_eval ({SED_HINT}).\n")
    return "\n".join(parts)
