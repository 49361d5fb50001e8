"""Options shared by the commands, their one parser each, and the checks that run before any model.

Nothing here imports torch: a bad option, a missing file or an unwritable output is reported in well
under a second, before the model is loaded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import ModelError, OptionError, WTLError
from .model_folder import check_model, model_source

if TYPE_CHECKING:
    from ..detections import DetectConfig
    from ..models.base import Adapter
    from ..settings import LocalizeConfig, Resolved
    from ..vectors import SteeringVector
    from ..windows import WindowConfig

#: Settings defaults, for help texts (the same values the code uses: ``settings.Resolved``).
_DEFAULTS = {"probe": "fast", "positions": "last", "interval": "threshold", "window_s": 1.0, "alpha": 4.0}
#: Detection defaults, for help texts (``detections.DetectConfig``'s).
_DETECT_DEFAULTS = {"min_score": 3.5, "min_gap_s": 1.0}


class Probe(str, Enum):
    """How attention is read."""

    fast = "fast"
    eager = "eager"


class Interval(str, Enum):
    """How the interval around the peak is read."""

    threshold = "threshold"
    window = "window"
    edges = "edges"


class Where(str, Enum):
    """Token positions (see ``wheretolisten.positions``)."""

    last = "last"
    instruction = "instruction"
    audio = "audio"
    text = "text"
    all = "all"


class Queries(str, Enum):
    """Which events of a scene are queried."""

    target = "target"
    all = "all"
    classes = "classes"


class Format(str, Enum):
    """Table format."""

    markdown = "markdown"
    csv = "csv"


def _check_defaults() -> None:
    """The help texts' defaults must be the code's (checked by the tests)."""
    from ..settings import Resolved

    fields = Resolved.__dataclass_fields__
    for name, value in _DEFAULTS.items():
        default = fields[name].default
        assert getattr(default, "value", default) == value, (name, default, value)
    from ..detections import DetectConfig

    for name, value in _DETECT_DEFAULTS.items():
        assert getattr(DetectConfig().filled(), name) == value, (name, value)


def _setting(text: str, name: str) -> Any:
    """The option of the setting ``name``: its help is ``text`` and the default the code uses."""
    default = _DEFAULTS[name]
    shown = f"{default:g}" if isinstance(default, float) else default
    return typer.Option(help=f"{text} Default: {shown}.")


ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", help="Hub id or model folder (default: the small model shipped in the package)."
    ),
]
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N, mps.")]
DtypeOpt = Annotated[
    str, typer.Option(help="auto (bfloat16 on GPU, float32 on CPU), float32, float16, bfloat16.")
]
LayersOpt = Annotated[
    str | None,
    typer.Option(
        help="Decoder layers to steer, e.g. '8,9,10' or '8-12' (default: the model's tuned layers from its "
        "wheretolisten.json, else the band n/3 to n/2 of the decoder)."
    ),
]
AlphaOpt = Annotated[
    float | None,
    typer.Option(
        help=f"Steering strength α (0: none; default: the model's own, else {_DEFAULTS['alpha']:g})."
    ),
]
ProbeOpt = Annotated[Probe | None, _setting("fast (SDPA + needed rows) or eager (reference).", "probe")]
PositionsOpt = Annotated[
    Where | None, _setting("Where to add the vector (the tokens it is added to).", "positions")
]
IntervalOpt = Annotated[
    Interval | None,
    typer.Option(
        help="threshold: the region above half the peak; window: the best fixed window; edges: the region "
        "above a tenth of the peak, each edge moved to the audio's nearest onset or offset within 1 s "
        f"(default: the model's own, else {_DEFAULTS['interval']})."
    ),
]
WindowOpt = Annotated[float | None, _setting("Window width in seconds for --interval window.", "window_s")]
ShiftsOpt = Annotated[
    int | None,
    typer.Option(
        help="Average the profiles of the clip and N-1 circular shifts of it, each moved back: what the "
        "model hears moves with the audio, a time the vector prefers by itself does not (N times the cost; "
        "default: the model's own, else 1).",
        metavar="N",
    ),
]
SegmentOpt = Annotated[
    float | None,
    typer.Option(
        help="Cut audio longer than this into windows of this many seconds, each localized on its own and "
        "stitched onto one time axis (default: the longest input the model takes: 10 s for the shipped "
        "model, 30 s for Qwen2-Audio, 600 s for AF3). Not --window-s, the width of --interval window."
    ),
]
OverlapOpt = Annotated[
    float | None,
    typer.Option(
        help="Least overlap of neighbouring windows, seconds (default: min(5 s, 20 % of --segment-s))."
    ),
]
TopKOpt = Annotated[
    int | None, typer.Option(help="Keep at most this many detections per query (default: all).")
]
MinScoreOpt = Annotated[
    float | None,
    typer.Option(
        help="Score a detection needs (default: the model's, else "
        f"{_DETECT_DEFAULTS['min_score']:g}): how many times the uniform attention share steering added."
    ),
]
MinGapOpt = Annotated[
    float | None,
    typer.Option(help=f"Least gap between detections, s (default: {_DETECT_DEFAULTS['min_gap_s']:g})."),
]
DetectEdgesOpt = Annotated[
    bool | None,
    typer.Option(
        "--detect-edges/--no-detect-edges",
        help="Move each detection's onset and offset to the audio's nearest onset or offset within 1 s "
        "(default: the model's, else off).",
    ),
]
StartOpt = Annotated[float | None, typer.Option(help="Use the audio from this time on, s.")]
EndOpt = Annotated[float | None, typer.Option(help="Use the audio up to this time, s.")]
MkdirOpt = Annotated[
    bool,
    typer.Option(
        "--mkdir", help="Create missing parent folders of the outputs (else they are refused).", metavar=""
    ),
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="CPU threads (default: from the model's size and the free cores; also "
        "WHERETOLISTEN_THREADS, OMP_NUM_THREADS).",
    ),
]
ProgressOpt = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Show a progress bar on stderr.", metavar="")
]
GTManifestOpt = Annotated[
    Path | None,
    typer.Option(
        help="Scene manifest listing AUDIO, for ground truth in the figure (default: DIR/manifest.jsonl "
        "when AUDIO is DIR/audio/*.wav)."
    ),
]


def parse_floats(text: str, option: str, unique: bool = True) -> list[float]:
    """'0.5,1,2' → [0.5, 1.0, 2.0]; every value finite, at least one, none empty, and with ``unique`` none
    repeated ('1,,2' and '4,4,2' were taken as 1,2 and as two identical rows)."""
    if not text.strip():
        raise OptionError(f"{option} is empty; give e.g. '1,2,4,8'")
    try:
        values = [float(a) for a in text.split(",")]
    except ValueError:
        raise OptionError(f"cannot parse {option} {text!r}; use e.g. '1,2,4,8' (no empty item)") from None
    for v in values:
        finite(v, option)
    if unique and len(set(values)) < len(values):
        raise OptionError(f"{option} {text!r} repeats a value; give each once")
    return values


def check_query(text: str | None, option: str = "--query") -> str | None:
    """A query from an option: refused when given but empty or only spaces, or too long
    (``prompts.MAX_QUERY_CHARS``; None: not given)."""
    from ..prompts import MAX_QUERY_CHARS, check_text_length

    if text is not None and not text.strip():
        raise OptionError(f"{option} is empty; name the sound to find, e.g. 'a dog barking'")
    return None if text is None else check_text_length(text, MAX_QUERY_CHARS, option)


#: Largest seed every command takes (torch's generators take 64-bit seeds; 2**64 was a traceback).
MAX_SEED = 2**63 - 1


def check_seed(seed: int, option: str = "--seed") -> int:
    """A random seed: a whole number from 0 to :data:`MAX_SEED` (numpy refuses negative ones, torch
    larger ones, each with a traceback)."""
    if not 0 <= seed <= MAX_SEED:
        raise OptionError(f"{option} must be a whole number from 0 to 2**63 - 1, got {seed}")
    return seed


def strength(value: float | None, option: str) -> float | None:
    """A steering strength α from an option: finite and within ±``settings.MAX_ALPHA`` (None: not given)."""
    from ..settings import check_alpha

    return None if value is None else check_alpha(value, option)


def strengths(text: str, option: str) -> list[float]:
    """A list of steering strengths ('1,2,4'), each checked as :func:`strength`."""
    from ..settings import check_alphas

    return check_alphas(parse_floats(text, option), option)


def parse_pair(text: str, option: str) -> tuple[float, float]:
    """'-20,20' → (-20.0, 20.0): two finite numbers, the first not above the second."""
    values = parse_floats(text, option, unique=False)  # LO = HI is a fixed value
    if len(values) != 2 or values[0] > values[1]:
        raise OptionError(f"{option} takes LO,HI with LO <= HI (e.g. '-20,20'), got {text!r}")
    return values[0], values[1]


def finite(value: float | None, option: str, positive: bool = False) -> float | None:
    """``value`` unless it is NaN, infinite (or not > 0 when ``positive``)."""
    if value is None:
        return None
    if not math.isfinite(value) or (positive and value <= 0):
        raise OptionError(f"{option} must be a finite number{' > 0' if positive else ''}, got {value!r}")
    return value


def value(choice: Enum | None) -> Any:
    """An enum option's value (None stays None)."""
    return None if choice is None else choice.value


