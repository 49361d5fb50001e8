"""Δ attention as heatmaps over time: one row per decoder layer, or one row per steering strength α.

Both draw Δ on a diverging scale symmetric about 0, with dotted ground-truth edges. Axes are labelled
``layers`` and ``sweep``; the image's gid is ``<axes>:delta``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .labels import format_layers, is_queried, short_model_name
from .marks import as_spans, gid, mark_gt_edges, token_step
from .style import C_GT, C_OTHER, C_PEAK, C_PRED, new_figure, save_drawn

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..readout import Readout
    from ..results import LayerDelta
    from ..scenes.lookup import GTSpan


class SweepLike(Protocol):
    """What the α sweep figure reads of :class:`wheretolisten.results.AlphaSweep`."""

    @property
    def query(self) -> str: ...
    @property
    def alphas(self) -> Sequence[float]: ...
    @property
    def time_s(self) -> np.ndarray: ...
    @property
    def deltas(self) -> np.ndarray: ...
    @property
    def readouts(self) -> Sequence[Readout]: ...


def _delta_image(fig: Figure, ax: Axes, matrix: np.ndarray, time_s: Sequence[float] | np.ndarray) -> None:
    """Rows of Δ over audio tokens, red up and blue down around a white 0, with a labelled colorbar."""
    rows, tokens = matrix.shape
    start = float(time_s[0]) if len(time_s) else 0.0  # the marks drawn over it are in the file's seconds
    limit = float(np.max(np.abs(matrix))) if matrix.size else 0.0
    image = ax.imshow(
        matrix,
        origin="lower",
        aspect="auto",
        cmap="RdBu_r",
        vmin=-(limit or 1e-12),
        vmax=limit or 1e-12,
        interpolation="nearest",
        extent=(start, start + tokens * token_step(time_s), -0.5, rows - 0.5),  # file seconds (--start)
        gid=gid(ax, "delta"),
    )
    ax.set_xlabel("time (s)")
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.01)
    bar.set_label("Δ attention (steered − base)")


def draw_layer_delta(
    data: LayerDelta,
    steer_layers: Sequence[int] = (),
    title: str | None = None,
    gt: Sequence[GTSpan] = (),
    query: str = "",
) -> Figure:
    """Layer × time heatmap of Δ (diverging, symmetric about 0); steered layers marked on the y axis."""
    layers, time_s, matrix = data
    n_layers = matrix.shape[0]
    fig = new_figure(10.0, min(9.0, 2.2 + 0.22 * n_layers))
    ax = fig.add_subplot(label="layers")
    _delta_image(fig, ax, matrix, time_s)
    step = max(1, math.ceil(n_layers / 24))
    ticks = list(range(0, n_layers, step))
    ax.set_yticks(ticks)
    ax.set_yticklabels([str(layers[i]) for i in ticks])
    steered = set(int(x) for x in steer_layers)
    for tick, i in zip(ax.get_yticklabels(), ticks, strict=True):
        if layers[i] in steered:
            tick.set_color(C_PEAK)
            tick.set_fontweight("bold")
    below = [i for i, layer in enumerate(layers) if steered and layer <= min(steered)]
    if below:
        ax.axhline(max(below) + 0.5, color="#333333", lw=0.8, ls="--", gid=gid(ax, "downstream"))
    mark_gt_edges(ax, as_spans(gt), query)
    ax.set_ylabel("decoder layer (steered in red;\nabove the dashed line: downstream)")
    ax.set_title(title or "Δ attention per layer (mean over heads)")
    return fig


def layer_delta_title(model: str, query: str, steer_layers: Sequence[int], alpha: float) -> str:
    """Model, query, steered layers and α for the per-layer figure."""
    return (
        f"Δ attention per layer (mean over heads) · {short_model_name(model)} · query “{query}” · "
        f"steered layers {format_layers(steer_layers)} · α = {alpha:g}"
    )


def plot_layer_delta(
    data: LayerDelta,
    out: str | os.PathLike[str],
    steer_layers: Sequence[int] = (),
    title: str | None = None,
    gt: Sequence[GTSpan] = (),
    query: str = "",
) -> Path:
    """Draw :func:`draw_layer_delta` and save it to ``out`` (.png, .svg or .pdf)."""
    return save_drawn(lambda: draw_layer_delta(data, steer_layers, title, gt, query), out)


def _sweep_handles(sweep: SweepLike, gt: Sequence[GTSpan], query: str) -> list[Any]:
    """Legend entries for what the α sweep draws over the heatmap (the colorbar explains the colours)."""
    from matplotlib.lines import Line2D

    handles: list[Any] = []
    if any(r.peak_s is not None for r in sweep.readouts):
        handles.append(
            Line2D(
                [], [], color=C_PEAK, marker="|", ms=12, mew=2.0, ls="none", label="predicted peak at this α"
            )
        )
    if any(r.interval_s is not None for r in sweep.readouts):
        handles.append(Line2D([], [], color=C_PRED, lw=3.0, label="predicted interval at this α"))
    if any(not query or is_queried(label, query) for label, _, _ in gt):
        handles.append(
            Line2D([], [], color=C_GT, lw=1.0, ls=":", label="ground truth (queried): onset, offset")
        )
    if any(query and not is_queried(label, query) for label, _, _ in gt):
        handles.append(Line2D([], [], color=C_OTHER, lw=1.0, ls=":", label="other events: onset, offset"))
    return handles


def draw_alpha_sweep(
    sweep: SweepLike, title: str | None = None, gt: Sequence[GTSpan] = (), query: str = ""
) -> Figure:
    """α × time heatmap of Δ (diverging, symmetric about 0) with each α's predicted peak and interval,
    and a legend saying which mark is which."""
    n_alpha = len(sweep.alphas)
    fig = new_figure(10.0, min(8.0, 2.9 + 0.35 * n_alpha))
    ax = fig.add_subplot(label="sweep")
    _delta_image(fig, ax, np.asarray(sweep.deltas, dtype=float), sweep.time_s)
    for i, readout in enumerate(sweep.readouts):
        if readout.interval_s is not None:
            start, end = readout.interval_s
            ax.plot([start, end], [i, i], color=C_PRED, lw=3.0, alpha=0.9, solid_capstyle="butt",
                    gid=gid(ax, f"interval{i}"))  # fmt: skip
        if readout.peak_s is not None:
            ax.plot([readout.peak_s], [i], marker="|", color=C_PEAK, ms=14, mew=2.0, gid=gid(ax, f"peak{i}"))
    ax.set_yticks(range(n_alpha))
    ax.set_yticklabels([f"{a:g}" for a in sweep.alphas])
    mark_gt_edges(ax, as_spans(gt), query)
    ax.set_ylabel("steering strength α")
    ax.set_title(title or f"Δ attention by steering strength · query “{sweep.query}”")
    handles = _sweep_handles(sweep, as_spans(gt), query)
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)), frameon=False)
    return fig


def plot_alpha_sweep(
    sweep: SweepLike,
    out: str | os.PathLike[str],
    title: str | None = None,
    gt: Sequence[GTSpan] = (),
    query: str = "",
) -> Path:
    """Draw :func:`draw_alpha_sweep` and save it to ``out`` (.png, .svg or .pdf)."""
    return save_drawn(lambda: draw_alpha_sweep(sweep, title, gt, query), out)
