"""The protocol file of ``bench protocol``: scene sets, tuning grids and their budget, conditions.

JSON or TOML (by suffix); :func:`load_protocol` and :func:`save_protocol` round-trip. Every field has a
default, so an empty file (or none) is the default protocol: a dev split and four held-out test sets of
procedural scenes of different seeds, clip lengths and event counts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import DataError, OptionError
from ..files import write_atomic
from ..readout import PEAKS
from ..records.documents import read_text
from .config import DIRECT_PROMPT, QUERY_MODES
from .protocol_toml import protocol_toml
from .protocol_types import check_types, check_values

#: Model conditions whose settings are chosen on dev, and the model-free ones (their interval rule only).
TUNABLE = ("steered", "prompted", "audio-steered", "audio-steered-norm", "direct", "energy")
STEERING = ("steered", "audio-steered", "audio-steered-norm")
READOUT_MODES = ("singles+all", "ranges")
DEFAULT_CONDITIONS = (
    "steered",
    "prompted",
    "audio-steered",
    "audio-steered-norm",
    "direct",
    "random",
    "energy",
    "random-vector",
    "wrong-query",
    "absent-class",
    "neutral-contrast",
    "negative",
)
#: The question the organism was trained on (the direct condition's second candidate).
TRAINED_QUESTION = "When does {query} start and end?"


def _formats(template: str) -> bool:
    try:
        template.format(query="x")
    except (KeyError, IndexError, ValueError):
        return False
    return True


#: Seed distance between the draws of one held-out set (draw k: ``seed + k * DRAW_SEED_STEP``).
DRAW_SEED_STEP = 1000
#: Value types a set's scene options may hold (a flat table: scalars, or lists of scalars).
_OPTION_SCALARS = (str, int, float, bool)


def _check_options(name: str, options: Any) -> None:
    """Refuse scene options that are not a flat table of plain values (one OptionError line)."""
    if options is None:
        return
    if not isinstance(options, Mapping) or not all(isinstance(k, str) and k for k in options):
        raise OptionError(f"protocol: set {name!r}: options must be a table of named values")
    for key, value in options.items():
        items = value if isinstance(value, (list, tuple)) else [value]
        if not all(isinstance(v, _OPTION_SCALARS) for v in items):
            raise OptionError(
                f"protocol: set {name!r}: options.{key} must be a string, number, true/false or a list "
                f"of them, got {value!r}"
            )


@dataclass(frozen=True)
class SceneSet:
    """One split: ``n`` synthesized scenes of ``events`` events in ``duration_s`` s, from ``seed``.

    ``draws``: a held-out set is drawn this many times (seeds ``seed + k * DRAW_SEED_STEP``), so that a
    per-set claim can be checked on every draw. ``options``: scene options (background, overlaps, ...)
    handed to scene synthesis, a flat table; None: plain scenes. ``optional``: when the set's bank cannot
    be loaded here (a Debian package that is not installed), the protocol skips the set and says so in
    ``summary.md`` instead of refusing to run.
    """

    name: str
    n: int
    seed: int
    events: int = 3
    duration_s: float = 10.0
    draws: int = 1
    options: Mapping[str, Any] | None = field(default=None, hash=False)
    optional: bool = False

    def __post_init__(self) -> None:
        check_types(self, f"set {self.name!r}")
        if self.n < 1 or not self.name or "/" in self.name or self.name.startswith("."):
            raise OptionError(f"protocol: set {self.name!r} needs n >= 1 and a plain name")
        if self.seed < 0 or self.events < 1 or self.duration_s <= 0:
            raise OptionError(
                f"protocol: set {self.name!r} needs seed >= 0, events >= 1 and duration_s > 0, got "
                f"{self.seed}, {self.events}, {self.duration_s}"
            )
        if isinstance(self.draws, bool) or not isinstance(self.draws, int) or self.draws < 1:
            raise OptionError(f"protocol: set {self.name!r} needs draws >= 1, got {self.draws!r}")
        _check_options(self.name, self.options)
        if self.options is not None:  # one form however given: a dict, lists as tuples
            plain = {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in self.options.items()}
            object.__setattr__(self, "options", plain)

    def draw_sets(self) -> tuple[SceneSet, ...]:
        """The set's draws as sets of one draw each: itself when ``draws`` is 1, else ``<name>-s<seed>``."""
        if self.draws == 1:
            return (self,)
        seeds = [self.seed + k * DRAW_SEED_STEP for k in range(self.draws)]
        return tuple(replace(self, name=f"{self.name}-s{s}", seed=s, draws=1) for s in seeds)


