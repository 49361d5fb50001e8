"""The one JSON-lines store: locked, append-only, fsync'd, resumable after a kill, never destructive.

A kill during an append can leave the last line unfinished (no newline). Such a *torn* line is dropped
on the next open only when it is recognizably one of ours (it starts with the row's first key); any
other content the file holds — a complete JSON object lacking its newline, a text file, a line that is
not JSON — is refused with one line before anything is changed, so a wrong ``--out`` never erases a file.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from ..errors import DataError, OutputError, WTLError
from ..files import disk_full, is_disk_full

#: Why a parsed line is not a usable record (None: it is).
Check = Callable[[Any], "str | None"]


def _no_check(row: Any) -> str | None:
    return None if isinstance(row, dict) else f"expected a JSON object, got {type(row).__name__}"


def _parse_line(line: bytes, path: Path, lineno: int) -> Any:
    """One JSON value; a line that is not UTF-8 is one DataError saying so (JSON errors propagate)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not UTF-8 text (line {lineno}, invalid byte at offset {exc.start}); save it as UTF-8"
        ) from None
    return json.loads(text)


def _scan(
    data: bytes, path: Path, check: Check, first_key: str, what: str, allow_torn: bool = True
) -> tuple[list[tuple[int, dict[str, Any]]], int, bool, list[str]]:
    """((line number, record) pairs, bytes to keep, whether a newline must precede the next append, notes)."""
    if data.startswith(b"\xef\xbb\xbf"):  # a byte-order mark from an editor
        data = b"   " + data[3:]
    end = data.rfind(b"\n") + 1
    rows: list[tuple[int, dict[str, Any]]] = []
    lines = data[:end].split(b"\n")[:-1]
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = _parse_line(line, path, lineno)
        except json.JSONDecodeError:
            raise DataError(f"{path}: line {lineno} is not valid JSON; is it a {what}?") from None
        problem = check(row)
        if problem is not None:
            raise DataError(f"{path}: line {lineno}: {problem} (is it a {what}?)")
        rows.append((lineno, row))
    tail = data[end:]
    if not tail.strip():
        return rows, len(data), False, []
    lineno = len(lines) + 1
    try:
        row = _parse_line(tail, path, lineno)
    except json.JSONDecodeError:
        if allow_torn and tail.lstrip().startswith(b'{"' + first_key.encode() + b'"'):
            note = f"{path.name}: line {lineno} is an unfinished write (no newline): skipped"
            return rows, end, False, [note]
        raise DataError(
            f"{path}: line {lineno} is neither valid JSON nor an unfinished {what} line; is it a {what}?"
        ) from None
    problem = check(row)
    if problem is not None:
        raise DataError(f"{path}: line {lineno}: {problem} (is it a {what}?)")
    rows.append((lineno, row))
    return rows, len(data), True, []


def read_numbered(
    path: str | os.PathLike[str],
    check: Check = _no_check,
    first_key: str = "",
    what: str = "results file",
    allow_torn: bool = True,
) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """(line number, record) pairs of a JSON-lines file and notes; the file is only read.

    A bad complete line is a DataError naming the file and line. An unfinished last line (a torn write)
    is skipped with a note when ``allow_torn``, else refused.
    """
    source = Path(path)
    if source.is_dir():  # it said "does not exist" of a folder that does
        raise DataError(f"{what} {source} is a folder; give the file itself")
    if not source.is_file():
        raise DataError(f"{what} {source} does not exist")
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise DataError(f"{source}: cannot read ({exc.strerror})") from None
    rows, _, _, notes = _scan(data, source, check, first_key, what, allow_torn)
    return rows, notes


def read_jsonl(
    path: str | os.PathLike[str], check: Check = _no_check, first_key: str = "", what: str = "results file"
) -> tuple[list[dict[str, Any]], list[str]]:
    """Records of a JSON-lines file and notes (an unfinished last line is skipped with a note)."""
    rows, notes = read_numbered(path, check, first_key, what)
    return [row for _, row in rows], notes


class Appender:
    """Appends whole lines to an open store in one write, then fsync; a failed write is cut back off.

    A full disk (or any failed write) truncates the file back to its size before the append, so no
    unfinished line is left, and is one :class:`~wheretolisten.errors.DiskFullError` (or OutputError).
    """

    def __init__(self, handle: IO[bytes], needs_newline: bool, path: Path | None = None) -> None:
        self._handle = handle
        self._needs_newline = needs_newline
        self._path = path
        self.written = 0

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        data = b"".join(json.dumps(r, ensure_ascii=False, allow_nan=False).encode() + b"\n" for r in rows)
        if self._needs_newline:
            data = b"\n" + data
            self._needs_newline = False
        self._handle.flush()
        fd = self._handle.fileno()
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]  # O_APPEND: every write lands at the end
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            target = self._path or Path(getattr(self._handle, "name", "results file"))
            if is_disk_full(exc):
                raise disk_full(target) from None
            raise OutputError(f"{target}: cannot write ({exc.strerror or type(exc).__name__})") from None
        self.written += len(rows)


def _lock(handle: IO[bytes], path: Path) -> None:
    """Take an exclusive advisory lock (POSIX); another run holding it is a clear error, not a wait."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory lock
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise WTLError(f"{path} is being written by another run") from None


@contextlib.contextmanager
def open_jsonl(
    path: str | os.PathLike[str], check: Check = _no_check, first_key: str = "", what: str = "results file"
) -> Iterator[tuple[Appender, list[dict[str, Any]]]]:
    """Open a JSON-lines file for appending under an exclusive lock; yields (append, records present).

    The lock is taken before reading, so two runs never interleave. A torn line of ours is dropped;
    anything else that is not a valid record raises before the file is changed. A file created here
    and left empty is removed again, so a refused or failed run leaves nothing behind.
    """
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"{target} is a directory; give a file name")
    created = not target.exists()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = target.open("a+b")
    except OSError as exc:
        raise OutputError(f"{target}: cannot write ({exc.strerror})") from None
    try:
        with handle:
            _lock(handle, target)
            handle.seek(0)
            data = handle.read()
            numbered, keep, newline, _ = _scan(data, target, check, first_key, what)
            if keep < len(data):
                handle.truncate(keep)
                handle.flush()
                os.fsync(handle.fileno())
            append = Appender(handle, newline, target)
            yield append, [row for _, row in numbered]
    finally:
        if created and target.exists() and target.stat().st_size == 0:
            with contextlib.suppress(OSError):
                target.unlink()
