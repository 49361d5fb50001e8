"""Every occurrence, not only the peak: detections ``{onset_s, offset_s, score}`` from a score curve.

Score: Δ times the number of audio tokens the attention was normalized over (:func:`score_curve`),
i.e. the rise of a token's attention share in units of the uniform share 1/N. A window of 250 tokens
and one of 15,000 thus give comparable scores, and so do the windows of a long recording: score 1 at a
token means steering moved as much attention onto it as a uniform profile gives every token.

Peak picking (:func:`detect`) is greedy non-maximum suppression on the curve smoothed over
``smooth_s``: take the highest local maximum not yet suppressed; its interval is the contiguous region
around it where the curve stays at or above ``fraction`` of the peak and outside earlier detections;
then suppress that interval widened by ``min_gap_s`` on both sides. Stop at ``top_k`` detections or when
the next peak scores below ``min_score``. Detections come out in descending score, so keeping those
with score >= t is exactly what ``min_score = t`` would have given.

Edges (``DetectConfig(edges=True)``, :func:`snap_to_audio`): Δ marks where the queried sound starts, not
how long it lasts, so each detection's extent can be taken from the audio: its onset moves to the audio's
nearest onset within 1 s of Δ's, its offset to the end of the sound holding its peak, and two detections
of one sound become one. Scores are unchanged; thresholding the result at t is not always what
``min_score = t`` gives (a weaker detection may have widened a stronger one).

Package defaults (min_score 3.5, smooth_s 0.6, fraction 0.25, min_gap_s 1) were chosen on dev scenes of
the shipped organism without shifts (120-s scenes, seed 50000; ``docs/long.md``). A checkpoint may declare
its own ``min_score``, ``smooth_s``, ``fraction`` and ``edges`` in ``wheretolisten.json`` (``"detect"``),
chosen on its dev scenes with its own localize settings: the shipped organism declares those it scores
best with at its 4 shifts (``benchmarks/detection_dev.py --edges``). Choose them on a dev split for
another model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from .errors import OptionError
from .intervals import snap_edges, sound_around
from .parsing import is_real_number, is_whole_number
from .readout import EDGES, smooth

#: Default lowest detection score (units of the uniform attention share), chosen on dev scenes.
DEFAULT_MIN_SCORE = 3.5
#: Default least gap between two detections, seconds.
DEFAULT_MIN_GAP_S = 1.0
#: Default smoothing of the score curve before peak picking, seconds.
DEFAULT_SMOOTH_S = 0.6
#: Default share of a peak's score that bounds its interval.
DEFAULT_FRACTION = 0.25
#: Columns of the DESED/DCASE detection TSV.
TSV_HEADER = ("filename", "onset", "offset", "event_label")


@dataclass(frozen=True)
class Detection:
    """One occurrence: [onset_s, offset_s) in the file's seconds and its score (see the module doc)."""

    onset_s: float
    offset_s: float
    score: float

    def to_json(self) -> dict[str, float]:
        return {"onset_s": self.onset_s, "offset_s": self.offset_s, "score": self.score}

    def shifted(self, offset_s: float) -> Detection:
        """The same detection moved by ``offset_s`` (a span cut from later in its file)."""
        if offset_s == 0:
            return self
        return Detection(round(self.onset_s + offset_s, 6), round(self.offset_s + offset_s, 6), self.score)


