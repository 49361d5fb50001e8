"""Figures of where the model listens: waveform, log-mel, attention and Δ; Δ per layer; report panels.

Matplotlib is the optional extra ``plot``. Figures are drawn on ``matplotlib.figure.Figure`` with the Agg
canvas, never pyplot, so importing or using this module leaves the user's backend alone. Each figure is
drawn under matplotlib's default style with fixed DPI and saved without timestamps, so the same input
gives byte-identical PNG, SVG and PDF files.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .errors import DataError, WTLError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .localize import AlphaSweep, LocalizeResult
    from .results import LayerDelta
    from .scenes import Scene

from .scenes.lookup import GTSpan, gt_for_audio, gt_from_scene

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


# ----------------------------------------------------------------------------------------------------
# Matplotlib plumbing
# ----------------------------------------------------------------------------------------------------


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
    with plot_style():
        fig.savefig(buf, format=fmt, dpi=DPI, metadata=_METADATA[fmt])
    return buf.getvalue()


def save_figure(fig: Figure, out: str | os.PathLike[str]) -> Path:
    """Write the figure in the format its suffix names; the file appears whole or not at all."""
    path = Path(out)
    data = figure_bytes(fig, figure_format(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


# ----------------------------------------------------------------------------------------------------
# Signal views: log-mel spectrogram and waveform envelope (numpy only, no librosa)
# ----------------------------------------------------------------------------------------------------


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=float) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=float) / 2595.0) - 1.0)


def mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """[n_mels, n_fft // 2 + 1] triangular filters equally spaced on the mel scale (peak 1)."""
    top = sample_rate / 2 if fmax is None else fmax
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(top), n_mels + 2))
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lo) / np.maximum(mid - lo, 1e-9)
    falling = (hi - freqs[None, :]) / np.maximum(hi - mid, 1e-9)
    return np.clip(np.minimum(rising, falling), 0.0, None)


class LogMel(NamedTuple):
    """A log-mel spectrogram: ``db`` is [n_mels, frames]; frame k is centred on ``k * hop_s``."""

    db: np.ndarray
    hop_s: float
    fmin: float
    fmax: float


