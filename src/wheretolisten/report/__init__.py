"""One self-contained HTML report of a benchmark results file: tables with CIs and embedded figures.

The page has no external references (no script, stylesheet, image or sound files): every figure is a
PNG data URI and, with the scene manifest, every gallery scene a small Ogg/Opus data URI played by a
short inline script, so the file can be mailed or archived as is. The same inputs give the same bytes.
Modules: ``inputs`` (reading), ``html`` (escaping, cells, the tables of ``wheretolisten.tables``, the
page), ``sections`` (the page's sections) and ``gallery`` (choosing and drawing the gallery).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from typing_extensions import TypedDict, Unpack

from ..errors import DataError
from ..files import write_atomic
from .gallery import gallery_section, row_score, select_gallery
from .html import page
from .inputs import SWEEP_FIELDS, SWEEP_NAME, ReportInputs, check_sweep_line, load_inputs, read_sweep
from .sections import (
    attention_section,
    conditions_section,
    curve_section,
    header,
    label_section,
    paired_section,
    position_section,
    summary_section,
    sweep_section,
)

PathArg = str | os.PathLike[str]


class ReportOptions(TypedDict, total=False):
    """The page's options, as :func:`render_report` takes them; :func:`write_report` passes them on."""

    per_group: int
    seed: int
    condition: str | None
    n_boot: int
    progress: bool


def render_report(
    inputs: ReportInputs,
    per_group: int = 4,
    seed: int = 0,
    condition: str | None = None,
    n_boot: int = 2000,
    progress: bool = False,
) -> str:
    """The whole HTML page as a string (deterministic for the same inputs and options)."""
    from ..metrics import summarize

    rows = inputs.rows
    conditions = list(dict.fromkeys(str(r["condition"]) for r in rows))
    gallery_cond = condition or ("steered" if "steered" in conditions else conditions[0])
    if gallery_cond not in conditions:
        raise DataError(f"condition {gallery_cond!r} is not in the results ({', '.join(conditions)})")
    summary = summarize(rows, n_boot=n_boot, seed=seed)
    sections = [
        summary_section(rows, summary, gallery_cond),
        paired_section(rows, conditions),
        position_section(rows, n_boot, seed),
        label_section(rows),
        attention_section(summary),
        curve_section(rows),
        sweep_section(inputs.sweep, rows),
        gallery_section(inputs, gallery_cond, per_group, seed, progress),
        conditions_section(inputs, per_group, seed),
    ]
    return page(f"wheretolisten report: {inputs.name}", header(inputs, conditions) + "".join(sections))


def write_report(
    results: PathArg | Sequence[PathArg],
    out: PathArg,
    scenes: PathArg | None = None,
    sweep: PathArg | None = None,
    **options: Unpack[ReportOptions],
) -> Path:
    """Read the inputs, render the page (``options``: :func:`render_report`'s) and write it atomically to
    ``out``."""
    from ..figures import require_matplotlib

    require_matplotlib()
    inputs = load_inputs(results, scenes, sweep)
    return write_atomic(out, render_report(inputs, **options))


__all__ = [
    "SWEEP_FIELDS",
    "SWEEP_NAME",
    "ReportInputs",
    "ReportOptions",
    "check_sweep_line",
    "load_inputs",
    "read_sweep",
    "render_report",
    "row_score",
    "select_gallery",
    "write_report",
]