@dataclass(frozen=True)
class DetectConfig:
    """How many detections, how strong and how far apart (checked when made: one OptionError line).

    ``min_score``, ``smooth_s`` and ``fraction`` left at None mean "the model's": the values its
    ``wheretolisten.json`` declares (chosen on its own dev scenes with its own localize settings), else the
    package defaults; :meth:`filled` puts them in, and every result stores the filled settings.
    """

    top_k: int | None = None
    min_score: float | None = None
    min_gap_s: float = DEFAULT_MIN_GAP_S
    smooth_s: float | None = None
    fraction: float | None = None
    #: Move each detection's onset and offset to the audio's nearest onset or offset and drop one whose
    #: moved span overlaps a stronger one's (:func:`snap_to_audio`); None: the model's, else False.
    edges: bool | None = None

    def __post_init__(self) -> None:
        """Every number is a real number (numpy's too, never a bool or a string) and is stored as a plain
        float or int, so the settings a result records are JSON whatever type the caller passed."""
        for key in ("min_score", "min_gap_s", "smooth_s", "fraction"):
            number = getattr(self, key)
            if number is not None:
                if not is_real_number(number):
                    raise OptionError(f"{key} must be a number, got {number!r}")
                object.__setattr__(self, key, float(number))
        top_k = self.top_k
        if top_k is not None:
            if not is_whole_number(top_k) or int(top_k) < 1:
                raise OptionError(f"top_k must be a whole number of at least 1, got {top_k!r}")
            object.__setattr__(self, "top_k", int(top_k))
        if self.min_score is not None and not math.isfinite(self.min_score):
            raise OptionError(f"min_score must be a finite number, got {self.min_score!r}")
        if not (math.isfinite(self.min_gap_s) and self.min_gap_s >= 0):
            raise OptionError(f"min_gap_s must be a finite number >= 0, got {self.min_gap_s!r}")
        if self.smooth_s is not None and not (math.isfinite(self.smooth_s) and self.smooth_s >= 0):
            raise OptionError(f"detection smoothing must be a finite number >= 0, got {self.smooth_s!r}")
        if self.fraction is not None and not 0 <= self.fraction <= 1:
            raise OptionError(f"detection fraction must be in [0, 1], got {self.fraction!r}")
        if self.edges is not None and not isinstance(self.edges, bool):
            raise OptionError(f"detection edges must be true or false, got {self.edges!r}")

    def filled(self, recommended: Mapping[str, Any] | None = None) -> DetectConfig:
        """These settings with every None replaced: the checkpoint's declared value (``recommended`` is its
        ``wheretolisten.json``; a bad declared value raises OptionError naming it), else the default."""
        section = (recommended or {}).get("detect", {})
        declared = section if isinstance(section, Mapping) else {}
        defaults = {
            "min_score": DEFAULT_MIN_SCORE,
            "smooth_s": DEFAULT_SMOOTH_S,
            "fraction": DEFAULT_FRACTION,
        }

        def pick(name: str) -> float:
            own = getattr(self, name)
            if own is not None:
                return float(own)
            value = declared.get(name, defaults[name])
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise OptionError(f"wheretolisten.json: detect.{name} must be a number, got {value!r}")
            return float(value)

        edges = self.edges if self.edges is not None else declared.get("edges", False)
        if not isinstance(edges, bool):
            raise OptionError(f"wheretolisten.json: detect.edges must be true or false, got {edges!r}")
        return replace(
            self,
            min_score=pick("min_score"),
            smooth_s=pick("smooth_s"),
            fraction=pick("fraction"),
            edges=edges,
        )

    def to_json(self) -> dict[str, Any]:
        """Every setting; ``edges`` only when on, so settings without it keep their JSON and hashes."""
        data = asdict(self)
        if not data["edges"]:
            del data["edges"]
        return data


def detection_config(value: DetectConfig | None) -> DetectConfig:
    """A call's ``detection`` argument: a :class:`DetectConfig`, None for the defaults (else OptionError)."""
    if value is None:
        return DetectConfig()
    if not isinstance(value, DetectConfig):
        raise OptionError(f"detection must be a DetectConfig (or None), got {type(value).__name__}")
    return value


def score_curve(delta: np.ndarray, n_tokens: int | None = None) -> np.ndarray:
    """Δ in units of the uniform share: Δ · N, N the tokens the profile was normalized over."""
    return np.asarray(delta, dtype=np.float64) * float(delta.size if n_tokens is None else n_tokens)


def _local_maxima(curve: np.ndarray) -> np.ndarray:
    """Whether each token is >= both neighbours (plateaus count)."""
    left = np.concatenate([[True], curve[1:] >= curve[:-1]])
    right = np.concatenate([curve[:-1] >= curve[1:], [True]])
    return left & right


def detect(score: np.ndarray, token_s: float, config: DetectConfig | None = None) -> list[Detection]:
    """Detections on a score curve (token i covers [i·token_s, (i+1)·token_s)), highest score first."""
    cfg = (config or DetectConfig()).filled()
    assert cfg.min_score is not None and cfg.smooth_s is not None and cfg.fraction is not None
    fraction = cfg.fraction
    values = np.asarray(score, dtype=np.float64)
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("the score curve is empty or not finite")
    curve = smooth(values, int(round(cfg.smooth_s / token_s)) | 1 if cfg.smooth_s > 0 else 1)
    free = np.ones(curve.size, dtype=bool)
    peaks = np.flatnonzero(_local_maxima(curve) & (curve > 0) & (curve >= cfg.min_score))
    gap = int(round(cfg.min_gap_s / token_s))
    found: list[Detection] = []
    for peak in (int(p) for p in peaks[np.argsort(-curve[peaks], kind="stable")]):
        if cfg.top_k is not None and len(found) >= cfg.top_k:
            break
        if not free[peak]:
            continue
        blocked = (curve < fraction * curve[peak]) | ~free
        before = np.flatnonzero(blocked[:peak])
        after = np.flatnonzero(blocked[peak + 1 :])
        start = int(before[-1]) + 1 if before.size else 0
        end = peak + 1 + int(after[0]) if after.size else curve.size
        found.append(Detection(round(start * token_s, 6), round(end * token_s, 6), float(curve[peak])))
        free[max(0, start - gap) : end + gap] = False
    return found


