"""The typer application and its command groups (commands register themselves in sibling modules)."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    help="Steer where a Large Audio-Language Model listens, and read out when a queried sound happens.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="markdown",
)
scenes_app = typer.Typer(
    help="Synthesize controlled multi-event scenes, or import annotated ones.", no_args_is_help=True
)
vector_app = typer.Typer(help="Build and inspect steering vectors.", no_args_is_help=True)
bench_app = typer.Typer(
    help="Benchmark: the controlled multi-event localization setting.", no_args_is_help=True
)
app.add_typer(scenes_app, name="scenes")
app.add_typer(vector_app, name="vector")
app.add_typer(bench_app, name="bench")


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"wheretolisten {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
            metavar="",
        ),
    ] = False,
) -> None:
    """Steer where a Large Audio-Language Model listens, and read out when a queried sound happens."""
