"""The HTML report's panels: one result row, one item under several conditions, the sweep grid, and hit
rate by target position. Rows are :class:`~wheretolisten.records.ResultRow` mappings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..scenes.lookup import gt_from_scene
from .labels import format_layers
from .marks import gid, mark_prediction, prediction_handles, token_step
from .style import (
    C_DELTA,
    C_GT,
    C_OTHER,
    C_PEAK,
    C_PRED,
    CYCLE,
    drawn_png,
    figure_bytes,
    new_figure,
    plot_style,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..scenes import Scene

Row = Mapping[str, Any]


def row_title(row: Row) -> str:
    """Scene, query, position and score of one benchmark row."""
    from ..metrics import hit, iou

    verdict = "hit" if hit(row.get("peak_s"), row["gt"]) else "miss"
    score = iou(row.get("interval_s"), row["gt"])
    return (
        f"{row.get('scene_id', '?')} · “{row.get('query', '?')}” ({row.get('position', '?')}) · "
        f"{row.get('condition', '?')}: {verdict}, IoU {score:.2f}"
    )


def _draw_timeline(ax: Axes, row: Row, scene: Scene | None) -> None:
    """Two lanes: the scene's GT events (queried one green) above the predicted interval."""
    gt_on, gt_off = (float(v) for v in row["gt"])
    events = gt_from_scene(scene) if scene is not None else [(str(row.get("label", "")), gt_on, gt_off)]
    for i, (label, onset, offset) in enumerate(events):
        queried = abs(onset - gt_on) < 1e-6 and abs(offset - gt_off) < 1e-6
        color, alpha = (C_GT, 0.6) if queried else (C_OTHER, 0.35)
        ax.broken_barh(
            [(onset, offset - onset)], (0.55, 0.4), color=color, alpha=alpha, gid=gid(ax, f"gt{i}")
        )
        ax.text((onset + offset) / 2, 0.75, label, ha="center", va="center", fontsize=8, clip_on=True)
    interval = row.get("interval_s")
    if interval is not None:
        start, end = float(interval[0]), float(interval[1])
        ax.broken_barh([(start, end - start)], (0.05, 0.4), color=C_PRED, gid=gid(ax, "interval"))
    ax.set_ylim(0.0, 1.0)
    ax.set_yticks([0.25, 0.75])
    ax.set_yticklabels(["prediction", "ground truth"])


def _draw_row_delta(ax: Axes, row: Row) -> None:
    """The row's Δ profile over the queried GT interval."""
    profile = row["profile"]
    t = np.asarray(profile["time_s"], dtype=float)
    delta = np.asarray(profile["delta"], dtype=float)
    ax.axhline(0.0, color="#999999", lw=0.8)
    ax.axvspan(float(row["gt"][0]), float(row["gt"][1]), color=C_GT, alpha=0.2, lw=0, gid=gid(ax, "gt"))
    ax.plot(t + token_step(t) / 2, delta, color=C_DELTA, lw=1.2, gid=gid(ax, "delta"))
    ax.set_ylabel("Δ attention")


