"""Localization settings: what a user gives, and the one path that resolves it against a model.

A user gives a :class:`LocalizeConfig` (every field optional: None means "not given"). :func:`resolve`
turns it into a :class:`Resolved` — concrete layers, parsed positions, checked values — once, the same
way for the Python API, the command line, a saved vector and explicit options. Precedence, lowest
first: package defaults, the checkpoint's ``wheretolisten.json``, a saved vector's layers, what the
user gave. Probe layers follow the steered layers: the checkpoint's tuned probe layers are kept
whenever the steered layers are the ones they were tuned for (however those layers were given).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .errors import ModelError, OptionError
from .parsing import is_real_number
from .prompts import (
    INSTRUCTED_TEMPLATES,
    MAX_PROMPT_CHARS,
    NEUTRAL_TEMPLATES,
    PROBE_PROMPT,
    check_templates,
    check_text_length,
)
from .readout import EDGES, ReadoutRule

if TYPE_CHECKING:
    from .models.base import Adapter
    from .vectors import SteeringVector


class Positions(str, Enum):
    """Which token positions of a prompt a read or a write touches (masks: ``positions.PositionTable``)."""

    LAST = "last"  # the last prompt token (the one that predicts the answer)
    INSTRUCTION = "instruction"  # the user's instruction text, after the audio block
    AUDIO = "audio"  # the audio placeholder tokens
    TEXT = "text"  # every non-audio prompt token
    ALL = "all"  # every prompt token

    @classmethod
    def parse(cls, value: str | Positions) -> Positions:
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(p.value for p in cls)
            raise ValueError(f"unknown positions {value!r}; choose one of {choices}") from None

    @property
    def continues_in_generation(self) -> bool:
        """Whether newly generated tokens also belong to this set (they are text, and each is the last)."""
        return self in (Positions.LAST, Positions.TEXT, Positions.ALL)


#: Positions whose tokens all lie in the prompt suffix after the audio block (never in a shared prefix).
SUFFIX_POSITIONS = frozenset({Positions.LAST, Positions.INSTRUCTION})

ProbeMethod = Literal["fast", "eager"]
IntervalMethod = Literal["threshold", "window", "edges"]
EngineName = Literal["shared", "full"]
PROBES = ("fast", "eager")
INTERVALS = ("threshold", "window", "edges")
ENGINES = ("shared", "full")

#: Steering strength when neither the checkpoint nor the user sets one.
DEFAULT_ALPHA = 4.0
#: Largest |α| accepted: far beyond any useful strength, and float32-safe once multiplied by a vector.
MAX_ALPHA = 1e6


def real_number(value: Any, name: str) -> float:
    """``value`` as a float when it is a real number (numpy's too), never a bool or a string: ``alpha=True``
    ran with α = 1 and ``alpha='2'`` was read as 2, unlike every other setting (one OptionError line)."""
    if not is_real_number(value):
        raise OptionError(f"{name} must be a number, got {value!r}")
    return float(value)


def check_alpha(value: float, name: str = "alpha") -> float:
    """A steering strength: finite and within ±:data:`MAX_ALPHA` (else one OptionError line)."""
    number = real_number(value, name)
    if not math.isfinite(number) or abs(number) > MAX_ALPHA:
        raise OptionError(
            f"{name} must be a finite number between -{MAX_ALPHA:g} and {MAX_ALPHA:g}, got {value!r}"
        )
    return number


def check_alphas(alphas: Any, name: str = "alphas") -> list[float]:
    """Steering strengths as floats, from a number, a list, a numpy array or a (CPU) tensor: at least
    one, each as :func:`check_alpha` (else one OptionError line)."""
    try:
        given = np.asarray(alphas)
        values = np.atleast_1d(given.astype(np.float64))
    except (TypeError, ValueError):
        raise OptionError(f"{name} must be numbers, got {alphas!r}") from None
    if given.dtype.kind not in "iuf" or given.ndim > 1:  # True, "2" or a 2-D array read as numbers
        raise OptionError(f"{name} must be numbers (one, or a flat list), got {alphas!r}")
    if values.size == 0:
        raise OptionError(f"give at least one α ({name} is empty)")
    return [check_alpha(float(a), name) for a in values]


#: Largest layer index a layer list may name (before the model's own range is known).
MAX_LAYER_INDEX = 4095


def parse_layers(text: str | None, option: str = "--layers") -> list[int] | None:
    """'1,3,5-7' → [1, 3, 5, 6, 7]; None or blank → None. A reversed or malformed range is an error."""
    if text is None or not text.strip():
        return None
    out: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        lo, sep, hi = part.partition("-")
        try:
            first, last = (int(lo), int(hi)) if sep else (int(part), int(part))
        except ValueError:
            raise OptionError(f"cannot parse {option} {text!r}; use e.g. '8,9,10' or '8-12'") from None
        if first < 0 or last < first:
            raise OptionError(f"{option} {text!r}: {part!r} is not an increasing range of layer indices")
        if last > MAX_LAYER_INDEX:
            raise OptionError(f"{option} {text!r}: layer {last} is out of range (no decoder has that many)")
        if set(out) & set(range(first, last + 1)):  # '1,1,1' was three steerings of one layer
            raise OptionError(f"{option} {text!r} names a layer twice; give each once")
        out.extend(range(first, last + 1))
    return out


def default_layers(num_layers: int) -> list[int]:
    """Steer a band in the lower middle of the decoder (about layers n/3 to n/2)."""
    start = num_layers // 3
    return list(range(start, max(start + 1, num_layers // 2)))


def default_probe_layers(num_layers: int, steer_layers: Sequence[int]) -> list[int]:
    """Read attention in every layer downstream of the first steered layer (the ones steering can move)."""
    first = min(steer_layers) + 1
    return list(range(first, num_layers)) if first < num_layers else [num_layers - 1]


def check_layers(adapter: Adapter, layers: Sequence[int]) -> list[int]:
    """Sorted unique decoder-layer indices, each within range (a list of whole numbers: a bare number, a
    string, a fraction or a boolean is one OptionError, not read as something else)."""
    n = adapter.num_layers
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Iterable):
        raise OptionError(f"layers must be a list of layer indices such as [8, 9], got {layers!r}")
    items = list(layers)
    if any(isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)) for x in items):
        raise OptionError(f"layers must be whole layer indices such as [8, 9], got {items!r}")
    out = sorted({int(x) for x in items})
    if not out:
        raise ModelError("no layers given")
    bad = [x for x in out if not 0 <= x < n]
    if bad:
        raise ModelError(f"layer {bad[0]} is out of range: the language model has layers 0..{n - 1}")
    return out


@dataclass(frozen=True)
class LocalizeConfig:
    """Localization settings as a user gives them; None means "not given" (resolved by :func:`resolve`)."""

    layers: list[int] | None = None
    probe_layers: list[int] | None = None
    alpha: float | None = None
    positions: str | Positions | None = None  # where the vector is added
    read_positions: str | Positions | None = None  # where activations are read to build it
    probe: ProbeMethod | None = None
    #: "shared": audio prefix computed once per clip and reused; "full": every prompt run whole.
    engine: EngineName | None = None
    normalize: bool | None = None
    smooth_s: float | None = None
    interval: IntervalMethod | None = None
    fraction: float | None = None
    window_s: float | None = None
    prompt: str | None = None
    instructed_templates: list[str] | None = None
    neutral_templates: list[str] | None = None
    #: Circular shifts of the audio whose Δ profiles are averaged (1: the clip as it is; see engine.shifted).
    shifts: int | None = None

    def resolved(self, adapter: Adapter, vector: SteeringVector | None = None) -> Resolved:
        """:func:`resolve` this configuration against ``adapter``."""
        return resolve(adapter, self, vector)

    def given(self) -> dict[str, Any]:
        """The fields the user set."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass(frozen=True)
class Resolved:
    """Every setting of a localization, concrete and checked: stored in results so they can be rerun."""

    layers: list[int]
    probe_layers: list[int]
    alpha: float = DEFAULT_ALPHA
    positions: Positions = Positions.LAST
    read_positions: Positions = Positions.LAST
    probe: ProbeMethod = "fast"
    engine: EngineName = "shared"
    normalize: bool = True
    smooth_s: float = 0.2
    interval: IntervalMethod = "threshold"
    fraction: float = 0.5
    window_s: float = 1.0
    prompt: str = PROBE_PROMPT
    instructed_templates: list[str] = field(default_factory=lambda: list(INSTRUCTED_TEMPLATES))
    neutral_templates: list[str] = field(default_factory=lambda: list(NEUTRAL_TEMPLATES))
    shifts: int = 1

    @property
    def readout(self) -> ReadoutRule:
        """How ``localize`` reads Δ: the peak of Δ smoothed over ``smooth_s``; the interval where it stays
        above ``fraction`` of the peak (threshold), the densest ``window_s`` span (window), or that
        threshold interval with each edge moved to the audio's nearest onset or offset (edges:
        ``readout.EDGES``)."""
        if self.interval == "edges":
            return replace(EDGES, peak_smooth_s=self.smooth_s, fraction=self.fraction, smooth_s=self.smooth_s)
        return ReadoutRule(
            peak="delta",
            peak_smooth_s=self.smooth_s,
            interval="threshold" if self.interval == "threshold" else "densest",
            fraction=self.fraction,
            smooth_s=self.smooth_s,
            window_s=self.window_s,
        )

    def resolved(self, adapter: Adapter, vector: SteeringVector | None = None) -> Resolved:
        """Already resolved: itself, every value checked as :func:`resolve` checks what it is given (a
        Resolved made by hand had only its layers checked: an unknown engine ran the full one)."""
        return _checked(adapter, self, vector, steers=True)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (positions as their names), the ``config`` of results and logs."""
        data = asdict(self)
        data["positions"] = self.positions.value
        data["read_positions"] = self.read_positions.value
        if self.shifts == 1:  # the default is left out, so results computed before it keep their hash
            del data["shifts"]
        return data


_NAMES = {f.name for f in fields(LocalizeConfig)}


def _choice(value: Any, choices: Sequence[str], name: str) -> Any:
    if value not in choices:
        raise OptionError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")
    return value


def _positive(value: Any, name: str, allow_zero: bool = False) -> float:
    number = real_number(value, name)
    ok = math.isfinite(number) and (number >= 0 if allow_zero else number > 0)
    if not ok:
        raise OptionError(f"{name} must be a finite number {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return number


#: Most circular shifts of one clip (each costs one more pass over the audio).
MAX_SHIFTS = 16


def check_shifts(value: Any) -> int:
    """A number of circular shifts: a whole number from 1 to :data:`MAX_SHIFTS` (else OptionError)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise OptionError(f"shifts must be a whole number from 1 to {MAX_SHIFTS}, got {value!r}")
    if not math.isfinite(value) or int(value) != value:
        raise OptionError(f"shifts must be a whole number from 1 to {MAX_SHIFTS}, got {value!r}")
    if not 1 <= int(value) <= MAX_SHIFTS:
        raise OptionError(f"shifts must be a whole number from 1 to {MAX_SHIFTS}, got {value!r}")
    return int(value)


def _positions(value: Any, name: str) -> Positions:
    try:
        return Positions.parse(value)
    except ValueError as exc:
        raise OptionError(f"{name}: {exc}") from None


def check_read_positions(value: Any, name: str = "read-positions") -> Positions:
    """Where a vector is read, refusing the audio: every family's prompt puts it before the instruction
    (``Adapter.instruction_span``), so a causal model's activations there are the same for instructed and
    neutral prompts and the vector would be float noise (read as a confident peak)."""
    positions = _positions(value, name)
    if positions == Positions.AUDIO:
        raise OptionError(
            f"{name} 'audio': the audio comes before the instruction in the prompt, so instructed and "
            "neutral prompts have the same activations there and the vector would be zero (float noise); "
            "read at last, instruction, text or all"
        )
    return positions


def recommended(adapter: Adapter) -> dict[str, Any]:
    """The localize settings the checkpoint recommends (``wheretolisten.json``), known keys only."""
    data = adapter.recommended.get("localize", {})
    return {k: v for k, v in data.items() if k in _NAMES} if isinstance(data, Mapping) else {}


def _probes_see_steering(probe_layers: list[int], layers: list[int]) -> None:
    """Steering is added to a layer's output: a probe layer at or before the first steered one reads
    attention the steering cannot move (Δ would be zero)."""
    if max(probe_layers) <= min(layers):
        raise OptionError(
            f"probe_layers {probe_layers} all come at or before the first steered layer {min(layers)}: "
            "their attention does not see the steering, so Δ would be zero; probe later layers"
        )


def _checked(adapter: Adapter, r: Resolved, vector: SteeringVector | None, steers: bool) -> Resolved:
    """``r`` with each value checked as :func:`resolve` checks a given one (positions parsed)."""
    layers, probe_layers = check_layers(adapter, r.layers), check_layers(adapter, r.probe_layers)
    if steers:
        _probes_see_steering(probe_layers, layers)
    check_alpha(r.alpha)
    _choice(r.probe, PROBES, "probe")
    _choice(r.engine, ENGINES, "engine")
    _choice(r.interval, INTERVALS, "interval method")
    if not isinstance(r.normalize, (bool, np.bool_)):
        raise OptionError(f"normalize must be True or False, got {r.normalize!r}")
    _positive(r.smooth_s, "smooth-s", allow_zero=True)
    _positive(r.window_s, "window-s")
    if not 0 < _positive(r.fraction, "fraction") <= 1:
        raise OptionError(f"fraction must be in (0, 1], got {r.fraction}")
    check_shifts(r.shifts)
    if not isinstance(r.prompt, str) or not r.prompt.strip():
        raise OptionError(f"prompt must be a non-empty string, got {r.prompt!r}")
    check_text_length(r.prompt, MAX_PROMPT_CHARS, "the prompt")
    check_templates(r.instructed_templates, "instructed templates", True)
    check_templates(r.neutral_templates, "neutral templates", False)
    if vector is not None and steers:
        vector.check_fits(adapter, layers)
    positions = _positions(r.positions, "positions")
    read_positions = check_read_positions(r.read_positions)
    return replace(
        r, layers=layers, probe_layers=probe_layers, positions=positions, read_positions=read_positions
    )


def resolve(
    adapter: Adapter,
    config: LocalizeConfig | Resolved | None = None,
    vector: SteeringVector | None = None,
    steers: bool = True,
) -> Resolved:
    """The one settings-resolution path (see the module docstring); bad values raise OptionError.

    ``steers=False``: the settings read attention without steering (prompted profiles), so probe layers
    at or before the steered layers are fine."""
    from .vectors import SteeringVector as Vector  # vectors imports this module

    if vector is not None and not isinstance(vector, Vector):  # e.g. a path: load it first
        raise OptionError(
            f"vector must be a SteeringVector (SteeringVector.load(path)) or None, got "
            f"{type(vector).__name__}"
        )
    if isinstance(config, Resolved):
        return _checked(adapter, config, vector, steers)
    if config is not None and not isinstance(config, LocalizeConfig):
        raise OptionError(f"config must be a LocalizeConfig (or None), got {type(config).__name__}")
    given = (config or LocalizeConfig()).given()
    rec = recommended(adapter)
    n = adapter.num_layers
    rec_layers = check_layers(adapter, rec["layers"]) if rec.get("layers") else default_layers(n)
    if "layers" in given:
        layers = check_layers(adapter, given["layers"])
    elif vector is not None:
        layers = check_layers(adapter, vector.layers)
    else:
        layers = rec_layers
    if "probe_layers" in given:
        probe_layers = check_layers(adapter, given["probe_layers"])
        if steers:
            _probes_see_steering(probe_layers, layers)
    elif rec.get("probe_layers") and layers == rec_layers:
        probe_layers = check_layers(adapter, rec["probe_layers"])
    else:
        probe_layers = default_probe_layers(n, layers)
        if steers and max(probe_layers) <= min(layers):  # the last layer steered: no layer after it
            raise OptionError(
                f"layers {layers}: layer {min(layers)} is the last decoder layer, so no later layer's "
                "attention sees the steering (Δ would be zero); steer an earlier layer"
            )
    values: dict[str, Any] = {**rec, **given}
    out: dict[str, Any] = {"layers": layers, "probe_layers": probe_layers}
    if "alpha" in values:
        out["alpha"] = check_alpha(values["alpha"])
    for name in ("positions", "read_positions"):
        if name in values:
            out[name] = _positions(values[name], name.replace("_", "-"))
    if "read_positions" in out:
        check_read_positions(out["read_positions"])
    if "probe" in values:
        out["probe"] = _choice(values["probe"], PROBES, "probe")
    if "engine" in values:
        out["engine"] = _choice(values["engine"], ENGINES, "engine")
    if "interval" in values:
        out["interval"] = _choice(values["interval"], INTERVALS, "interval method")
    if "normalize" in values:
        if not isinstance(values["normalize"], (bool, np.bool_)):
            raise OptionError(f"normalize must be True or False, got {values['normalize']!r}")
        out["normalize"] = bool(values["normalize"])
    if "smooth_s" in values:
        out["smooth_s"] = _positive(values["smooth_s"], "smooth-s", allow_zero=True)
    if "window_s" in values:
        out["window_s"] = _positive(values["window_s"], "window-s")
    if "fraction" in values:
        fraction = _positive(values["fraction"], "fraction")
        if fraction > 1:
            raise OptionError(f"fraction must be in (0, 1], got {fraction}")
        out["fraction"] = fraction
    elif out.get("interval") == "edges":
        out["fraction"] = EDGES.fraction  # the edges rule's own: a wide Δ region whose edges the audio moves
    interval = out.get("interval", Resolved.interval)
    if "window_s" in given and interval != "window":  # it would be ignored: the span of another interval
        raise OptionError(
            f"window-s sets the span of the 'window' interval, but the interval is {interval!r}: set the "
            "interval to 'window' too, or leave window-s out"
        )
    if "fraction" in given and interval == "window":
        raise OptionError(
            "fraction applies to the 'threshold' and 'edges' intervals, not to 'window' (it takes window-s)"
        )
    if "shifts" in values:
        out["shifts"] = check_shifts(values["shifts"])
    if "prompt" in values:
        if not isinstance(values["prompt"], str) or not values["prompt"].strip():
            raise OptionError(f"prompt must be a non-empty string, got {values['prompt']!r}")
        out["prompt"] = check_text_length(values["prompt"], MAX_PROMPT_CHARS, "the prompt")
    if "instructed_templates" in values:
        out["instructed_templates"] = check_templates(
            values["instructed_templates"], "instructed templates", True
        )
    if "neutral_templates" in values:
        out["neutral_templates"] = check_templates(values["neutral_templates"], "neutral templates", False)
    if vector is not None and steers:  # a vector of another model is refused before any pass
        vector.check_fits(adapter, layers)
    return Resolved(**out)