@dataclass(frozen=True)
class Grid:
    """One tunable condition's grid: the cross product of the knobs it has (the others are ignored).

    ``layers`` empty: four single layers spread over the lower half of the decoder. ``readout``:
    ``singles+all`` (all layers the condition can move, and each alone) or ``ranges`` (every contiguous
    range of them). ``templates``: indices of the instructed templates (averaged into the vector, or the
    one put in the prompt). ``peaks``: where the peak is read (``readout.PEAKS``).
    """

    layers: tuple[tuple[int, ...], ...] = ()
    alphas: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    readout: str = "singles+all"
    templates: tuple[tuple[int, ...], ...] = ((0, 1, 2),)
    peaks: tuple[str, ...] = ("delta", "logratio")
    windows_s: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
    prompts: tuple[str, ...] = (DIRECT_PROMPT, TRAINED_QUESTION)

    def __post_init__(self) -> None:
        check_types(self, "grid")
        if any(not s or min(s) < 0 for s in self.layers):
            raise OptionError(
                f"protocol: grid layers must be non-empty lists of indices >= 0, got {self.layers}"
            )
        if not self.alphas or not self.templates or not self.windows_s or not self.prompts:
            raise OptionError("protocol: grid alphas, templates, windows_s and prompts must not be empty")
        if any(not t or min(t) < 0 for t in self.templates):
            raise OptionError(
                f"protocol: grid templates must be non-empty lists of indices >= 0, got {self.templates}"
            )
        if any(w <= 0 for w in self.windows_s):
            raise OptionError(f"protocol: grid windows_s must be > 0, got {self.windows_s}")
        for prompt in self.prompts:
            if "{query}" not in prompt or not _formats(prompt):
                raise OptionError(
                    f"protocol: grid prompt {prompt!r} must use the placeholder {{query}} (only)"
                )


def _default_grids() -> dict[str, Grid]:
    prompted = Grid(readout="ranges", templates=((0,), (1,), (2,)))
    return {name: prompted if name == "prompted" else Grid() for name in TUNABLE}


@dataclass(frozen=True)
class IntervalGrid:
    """Candidate interval rules tried on dev for every condition (``readout.ReadoutRule`` fields)."""

    fractions: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5)
    smooths_s: tuple[float, ...] = (0.2, 0.4, 0.8)
    windows_s: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
    margins_db: tuple[float, ...] = (6.0, 10.0, 20.0)
    bridges_s: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6)
    #: snap's background window: 0 the whole clip (the plain energy segmenter, fooled by noise and by
    #: other sounds), > 0 ±this many seconds around the peak, inside Δ's interval (``adaptive_snap``)
    locals_s: tuple[float, ...] = (2.0,)
    #: adaptive snap: how far its span may reach beyond Δ's threshold interval, each side; edges: how far
    #: each edge of Δ's interval may move to the audio's onset or offset
    reaches_s: tuple[float, ...] = (0.5, 1.0)

    def __post_init__(self) -> None:
        check_types(self, "intervals")
        ranges = {
            "fractions": lambda v: 0 < v <= 1,
            "smooths_s": lambda v: v >= 0,
            "windows_s": lambda v: v > 0,
            "margins_db": lambda v: v > 0,
            "bridges_s": lambda v: v >= 0,
        }
        words = {"fractions": "in (0, 1]", "smooths_s": ">= 0", "windows_s": "> 0", "margins_db": "> 0"}
        for name, ok in ranges.items():
            values = getattr(self, name)
            if not values or not all(ok(v) for v in values):
                raise OptionError(
                    f"protocol: intervals.{name} must be a non-empty list of numbers "
                    f"{words.get(name, '>= 0')}, got {list(values)}"
                )


#: Scene options of the default protocol's realistic held-out sets (``scenes.SceneOptions`` keys, plus
#: ``bank``): noise and babble under the events, free placement with overlaps, real recordings.
REALISTIC_SETS = (
    ("white-20", 4, {"background": "white", "background_db": (-20.0, -20.0)}, False),
    ("white-10", 5, {"background": "white", "background_db": (-10.0, -10.0)}, False),
    ("babble-10", 6, {"background": "babble", "background_db": (-10.0, -10.0)}, False),
    ("overlap", 7, {"placement": "free", "max_overlap": 0.5, "level_db": (-10.0, 10.0)}, False),
    ("freedesktop", 8, {"bank": "freedesktop"}, True),
    ("asterisk", 9, {"bank": "asterisk-words"}, True),
)
#: Scenes per draw of each realistic set.
REALISTIC_N = 80