def check_span(paths: list[Path], start: float | None, end: float | None) -> None:
    """--start/--end are finite and ordered; with one file, inside it and not digital silence."""
    from ..audio import audio_info, check_audible, check_min_length
    from ..audio import check_span as span_in

    first, last = finite(start, "--start") or 0.0, finite(end, "--end")
    if first < 0:
        raise OptionError(f"--start must be >= 0, got {first:g}")
    if last is not None:
        span_in(first, last, math.inf, "the audio")  # --end after --start
    if len(paths) == 1:
        head = audio_info(paths[0])
        lo, hi = span_in(start, end, head.duration_s, str(head.path))
        check_min_length(hi - lo, str(head.path))
        check_audible(paths[0], start, end)


def load(
    model: str | None,
    device: str,
    dtype: str,
    layers: list[int] | None = None,
    threads: int | None = None,
) -> Adapter:
    """Load the model named by --model (default: the shipped organism), without progress bars, and set
    torch's CPU threads for it (``wheretolisten.threads``); what can be checked without the model
    (:func:`check_model`, the thread settings) is checked before torch is imported."""
    from ..models.checkpoint import check_device_and_dtype
    from ..threads import apply_threads, resolve_threads

    resolve_threads(threads, 0)  # a bad --threads or WHERETOLISTEN_THREADS is refused now
    check_device_and_dtype(device, dtype)
    check_model(model, layers)
    from transformers.utils import logging as hf_logging

    from ..models import load_model

    hf_logging.disable_progress_bar()  # weight-loading bars are noise for a one-shot command
    adapter = load_model(model_source(model), device=device, dtype=dtype)
    if adapter.recommended:  # the checkpoint's own settings, named as such when they cannot be used
        from ..models.registry import RECOMMENDED_FILE
        from ..settings import resolve

        try:
            resolve(adapter)
        except WTLError as exc:
            raise ModelError(f"{Path(model_source(model)) / RECOMMENDED_FILE}: {exc}") from None
    apply_threads(resolve_threads(threads, sum(p.numel() for p in adapter.model.parameters())))
    return adapter


