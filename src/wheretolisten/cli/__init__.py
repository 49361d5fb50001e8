"""Command line: ``wheretolisten localize | generate | plot-layers | report | demo | env | vector | …``

User errors (bad files, options, models) print one line on stderr and exit 2, out of memory exits 3,
a full disk or quota exits 4, Ctrl-C exits 130 with one line; never a traceback for any of them.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import typer

from ..errors import WTLError
from ..files import disk_full, is_disk_full
from . import bench, explore, localize, plot, tools  # noqa: F401  (the commands register themselves on import)
from .app import app
from .flags import as_flags
from .help import arrange, wants_all

__all__ = ["app", "main"]


class _OneLine(logging.Handler):
    """Library warnings (e.g. a truncated audio file) as one ``wheretolisten: warning:`` line each, in the
    command line's words (:func:`~.flags.as_flags`)."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(f"wheretolisten: {record.levelname.lower()}: {as_flags(record.getMessage())}", err=True)


#: How torch words a failed allocation in a plain RuntimeError. oneDNN's "could not create a primitive"
#: is what a CPU convolution raises when its workspace cannot be allocated (seen under ``ulimit -v``).
_OOM_WORDS = (
    "DefaultCPUAllocator: can't allocate memory",
    "CUDA out of memory",
    "MPS backend out of memory",
    "could not create a primitive",
)


def _out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    return isinstance(exc, RuntimeError) and any(words in str(exc) for words in _OOM_WORDS)


def _kind(exc: BaseException) -> str:
    """Which command-line framework exception this is, by class name (typer may vendor its own click)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    for kind in ("NoArgsIsHelpError", "Exit", "Abort", "ClickException"):
        if kind in names:
            return kind
    return ""


@contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Library warnings go to stderr as one line each while the command runs; the logger is restored
    afterwards (a program or test calling ``main`` keeps its own logging)."""
    logger = logging.getLogger("wheretolisten")
    handler, propagate = _OneLine(logging.WARNING), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the app; errors become one stderr line and an exit status (2, 3, 4 or 130)."""
    with _warnings_as_lines():
        _main(argv)


def empty_value(args: Sequence[str]) -> str | None:
    """The option (or "an argument") given an empty value, if any: the parser takes '' as the current
    folder for a path ('--out ""' wrote into it) or as no value at all, so no command accepts one."""
    for i, arg in enumerate(args):
        name, eq, given = arg.partition("=")
        if arg.startswith("--") and eq and not given:  # --out= (a value with '=' in it is not empty)
            return name
        if arg == "":
            before = args[i - 1] if i else ""
            return before if before.startswith("-") and "=" not in before else "an argument"
    return None


def _main(argv: Sequence[str] | None) -> None:
    command = typer.main.get_command(app)
    args, everything = wants_all(list(sys.argv[1:] if argv is None else argv))
    empty = empty_value(args)
    if empty is not None:
        typer.echo(
            f"wheretolisten: error: {empty} is empty: give a value (a file name, a query, a number) or "
            "leave it out",
            err=True,
        )
        sys.exit(2)
    arrange(command, short=not everything)
    try:
        code = command.main(args=args, prog_name="wheretolisten", standalone_mode=False)
    except WTLError as exc:
        typer.echo(f"wheretolisten: error: {as_flags(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _interrupted()
    except (MemoryError, RuntimeError) as exc:
        kind = _kind(exc)
        if kind in ("Exit", "Abort"):
            _exit_or_abort(exc, kind)
        if is_disk_full(exc):
            _disk_full(exc)
        if not _out_of_memory(exc):
            raise  # a bug, not a resource limit: keep the traceback
        first = (str(exc).strip().splitlines() or ["no details"])[0]
        typer.echo(
            f"wheretolisten: error: out of memory ({first}); try shorter audio, fewer queries per call, "
            "--dtype bfloat16 or a larger device (results already written are kept)",
            err=True,
        )
        sys.exit(3)
    except Exception as exc:
        if is_disk_full(exc):  # a write outside the atomic writer (an append, a library's save)
            _disk_full(exc)
        if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:  # any path, checked or not
            name = os.fsdecode(exc.filename) if exc.filename is not None else "a path"
            shown = name if len(name) <= 80 else f"{name[:40]}…{name[-20:]}"
            typer.echo(f"wheretolisten: error: {shown}: the file name is too long for this system", err=True)
            sys.exit(2)
        kind = _kind(exc)
        if kind == "NoArgsIsHelpError":  # the help was shown
            sys.exit(0)
        if kind in ("Exit", "Abort"):
            _exit_or_abort(exc, kind)
        if kind != "ClickException":
            raise
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        message = str(exc.format_message()).replace("Value error, ", "")  # type: ignore[attr-defined]
        typer.echo(f"wheretolisten: error: {message}{hint}", err=True)
        sys.exit(int(getattr(exc, "exit_code", 2)))
    if code == 130:  # typer turned Ctrl-C into an exit status: say so
        _interrupted()
    sys.exit(code if isinstance(code, int) else 0)


def _disk_full(exc: BaseException) -> None:
    """One line and exit 4 for a full disk met outside the atomic writer (an append, a library's save)."""
    typer.echo(f"wheretolisten: error: {disk_full(getattr(exc, 'filename', None) or 'an output')}", err=True)
    sys.exit(4)


def _interrupted() -> None:
    typer.echo("wheretolisten: interrupted (results already written are kept)", err=True)
    sys.exit(130)


def _exit_or_abort(exc: BaseException, kind: str) -> None:
    code = int(getattr(exc, "exit_code", 0))
    if kind == "Abort" or code == 130:  # typer turns Ctrl-C into Exit(130): say so
        _interrupted()
    sys.exit(code)