def _default_tests() -> tuple[SceneSet, ...]:
    quiet = (
        SceneSet("test-10s-3ev", 150, 0, draws=2),
        SceneSet("test-8s-3ev", 120, 1, 3, 8.0, draws=2),
        SceneSet("test-10s-4ev", 120, 2, 4, 10.0, draws=2),
        SceneSet("test-6s-2ev", 120, 3, 2, 6.0, draws=2),
    )
    realistic = tuple(
        SceneSet(name, REALISTIC_N, seed, draws=2, options=options, optional=optional)
        for name, seed, options, optional in REALISTIC_SETS
    )
    return quiet + realistic


@dataclass(frozen=True)
class Protocol:
    """Everything ``bench protocol`` runs: scene sets, conditions, grids, budget, interval candidates."""

    dev: SceneSet = SceneSet("dev", 100, 50_000)
    tests: tuple[SceneSet, ...] = field(default_factory=_default_tests)
    bank: str = "procedural"
    conditions: tuple[str, ...] = DEFAULT_CONDITIONS
    #: At most this many grid points per tunable condition (a seeded subset of a larger grid).
    budget: int = 144
    grids: dict[str, Grid] = field(default_factory=_default_grids)
    intervals: IntervalGrid = IntervalGrid()
    queries: str = "target"
    random_draws: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        check_types(self, "protocol", skip=("grids",))
        names = [self.dev.name, *(t.name for t in self.tests)]
        names += [d.name for t in self.tests if t.draws > 1 for d in t.draw_sets()]
        if len(set(names)) != len(names) or not self.tests:
            raise OptionError("protocol: give at least one test set, and distinct set names")
            raise OptionError("protocol: give at least one test set, and distinct set names (and draw names)")
        if self.dev.draws != 1:
            raise OptionError("protocol: the dev split is one draw (draws = 1)")
        for s in (self.dev, *self.tests):
            if s.n < 1 or not s.name or "/" in s.name or s.name.startswith("."):
                raise OptionError(f"protocol: set {s.name!r} needs n >= 1 and a plain name")
        if self.budget < 1 or self.random_draws < 1:
            raise OptionError("protocol: budget and random_draws must be at least 1")
        if self.seed < 0:
            raise OptionError(f"protocol: seed must be >= 0, got {self.seed}")
        if not isinstance(self.grids, Mapping) or not all(isinstance(g, Grid) for g in self.grids.values()):
            raise OptionError("protocol: grids must be a table of condition grids")
        from .controls import parse_conditions  # the registry with the controls registered

        try:  # the bank is checked where it is read (it may live on another machine)
            parse_conditions(list(self.conditions))
        except OptionError as exc:
            raise OptionError(f"protocol: {exc}") from None
        if self.queries not in QUERY_MODES:
            raise OptionError(f"protocol: queries must be one of {', '.join(QUERY_MODES)}")
        unknown = sorted(set(self.grids) - set(TUNABLE))
        if unknown:
            raise OptionError(f"protocol: no grid for {unknown[0]!r}; tunable: {', '.join(TUNABLE)}")
        for name, grid in self.grids.items():
            if grid.readout not in READOUT_MODES:
                raise OptionError(f"protocol: grids.{name}.readout must be one of {', '.join(READOUT_MODES)}")
            if not grid.peaks or not set(grid.peaks) <= set(PEAKS) - {"native"}:
                raise OptionError(f"protocol: grids.{name}.peaks must name some of delta, logratio")

    def grid(self, condition: str) -> Grid:
        """The grid of a tunable condition (the default one when the file names none)."""
        return self.grids.get(condition) or _default_grids()[condition]

    def to_dict(self) -> dict[str, Any]:
        """JSON/TOML-ready nested dicts and lists (every field)."""
        return _plain(self)


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _tuples(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _tuples(v) for k, v in value.items()}
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _build(cls: Any, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise DataError(f"protocol: {where} must be a table/object")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise DataError(f"protocol: unknown field {where}.{unknown[0]}")
    check_values(cls, data, f"{where}.")
    try:
        return cls(**{k: _tuples(v) for k, v in data.items()})
    except TypeError as exc:
        raise DataError(f"protocol: {where}: {exc}") from None


def protocol_from_dict(data: Mapping[str, Any]) -> Protocol:
    """A Protocol from nested dicts (a parsed file); unknown fields and bad values are one error line."""
    values = dict(data)
    unknown = sorted(set(values) - {f.name for f in fields(Protocol)})
    if unknown:
        raise DataError(f"protocol: unknown field {unknown[0]!r}")
    check_values(Protocol, values, "", skip=("dev", "tests", "grids", "intervals"))
    if "dev" in values:
        values["dev"] = _build(SceneSet, values["dev"], "dev")
    if "tests" in values:
        tests = values["tests"]
        if not isinstance(tests, list):
            raise DataError("protocol: tests must be a list of sets")
        values["tests"] = tuple(_build(SceneSet, t, f"tests[{i}]") for i, t in enumerate(tests))
    if "grids" in values:
        grids = values["grids"]
        if not isinstance(grids, Mapping):
            raise DataError("protocol: grids must be a table of conditions")
        values["grids"] = {k: _build(Grid, g, f"grids.{k}") for k, g in grids.items()}
    if "intervals" in values:
        values["intervals"] = _build(IntervalGrid, values["intervals"], "intervals")
    for key in ("conditions",):
        if key in values:
            values[key] = _tuples(values[key])
    try:
        return Protocol(**values)
    except TypeError as exc:
        raise DataError(f"protocol: {exc}") from None


def load_protocol(path: str | os.PathLike[str] | None) -> Protocol:
    """Read a protocol file (``.toml``, else JSON); None gives the default protocol."""
    if path is None:
        return Protocol()
    source = Path(path)
    text = read_text(source, "protocol file")
    try:
        if source.suffix == ".toml":
            import tomllib  # Python >= 3.11

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except ModuleNotFoundError:
        raise DataError(
            f"protocol file {source}: reading TOML needs Python 3.11 or later; use JSON"
        ) from None
    except ValueError as exc:  # tomllib.TOMLDecodeError and json.JSONDecodeError are ValueErrors
        raise DataError(
            f"protocol file {source}: not valid {source.suffix.lstrip('.') or 'JSON'} ({exc})"
        ) from None
    if not isinstance(data, dict):
        raise DataError(f"protocol file {source}: expected a table/object at the top")
    try:
        return protocol_from_dict(data)
    except (OptionError, DataError) as exc:
        raise DataError(f"protocol file {source}: {str(exc).removeprefix('protocol: ')}") from None


#: The suffixes of a protocol file (TOML or JSON: the format follows the suffix).
PROTOCOL_SUFFIXES = (".toml", ".json")


def check_protocol_path(path: str | os.PathLike[str], option: str) -> None:
    """A protocol file to write ends in ``.toml`` or ``.json`` (a results file or a scenes manifest named
    by mistake is not replaced by a protocol)."""
    if Path(path).suffix.lower() not in PROTOCOL_SUFFIXES:
        raise OptionError(f"{option} {path}: a protocol file ends in .toml or .json")


def save_protocol(protocol: Protocol, path: str | os.PathLike[str]) -> Path:
    """Write ``protocol`` atomically as TOML (``.toml``) or JSON."""
    target = Path(path)
    check_protocol_path(target, "protocol file")
    text = (
        protocol_toml(protocol)
        if target.suffix == ".toml"
        else json.dumps(protocol.to_dict(), indent=2, ensure_ascii=False) + "\n"
    )
    return write_atomic(target, text)


def held_out(protocol: Protocol) -> tuple[SceneSet, ...]:
    """Every draw of every test set, each a set of one draw (``SceneSet.draw_sets``)."""
    return tuple(d for t in protocol.tests for d in t.draw_sets())


def draw_groups(protocol: Protocol) -> dict[str, list[str]]:
    """Each test set's name → the names of its draws (the per-set verdicts need every draw to agree)."""
    return {t.name: [d.name for d in t.draw_sets()] for t in protocol.tests}


def sets_of(protocol: Protocol) -> Sequence[SceneSet]:
    """The dev set, then every draw of the test sets."""
    return (protocol.dev, *held_out(protocol))


__all__ = [
    "DEFAULT_CONDITIONS",
    "STEERING",
    "TUNABLE",
    "Grid",
    "IntervalGrid",
    "Protocol",
    "SceneSet",
    "draw_groups",
    "held_out",
    "load_protocol",
    "protocol_from_dict",
    "protocol_toml",
    "save_protocol",
    "sets_of",
]
