"""The markdown renderer: a table spec's rows as a markdown table, raw summary dicts as markdown for people
or CSV for machines, with one way to write a number."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .spec import Cells, Line, Table

__all__ = ["MARKDOWN", "format_ci", "format_number", "format_p", "format_table", "markdown", "view"]


def _is_p_value(key: str) -> bool:
    """Whether a column holds p-values (shown with more precision than other numbers)."""
    return key.endswith("_p") or key == "p_value"


def format_number(value: Any, digits: int = 2) -> str:
    """A table cell: ints as is, floats with ``digits`` decimals, None/NaN as empty, anything else as text."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return "" if math.isnan(v) else f"{v:.{digits}f}"
    return str(value)


def format_ci(value: Any, ci: Any, digits: int = 2) -> str:
    """``value (lo–hi)``, or the value alone when there is no CI; empty when there is no value."""
    text = format_number(value, digits)
    if text and isinstance(ci, (list, tuple)) and len(ci) == 2:
        lo, hi = (format_number(c, digits) for c in ci)
        if lo and hi:
            return f"{text} ({lo}–{hi})"
    return text


def format_p(value: Any) -> str:
    """A p-value: three decimals, or "<0.001"; None/NaN as empty."""
    if value is None or math.isnan(float(value)):
        return ""
    return "<0.001" if float(value) < 0.001 else f"{float(value):.3f}"


def _fmt_number(value: Any, key: str) -> str:
    """A cell: ints as is, floats with 2 decimals (p-values with 3, or "<0.001"), NaN/None as empty."""
    if _is_p_value(key) and isinstance(value, (float, np.floating)):
        return format_p(value)
    return format_number(value)


def _ci_pair(value: Any) -> tuple[float, float] | None:
    """The (lo, hi) of a [lo, hi] cell, or None when the cell is not a pair."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return float(value[0]), float(value[1])
    return None


def format_table(summary: Sequence[Mapping[str, Any]], fmt: str = "markdown") -> str:
    """Render summary dicts as a markdown table or CSV (header first), columns in order of appearance.

    Numbers get 2 decimals. A CI [lo, hi] is one "lo–hi" cell in markdown and two columns
    ``<name>_lo``, ``<name>_hi`` in CSV. Works for the outputs of summarize, breakdown_by_position and
    paired_tests alike.
    """
    if fmt not in ("markdown", "csv"):
        raise ValueError(f"fmt must be 'markdown' or 'csv', got {fmt!r}")
    keys: list[str] = []
    for row in summary:
        keys.extend(k for k in row if k not in keys)
    if not keys:
        return ""
    ci_keys = {k for k in keys if any(_ci_pair(row.get(k)) is not None for row in summary)}
    if fmt == "markdown":
        lines = ["| " + " | ".join(keys) + " |", "|" + "|".join("---" for _ in keys) + "|"]
        for row in summary:
            cells = []
            for k in keys:
                pair = _ci_pair(row.get(k))
                if pair is not None:
                    lo, hi = (_fmt_number(x, k) for x in pair)
                    cells.append(f"{lo}–{hi}" if lo and hi else "")
                else:
                    cells.append(_fmt_number(row.get(k), k))
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"
    header: list[str] = []
    for k in keys:
        header.extend([f"{k}_lo", f"{k}_hi"] if k in ci_keys else [k])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in summary:
        out: list[str] = []
        for k in keys:
            pair = _ci_pair(row.get(k))
            if k in ci_keys:
                out.extend([_fmt_number(x, k) for x in pair] if pair is not None else ["", ""])
            else:
                out.append(_fmt_number(row.get(k), k))
        writer.writerow(out)
    return buf.getvalue()


#: Markdown cells: text as is, numbers by :func:`format_number`, CIs as ``value (lo–hi)``.
MARKDOWN = Cells(str, format_number, format_ci, format_p)


def view(table: Table, rows: Sequence[Line]) -> list[dict[str, str]]:
    """The markdown view of a table's rows: one dict of cells per row, its columns in order."""
    cols = table.shown(rows, "markdown")
    return [{c.header: c.cell(r, MARKDOWN) for c in cols} for r in rows]


def markdown(table: Table, rows: Sequence[Line]) -> str:
    """A table's rows as a markdown table."""
    return format_table(view(table, rows))