def log_mel(
    audio: np.ndarray,
    sample_rate: int,
    n_mels: int = 80,
    n_fft: int = 512,
    hop_s: float = 0.010,
    top_db: float = 60.0,
) -> LogMel:
    """Power STFT (Hann, centred frames) through a mel filterbank, in dB clipped ``top_db`` below the max."""
    x = np.asarray(audio, dtype=np.float64).ravel()
    hop = max(1, int(round(hop_s * sample_rate)))
    padded = np.pad(x, n_fft // 2, mode="reflect" if x.size > n_fft // 2 else "constant")
    if padded.size < n_fft:
        padded = np.pad(padded, (0, n_fft - padded.size))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    power = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2
    mel = mel_filterbank(sample_rate, n_fft, n_mels) @ power.T
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    return LogMel(np.maximum(db, db.max() - top_db), hop / sample_rate, 0.0, sample_rate / 2)


def envelope(audio: np.ndarray, sample_rate: int, bins: int = 2000) -> tuple[np.ndarray, ...]:
    """(time_s, min, max) per bin: a waveform drawn as its envelope stays small for long clips."""
    x = np.asarray(audio, dtype=np.float64).ravel()
    per = max(1, math.ceil(x.size / bins))
    n = math.ceil(x.size / per)
    padded = np.pad(x, (0, n * per - x.size), mode="edge").reshape(n, per)
    t = (np.arange(n) * per + per / 2) / sample_rate
    return t, padded.min(axis=1), padded.max(axis=1)


# ----------------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------------


def format_layers(layers: Sequence[int] | None) -> str:
    """[8, 9, 10, 12] → '8–10, 12' (runs of consecutive layers collapsed)."""
    if not layers:
        return "default"
    values = sorted(set(int(x) for x in layers))
    parts: list[str] = []
    start = prev = values[0]
    for v in [*values[1:], None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(str(start) if start == prev else f"{start}–{prev}")
        if v is not None:
            start = prev = v
    return ", ".join(parts)


def short_model_name(name: str) -> str:
    """A hub id as is; a local directory by its last component (tmp paths make poor titles)."""
    if os.sep in name and Path(name).exists():
        return Path(name).name or name
    return name


def is_queried(label: str, query: str) -> bool:
    """Whether a GT label names the queried sound ('siren' in 'a siren'), case-insensitively."""
    label, query = label.strip().lower(), query.strip().lower()
    return bool(label) and (label == query or label.replace("_", " ") in query)


def _x_limits(ax: Axes, duration_s: float) -> None:
    ax.set_xlim(0.0, duration_s)


def _shade_gt(ax: Axes, gt: Sequence[GTSpan], query: str, labels: bool = False) -> None:
    """Green bands for events named by the query, grey ones for the others; optionally their labels."""
    from matplotlib.transforms import blended_transform_factory

    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for label, onset, offset in gt:
        queried = is_queried(label, query)
        ax.axvspan(onset, offset, color=C_GT if queried else C_OTHER, alpha=0.22 if queried else 0.12, lw=0)
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
            )


def _mark_prediction(ax: Axes, peak_s: float | None, interval_s: Sequence[float] | None, band: bool) -> None:
    """Red dashed line at the peak; an orange band over the predicted interval when ``band``."""
    if band and interval_s is not None:
        ax.axvspan(float(interval_s[0]), float(interval_s[1]), color=C_PRED, alpha=0.25, lw=0)
    if peak_s is not None:
        ax.axvline(float(peak_s), color=C_PEAK, ls="--", lw=1.2)


def _legend_handles(view: LocalizationView, gt: Sequence[GTSpan], query: str) -> list[Any]:
    """Proxy artists for the shared legend (only what the figure shows)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [
        Line2D([], [], color=C_BASE, lw=1.4, label="base (unsteered)"),
        Line2D([], [], color=C_STEERED, lw=1.4, label="steered"),
        Line2D([], [], color=C_DELTA, lw=1.0, label="Δ = steered − base"),
    ]
    if view.smoothed_delta is not None:
        handles.append(
            Line2D([], [], color=C_SMOOTH, lw=1.6, label=f"Δ smoothed ({view.smooth_s:g} s, read out)")
        )
    has_pred, has_interval = view.peak_s is not None, view.interval_s is not None
    if has_pred:
        handles.append(Line2D([], [], color=C_PEAK, ls="--", lw=1.2, label="predicted peak"))
    if has_interval:
        handles.append(Patch(color=C_PRED, alpha=0.25, label="predicted interval"))
    if any(is_queried(lab, query) for lab, _, _ in gt):
        handles.append(Patch(color=C_GT, alpha=0.22, label="ground truth (queried)"))
    if any(not is_queried(lab, query) for lab, _, _ in gt):
        handles.append(Patch(color=C_OTHER, alpha=0.12, label="other events"))
    return handles


# ----------------------------------------------------------------------------------------------------
# Localization figure
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalizationView:
    """What the localization figure needs, from a :class:`LocalizeResult` or its ``to_json()`` dict."""

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

    @property
    def token_s(self) -> float:
        return float(self.time_s[1] - self.time_s[0]) if self.time_s.size > 1 else 0.04

    @property
    def centers(self) -> np.ndarray:
        """Token i covers [t_i, t_i + token_s); curves are drawn at the centres."""
        return self.time_s + self.token_s / 2

    @property
    def smoothed_delta(self) -> np.ndarray | None:
        """Δ smoothed as the readout smooths it before taking the peak; None when it is not smoothed."""
        from .readout import smooth

        width = int(round(self.smooth_s / self.token_s)) | 1 if self.smooth_s > 0 else 1
        return smooth(self.delta, width) if width > 1 else None

    @classmethod
    def of(cls, result: LocalizeResult | Mapping[str, Any]) -> LocalizationView:
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
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise DataError(f"not a localization result ({type(exc).__name__}: {exc})") from None


def localization_title(view: LocalizationView) -> str:
    """Model, query, steered layers and α on one line; the readout on the next."""
    head = (
        f"{short_model_name(view.model)} · query “{view.query}” · steered layers "
        f"{format_layers(view.layers)} · α = {view.alpha:g}"
    )
    if view.peak_s is None or view.interval_s is None:
        return head + "\nno attention shift (Δ is flat): no peak"
    start, end = view.interval_s
    return head + f"\npeak {view.peak_s:.2f} s · interval {start:.2f}–{end:.2f} s"


def _draw_waveform(ax: Axes, audio: np.ndarray, sample_rate: int) -> None:
    t, lo, hi = envelope(audio, sample_rate)
    ax.fill_between(t, lo, hi, color="#555555", lw=0, step="mid")
    top = max(float(np.max(np.abs(audio))), 1e-6) * 1.1
    ax.set_ylim(-top, top)
    ax.set_ylabel("amplitude")


def _draw_log_mel(ax: Axes, audio: np.ndarray, sample_rate: int) -> None:
    spec = log_mel(audio, sample_rate)
    n_frames = spec.db.shape[1]
    m_lo, m_hi = float(hz_to_mel(spec.fmin)), float(hz_to_mel(spec.fmax))
    ax.imshow(
        spec.db,
        origin="lower",
        aspect="auto",
        cmap="magma",
        interpolation="nearest",
        extent=(-spec.hop_s / 2, (n_frames - 0.5) * spec.hop_s, m_lo, m_hi),
    )
    ticks = [f for f in (0, 250, 500, 1000, 2000, 4000, 8000, 16000) if f <= spec.fmax]
    ax.set_yticks([float(hz_to_mel(f)) for f in ticks])
    ax.set_yticklabels([f"{f // 1000}k" if f >= 1000 else str(f) for f in ticks])
    ax.set_ylabel("log-mel (Hz)")


def draw_localization(
    result: LocalizeResult | Mapping[str, Any],
    audio: np.ndarray,
    sample_rate: int,
    gt: Sequence[GTSpan] = (),
    title: str | None = None,
) -> Figure:
    """Waveform, log-mel, base/steered attention and Δ on one shared time axis, with peak, interval, GT."""
    view = LocalizationView.of(result)
    gt = [(str(lab), float(on), float(off)) for lab, on, off in gt]
    duration = max(audio.size / sample_rate, float(view.time_s[-1]) + view.token_s if view.time_s.size else 0)
    fig = new_figure(10.0, 8.0)
    grid = fig.add_gridspec(4, 1, height_ratios=[1.0, 1.5, 1.5, 1.5])
    ax_w = fig.add_subplot(grid[0])
    axes = [ax_w] + [fig.add_subplot(grid[i], sharex=ax_w) for i in (1, 2, 3)]
    ax_w, ax_s, ax_p, ax_d = axes
    _draw_waveform(ax_w, audio, sample_rate)
    _draw_log_mel(ax_s, audio, sample_rate)
    x = view.centers
    ax_p.plot(x, view.base, color=C_BASE, lw=1.2)
    ax_p.plot(x, view.steered, color=C_STEERED, lw=1.2)
    ax_p.set_ylabel("attention to audio\n(share per token)" if view.normalize else "attention to audio")
    ax_d.axhline(0.0, color="#999999", lw=0.8)
    ax_d.fill_between(x, view.delta, 0.0, color=C_DELTA, alpha=0.25, lw=0)
    ax_d.plot(x, view.delta, color=C_DELTA, lw=0.8, alpha=0.8)
    smoothed = view.smoothed_delta
    if smoothed is not None:
        ax_d.plot(x, smoothed, color=C_SMOOTH, lw=1.6)
    ax_d.set_ylabel("Δ attention\n(steered − base)")
    ax_d.set_xlabel("time (s)")
    for ax in (ax_w, ax_p, ax_d):
        _shade_gt(ax, gt, view.query, labels=ax is ax_w)
    for ax in (ax_w, ax_s):
        _mark_prediction(ax, view.peak_s, view.interval_s, band=False)
    for ax in (ax_p, ax_d):
        _mark_prediction(ax, view.peak_s, view.interval_s, band=True)
    for _, onset, offset in gt:
        for edge in (onset, offset):
            ax_s.axvline(edge, color="#7CFC00", lw=0.8, ls=":")
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    for ax in (ax_w, ax_p, ax_d):
        ax.grid(axis="x", color="#dddddd", lw=0.5)
    _x_limits(ax_d, duration)
    fig.align_ylabels(axes)
    fig.suptitle(title or localization_title(view))
    fig.legend(
        handles=_legend_handles(view, gt, view.query),
        loc="outside lower center",
        ncols=4,
        frameon=False,
    )
    return fig


def draw_queries(
    results: Sequence[LocalizeResult | Mapping[str, Any]],
    audio: np.ndarray,
    sample_rate: int,
    gt: Sequence[GTSpan] = (),
    title: str | None = None,
) -> Figure:
    """Where the model listens for each of several sounds in one clip: waveform, log-mel, then one Δ
    panel per query (smoothed Δ, peak, interval, its ground truth in green), on one time axis."""
    views = [LocalizationView.of(r) for r in results]
    if not views:
        raise ValueError("draw_queries needs at least one result")
    gt = [(str(lab), float(on), float(off)) for lab, on, off in gt]
    last = views[0]
    duration = max(audio.size / sample_rate, float(last.time_s[-1]) + last.token_s if last.time_s.size else 0)
    fig = new_figure(10.0, 3.0 + 1.3 * len(views))
    grid = fig.add_gridspec(2 + len(views), 1, height_ratios=[1.0, 1.5] + [1.2] * len(views))
    ax_w = fig.add_subplot(grid[0])
    ax_s = fig.add_subplot(grid[1], sharex=ax_w)
    _draw_waveform(ax_w, audio, sample_rate)
    _draw_log_mel(ax_s, audio, sample_rate)
    _shade_gt(ax_w, gt, "", labels=True)
    panels = []
    for i, view in enumerate(views):
        ax = fig.add_subplot(grid[2 + i], sharex=ax_w)
        panels.append(ax)
        x = view.centers
        ax.axhline(0.0, color="#999999", lw=0.8)
        ax.fill_between(x, view.delta, 0.0, color=C_DELTA, alpha=0.2, lw=0)
        smoothed = view.smoothed_delta
        ax.plot(x, view.delta if smoothed is None else smoothed, color=C_SMOOTH, lw=1.4)
        _shade_gt(ax, gt, view.query)
        _mark_prediction(ax, view.peak_s, view.interval_s, band=True)
        for axis in (ax_w, ax_s):
            if view.peak_s is not None:
                axis.axvline(view.peak_s, color=C_PEAK, ls="--", lw=1.0)
                if axis is ax_s:
                    axis.text(view.peak_s, 1.0, f" {i + 1}", transform=axis.get_xaxis_transform(),
                              color="white", fontsize=8, va="top", ha="left")  # fmt: skip
        ax.set_ylabel(f"{i + 1}: Δ for\n“{view.query}”", fontsize=8)
        ax.grid(axis="x", color="#dddddd", lw=0.5)
    axes = [ax_w, ax_s, *panels]
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    panels[-1].set_xlabel("time (s)")
    _x_limits(panels[-1], duration)
    fig.align_ylabels(axes)
    head = (
        f"{short_model_name(last.model)} · {len(views)} queries · steered layers "
        f"{format_layers(last.layers)} · α = {last.alpha:g}"
    )
    fig.suptitle(title or head)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [
        Line2D([], [], color=C_SMOOTH, lw=1.4, label="Δ attention (steered − base), smoothed"),
        Line2D([], [], color=C_PEAK, ls="--", lw=1.2, label="predicted peak"),
        Patch(color=C_PRED, alpha=0.25, label="predicted interval"),
    ]
    if gt:
        handles += [
            Patch(color=C_GT, alpha=0.22, label="the panel's queried event"),
            Patch(color=C_OTHER, alpha=0.12, label="other events"),
        ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False)
    return fig


def plot_queries(
    results: Sequence[LocalizeResult | Mapping[str, Any]],
    audio: np.ndarray | str | os.PathLike[str],
    sample_rate: int | None,
    out: str | os.PathLike[str],
    gt: Sequence[GTSpan] = (),
    title: str | None = None,
) -> Path:
    """Draw :func:`draw_queries` and save it to ``out`` (.png, .svg or .pdf)."""
    return _save_with_audio(draw_queries, results, audio, sample_rate, out, gt, title)


def _save_with_audio(
    draw: Callable[..., Figure],
    what: Any,
    audio: np.ndarray | str | os.PathLike[str],
    sample_rate: int | None,
    out: str | os.PathLike[str],
    gt: Sequence[GTSpan],
    title: str | None,
) -> Path:
    """Check the format, read the audio, draw ``what`` over it and save the figure to ``out``."""
    figure_format(out)
    clip, rate = _audio_array(audio, sample_rate)
    with plot_style():
        return save_figure(draw(what, clip, rate, gt, title), out)


def _audio_array(
    audio: np.ndarray | str | os.PathLike[str], sample_rate: int | None
) -> tuple[np.ndarray, int]:
    """A path is read (mono, at ``sample_rate`` or 16 kHz); an array needs its sample rate."""
    if isinstance(audio, (str, os.PathLike)):
        from .audio import load_audio

        rate = sample_rate or 16000
        return load_audio(audio, rate)[0], rate
    if sample_rate is None:
        raise ValueError("sample_rate is required when audio is an array")
    arr = np.asarray(audio, dtype=np.float32)
    return (arr.mean(axis=1) if arr.ndim == 2 else arr), int(sample_rate)


def plot_localization(
    result: LocalizeResult | Mapping[str, Any],
    audio: np.ndarray | str | os.PathLike[str],
    sample_rate: int | None,
    out: str | os.PathLike[str],
    gt: Sequence[GTSpan] = (),
    title: str | None = None,
) -> Path:
    """Draw :func:`draw_localization` and save it to ``out`` (.png, .svg or .pdf)."""
    return _save_with_audio(draw_localization, result, audio, sample_rate, out, gt, title)


# ----------------------------------------------------------------------------------------------------
# Δ attention per layer
# ----------------------------------------------------------------------------------------------------


def draw_layer_delta(
    data: LayerDelta,
    steer_layers: Sequence[int] = (),
    title: str | None = None,
    gt: Sequence[GTSpan] = (),
    query: str = "",
) -> Figure:
    """Layer × time heatmap of Δ (diverging, symmetric about 0); steered layers marked on the y axis."""
    layers, time_s, matrix = data
    token_s = float(time_s[1] - time_s[0]) if len(time_s) > 1 else 0.04
    n_layers, n_tokens = matrix.shape
    height = min(9.0, 2.2 + 0.22 * n_layers)
    fig = new_figure(10.0, height)
    ax = fig.add_subplot()
    limit = float(np.max(np.abs(matrix))) or 1e-12
    image = ax.imshow(
        matrix,
        origin="lower",
        aspect="auto",
        cmap="RdBu_r",
        vmin=-limit,
        vmax=limit,
        interpolation="nearest",
        extent=(0.0, n_tokens * token_s, -0.5, n_layers - 0.5),
    )
    step = max(1, math.ceil(n_layers / 24))
    ticks = list(range(0, n_layers, step))
    ax.set_yticks(ticks)
    ax.set_yticklabels([str(layers[i]) for i in ticks])
    steered = set(int(x) for x in steer_layers)
    for tick, i in zip(ax.get_yticklabels(), ticks, strict=True):
        if layers[i] in steered:
            tick.set_color(C_PEAK)
            tick.set_fontweight("bold")
    if steered:
        below = [i for i, layer in enumerate(layers) if layer <= min(steered)]
        if below:
            ax.axhline(max(below) + 0.5, color="#333333", lw=0.8, ls="--")
    for label, onset, offset in gt:
        color = C_GT if not query or is_queried(label, query) else C_OTHER
        for edge in (onset, offset):
            ax.axvline(edge, color=color, lw=1.0, ls=":")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("decoder layer (steered in red;\nabove the dashed line: downstream)")
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.01)
    bar.set_label("Δ attention (steered − base)")
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
    figure_format(out)
    with plot_style():
        return save_figure(draw_layer_delta(data, steer_layers, title, gt, query), out)


def draw_alpha_sweep(
    sweep: AlphaSweep, title: str | None = None, gt: Sequence[GTSpan] = (), query: str = ""
) -> Figure:
    """α × time heatmap of Δ (diverging, symmetric about 0) with each α's predicted peak and interval."""
    token_s = float(sweep.time_s[1] - sweep.time_s[0]) if len(sweep.time_s) > 1 else 0.04
    n_alpha, n_tokens = sweep.deltas.shape
    fig = new_figure(10.0, min(8.0, 2.4 + 0.35 * n_alpha))
    ax = fig.add_subplot()
    limit = float(np.max(np.abs(sweep.deltas))) or 1e-12
    image = ax.imshow(
        sweep.deltas,
        origin="lower",
        aspect="auto",
        cmap="RdBu_r",
        vmin=-limit,
        vmax=limit,
        interpolation="nearest",
        extent=(0.0, n_tokens * token_s, -0.5, n_alpha - 0.5),
    )
    for i, readout in enumerate(sweep.readouts):
        if readout.interval_s is not None:
            start, end = readout.interval_s
            ax.plot([start, end], [i, i], color=C_PRED, lw=3.0, alpha=0.9, solid_capstyle="butt")
        if readout.peak_s is not None:
            ax.plot([readout.peak_s], [i], marker="|", color=C_PEAK, ms=14, mew=2.0)
    ax.set_yticks(range(n_alpha))
    ax.set_yticklabels([f"{a:g}" for a in sweep.alphas])
    for label, onset, offset in gt:
        color = C_GT if not query or is_queried(label, query) else C_OTHER
        for edge in (onset, offset):
            ax.axvline(edge, color=color, lw=1.0, ls=":")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("steering strength α")
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.01)
    bar.set_label("Δ attention (steered − base)")
    ax.set_title(title or f"Δ attention by steering strength · query “{sweep.query}”")
    return fig