def detect_config(
    top_k: int | None, min_score: float | None, min_gap_s: float | None, edges: bool | None = None
) -> DetectConfig:
    """The detection settings the options give, checked for finite numbers; a score or edges not given
    stays None (the model's, filled once it is loaded), a gap not given is the default."""
    from ..detections import DetectConfig

    score, gap = finite(min_score, "--min-score"), finite(min_gap_s, "--min-gap-s")
    return DetectConfig(top_k, score, DetectConfig().min_gap_s if gap is None else gap, edges=edges)


def window_config(segment_s: float | None, overlap_s: float | None) -> WindowConfig:
    """The window settings the options give (checked against the model once it is loaded)."""
    from ..windows import WindowConfig, check_segment

    segment, overlap = finite(segment_s, "--segment-s", positive=True), finite(overlap_s, "--overlap-s")
    if overlap is not None and overlap < 0:
        raise OptionError(f"--overlap-s must be >= 0, got {overlap:g}")
    if segment is not None:  # what needs no model now; the model's longest input once it is loaded
        check_segment(segment, 0.0 if overlap is None else overlap)
    return WindowConfig(segment, overlap)


def resolved(adapter: Adapter, config: LocalizeConfig, vector: SteeringVector | None = None) -> Resolved:
    """The one settings-resolution path (see ``wheretolisten.settings``)."""
    from ..settings import resolve

    return resolve(adapter, config, vector)


