"""One spec per table: its columns (header, and how a row's numbers become a cell), rendered by one
markdown renderer (``tables.markdown``) and one HTML renderer (``report.html``).

A cell is written once against :class:`Cells`, the renderer's way of writing text, a number, a value with
its CI and a p-value, so the terminal, ``summary.md`` and the HTML page show the same table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

__all__ = [
    "Cells",
    "Column",
    "Section",
    "Table",
    "ci",
    "has",
    "number",
    "p_value",
    "pair",
    "per_class",
    "text",
]

#: A line of a table: the numbers of one row of its data.
Line = Mapping[str, Any]
#: Where a column is shown: everywhere, only in the compact terminal/markdown view, or only on the page.
Show = Literal["both", "markdown", "html"]


@dataclass(frozen=True)
class Cells:
    """How a renderer writes a cell: text, a number with some decimals, a value with its CI, a p-value."""

    text: Callable[[Any], str]
    number: Callable[[Any, int], str]
    ci: Callable[[Any, Any, int], str]
    p: Callable[[Any], str]


@dataclass(frozen=True)
class Column:
    """A column: its header, its cell from a row, and where it is shown."""

    header: str
    cell: Callable[[Line, Cells], str]
    show: Show = "both"
    #: Shown only when the table's rows pass this test (e.g. some row carries the field).
    when: Callable[[Sequence[Line]], bool] | None = None


@dataclass(frozen=True)
class Table:
    """A table: fixed columns, then the columns that depend on its rows (one per set, per condition, ...)."""

    columns: tuple[Column, ...] = ()
    more: Callable[[Sequence[Line]], Sequence[Column]] | None = None

    def shown(self, rows: Sequence[Line], where: Show) -> list[Column]:
        """The columns a renderer shows (``where``: "markdown" or "html") for these rows."""
        cols = [*self.columns, *(self.more(rows) if self.more else ())]
        return [c for c in cols if c.show in ("both", where) and (c.when is None or c.when(rows))]


class Section(NamedTuple):
    """A titled table of a summary: its rows (every number, for CSV and ``--wide``), spec and legend."""

    title: str
    data: list[dict[str, Any]]
    table: Table
    legend: list[str]


def text(header: str, key: str, show: Show = "both") -> Column:
    """A column of the row's ``key`` as text."""
    return Column(header, lambda r, c: c.text(r[key]), show)


def number(header: str, key: str, digits: int = 2, show: Show = "both", when: Any = None) -> Column:
    """A column of the row's number ``key`` (empty when absent)."""
    return Column(header, lambda r, c: c.number(r.get(key), digits), show, when)


def ci(header: str, key: str, digits: int = 2, show: Show = "both") -> Column:
    """A column of the row's ``key`` with its CI (``<key>_ci``)."""
    return Column(header, lambda r, c: c.ci(r.get(key), r.get(f"{key}_ci"), digits), show)


def p_value(header: str, key: str, show: Show = "both", when: Any = None) -> Column:
    """A column of the row's p-value ``key``."""
    return Column(header, lambda r, c: c.p(r.get(key)), show, when)


def has(key: str) -> Callable[[Sequence[Line]], bool]:
    """A ``when`` test: some row carries ``key``."""
    return lambda rows: any(key in r for r in rows)


def pair(header: str, a: str, b: str, digits: int) -> Column:
    """A column of two numbers of the row, ``a / b``."""
    return Column(header, lambda r, c: f"{c.number(r[a], digits)} / {c.number(r[b], digits)}")


def per_class(first: str, digits: int) -> Table:
    """One line per class: ``label`` (headed ``first``), ``n``, then one column per condition."""

    def conditions(rows: Sequence[Line]) -> list[Column]:
        keys = dict.fromkeys(k for r in rows for k in r if k not in ("label", "n"))
        return [keyed(k, k, lambda r, c, k: c.number(r.get(k), digits)) for k in keys]

    return Table((text(first, "label"), number("n", "n", digits)), conditions)


def keyed(header: str, key: str, cell: Callable[[Line, Cells, str], str]) -> Column:
    """A column whose cell reads a key chosen when the column is made (one column per set, per class)."""
    return Column(header, lambda r, c: cell(r, c, key))
