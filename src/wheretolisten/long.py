"""Recordings of any length: localize and detect every occurrence, window by window.

Audio longer than the model's input (or than ``segment_s``) is cut into overlapping windows
(:mod:`wheretolisten.windows`). Each window is read from the file on its own (``audio.load_audio`` with
its span), gets its own engine and, for every query, its own instruction vector built on that window's
audio, as the method prescribes; its base and steered profiles are stitched onto the recording's time
axis. Windows of one length run in batches (``engine.WindowBatch``: one prefix pass and one pass per step
for the whole batch, each row on its own window's prefix), as many per batch as the shared prefix's memory
budget allows; memory therefore holds one batch of windows and the stitched profiles, whatever the length.
Settings that steer inside the audio prefix run the windows one after another. Every query of a window
shares that window's audio prefix. With ``shifts`` > 1 each window's shifted copies join its batch
(``engine.shifted``), so a batch holds fewer windows.

:func:`localize_file` takes a file of any length and decides, as ``wheretolisten localize`` does, between
one clip (``localize`` / ``localize_many``) and windows (:func:`localize_long`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypedDict

import numpy as np
import torch

from .audio import (
    LOUD_ARRAY_PEAK,
    LOUD_FILE_HINT,
    AudioInfo,
    audio_info,
    check_min_length,
    check_span,
    is_silent,
    load_audio,
    span_pair,
    warn_if_loud,
)
from .detections import DetectConfig, detection_config, score_curve
from .engine import (
    SharedEngine,
    ShiftedEngine,
    WindowBatch,
    batchable,
    make_engine,
    mean_moved_back,
    shift_tokens,
    windows_per_batch,
)
from .errors import AudioError, OptionError
from .intervals import energy_db
from .localize import Config, Span, localize, localize_many
from .models.base import Adapter
from .progress import progress
from .prompts import as_queries
from .results import LocalizeResult, Profile, WindowedResult, needs_level, read_times
from .settings import Resolved, resolve
from .vectors import SteeringVector
from .vocabulary import warn_unknown
from .windows import Stitcher, Window, WindowConfig, plan_windows

if TYPE_CHECKING:
    from typing import Unpack  # Python 3.11; annotations only, so 3.10 runs this module too

__all__ = ["FileOptions", "WindowConfig", "is_long", "localize_file", "localize_long", "needs_windows"]

_CURVES = ("base", "steered", "score")
#: The audio's level per token (dB, 0 where unknown) and whether the window knew it (1) or not (0).
_ENVELOPE = ("level", "known")


class FileOptions(TypedDict, total=False):
    """The keyword options :func:`localize_file` and :func:`localize_long` take (all optional).

    ``windows``: how a long file is cut (default: the model's input, ``WindowConfig()``); ``detection``:
    which occurrences are detections (default: ``DetectConfig()``); ``vector``: steer with this saved
    vector (one query) instead of building one per clip or window; ``span``: [start, end) seconds of the
    file to use; ``show_progress``: a bar over the windows on stderr (default: False).
    """

    windows: WindowConfig | None
    detection: DetectConfig | None
    vector: SteeringVector | None
    span: Span | None
    show_progress: bool


def _known(options: FileOptions) -> None:
    """Refuse a keyword that is not one of the options, as a named parameter would (a typo must not be
    ignored), and an option of the wrong type (a dict for ``windows`` failed deep inside; a string for
    ``show_progress`` drew the bar)."""
    unknown = sorted(set(options) - FileOptions.__optional_keys__)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(unknown)}")
    windows, progress_on = options.get("windows"), options.get("show_progress", False)
    if windows is not None and not isinstance(windows, WindowConfig):
        raise OptionError(f"windows must be a WindowConfig (or None), got {type(windows).__name__}")
    if not isinstance(progress_on, (bool, np.bool_)):
        raise OptionError(f"show_progress must be True or False, got {progress_on!r}")


def _one_query_with_a_vector(queries: Sequence[str], vector: object) -> None:
    """A saved vector steers towards its own sound: with several queries each would get its result."""
    if vector is not None and len(queries) > 1:
        raise OptionError(
            f"a saved vector steers towards its own sound: give one query with it, got {len(queries)}"
        )


def _same_length(clips: list[tuple[Window, np.ndarray]]) -> list[list[tuple[Window, np.ndarray]]]:
    """Clips grouped by their sample count (only clips of one length share a batch), in order."""
    groups: dict[int, list[tuple[Window, np.ndarray]]] = {}
    for window, clip in clips:
        groups.setdefault(clip.size, []).append((window, clip))
    return list(groups.values())


def needs_windows(adapter: Adapter, duration_s: float, windows: WindowConfig | None = None) -> bool:
    """Whether audio of ``duration_s`` is longer than one segment (the model's input by default)."""
    segment, _ = (windows or WindowConfig()).resolved(adapter.max_audio_limit_s, adapter.token_s)
    return duration_s > segment + 1e-9


def is_long(
    adapter: Adapter,
    audio: str | os.PathLike[str],
    span: Span | None = None,
    windows: WindowConfig | None = None,
) -> bool:
    """Whether the file (or its ``span``) is longer than one segment, i.e. is cut into windows."""
    head = audio_info(audio)
    start, end = check_span(*span_pair(span), head.duration_s, str(head.path))
    return needs_windows(adapter, end - start, windows)


def localize_file(
    adapter: Adapter,
    audio: str | os.PathLike[str],
    queries: str | Sequence[str],
    config: Config = None,
    **options: Unpack[FileOptions],
) -> list[LocalizeResult | WindowedResult]:
    """Every query in a file of any length, one result each, in query order: what ``wheretolisten
    localize`` computes. A file (or ``span``) longer than one segment is cut into windows
    (:func:`localize_long`); a shorter one runs as one clip (``localize``, or ``localize_many`` sharing
    the audio between several queries). ``vector`` steers with a saved vector: one query only."""
    if not isinstance(audio, (str, os.PathLike)):
        raise OptionError(
            f"localize_file takes an audio file's path, got {type(audio).__name__}: for an array use "
            "localize or localize_many"
        )
    wanted = as_queries(queries)  # one string is one query; a generator is read once
    _known(options)
    vector, span, detection = options.get("vector"), options.get("span"), options.get("detection")
    _one_query_with_a_vector(wanted, vector)
    if is_long(adapter, audio, span, options.get("windows")):
        return list(localize_long(adapter, audio, wanted, config, **options))
    if len(wanted) == 1:
        return [localize(adapter, audio, wanted[0], config, vector=vector, span=span, detection=detection)]
    return list(localize_many(adapter, audio, wanted, config, span=span, detection=detection).results)


def _batched(
    adapter: Adapter,
    clips: list[np.ndarray],
    queries: Sequence[str],
    cfg: Resolved,
    vector: SteeringVector | None,
) -> list[tuple[list[SteeringVector], np.ndarray, list[np.ndarray]]]:
    """Windows of one length as one :class:`WindowBatch`: per window its vectors, base and steered rows.

    With ``cfg.shifts`` > 1 every window's shifted copies join the batch; vectors are built on the
    windows as they are and the copies' rows are moved back and averaged, as ``engine.ShiftedEngine``
    does for one clip.
    """
    per_token = int(round(adapter.token_s * adapter.sample_rate))
    rolls = shift_tokens(clips[0].size, adapter.sample_rate, adapter.token_s, cfg.shifts)
    batch = WindowBatch(adapter, [np.roll(clip, k * per_token) for clip in clips for k in rolls], cfg)
    own = list(range(0, len(clips) * len(rolls), len(rolls)))  # each window's unshifted copy
    built = batch.vectors(list(queries), own) if vector is None else [[vector] * len(queries)] * len(clips)
    per_copy = batch.profiles([vectors for vectors in built for _ in rolls])
    out = []
    for w, vectors in enumerate(built):
        parts = per_copy[w * len(rolls) : (w + 1) * len(rolls)]
        base = mean_moved_back(rolls, [b for b, _ in parts])
        rows = [mean_moved_back(rolls, [r[i] for _, r in parts]) for i in range(len(vectors))]
        out.append((vectors, base, rows))
    return out


def _stitched_level(levels: Stitcher, n_tokens: int) -> np.ndarray:
    """The recording's level per token from the windows' (``intervals.energy_db``); windows agree where
    they overlap (the same samples), so the crossfade only averages equal values. NaN where no window
    had audio (past the end), as ``energy_db`` gives for one clip."""
    curves = levels.result()
    level, known = curves["level"][:n_tokens], curves["known"][:n_tokens]
    out = np.full(n_tokens, np.nan)
    mask = known > 0
    out[mask] = level[mask] / known[mask]
    return out


def _mean_norms(per_window: list[dict[int, float]]) -> dict[int, float]:
    if not per_window:
        return {}
    return {k: float(np.mean([n[k] for n in per_window])) for k in per_window[0]}


@torch.no_grad()
def localize_long(
    adapter: Adapter,
    audio: str | os.PathLike[str],
    queries: Sequence[str],
    config: Config = None,
    *,
    batch_windows: int | None = None,
    **options: Unpack[FileOptions],
) -> list[WindowedResult]:
    """Every query in a recording of any length: stitched profiles, readout and detections per query.

    ``options`` as :class:`FileOptions`; a saved ``vector`` steers every window (one query) instead of
    one built per window. ``batch_windows``: windows run together in one batch (None: as many as the
    memory budget of the shared prefix allows, see ``engine.windows_per_batch``; 1: one after another).
    """
    if not isinstance(audio, (str, os.PathLike)):
        raise OptionError(
            f"localize_long takes an audio file's path, got {type(audio).__name__}: for an array use "
            "localize or localize_many"
        )
    _known(options)
    queries = as_queries(queries)  # one string is one query; a generator is read once
    windows, detection, vector = options.get("windows"), options.get("detection"), options.get("vector")
    _one_query_with_a_vector(queries, vector)  # each query would get the vector's profile under its name
    if batch_windows is not None and (
        isinstance(batch_windows, (bool, np.bool_))
        or not isinstance(batch_windows, (int, np.integer))
        or batch_windows < 1
    ):
        raise OptionError(f"batch_windows must be a whole number >= 1 (or None), got {batch_windows!r}")
    cfg = resolve(adapter, config, vector)
    if vector is None:
        warn_unknown(adapter.recommended, queries, adapter.warned_queries)
    det = detection_config(detection).filled(adapter.recommended)
    token_s = adapter.token_s
    segment, overlap = (windows or WindowConfig()).resolved(adapter.max_audio_limit_s, token_s)
    head = audio_info(audio)
    name = str(head.path)
    start, end = check_span(*span_pair(options.get("span")), head.duration_s, name)
    check_min_length(end - start, name)  # the windows' own loads allow short and silent pieces
    plan = plan_windows(end - start, segment, overlap, token_s)
    stitchers = [Stitcher(plan, _CURVES, token_s) for _ in queries]
    # The audio's level per token, for a readout or detections that read it (edges): NaN past the end is
    # stitched as a share of windows that knew the token (``_ENVELOPE``).
    levels = Stitcher(plan, _ENVELOPE, token_s) if needs_level(cfg, det) else None
    norms: list[list[dict[int, float]]] = [[] for _ in queries]
    silent: list[int] = []

    def add(
        window: Window,
        clip: np.ndarray,
        base: np.ndarray,
        rows: list[np.ndarray],
        vectors: list[SteeringVector],
    ) -> None:
        if levels is not None:
            level = energy_db(clip, adapter.sample_rate, token_s, base.size)
            known = ~np.isnan(level)
            levels.add(window, {"level": np.where(known, level, 0.0), "known": known.astype(np.float64)})
        for i, (steered, vec) in enumerate(zip(rows, vectors, strict=True)):
            curves = {"base": base, "steered": steered, "score": score_curve(steered - base)}
            stitchers[i].add(window, curves)
            norms[i].append(vec.norms())

    def load(window: Window) -> np.ndarray:
        clip, _ = load_audio(
            audio,
            adapter.sample_rate,
            max_s=adapter.max_audio_limit_s,
            start_s=start + window.start_s,
            end_s=start + window.end_s,
            allow_silent=True,
        )
        return clip

    per_batch = 1  # the first window runs alone; its prefix's size then sets the batch (by memory)
    batched = batchable(adapter, cfg) and batch_windows != 1
    rows_per_window = len(queries) * (len(cfg.instructed_templates) + 1) + len(cfg.neutral_templates) + 1
    todo, warned_loud = list(plan), False
    with progress(len(plan), "windows", options.get("show_progress", False), unit="window") as advance:
        while todo:
            chunk, todo = todo[:per_batch], todo[per_batch:]
            clips = [(window, load(window)) for window in chunk]
            if not warned_loud:  # once per recording, at the first window that reaches far beyond [-1, 1]
                peak = max(float(np.max(np.abs(clip))) for _, clip in clips)
                warned_loud = peak > LOUD_ARRAY_PEAK
                warn_if_loud(peak, name, LOUD_FILE_HINT)
            silent.extend(window.index for window, clip in clips if is_silent(clip))
            sounding = [(w, c) for w, c in clips if w.index not in silent]
            for group in _same_length(sounding):
                if len(group) == 1:
                    window, clip = group[0]
                    engine = make_engine(adapter, clip, cfg)
                    vectors = (
                        engine.vectors(list(queries), prompted=False).vectors
                        if vector is None
                        else [vector] * len(queries)
                    )
                    base, rows = engine.profiles(vectors)
                    add(window, clip, base, rows, vectors)
                    plain = engine.first if isinstance(engine, ShiftedEngine) else engine
                    if batched and isinstance(plain, SharedEngine):
                        budget = plain.session.cache_budget_bytes
                        # Each window brings its shifted copies: a batch holds as many clips (copies) as
                        # it would hold windows without shifts.
                        fitting = windows_per_batch(
                            plain.session.prefix_bytes, rows_per_window, budget, plain.session.row_bytes
                        )
                        per_batch = batch_windows or max(1, fitting // cfg.shifts)
                    continue
                for (window, clip), (vectors, base, rows) in zip(
                    group, _batched(adapter, [c for _, c in group], queries, cfg, vector), strict=True
                ):
                    add(window, clip, base, rows, vectors)
            advance(len(chunk), f"{start + chunk[-1].end_s:.0f} s")
    if len(silent) == len(plan):
        raise AudioError(f"{name}: the audio is silent in every window")
    info = AudioInfo(name, round(end - start, 6), adapter.sample_rate, head.sample_rate, head.channels, start)
    envelope = None if levels is None else _stitched_level(levels, stitchers[0].result()["base"].size)
    results = []
    for query, stitcher, per_window in zip(queries, stitchers, norms, strict=True):
        curves = stitcher.result()
        profile = Profile(adapter.time_axis(curves["base"].size) + start, curves["base"], curves["steered"])
        found, events = read_times(profile, cfg, token_s, det, start, curves["score"], envelope)
        results.append(
            WindowedResult(
                adapter.name,
                query,
                info,
                profile,
                found,
                cfg,
                events,
                det,
                plan,
                silent,
                _mean_norms(per_window),
                segment,
                overlap,
                curves["score"],
            )
        )
    return results
