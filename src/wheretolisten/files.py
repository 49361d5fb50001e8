"""Writing outputs safely: the one atomic writer, and output paths checked before any computation.

Every file the package writes appears whole or not at all (a temp file beside it, then ``os.replace``),
with the permissions the user's umask gives a new file. :func:`check_output` refuses, before anything
is computed, an output that could not be written or that is one of the command's inputs.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import OutputError

PathLike = str | os.PathLike[str]


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _umask_mode() -> int:
    """Permissions of a new regular file under the current umask (mkstemp alone would give 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; when the block succeeds it replaces ``path`` atomically.

    On error the temp file is removed and ``path`` is untouched. Parent directories are created.
    Failures of the file system become one-line :class:`OutputError` messages.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write ({_reason(exc)})") from None
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write ({_reason(exc)})") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def write_atomic(path: PathLike, data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` atomically; returns the path."""
    blob = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path) as tmp:
        tmp.write_bytes(blob)
    return Path(path)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _nearest_existing(path: Path) -> Path:
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def _probe_writable(directory: Path, target: Path) -> None:
    """Create and remove a temp file in ``directory``: the one check that root, ACLs and /proc agree on."""
    try:
        fd, name = tempfile.mkstemp(dir=directory, prefix=".wtl-check.", suffix=".tmp")
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write in {directory} ({_reason(exc)})") from None


def check_output(
    path: PathLike,
    inputs: Iterable[PathLike] = (),
    directory: bool = False,
    option: str = "",
    mkdir: bool = True,
) -> Path:
    """Refuse an output that cannot be written or that names an input, before anything is computed.

    ``directory``: the output is a folder (created later) rather than a file. ``mkdir``: missing parent
    folders may be created when writing (the command line passes False unless ``--mkdir`` is given, so
    a mistyped folder is refused rather than created). Nothing is created here.
    """
    target = Path(path)
    name = f"{option} {target}" if option else str(target)
    for source in inputs:
        if _same_file(target, Path(source)):
            raise OutputError(f"{name} is also an input of this command; choose another output path")
    if target.exists():
        if directory and not target.is_dir():
            raise OutputError(f"{name} exists and is not a directory")
        if not directory and target.is_dir():
            raise OutputError(f"{name} is a directory; give a file name")
    anchor = _nearest_existing(target if directory else target.parent)
    if not mkdir and not target.parent.exists():
        raise OutputError(
            f"{name}: the folder {target.parent} does not exist; create it first or pass --mkdir"
        )
    if not anchor.is_dir():
        raise OutputError(f"{name}: {anchor} is not a directory")
    _probe_writable(anchor, target)
    if target.exists() and not directory and not os.access(target, os.W_OK):
        raise OutputError(f"{name} exists and is not writable")
    return target
