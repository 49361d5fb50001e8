"""What is marked on a time axis: ground-truth events, the predicted peak and interval, their legend.

Marks carry a gid ``"<axes label>:<what>"`` (e.g. ``"delta:peak"``), so tests and SVG readers can find
what a figure shows without reading pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import OptionError
from .labels import is_queried
from .style import C_GT, C_OTHER, C_PEAK, C_PRED

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..scenes.lookup import GTSpan


def token_step(time_s: Sequence[float] | np.ndarray) -> float:
    """Seconds per audio token from token start times (0.04 s, Whisper's, when there is one token)."""
    return float(time_s[1] - time_s[0]) if len(time_s) > 1 else 0.04


def gid(ax: Axes, what: str) -> str:
    """The id of a mark: the axes' label and what the mark is."""
    return f"{ax.get_label()}:{what}"


def as_spans(gt: Sequence[tuple[Any, Any, Any]]) -> list[GTSpan]:
    """GT events as (str, float, float), whatever numbers they came with; a list of (label, onset,
    offset) with onset <= offset, else one OptionError line (one bare tuple, or a reversed event)."""
    try:
        spans = [(str(label), float(onset), float(offset)) for label, onset, offset in gt]
    except (TypeError, ValueError):
        raise OptionError(f"gt must be a list of (label, onset_s, offset_s), got {gt!r}") from None
    reversed_ = [span for span in spans if not span[1] <= span[2]]
    if reversed_:
        raise OptionError(f"gt: an event ends before it starts: {reversed_[0]!r}")
    return spans


def shade_gt(ax: Axes, gt: Sequence[GTSpan], query: str, labels: bool = False) -> None:
    """Green bands for events named by the query, grey ones for the others; optionally their labels."""
    from matplotlib.transforms import blended_transform_factory

    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for i, (label, onset, offset) in enumerate(gt):
        queried = is_queried(label, query)
        color, alpha = (C_GT, 0.22) if queried else (C_OTHER, 0.12)
        ax.axvspan(onset, offset, color=color, alpha=alpha, lw=0, gid=gid(ax, f"gt{i}"))
        if labels:
            ax.text(
                (onset + offset) / 2,
                0.96,
                label,
                transform=trans,
                ha="center",
                va="top",
                fontsize=8,
                fontweight="bold" if queried else "normal",
                color="#1b5e20" if queried else "#444444",
                clip_on=True,
                gid=gid(ax, f"gt{i}-label"),
            )


def mark_gt_edges(
    ax: Axes, gt: Sequence[GTSpan], query: str, color: str | None = None, lw: float = 1.0
) -> None:
    """Dotted lines at each event's onset and offset (over images, where a band would hide the data);
    green for the queried events (all of them when ``query`` is empty), grey for the others."""
    for i, (label, onset, offset) in enumerate(gt):
        queried = not query or is_queried(label, query)
        edge_color = color or (C_GT if queried else C_OTHER)
        for end, edge in (("onset", onset), ("offset", offset)):
            ax.axvline(edge, color=edge_color, lw=lw, ls=":", gid=gid(ax, f"gt{i}-{end}"))


def mark_prediction(ax: Axes, peak_s: float | None, interval_s: Sequence[float] | None, band: bool) -> None:
    """Red dashed line at the peak; an orange band over the predicted interval when ``band``."""
    if band and interval_s is not None:
        start, end = float(interval_s[0]), float(interval_s[1])
        ax.axvspan(start, end, color=C_PRED, alpha=0.25, lw=0, gid=gid(ax, "interval"))
    if peak_s is not None:
        ax.axvline(float(peak_s), color=C_PEAK, ls="--", lw=1.2, gid=gid(ax, "peak"))


def prediction_handles(peak: bool = True, interval: bool = True, interval_alpha: float = 0.25) -> list[Any]:
    """Legend entries for the predicted peak and interval."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = []
    if peak:
        handles.append(Line2D([], [], color=C_PEAK, ls="--", lw=1.2, label="predicted peak"))
    if interval:
        handles.append(Patch(color=C_PRED, alpha=interval_alpha, label="predicted interval"))
    return handles


def gt_handles(gt: Sequence[GTSpan], query: str, queried_label: str = "ground truth (queried)") -> list[Any]:
    """Legend entries for the GT bands that are drawn: the queried events and the others."""
    from matplotlib.patches import Patch

    handles: list[Any] = []
    if any(is_queried(label, query) for label, _, _ in gt):
        handles.append(Patch(color=C_GT, alpha=0.22, label=queried_label))
    if any(not is_queried(label, query) for label, _, _ in gt):
        handles.append(Patch(color=C_OTHER, alpha=0.12, label="other events"))
    return handles
