"""What a localization produces: profiles over audio tokens, readouts, and their JSON form.

These are plain data: the engine fills them, figures and reports draw and score them. In a notebook a
result shows itself: a short ``repr``, the interactive page (``_repr_html_``) and ``.plot()``.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .audio import AudioInfo, array_mono, check_rate
from .detections import (
    DetectConfig,
    Detection,
    detect,
    detections_json,
    score_curve,
    snap_to_audio,
    strongest,
)
from .errors import OptionError
from .readout import Readout, apply_rule
from .settings import Resolved
from .vectors import SteeringVector
from .windows import Window

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Longest query, file and model name a repr shows (a repr stays under 300 characters).
_SHOWN = 48


@dataclass
class Profile:
    """Temporal attention profiles, one value per audio token; token i starts at ``time_s[i]``."""

    time_s: np.ndarray
    base: np.ndarray
    steered: np.ndarray

    @property
    def delta(self) -> np.ndarray:
        return self.steered - self.base

    def __repr__(self) -> str:
        return f"Profile({_span_text(self.time_s)})"


def _short(text: str, limit: int = _SHOWN) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _span_text(time_s: np.ndarray) -> str:
    if time_s.size == 0:
        return "0 audio tokens"
    return f"{time_s.size} audio tokens, {float(time_s[0]):.2f}–{float(time_s[-1]):.2f} s"


def _layers_text(layers: Sequence[int]) -> str:
    items = [int(x) for x in layers]
    if len(items) > 2 and items == list(range(items[0], items[-1] + 1)):
        return f"{items[0]}–{items[-1]}"
    return _short(",".join(map(str, items)), 24)


def read_times(
    profile: Profile,
    config: Resolved,
    token_s: float,
    detection: DetectConfig,
    start_s: float,
    score: np.ndarray,
    envelope_db: np.ndarray | None = None,
) -> tuple[Readout, list[Detection]]:
    """One query's readout (``config.readout`` of Δ) and detections (of ``score``), both in the file's
    seconds: the profile's tokens start ``start_s`` into the file. ``envelope_db``: the audio's level per
    token (``intervals.energy_db``), which the edges interval reads. Every result is read here."""
    found = apply_rule(
        config.readout, None, token_s, profile.base.size, (profile.base, profile.steered), envelope_db
    )
    events = detect(score, token_s, detection)
    if detection.edges:
        if envelope_db is None:
            raise ValueError("detections with edges need the audio's level per token")
        events = snap_to_audio(events, score, envelope_db, token_s, detection)
    return found.shifted(start_s), [d.shifted(start_s) for d in events]


def needs_level(config: Resolved, detection: DetectConfig) -> bool:
    """Whether :func:`read_times` needs the audio's level per token (an edges interval or edges
    detections)."""
    return config.readout.needs_envelope or bool(detection.edges)


class _Detected:
    """Detections, declared by each result type (a plain base: its fields keep their places)."""

    detections: list[Detection]
    detection: DetectConfig


@dataclass(repr=False)
class _ReadTimes(_Detected):
    """What every query's result holds (model, query, audio, profiles, readout, settings); the readout's
    peak and interval as attributes, its strongest detection candidate, and how a result shows itself."""

    model: str
    query: str
    audio: AudioInfo
    profile: Profile
    readout: Readout
    config: Resolved

    def score_curve(self) -> np.ndarray:
        """The detection score per token (Δ · N, see ``wheretolisten.detections``)."""
        return score_curve(self.profile.delta)

    def strongest(self) -> Detection | None:
        """The best detection candidate whatever its score (it is a detection only when it scores at
        least ``detection.min_score``), in the file's seconds; None when nothing rose. With detections,
        the highest-scoring one (its edges moved to the audio where ``detection.edges``); without, the
        candidate as Δ gives it (no edges: the result keeps no level curve)."""
        if self.detections:
            return max(self.detections, key=lambda d: d.score)
        times = self.profile.time_s
        if times.size < 2:
            return None
        found = strongest(self.score_curve(), float(times[1] - times[0]), self.detection)
        return None if found is None else found.shifted(self.audio.start_s)

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        """One line: query, file, model, readout, detections and steering (under 300 characters)."""
        where = "no peak" if self.peak_s is None else f"peak {self.peak_s:.2f} s"
        if self.interval_s is not None:
            where += f", interval {self.interval_s[0]:.2f}–{self.interval_s[1]:.2f} s"
        name = Path(self.audio.path).name if self.audio.path else "array"
        return (
            f"{type(self).__name__}(query={_short(self.query)!r}, audio={_short(name)!r} "
            f"({self.audio.duration_s:.1f} s), model={_short(Path(self.model).name)!r}, {where}, "
            f"{len(self.detections)} detection(s), layers {_layers_text(self.config.layers)}, "
            f"α={self.config.alpha:g})"
        )

    def _audio_file(self) -> str | None:
        path = self.audio.path
        return path if path is not None and Path(path).is_file() else None

    def page(
        self, audio: str | os.PathLike[str] | np.ndarray | None = None, sample_rate: int | None = None
    ) -> str:
        """The interactive page of this result (``wheretolisten.page``) as HTML text; ``audio``: the clip
        when the result came from an array (default: the result's file, when it is still there)."""
        from .page import render_page

        source, rate = self._given_audio(audio, sample_rate)
        return render_page([self], source, sample_rate=rate)

    def _given_audio(
        self, audio: str | os.PathLike[str] | np.ndarray | None, sample_rate: int | None
    ) -> tuple[str | os.PathLike[str] | np.ndarray | None, int | None]:
        """The audio a page or a figure of this result draws: the result's file (its rate its own), or an
        array of this result's length with its rate (one OptionError line otherwise: a 1-s clip drawn
        under 4 s of curves, or a rate given for a file, was drawn as given)."""
        source = self._audio_file() if audio is None else audio
        if source is None or isinstance(source, (str, os.PathLike)):
            if sample_rate is not None:
                raise OptionError("sample_rate= is for an array: a file's rate is read from the file")
            return source, None
        if isinstance(source, (bytes, bytearray)):
            raise OptionError("audio= must be a path (str or Path) or an array, got bytes")
        if sample_rate is None:
            raise OptionError("sample_rate= is needed with an array: the rate of the samples given")
        check_rate(sample_rate)
        seconds = array_mono(source)[0].size / sample_rate
        if abs(seconds - self.audio.duration_s) > 0.05:
            raise OptionError(
                f"audio= lasts {seconds:.2f} s at {sample_rate} Hz but this result's audio "
                f"{self.audio.duration_s:.2f} s: pass the clip the result was computed from, at its rate"
            )
        return source, sample_rate

    def _repr_html_(self) -> str:
        """The page of this result in an iframe: what a notebook shows (scripts and ids stay inside it)."""
        height = 480 + 170 + 26 * min(len(self.detections), 8)
        return (
            f'<iframe srcdoc="{html.escape(self.page(), quote=True)}" title="{html.escape(self.query)}" '
            f'style="width:100%;height:{height}px;border:1px solid #ddd"></iframe>'
        )

    def plot(
        self,
        audio: str | os.PathLike[str] | np.ndarray | None = None,
        sample_rate: int | None = None,
        gt: Sequence[tuple[str, float, float]] = (),
    ) -> Figure:
        """Waveform, log-mel, attention and Δ with the readout (``figures.draw_localization``), as a
        matplotlib figure; needs the ``plot`` extra. ``audio``: as for :meth:`page`."""
        from .figures import draw_localization, plot_style, require_matplotlib
        from .figures.localization import audio_array

        require_matplotlib()
        source, given_rate = self._given_audio(audio, sample_rate)
        if source is None:
            raise OptionError("the result's audio file is not there (or it came from an array): pass audio=")
        clip, rate = audio_array(source, given_rate)
        with plot_style():
            return draw_localization(self, clip, rate, gt)  # gt checked there (figures.marks.as_spans)

    @property
    def peak_s(self) -> float | None:
        return self.readout.peak_s

    @property
    def interval_s(self) -> tuple[float, float] | None:
        return self.readout.interval_s


@dataclass(repr=False)
class LocalizeResult(_ReadTimes):
    """One query in one clip: profiles, the readout, and everything needed to rerun it."""

    vector: SteeringVector
    #: Every occurrence (``wheretolisten.detections``), highest score first, and how they were picked.
    detections: list[Detection] = field(default_factory=list)
    detection: DetectConfig = field(default_factory=DetectConfig)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON layout of ``wheretolisten localize --json``."""
        norms = {str(k): v for k, v in self.vector.norms().items()}
        return result_json(self, norms)


def result_json(result: LocalizeResult | WindowedResult, vector_norms: dict[str, float]) -> dict[str, Any]:
    """The JSON of one query's result; windowed results add ``windows``."""
    return {
        "model": result.model,
        "audio": {
            "path": result.audio.path,
            "duration_s": result.audio.duration_s,
            "sample_rate": result.audio.sample_rate,
        },
        "query": result.query,
        "peak_s": result.peak_s,
        "interval_s": list(result.interval_s) if result.interval_s else None,
        "profile": {
            "time_s": result.profile.time_s.round(6).tolist(),
            "base": result.profile.base.tolist(),
            "steered": result.profile.steered.tolist(),
            "delta": result.profile.delta.tolist(),
        },
        "config": result.config.to_json(),
        "vector_norms": vector_norms,
        "detections": detections_json(result.detections),
        "detection": result.detection.to_json(),
    }


@dataclass(repr=False)
class WindowedResult(_ReadTimes):
    """One query in a recording cut into windows: stitched profiles, readout and detections.

    ``profile`` is on the recording's one time axis (``wheretolisten.windows``); ``vector_norms`` are
    the mean over windows of each window's instruction vector norms (one vector per window).
    """

    detections: list[Detection]
    detection: DetectConfig
    windows: list[Window]
    #: Windows whose audio was digitally silent: not run, they add nothing to the profile.
    silent: list[int]
    vector_norms: dict[int, float]
    segment_s: float
    overlap_s: float
    #: The stitched detection score (Δ · N of each window, see ``wheretolisten.detections``), per token.
    score: np.ndarray

    def score_curve(self) -> np.ndarray:
        """The stitched detection score (each window's own N, not the recording's)."""
        return self.score

    def to_json(self) -> dict[str, Any]:
        """``localize --json`` for a windowed recording: the same keys, plus ``windows``."""
        data = result_json(self, {str(k): v for k, v in self.vector_norms.items()})
        offset = self.audio.start_s
        data["windows"] = {
            "segment_s": self.segment_s,
            "overlap_s": self.overlap_s,
            "spans_s": [[round(w.start_s + offset, 6), round(w.end_s + offset, 6)] for w in self.windows],
            "silent": self.silent,
        }
        return data


@dataclass
class ClipProfiles:
    """Everything one clip yields for several queries: per-query results plus the prompted profiles."""

    results: list[LocalizeResult]
    #: Attention under the first instructed prompt ("Listen for {query}."), per query, unsteered.
    prompted: list[np.ndarray]
    #: Attention under the probe prompt computed alongside ``prompted`` (its baseline).
    prompted_base: np.ndarray

    def __repr__(self) -> str:
        queries = ", ".join(repr(_short(r.query, 24)) for r in self.results[:4])
        more = f", … {len(self.results) - 4} more" if len(self.results) > 4 else ""
        return f"ClipProfiles({len(self.results)} queries: {queries}{more})"

    def prompted_delta(self, index: int) -> np.ndarray:
        """Instructed − neutral attention for query ``index``: what prompting alone moves."""
        return self.prompted[index] - self.prompted_base


@dataclass
class AlphaSweep:
    """One query's Δ profile and readout at several steering strengths, all from one vector."""

    query: str
    alphas: list[float]
    time_s: np.ndarray
    deltas: np.ndarray  # [len(alphas), audio tokens]
    readouts: list[Readout]
    config: Resolved

    def __repr__(self) -> str:
        peaks = ", ".join("none" if r.peak_s is None else f"{r.peak_s:.2f}" for r in self.readouts[:8])
        alphas = ", ".join(f"{a:g}" for a in self.alphas[:8])
        more = ", …" if len(self.alphas) > 8 else ""
        return f"AlphaSweep(query={_short(self.query)!r}, α [{alphas}{more}], peaks s [{peaks}{more}])"


class LayerDelta(NamedTuple):
    """Δ attention of each probed layer alone (mean over its heads): ``matrix`` is [layers, tokens]."""

    layers: list[int]
    time_s: np.ndarray
    matrix: np.ndarray

    def __repr__(self) -> str:
        return f"LayerDelta(layers {_layers_text(self.layers)}, {_span_text(self.time_s)})"