def plot_alpha_sweep(
    sweep: AlphaSweep,
    out: str | os.PathLike[str],
    title: str | None = None,
    gt: Sequence[GTSpan] = (),
    query: str = "",
) -> Path:
    """Draw :func:`draw_alpha_sweep` and save it to ``out`` (.png, .svg or .pdf)."""
    figure_format(out)
    with plot_style():
        return save_figure(draw_alpha_sweep(sweep, title, gt, query), out)


# ----------------------------------------------------------------------------------------------------
# Report panels: one benchmark row, the sweep grid, hit rate by position
# ----------------------------------------------------------------------------------------------------


def row_title(row: Mapping[str, Any]) -> str:
    """Scene, query, position and score of one benchmark row."""
    from .metrics import hit, iou

    verdict = "hit" if hit(row.get("peak_s"), row["gt"]) else "miss"
    score = iou(row.get("interval_s"), row["gt"])
    return (
        f"{row.get('scene_id', '?')} · “{row.get('query', '?')}” ({row.get('position', '?')}) · "
        f"{row.get('condition', '?')}: {verdict}, IoU {score:.2f}"
    )


def _draw_timeline(ax: Axes, row: Mapping[str, Any], scene: Scene | None) -> None:
    """Two lanes: the scene's GT events (queried one green) above the predicted interval."""
    gt_on, gt_off = (float(v) for v in row["gt"])
    events = gt_from_scene(scene) if scene is not None else [(str(row.get("label", "")), gt_on, gt_off)]
    for label, onset, offset in events:
        queried = abs(onset - gt_on) < 1e-6 and abs(offset - gt_off) < 1e-6
        color, alpha = (C_GT, 0.6) if queried else (C_OTHER, 0.35)
        ax.broken_barh([(onset, offset - onset)], (0.55, 0.4), color=color, alpha=alpha)
        ax.text((onset + offset) / 2, 0.75, label, ha="center", va="center", fontsize=8, clip_on=True)
    interval = row.get("interval_s")
    if interval is not None:
        start, end = float(interval[0]), float(interval[1])
        ax.broken_barh([(start, end - start)], (0.05, 0.4), color=C_PRED)
    ax.set_ylim(0.0, 1.0)
    ax.set_yticks([0.25, 0.75])
    ax.set_yticklabels(["prediction", "ground truth"])


