"""The one progress display: a rich bar on stderr with rate and ETA, or nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

#: ``advance(n, label)``: n more items done; ``label`` names the last one (shown at the bar's end).
Advance = Callable[[int, str], None]


@contextlib.contextmanager
def progress(total: int, description: str, enabled: bool = True, unit: str = "it") -> Iterator[Advance]:
    """A progress bar over ``total`` items on stderr; yields ``advance(n, label)``.

    Shows done/total, items per second and the time left; disabled (or nothing to do) it draws nothing.
    """
    if not enabled or total <= 0:
        yield lambda _n, _label: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[progress.data.speed]{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[label]}"),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total, label="", rate="")

        def advance(n: int, label: str) -> None:
            bar.update(task, advance=n, label=label)
            speed = bar.tasks[task].speed
            bar.update(task, rate=f"{speed:.2f} {unit}/s" if speed else "")

        yield advance


def track(items: Sequence[T], description: str, enabled: bool = True, unit: str = "it") -> Iterable[T]:
    """Iterate over ``items`` with :func:`progress`."""
    with progress(len(items), description, enabled, unit) as advance:
        for item in items:
            yield item
            advance(1, "")