#: Detections with edges measure the audio's background over ±this many seconds around each peak: wider
#: than the ``edges`` interval's 2 s, so that a long sound (5–11 s in the dev recordings) still rises above
#: the quiet around it. Chosen on the dev recordings (``benchmarks/detection_dev.py --edges``: 2, 5, 10 s).
DETECT_LOCAL_S = 10.0


def snap_to_audio(
    found: Sequence[Detection],
    score: np.ndarray,
    envelope_db: np.ndarray,
    token_s: float,
    config: DetectConfig | None = None,
) -> list[Detection]:
    """``found`` (as :func:`detect` gives them, highest score first, on the same token axis) with their
    extents taken from the audio: the onset moves to the audio's nearest onset within ``readout.EDGES``'s
    reach of Δ's (Δ marks where the queried sound starts), and when the peak lies inside a sound (the run
    of active audio around it, pauses up to the bridge filled) the offset moves to that sound's end, else
    to the nearest offset within reach; an edge with nothing in reach stays where Δ put it.

    The audio's background is measured over ±:data:`DETECT_LOCAL_S` around each peak (margin and bridge
    as ``EDGES``). A weaker detection whose span overlaps a stronger one's, or whose peak lies in the same
    sound, is the same occurrence: the stronger one keeps its score and widens to cover both.
    ``envelope_db`` is the audio's level per token (``intervals.energy_db``).
    """
    cfg = (config or DetectConfig()).filled()
    assert cfg.smooth_s is not None
    width = int(round(cfg.smooth_s / token_s)) | 1 if cfg.smooth_s > 0 else 1
    curve = smooth(np.asarray(score, dtype=np.float64), width)
    bridge, local = int(round(EDGES.bridge_s / token_s)), max(1, int(round(DETECT_LOCAL_S / token_s)))
    reach = int(round(EDGES.reach_s / token_s))
    kept: list[list[Any]] = []  # [start, end, score, the sound around its peak or None]
    for d in found:
        a = min(curve.size - 1, max(0, int(round(d.onset_s / token_s))))
        b = min(curve.size, max(a + 1, int(round(d.offset_s / token_s))))
        k = a + int(np.argmax(curve[a:b]))
        start, end = snap_edges(envelope_db, k, (a, b), EDGES.margin_db, bridge, local, reach)
        sound = sound_around(envelope_db, k, EDGES.margin_db, bridge, local)
        if sound is not None:
            end = max(end, sound[1])
        same = next(
            (
                m
                for m in kept
                if (start < m[1] and m[0] < end) or (m[3] is not None and m[3][0] <= k < m[3][1])
            ),
            None,
        )
        if same is not None:
            same[0], same[1] = min(same[0], start), max(same[1], end)
            continue
        kept.append([start, end, d.score, sound])
    return [Detection(round(s * token_s, 6), round(e * token_s, 6), score) for s, e, score, _ in kept]


def strongest(score: np.ndarray, token_s: float, config: DetectConfig | None = None) -> Detection | None:
    """The candidate :func:`detect` would pick first with no score threshold: what the line "no
    detection" can still name (its time and how far below ``min_score`` it is); None when no token
    scores above 0."""
    cfg = replace(config or DetectConfig(), top_k=1, min_score=0.0)
    found = detect(score, token_s, cfg)
    return found[0] if found else None


def detections_json(detections: Iterable[Detection]) -> list[dict[str, float]]:
    """Detections as JSON objects (``localize --json``'s ``detections``, result rows)."""
    return [d.to_json() for d in detections]


def tsv_text(rows: Iterable[tuple[str, str, Sequence[Mapping[str, Any]]]]) -> str:
    """A DESED/DCASE detection TSV: header, then ``filename onset offset event_label`` per detection.

    ``rows`` are (filename, label, detections as JSON objects); lines are sorted by file, then onset.
    Tabs or newlines in a label or file name would break the format and are refused.
    """
    lines: list[tuple[str, float, float, str]] = []
    for filename, label, found in rows:
        for text in (filename, label):
            if any(c in text for c in "\t\r\n"):
                raise OptionError(f"{text!r} contains a tab or newline: it cannot go in a TSV column")
        lines.extend((filename, float(d["onset_s"]), float(d["offset_s"]), label) for d in found)
    lines.sort(key=lambda x: (x[0], x[1], x[2], x[3]))
    body = "".join(f"{f}\t{a:.3f}\t{b:.3f}\t{label}\n" for f, a, b, label in lines)
    return "\t".join(TSV_HEADER) + "\n" + body
