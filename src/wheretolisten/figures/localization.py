"""Where the model listened in one clip: waveform, log-mel, attention and Δ on one time axis.

One query gives :func:`draw_localization` (base and steered attention, Δ and the readout); several
queries of one clip give :func:`draw_queries` (one Δ panel per query). Axes are labelled ``waveform``,
``log-mel``, ``attention``, ``delta`` (``delta1``, ``delta2``, … for several queries).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import numpy as np

from ..errors import DataError
from .labels import format_layers, short_model_name
from .marks import (
    as_spans,
    gid,
    gt_handles,
    mark_gt_edges,
    mark_prediction,
    prediction_handles,
    shade_gt,
    token_step,
)
from .signal import draw_log_mel, draw_waveform
from .style import (
    C_BASE,
    C_DELTA,
    C_GT,
    C_OTHER,
    C_PEAK,
    C_SMOOTH,
    C_STEERED,
    figure_format,
    new_figure,
    save_drawn,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..scenes.lookup import GTSpan


class ResultLike(Protocol):
    """A localization result: :class:`wheretolisten.results.LocalizeResult` (or a type with its JSON form)."""

    def to_json(self) -> dict[str, Any]: ...


Audio = np.ndarray | str | os.PathLike[str]
#: What a ``plot_*`` function draws: one result, or the results of several queries.
_Drawn = TypeVar("_Drawn")
#: Dotted GT edges over the log-mel image (bands would hide it).
_GT_ON_MEL = "#7CFC00"


@dataclass(frozen=True)
class LocalizationView:
    """What the localization figure draws, read from a result (``ResultLike``) or its ``to_json()`` dict."""

    model: str
    query: str
    layers: list[int]
    alpha: float
    normalize: bool
    smooth_s: float
    time_s: np.ndarray
    base: np.ndarray
    steered: np.ndarray
    delta: np.ndarray
    peak_s: float | None
    interval_s: tuple[float, float] | None
    shifts: int = 1

    @property
    def settings(self) -> str:
        """ "steered layers 1 · α = 2" (and "· 4 shifts" when the profiles are shift-averaged)."""
        text = f"steered layers {format_layers(self.layers)} · α = {self.alpha:g}"
        return text + (f" · {self.shifts} shifts" if self.shifts > 1 else "")

    @property
    def token_s(self) -> float:
        return token_step(self.time_s)

    @property
    def centers(self) -> np.ndarray:
        """Token i covers [t_i, t_i + token_s); curves are drawn at the centres."""
        return self.time_s + self.token_s / 2

    @property
    def smoothed_delta(self) -> np.ndarray | None:
        """Δ smoothed as the readout smooths it before taking the peak; None when it is not smoothed."""
        from ..readout import smooth

        width = int(round(self.smooth_s / self.token_s)) | 1 if self.smooth_s > 0 else 1
        return smooth(self.delta, width) if width > 1 else None

    @property
    def end_s(self) -> float:
        """Where the last audio token ends."""
        return float(self.time_s[-1]) + self.token_s if self.time_s.size else 0.0

    @classmethod
    def of(cls, result: ResultLike | Mapping[str, Any]) -> LocalizationView:
        data = result if isinstance(result, Mapping) else result.to_json()
        try:
            prof, cfg = data["profile"], data.get("config") or {}
            interval = data.get("interval_s")
            return cls(
                model=str(data.get("model", "")),
                query=str(data["query"]),
                layers=[int(x) for x in cfg.get("layers") or []],
                alpha=float(cfg.get("alpha", math.nan)),
                normalize=bool(cfg.get("normalize", True)),
                smooth_s=float(cfg.get("smooth_s") or 0.0),
                time_s=np.asarray(prof["time_s"], dtype=float),
                base=np.asarray(prof["base"], dtype=float),
                steered=np.asarray(prof["steered"], dtype=float),
                delta=np.asarray(prof["delta"], dtype=float),
                peak_s=None if data.get("peak_s") is None else float(data["peak_s"]),
                interval_s=None if interval is None else (float(interval[0]), float(interval[1])),
                shifts=int(cfg.get("shifts", 1)),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise DataError(f"not a localization result ({type(exc).__name__}: {exc})") from None


def localization_title(view: LocalizationView) -> str:
    """Model, query, steered layers, α (and shifts) on one line; the readout on the next."""
    head = f"{short_model_name(view.model)} · query “{view.query}” · {view.settings}"
    if view.peak_s is None or view.interval_s is None:
        return head + "\nno attention shift (Δ is flat): no peak"
    start, end = view.interval_s
    return head + f"\npeak {view.peak_s:.2f} s · interval {start:.2f}–{end:.2f} s"


def _signal_axes(
    fig: Figure, grid: Any, audio: np.ndarray, sample_rate: int, gt: Sequence[GTSpan], query: str
) -> tuple[Axes, Axes]:
    """Waveform (GT bands and labels) over the log-mel (dotted GT edges), in the first two grid rows."""
    ax_w = fig.add_subplot(grid[0], label="waveform")
    ax_s = fig.add_subplot(grid[1], sharex=ax_w, label="log-mel")
    draw_waveform(ax_w, audio, sample_rate)
    draw_log_mel(ax_s, audio, sample_rate)
    shade_gt(ax_w, gt, query, labels=True)
    mark_gt_edges(ax_s, gt, "", color=_GT_ON_MEL, lw=0.8)
    return ax_w, ax_s


def _draw_delta(ax: Axes, view: LocalizationView, raw_line: bool) -> None:
    """Δ filled to zero; the raw Δ line when ``raw_line``; the smoothed Δ the readout uses when smoothed."""
    x, smoothed = view.centers, view.smoothed_delta
    ax.axhline(0.0, color="#999999", lw=0.8)
    ax.fill_between(x, view.delta, 0.0, color=C_DELTA, alpha=0.25 if raw_line else 0.2, lw=0)
    if raw_line:
        ax.plot(x, view.delta, color=C_DELTA, lw=0.8, alpha=0.8, gid=gid(ax, "delta"))
    if smoothed is not None or not raw_line:
        curve = view.delta if smoothed is None else smoothed
        ax.plot(x, curve, color=C_SMOOTH, lw=1.6 if raw_line else 1.4, gid=gid(ax, "delta-smoothed"))


def _finish(
    fig: Figure, axes: list[Axes], duration_s: float, title: str, handles: list[Any], ncols: int
) -> None:
    """One time axis for all panels, tick labels on the bottom one only, the title and the legend."""
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(0.0, duration_s)
    fig.align_ylabels(axes)
    fig.suptitle(title)
    fig.legend(handles=handles, loc="outside lower center", ncols=ncols, frameon=False)


def draw_localization(
    result: ResultLike | Mapping[str, Any],
    audio: np.ndarray,
    sample_rate: int,
    gt: Sequence[GTSpan] = (),
    title: str | None = None,
) -> Figure:
    """Waveform, log-mel, base/steered attention and Δ on one shared time axis, with peak, interval, GT."""
    from matplotlib.lines import Line2D

    view = LocalizationView.of(result)
    gt = as_spans(gt)
    fig = new_figure(10.0, 8.0)
    grid = fig.add_gridspec(4, 1, height_ratios=[1.0, 1.5, 1.5, 1.5])
    ax_w, ax_s = _signal_axes(fig, grid, audio, sample_rate, gt, view.query)
    ax_p = fig.add_subplot(grid[2], sharex=ax_w, label="attention")
    ax_d = fig.add_subplot(grid[3], sharex=ax_w, label="delta")
    ax_p.plot(view.centers, view.base, color=C_BASE, lw=1.2, gid=gid(ax_p, "base"))
    ax_p.plot(view.centers, view.steered, color=C_STEERED, lw=1.2, gid=gid(ax_p, "steered"))
    ax_p.set_ylabel("attention to audio\n(share per token)" if view.normalize else "attention to audio")
    _draw_delta(ax_d, view, raw_line=True)
    ax_d.set_ylabel("Δ attention\n(steered − base)")
    for ax in (ax_p, ax_d):
        shade_gt(ax, gt, view.query)
    for ax in (ax_w, ax_s, ax_p, ax_d):
        mark_prediction(ax, view.peak_s, view.interval_s, band=ax in (ax_p, ax_d))
    for ax in (ax_w, ax_p, ax_d):
        ax.grid(axis="x", color="#dddddd", lw=0.5)
    handles: list[Any] = [
        Line2D([], [], color=C_BASE, lw=1.4, label="base (unsteered)"),
        Line2D([], [], color=C_STEERED, lw=1.4, label="steered"),
        Line2D([], [], color=C_DELTA, lw=1.0, label="Δ = steered − base"),
    ]
    if view.smoothed_delta is not None:
        handles.append(
            Line2D([], [], color=C_SMOOTH, lw=1.6, label=f"Δ smoothed ({view.smooth_s:g} s, read out)")
        )
    handles += prediction_handles(view.peak_s is not None, view.interval_s is not None)
    handles += gt_handles(gt, view.query)
    duration = max(audio.size / sample_rate, view.end_s)
    _finish(fig, [ax_w, ax_s, ax_p, ax_d], duration, title or localization_title(view), handles, 4)
    return fig


def draw_queries(
    results: Sequence[ResultLike | Mapping[str, Any]],
    audio: np.ndarray,
    sample_rate: int,
    gt: Sequence[GTSpan] = (),
    title: str | None = None,
) -> Figure:
    """Where the model listens for each of several sounds in one clip: waveform, log-mel, then one Δ
    panel per query (smoothed Δ, peak, interval, its ground truth in green), on one time axis."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    views = [LocalizationView.of(r) for r in results]
    if not views:
        raise ValueError("draw_queries needs at least one result")
    gt = as_spans(gt)
    fig = new_figure(10.0, 3.0 + 1.3 * len(views))
    grid = fig.add_gridspec(2 + len(views), 1, height_ratios=[1.0, 1.5] + [1.2] * len(views))
    ax_w, ax_s = _signal_axes(fig, grid, audio, sample_rate, gt, "")
    panels = []
    for i, view in enumerate(views, start=1):
        ax = fig.add_subplot(grid[1 + i], sharex=ax_w, label=f"delta{i}")
        panels.append(ax)
        _draw_delta(ax, view, raw_line=False)
        shade_gt(ax, gt, view.query)
        mark_prediction(ax, view.peak_s, view.interval_s, band=True)
        if view.peak_s is not None:
            for axis in (ax_w, ax_s):
                axis.axvline(view.peak_s, color=C_PEAK, ls="--", lw=1.0, gid=gid(axis, f"peak{i}"))
            ax_s.text(view.peak_s, 1.0, f" {i}", transform=ax_s.get_xaxis_transform(),
                      color="white", fontsize=8, va="top", ha="left")  # fmt: skip
        ax.set_ylabel(f"{i}: Δ for\n“{view.query}”", fontsize=8)
        ax.grid(axis="x", color="#dddddd", lw=0.5)
    first = views[0]
    head = f"{short_model_name(first.model)} · {len(views)} queries · {first.settings}"
    handles: list[Any] = [
        Line2D([], [], color=C_SMOOTH, lw=1.4, label="Δ attention (steered − base), smoothed"),
        *prediction_handles(),
    ]
    if gt:
        handles += [
            Patch(color=C_GT, alpha=0.22, label="the panel's queried event"),
            Patch(color=C_OTHER, alpha=0.12, label="other events"),
        ]
    duration = max(audio.size / sample_rate, first.end_s)
    _finish(fig, [ax_w, ax_s, *panels], duration, title or head, handles, 3)
    return fig