def draw_result_row(row: Row, scene: Scene | None = None) -> Figure:
    """One benchmark row: the scene's events, the queried GT, the prediction; Δ below when the row has it."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    has_profile = bool(row.get("profile"))
    fig = new_figure(7.5, 3.4 if has_profile else 2.1)
    grid = fig.add_gridspec(2 if has_profile else 1, 1, height_ratios=[1.0, 1.6] if has_profile else [1.0])
    axes = [fig.add_subplot(grid[0], label="timeline")]
    _draw_timeline(axes[0], row, scene)
    if has_profile:
        axes.append(fig.add_subplot(grid[1], sharex=axes[0], label="delta"))
        _draw_row_delta(axes[1], row)
        axes[0].tick_params(labelbottom=False)
    for ax in axes:
        mark_prediction(ax, row.get("peak_s"), None, band=False)
        ax.set_xlim(0.0, float(row["duration_s"]))
    axes[-1].set_xlabel("time (s)")
    fig.align_ylabels(axes)
    handles: list[Any] = [
        Patch(color=C_GT, alpha=0.6, label="queried event"),
        Patch(color=C_PRED, label="predicted interval"),
        *prediction_handles(interval=False),
    ]
    if has_profile:
        handles.append(Line2D([], [], color=C_DELTA, lw=1.2, label="Δ = steered − base"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    fig.suptitle(row_title(row), fontsize=9)
    return fig


def row_figure_png(row: Row, scene: Scene | None = None) -> bytes:
    """PNG bytes of :func:`draw_result_row` (for embedding in the HTML report)."""
    return drawn_png(lambda: draw_result_row(row, scene))


def row_figure_axis(row: Row, scene: Scene | None = None) -> tuple[bytes, tuple[float, float]]:
    """PNG bytes of :func:`draw_result_row` and where its time axis (0 to the row's duration) lies across
    the image, as fractions of its width: what maps a click on the image to a time."""
    with plot_style():
        fig = draw_result_row(row, scene)
        png = figure_bytes(fig, "png")  # lays the figure out: the axes' positions are final after it
        box = fig.axes[0].get_position()
    return png, (float(box.x0), float(box.x1))


def draw_conditions(rows: Sequence[Row], scene: Scene | None = None) -> Figure:
    """One (scene, query) under several conditions: the events on top, then each condition's Δ profile
    on a shared y-axis (so their sizes compare) with its predicted peak and interval."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    with_profile = [r for r in rows if r.get("profile")]
    if not with_profile:
        raise ValueError("draw_conditions needs rows that carry profiles (bench run --save-profiles)")
    first = with_profile[0]
    fig = new_figure(7.5, 1.6 + 1.25 * len(with_profile))
    grid = fig.add_gridspec(1 + len(with_profile), 1, height_ratios=[1.0] + [1.3] * len(with_profile))
    top = fig.add_subplot(grid[0], label="timeline")
    _draw_timeline(top, {**first, "interval_s": None}, scene)
    top.set_ylim(0.5, 1.0)  # the events lane only: each condition's prediction is drawn in its panel
    top.set_yticks([0.75])
    top.set_yticklabels(["events"])
    axes = [top]
    for i, row in enumerate(with_profile):
        ax = fig.add_subplot(grid[1 + i], sharex=top, sharey=axes[1] if i else None, label=f"delta{i + 1}")
        _draw_row_delta(ax, row)
        mark_prediction(ax, row.get("peak_s"), row.get("interval_s"), band=True)
        ax.set_ylabel(str(row.get("condition", "?")), fontsize=8)
        axes.append(ax)
    for ax in axes:
        ax.set_xlim(0.0, float(first["duration_s"]))
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    axes[-1].set_xlabel("time (s)")
    fig.align_ylabels(axes)
    handles: list[Any] = [
        Patch(color=C_GT, alpha=0.6, label="queried event"),
        Line2D([], [], color=C_DELTA, lw=1.2, label="Δ attention (each condition's own base)"),
        *prediction_handles(),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
    fig.suptitle(f"{first.get('scene_id', '?')} · “{first.get('query', '?')}” ({first.get('position', '?')})")
    return fig


def conditions_figure_png(rows: Sequence[Row], scene: Scene | None = None) -> bytes:
    """PNG bytes of :func:`draw_conditions` (for the HTML report)."""
    return drawn_png(lambda: draw_conditions(rows, scene))


def _layers_key(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return format_layers([int(x) for x in value])
    return str(value)


def draw_sweep(
    rows: Sequence[Mapping[str, Any]], metric: str = "hit_rate", chosen: int | None = None
) -> Figure:
    """Layer set × α heatmap of ``metric`` (dev hit rate) over the grid lines of one sweep, cells annotated;
    the cell of ``rows[chosen]`` (the setting the sweep chose, given by the caller) outlined.

    Two rows for one (layers, α) are refused (ValueError): they come from different settings, and a cell
    shows one value.
    """
    from matplotlib.patches import Rectangle

    layer_keys = list(dict.fromkeys(_layers_key(r["layers"]) for r in rows))
    alphas = sorted({float(r["alpha"]) for r in rows})
    grid = np.full((len(layer_keys), len(alphas)), np.nan)
    cells: list[tuple[int, int]] = []
    for r in rows:
        cell = (layer_keys.index(_layers_key(r["layers"])), alphas.index(float(r["alpha"])))
        if cell in cells:
            raise ValueError(f"two sweep rows for layers {_layers_key(r['layers'])}, α {float(r['alpha']):g}")
        cells.append(cell)
        grid[cell] = float(r[metric])
    fig = new_figure(max(4.5, 1.2 + 0.9 * len(alphas)), max(2.6, 1.4 + 0.4 * len(layer_keys)))
    ax = fig.add_subplot(label="sweep")
    image = ax.imshow(grid, cmap="viridis", aspect="auto", origin="upper", gid=gid(ax, metric))
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            if np.isfinite(grid[i, j]):
                value = grid[i, j]
                light = value < np.nanmin(grid) + 0.6 * (np.nanmax(grid) - np.nanmin(grid) or 1)
                ax.text(j, i, f"{value:.1f}", ha="center", va="center", color="white" if light else "black")
    if chosen is not None:
        bi, bj = cells[chosen]
        ax.add_patch(Rectangle((bj - 0.5, bi - 0.5), 1, 1, fill=False, ec=C_PEAK, lw=2, gid=gid(ax, "best")))
    ax.set_xticks(range(len(alphas)))
    ax.set_xticklabels([f"{a:g}" for a in alphas])
    ax.set_yticks(range(len(layer_keys)))
    ax.set_yticklabels(layer_keys)
    ax.set_xlabel("α")
    ax.set_ylabel("steered layers")
    bar = fig.colorbar(image, ax=ax)
    bar.set_label("hit rate (%)" if metric == "hit_rate" else metric)
    chose = "; chosen setting outlined" if chosen is not None else ""
    ax.set_title(f"sweep: {metric.replace('_', ' ')} per (layers, α){chose}")
    return fig


def sweep_png(
    rows: Sequence[Mapping[str, Any]], metric: str = "hit_rate", chosen: int | None = None
) -> bytes:
    """PNG bytes of :func:`draw_sweep`."""
    return drawn_png(lambda: draw_sweep(rows, metric, chosen))


def draw_position_breakdown(breakdown: Sequence[Mapping[str, Any]]) -> Figure:
    """Grouped bars: hit rate per target position for each condition, with bootstrap CIs."""
    conditions = list(dict.fromkeys(str(b["condition"]) for b in breakdown))
    positions = list(dict.fromkeys(str(b["position"]) for b in breakdown))
    fig = new_figure(max(5.0, 1.5 + 1.1 * len(conditions)), 3.0)
    ax = fig.add_subplot(label="positions")
    width = 0.8 / max(1, len(positions))
    for k, pos in enumerate(positions):
        xs, ys, lo, hi = [], [], [], []
        for i, cond in enumerate(conditions):
            match = [b for b in breakdown if b["condition"] == cond and b["position"] == pos]
            if not match:
                continue
            b = match[0]
            xs.append(i - 0.4 + width * (k + 0.5))
            ys.append(float(b["hit_rate"]))
            ci = b.get("hit_rate_ci") or [b["hit_rate"], b["hit_rate"]]
            lo.append(float(b["hit_rate"]) - float(ci[0]))
            hi.append(float(ci[1]) - float(b["hit_rate"]))
        ax.bar(
            xs,
            ys,
            width,
            yerr=[lo, hi],
            capsize=2,
            label=pos,
            color=CYCLE[k % len(CYCLE)],
            error_kw={"ecolor": "#333333", "elinewidth": 0.8},
        )
    ax.set_xticks(range(len(conditions)))
    ax.set_xticklabels(conditions)
    ax.set_ylabel("hit rate (%)")
    ax.set_ylim(0, 105)
    ax.set_title("hit rate by target position (95% CI)")
    fig.legend(title="target position", loc="outside right upper", frameon=False)
    return fig


def position_png(breakdown: Sequence[Mapping[str, Any]]) -> bytes:
    """PNG bytes of :func:`draw_position_breakdown`."""
    return drawn_png(lambda: draw_position_breakdown(breakdown))
