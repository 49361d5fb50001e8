"""Matplotlib plumbing: the optional import, fixed style and DPI, one Agg figure, deterministic bytes.

Figures are drawn on ``matplotlib.figure.Figure`` with its own Agg canvas, never pyplot, so the user's
backend and ``rcParams`` are left alone. Saved files carry no dates or versions: the same input gives
byte-identical PNG, SVG and PDF files.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import WTLError
from ..files import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Output formats by file suffix.
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
DPI = 100
#: Fixed salt for SVG element ids (matplotlib otherwise draws a random one per file).
SVG_HASHSALT = "wheretolisten"
#: Metadata that would differ between runs (dates, versions) is dropped.
_METADATA: dict[str, dict[str, Any]] = {
    "png": {"Software": None},
    "svg": {"Date": None},
    "pdf": {"CreationDate": None, "Producer": None},
}
_RC: dict[Any, Any] = {
    "svg.hashsalt": SVG_HASHSALT,
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "legend.fontsize": 8.0,
    "figure.titlesize": 11.0,
}

C_BASE = "#4c72b0"
C_STEERED = "#dd8452"
C_DELTA = "#55a868"
C_PEAK = "#c44e52"
C_PRED = "#f0a35e"
C_GT = "#2ca02c"
C_OTHER = "#8c8c8c"
C_SMOOTH = "#1f5f3a"
#: Bar colours of grouped charts, in order.
CYCLE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")


def require_matplotlib() -> None:
    """Fail with one clear line when the optional plotting dependency is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise WTLError(
            "plotting needs matplotlib, which is not installed; install it with "
            "pip install 'wheretolisten[plot]'"
        ) from None


def figure_format(path: str | os.PathLike[str]) -> str:
    """'png', 'svg' or 'pdf' from the file suffix; anything else is a user error."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise WTLError(f"{path}: cannot tell the figure format; use a .png, .svg or .pdf file name")
    return FORMATS[suffix]


@contextmanager
def plot_style() -> Iterator[None]:
    """Matplotlib's default style plus our sizes, only while a figure is drawn and saved."""
    require_matplotlib()
    import matplotlib
    import matplotlib.style

    with matplotlib.style.context("default"), matplotlib.rc_context(_RC):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A figure with its own Agg canvas (no pyplot, no global backend) and constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_bytes(fig: Figure, fmt: str = "png") -> bytes:
    """The figure encoded as PNG/SVG/PDF bytes, deterministically (fixed DPI, no dates)."""
    if fmt not in _METADATA:
        raise ValueError(f"unknown figure format {fmt!r}; choose png, svg or pdf")
    buf = io.BytesIO()
    with plot_style(), warnings.catch_warnings():
        # A character the font lacks (an emoji in a query) is drawn as a box; matplotlib's two-line warning
        # with its source line is noise on a command line that prints one line per problem.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from", category=UserWarning)
        fig.savefig(buf, format=fmt, dpi=DPI, metadata=_METADATA[fmt])
    return buf.getvalue()


def save_figure(fig: Figure, out: str | os.PathLike[str]) -> Path:
    """Write the figure in the format its suffix names; the file appears whole or not at all."""
    path = Path(out)
    data = figure_bytes(fig, figure_format(path))
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def save_drawn(draw: Callable[[], Figure], out: str | os.PathLike[str]) -> Path:
    """Check the suffix, then draw under the style and save: the body of every ``plot_*`` function."""
    figure_format(out)
    with plot_style():
        return save_figure(draw(), out)


def drawn_png(draw: Callable[[], Figure]) -> bytes:
    """PNG bytes of a figure drawn under the style (for embedding in the HTML report)."""
    with plot_style():
        return figure_bytes(draw(), "png")