def audio_array(audio: Audio, sample_rate: int | None) -> tuple[np.ndarray, int]:
    """A path is read with the package's loader (mono, at ``sample_rate`` or 16 kHz); an array needs
    its sample rate and is read as ``localize`` reads it (any layout, integer PCM scaled, channels
    averaged: ``audio.array_mono``)."""
    if isinstance(audio, (str, os.PathLike)):
        from ..audio import load_audio

        rate = sample_rate or 16000
        return load_audio(audio, rate)[0], rate
    if sample_rate is None:
        raise ValueError("sample_rate is required when audio is an array")
    from ..audio import array_mono

    return array_mono(audio)[0], int(sample_rate)


@dataclass(frozen=True)
class _Plot(Generic[_Drawn]):
    """A ``plot_*`` function of a clip: its drawing of ``what`` over the clip, saved to ``out``."""

    draw: Callable[[_Drawn, np.ndarray, int, Sequence[GTSpan], str | None], Figure]

    def __call__(
        self,
        what: _Drawn,
        audio: Audio,
        sample_rate: int | None,
        out: str | os.PathLike[str],
        gt: Sequence[GTSpan] = (),
        title: str | None = None,
    ) -> Path:
        """Check the format, read the audio (a path, or an array with its ``sample_rate``), draw ``what``
        over it and save the figure to ``out`` (.png, .svg or .pdf)."""
        figure_format(out)
        clip, rate = audio_array(audio, sample_rate)
        return save_drawn(lambda: self.draw(what, clip, rate, gt, title), out)


#: Draw :func:`draw_localization` and save it to ``out`` (.png, .svg or .pdf).
plot_localization = _Plot[ResultLike | Mapping[str, Any]](draw_localization)
#: Draw :func:`draw_queries` and save it to ``out`` (.png, .svg or .pdf).
plot_queries = _Plot[Sequence[ResultLike | Mapping[str, Any]]](draw_queries)