def _draw_row_delta(ax: Axes, row: Mapping[str, Any]) -> None:
    """The row's Δ profile over the queried GT interval."""
    profile = row["profile"]
    t = np.asarray(profile["time_s"], dtype=float)
    delta = np.asarray(profile["delta"], dtype=float)
    centers = t + (float(t[1] - t[0]) if t.size > 1 else 0.04) / 2
    ax.axhline(0.0, color="#999999", lw=0.8)
    ax.axvspan(float(row["gt"][0]), float(row["gt"][1]), color=C_GT, alpha=0.2, lw=0)
    ax.plot(centers, delta, color=C_DELTA, lw=1.2)
    ax.set_ylabel("Δ attention")


def draw_result_row(row: Mapping[str, Any], scene: Scene | None = None) -> Figure:
    """One benchmark row: the scene's events, the queried GT, the prediction; Δ below when the row has it."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    has_profile = bool(row.get("profile"))
    fig = new_figure(7.5, 3.4 if has_profile else 2.1)
    grid = fig.add_gridspec(2 if has_profile else 1, 1, height_ratios=[1.0, 1.6] if has_profile else [1.0])
    axes = [fig.add_subplot(grid[0])]
    _draw_timeline(axes[0], row, scene)
    if has_profile:
        axes.append(fig.add_subplot(grid[1], sharex=axes[0]))
        _draw_row_delta(axes[1], row)
        axes[0].tick_params(labelbottom=False)
    for ax in axes:
        _mark_prediction(ax, row.get("peak_s"), None, band=False)
        ax.set_xlim(0.0, float(row["duration_s"]))
    axes[-1].set_xlabel("time (s)")
    fig.align_ylabels(axes)
    handles: list[Any] = [
        Patch(color=C_GT, alpha=0.6, label="queried event"),
        Patch(color=C_PRED, label="predicted interval"),
        Line2D([], [], color=C_PEAK, ls="--", lw=1.2, label="predicted peak"),
    ]
    if has_profile:
        handles.append(Line2D([], [], color=C_DELTA, lw=1.2, label="Δ = steered − base"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    fig.suptitle(row_title(row), fontsize=9)
    return fig


def row_figure_png(row: Mapping[str, Any], scene: Scene | None = None) -> bytes:
    """PNG bytes of :func:`draw_result_row` (for embedding in the HTML report)."""
    with plot_style():
        return figure_bytes(draw_result_row(row, scene), "png")


def draw_conditions(rows: Sequence[Mapping[str, Any]], scene: Scene | None = None) -> Figure:
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
    top = fig.add_subplot(grid[0])
    _draw_timeline(top, {**first, "interval_s": None}, scene)
    top.set_ylim(0.5, 1.0)  # the events lane only: each condition's prediction is drawn in its panel
    top.set_yticks([0.75])
    top.set_yticklabels(["events"])
    axes = [top]
    for i, row in enumerate(with_profile):
        ax = fig.add_subplot(grid[1 + i], sharex=top, sharey=axes[1] if i else None)
        _draw_row_delta(ax, row)
        _mark_prediction(ax, row.get("peak_s"), row.get("interval_s"), band=True)
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
        Line2D([], [], color=C_PEAK, ls="--", lw=1.2, label="predicted peak"),
        Patch(color=C_PRED, alpha=0.25, label="predicted interval"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
    fig.suptitle(f"{first.get('scene_id', '?')} · “{first.get('query', '?')}” ({first.get('position', '?')})")
    return fig


def conditions_figure_png(rows: Sequence[Mapping[str, Any]], scene: Scene | None = None) -> bytes:
    """PNG bytes of :func:`draw_conditions` (for the HTML report)."""
    with plot_style():
        return figure_bytes(draw_conditions(rows, scene), "png")


def _layers_key(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return format_layers([int(x) for x in value])
    return str(value)


def draw_sweep(rows: Sequence[Mapping[str, Any]], metric: str = "hit_rate") -> Figure:
    """Layer set × α heatmap of ``metric`` (dev hit rate), cells annotated, the best one outlined."""
    from matplotlib.patches import Rectangle

    layer_keys = list(dict.fromkeys(_layers_key(r["layers"]) for r in rows))
    alphas = sorted({float(r["alpha"]) for r in rows})
    grid = np.full((len(layer_keys), len(alphas)), np.nan)
    for r in rows:
        grid[layer_keys.index(_layers_key(r["layers"])), alphas.index(float(r["alpha"]))] = float(r[metric])
    fig = new_figure(max(4.5, 1.2 + 0.9 * len(alphas)), max(2.6, 1.4 + 0.4 * len(layer_keys)))
    ax = fig.add_subplot()
    image = ax.imshow(grid, cmap="viridis", aspect="auto", origin="upper")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            if np.isfinite(grid[i, j]):
                value = grid[i, j]
                light = value < np.nanmin(grid) + 0.6 * (np.nanmax(grid) - np.nanmin(grid) or 1)
                ax.text(j, i, f"{value:.1f}", ha="center", va="center", color="white" if light else "black")
    if np.any(np.isfinite(grid)):
        bi, bj = np.unravel_index(int(np.nanargmax(grid)), grid.shape)
        ax.add_patch(Rectangle((bj - 0.5, bi - 0.5), 1, 1, fill=False, ec=C_PEAK, lw=2))
    ax.set_xticks(range(len(alphas)))
    ax.set_xticklabels([f"{a:g}" for a in alphas])
    ax.set_yticks(range(len(layer_keys)))
    ax.set_yticklabels(layer_keys)
    ax.set_xlabel("α")
    ax.set_ylabel("steered layers")
    bar = fig.colorbar(image, ax=ax)
    bar.set_label("hit rate (%)" if metric == "hit_rate" else metric)
    ax.set_title(f"sweep: {metric.replace('_', ' ')} per (layers, α); best outlined")
    return fig


def sweep_png(rows: Sequence[Mapping[str, Any]], metric: str = "hit_rate") -> bytes:
    """PNG bytes of :func:`draw_sweep`."""
    with plot_style():
        return figure_bytes(draw_sweep(rows, metric), "png")


def draw_position_breakdown(breakdown: Sequence[Mapping[str, Any]]) -> Figure:
    """Grouped bars: hit rate per target position for each condition, with bootstrap CIs."""
    conditions = list(dict.fromkeys(str(b["condition"]) for b in breakdown))
    positions = list(dict.fromkeys(str(b["position"]) for b in breakdown))
    fig = new_figure(max(5.0, 1.5 + 1.1 * len(conditions)), 3.0)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(positions))
    colors = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"]
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
            color=colors[k % len(colors)],
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
    with plot_style():
        return figure_bytes(draw_position_breakdown(breakdown), "png")


__all__ = [
    "FORMATS",
    "GTSpan",
    "LocalizationView",
    "conditions_figure_png",
    "draw_alpha_sweep",
    "draw_conditions",
    "draw_layer_delta",
    "draw_localization",
    "draw_position_breakdown",
    "draw_queries",
    "draw_result_row",
    "draw_sweep",
    "figure_bytes",
    "figure_format",
    "format_layers",
    "gt_for_audio",
    "layer_delta_title",
    "log_mel",
    "mel_filterbank",
    "new_figure",
    "plot_alpha_sweep",
    "plot_layer_delta",
    "plot_localization",
    "plot_queries",
    "position_png",
    "require_matplotlib",
    "row_figure_png",
    "row_title",
    "save_figure",
    "sweep_png",
]