def check_outputs(
    outputs: Iterable[tuple[str, Path | None]], inputs: Iterable[Path] = (), mkdir: bool = False
) -> None:
    """Refuse unwritable outputs, outputs that are inputs, and two outputs that are one file, before any
    computation; a missing parent folder is refused unless ``mkdir`` (--mkdir)."""
    from ..files import check_distinct, check_output

    sources = list(inputs)
    given = [(option, path) for option, path in outputs if path is not None]
    for option, path in given:
        check_output(path, sources, option=option, mkdir=mkdir)
    check_distinct(given)


OverwriteOpt = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Replace existing files the command would write but was not pointed at (a metadata .json "
        "beside a vector, a scenes manifest).",
    ),
]


def vector_file(path: Path, option: str) -> Path:
    """``path`` as a vector file by the API's one rule (:func:`wheretolisten.vectors.vector_path`): a name
    ending in ``.safetensors`` is kept, any other gets it appended (``dog.v1`` → ``dog.v1.safetensors``);
    a path with no file name ('' or a folder's '.') is one OptionError line, not pathlib's ValueError."""
    from ..vectors import vector_path

    return vector_path(path, option)


def check_vector_outputs(
    path: Path, option: str, overwrite: bool, inputs: Iterable[Path] = ()
) -> list[tuple[str, Path | None]]:
    """A vector's two outputs (``.safetensors`` and its ``.json``); a ``.json`` of the user's that is not
    a vector's metadata is refused unless ``--overwrite``: the check ``SteeringVector.save`` makes
    (:func:`wheretolisten.vectors.check_vector_target`), run here before anything is computed."""
    from ..vectors import check_vector_target

    target, meta = check_vector_target(path, overwrite, option)
    return [(option, target), (option, meta)]


def check_html_name(path: Path, option: str) -> None:
    """An HTML output ends in .html or .htm (a results file or manifest named by mistake is not replaced
    by a page)."""
    if path.suffix.lower() not in (".html", ".htm"):
        raise OptionError(f"{option} {path}: give a file name ending in .html")


def check_audio(paths: Iterable[Path]) -> None:
    """Every audio file exists and has a readable header (one line otherwise)."""
    from ..audio import audio_info

    for path in paths:
        audio_info(path)


def numbered(path: Path, index: int, count: int) -> Path:
    """``path`` itself for a single output; ``stem.N.suffix`` (N from 1) when there are several."""
    if count == 1:
        return path
    return path.with_name(f"{path.stem}.{index + 1}{path.suffix}")
