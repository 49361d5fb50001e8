"""Every table of the summaries and reports, specified once (``spec``: header and cell of each column) and
rendered by one markdown renderer (``markdown``); the HTML renderer is ``report.html``. The numbers come
from ``metrics``, which writes no text."""

from .markdown import format_ci, format_number, format_p, format_table, markdown, view
from .spec import Cells, Column, Section, Table
from .summary import summary_text

__all__ = [
    "Cells",
    "Column",
    "Section",
    "Table",
    "format_ci",
    "format_number",
    "format_p",
    "format_table",
    "markdown",
    "summary_text",
    "view",
]
