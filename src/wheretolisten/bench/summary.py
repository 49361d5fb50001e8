"""Summary text of a results file (to be replaced by metrics.summary_text)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import DataError, WTLError
from ..metrics import format_table


def summary_tables(rows: Sequence[Mapping[str, Any]], fmt: str = "markdown", n_boot: int = 2000) -> str:
    """Per-condition table (plus the random baseline's analytic expectation), breakdown by target
    position, and paired tests vs steered when present."""
    from ..metrics import (
        breakdown_by_position,
        curve_scores,
        hit_rate_by_label,
        paired_tests,
        random_hit_expectation,
        summarize,
    )

    if not rows:
        raise DataError("the results file has no rows")
    if fmt not in ("markdown", "csv"):
        raise WTLError(f"unknown format {fmt!r}; choose markdown or csv")
    try:
        table = summarize(rows, n_boot=n_boot)
        items = list({(str(r["scene_id"]), str(r["query"])): r for r in rows}.values())
        table.append(
            {
                "condition": "random (expected)",
                "n": len(items),
                "hit_rate": 100.0 * random_hit_expectation(items),
            }
        )
        sections = [
            ("Localization by condition", table),
            ("Hit rate by target position", breakdown_by_position(rows, n_boot=n_boot)),
        ]
        if len({str(r.get("label")) for r in rows}) > 1:
            sections.append(("Hit rate (%) by event class", hit_rate_by_label(rows)))
        if "steered" in {str(r["condition"]) for r in rows} and len({str(r["condition"]) for r in rows}) > 1:
            sections.append(("Paired tests vs steered", paired_tests(rows, "steered")))
        curves = curve_scores(rows)
        if curves:
            sections.append(("Δ curves as detectors (collar F1 at the best threshold, PSDS)", curves))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"malformed results rows ({type(exc).__name__}: {exc})") from None
    parts = []
    for title, data in sections:
        body = format_table(data, fmt)
        parts.append(f"## {title}\n\n{body}" if fmt == "markdown" else body)
    return "\n".join(parts)
