"""Option groups: options declared once (a frozen dataclass) and shown in place to every command."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import typer
from typer.testing import CliRunner

from wheretolisten.cli import app
from wheretolisten.cli.groups import DetectionFlags, MachineFlags, SpanFlags, grouped

Level = Annotated[int, typer.Option(help="A level.")]


@dataclass(frozen=True)
class Inner:
    low: Level = 1
    high: Level = 9


@dataclass(frozen=True)
class Outer:
    name: Annotated[str, typer.Option(help="A name.")] = "x"
    inner: Inner = field(default_factory=Inner)
    loud: Annotated[bool, typer.Option("--loud")] = False


def test_a_group_is_shown_in_place_and_handed_over_built() -> None:
    seen: list[tuple[int, Outer, str]] = []
    toy = typer.Typer(add_completion=False)

    @toy.command()
    @grouped
    def cmd(first: Annotated[int, typer.Argument()], outer: Outer = Outer(), last: str = "z") -> None:
        seen.append((first, outer, last))

    params = [p.name for p in typer.main.get_command(toy).params]
    assert params == ["first", "name", "low", "high", "loud", "last"]  # nested groups too, in field order
    result = CliRunner().invoke(toy, ["3", "--high", "7", "--loud", "--last", "q"])
    assert result.exit_code == 0, result.output
    assert seen == [(3, Outer("x", Inner(1, 7), True), "q")]
    result = CliRunner().invoke(toy, ["4"])
    assert seen[-1] == (4, Outer(), "z")  # the fields' defaults are the options' defaults


def test_every_command_lists_a_group_s_options_together_and_in_order() -> None:
    command = typer.main.get_command(app)
    groups = [
        ["start", "end"],
        ["device", "dtype", "threads"],
        ["segment_s", "overlap_s", "top_k", "min_score", "min_gap_s", "detect_edges"],
    ]
    assert groups == [
        [f.name for f in SpanFlags.__dataclass_fields__.values()],
        [f.name for f in MachineFlags.__dataclass_fields__.values()],
        [f.name for f in DetectionFlags.__dataclass_fields__.values()],
    ]
    seen = 0
    for name in ("localize", "generate", "plot-layers", "plot-alpha", "demo"):
        names = [p.name for p in command.commands[name].params]  # type: ignore[attr-defined]
        for group in groups:
            if group[0] in names:
                start = names.index(group[0])
                assert names[start : start + len(group)] == group, (name, group)
                seen += 1
    assert seen == 3 + 2 + 2 + 2 + 1  # localize: span, machine, detections
