"""Option groups: options that several commands take together, declared once as a frozen dataclass.

A command names a group as one parameter (``span: SpanFlags = SpanFlags()``); :func:`grouped` shows the
group's fields to typer as options in that very place, in field order, and hands the command the group
built from them. The options, their help and their order in ``--help`` are the fields', so every command
lists them alike.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ..settings import parse_layers
from .options import (
    AlphaOpt,
    DetectEdgesOpt,
    DeviceOpt,
    DtypeOpt,
    EndOpt,
    IntervalOpt,
    LayersOpt,
    MinGapOpt,
    MinScoreOpt,
    OverlapOpt,
    PositionsOpt,
    ProbeOpt,
    SegmentOpt,
    ShiftsOpt,
    StartOpt,
    ThreadsOpt,
    TopKOpt,
    WindowOpt,
    detect_config,
    finite,
    load,
    strength,
    value,
    window_config,
)

if TYPE_CHECKING:
    from ..detections import DetectConfig
    from ..models.base import Adapter
    from ..settings import LocalizeConfig
    from ..windows import WindowConfig

F = TypeVar("F", bound=Callable[..., Any])


def _is_group(kind: Any) -> bool:
    """Whether an annotation names an option group (a dataclass whose fields are options or groups)."""
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def _options(kind: type) -> list[inspect.Parameter]:
    """The options of an option group, a group among its fields contributing its own in its place."""
    hints = typing.get_type_hints(kind, include_extras=True)
    shown: list[inspect.Parameter] = []
    for f in dataclasses.fields(kind):
        hint = hints[f.name]
        keyword = inspect.Parameter.KEYWORD_ONLY
        shown += (
            _options(hint)
            if _is_group(hint)
            else [inspect.Parameter(f.name, keyword, default=f.default, annotation=hint)]
        )
    return shown


def _build(kind: type, values: dict[str, Any]) -> Any:
    """The group ``kind`` made of its options' values (taken out of ``values``)."""
    hints = typing.get_type_hints(kind, include_extras=True)
    return kind(
        **{
            f.name: _build(hints[f.name], values) if _is_group(hints[f.name]) else values.pop(f.name)
            for f in dataclasses.fields(kind)
        }
    )


def grouped(command: F) -> F:
    """``command`` as typer should see it: each option-group parameter replaced by the group's options,
    where it stands; the command is called with the group built from their values."""
    hints = typing.get_type_hints(command, include_extras=True)
    shown: list[inspect.Parameter] = []
    groups: dict[str, type] = {}
    for param in inspect.signature(command).parameters.values():
        kind = hints.get(param.name, param.annotation)
        if _is_group(kind):
            groups[param.name] = kind
            shown += _options(kind)
        else:
            shown.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=kind))

    @functools.wraps(command)
    def run(**values: Any) -> Any:
        for name, kind in groups.items():
            values[name] = _build(kind, values)
        return command(**values)

    run.__signature__ = inspect.Signature(shown)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in shown}
    return typing.cast(F, run)


@dataclass(frozen=True)
class SteeringFlags:
    """--layers, --alpha, --probe, --positions, --interval, --window-s and --shifts: the settings of a
    run (None: not given; ``settings.resolve`` fills them in). A command that takes only some builds this
    from those."""

    layers: LayersOpt = None
    alpha: AlphaOpt = None
    probe: ProbeOpt = None
    positions: PositionsOpt = None
    interval: IntervalOpt = None
    window_s: WindowOpt = None
    shifts: ShiftsOpt = None

    def config(self) -> LocalizeConfig:
        """The settings these options give, checked for finite numbers."""
        from ..settings import LocalizeConfig, check_shifts

        return LocalizeConfig(
            layers=parse_layers(self.layers),
            alpha=strength(self.alpha, "--alpha"),
            probe=value(self.probe),
            positions=value(self.positions),
            interval=value(self.interval),
            window_s=finite(self.window_s, "--window-s", positive=True),
            shifts=None if self.shifts is None else check_shifts(self.shifts),
        )


@dataclass(frozen=True)
class SpanFlags:
    """--start/--end: the part of the audio used (None: from its start, to its end)."""

    start: StartOpt = None
    end: EndOpt = None

    @property
    def pair(self) -> tuple[float | None, float | None]:
        return self.start, self.end


@dataclass(frozen=True)
class DeviceFlags:
    """--device/--dtype: where and in which precision the model runs."""

    device: DeviceOpt = "auto"
    dtype: DtypeOpt = "auto"

    def load(self, model: str | None, layers: list[int] | None = None) -> Adapter:
        """The model of --model on this device (``options.load``)."""
        return load(model, self.device, self.dtype, layers)


@dataclass(frozen=True)
class MachineFlags(DeviceFlags):
    """--device/--dtype and --threads: how a command that runs one model here uses the machine."""

    threads: ThreadsOpt = None

    def load(self, model: str | None, layers: list[int] | None = None) -> Adapter:
        """The model of --model on this device, with --threads CPU threads."""
        return load(model, self.device, self.dtype, layers, self.threads)


@dataclass(frozen=True)
class DetectionFlags:
    """--segment-s/--overlap-s (the windows of long audio) and --top-k/--min-score/--min-gap-s (which
    occurrences are detections)."""

    segment_s: SegmentOpt = None
    overlap_s: OverlapOpt = None
    top_k: TopKOpt = None
    min_score: MinScoreOpt = None
    min_gap_s: MinGapOpt = None
    detect_edges: DetectEdgesOpt = None

    def windows(self) -> WindowConfig:
        """The window settings, checked for finite numbers (``options.window_config``)."""
        return window_config(self.segment_s, self.overlap_s)

    def detection(self) -> DetectConfig:
        """The detection settings, checked for finite numbers (``options.detect_config``)."""
        return detect_config(self.top_k, self.min_score, self.min_gap_s, self.detect_edges)
