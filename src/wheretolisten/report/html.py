"""HTML pieces of the report: escaping, numbers as cells, tables (the HTML renderer of a ``tables`` spec),
embedded images, sections and the page.

Cells are trusted HTML: escape text with :func:`esc` before putting it in a table.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..tables import Cells, Table, format_number, format_p

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.3em .6em}th{background:#f4f4f4;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}.ci{color:#777;font-size:.85em}
.note{color:#555;font-size:.9em}figure{margin:1em 0}figure img{max-width:100%}
figcaption{font-size:.85em;color:#444}.gallery{display:grid;grid-template-columns:1fr 1fr;gap:.5em}
figure.play{position:relative}figure.play img{cursor:pointer;display:block}figure.play audio{width:100%;
height:2em}figure.play .playhead{position:absolute;width:0;border-left:2px solid #d62728;display:none;
pointer-events:none}
"""


def esc(value: Any) -> str:
    """``value`` as text safe inside an element or a quoted attribute."""
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 2) -> str:
    """A number with ``digits`` decimals; None/NaN as an empty cell; tiny non-zero values in e-notation."""
    if value is not None and not isinstance(value, (bool, np.bool_, int, np.integer)):
        v = float(value)
        if v != 0 and abs(v) < 0.5 * 10.0**-digits:  # tiny effects (e.g. of a random model) stay visible
            return f"{v:.1e}"
        value = v
    return format_number(value, digits)


def fmt_ci(value: Any, ci: Any, digits: int = 2) -> str:
    """'62.00 [55.10, 68.90]' with the CI in a muted span (HTML)."""
    text = esc(fmt(value, digits))
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and text:
        text += f' <span class="ci">[{fmt(ci[0], digits)}, {fmt(ci[1], digits)}]</span>'
    return text


def html_table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric_from: int = 1) -> str:
    """A table; cells are trusted HTML (escape before); columns from ``numeric_from`` right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for cells in rows:
        tds = "".join(
            f'<td class="num">{c}</td>' if i >= numeric_from else f"<td>{c}</td>" for i, c in enumerate(cells)
        )
        body.append(f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


#: HTML cells: text escaped, numbers by :func:`fmt`, CIs in a muted span (:func:`fmt_ci`).
HTML = Cells(esc, fmt, fmt_ci, format_p)


def spec_table(table: Table, rows: Sequence[Mapping[str, Any]], numeric_from: int = 1) -> str:
    """A table spec's rows as an HTML table (its page columns)."""
    cols = table.shown(rows, "html")
    return html_table([c.header for c in cols], ([c.cell(r, HTML) for c in cols] for r in rows), numeric_from)


def img(png: bytes, alt: str) -> str:
    """An <img> with the PNG embedded as a base64 data URI."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}">'


def note(text: str) -> str:
    """A muted paragraph; ``text`` is trusted HTML."""
    return f'<p class="note">{text}</p>'


def section(anchor: str, title: str, body: str) -> str:
    """One titled section of the page, linkable as ``#anchor``."""
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>\n{body}\n</section>\n'


def page(title: str, body: str) -> str:
    """The whole document: head with the inline stylesheet, then ``body`` (trusted HTML)."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n" + body + "</body>\n</html>\n"
    )


__all__ = [
    "CSS",
    "HTML",
    "esc",
    "fmt",
    "fmt_ci",
    "html_table",
    "img",
    "note",
    "page",
    "section",
    "spec_table",
]
