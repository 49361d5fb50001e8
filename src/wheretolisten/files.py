"""Writing outputs safely: the one atomic writer, and output paths checked before any computation.

Every file the package writes appears whole or not at all (a temp file beside it, then ``os.replace``;
a folder of files: a temp folder, then a rename), with the permissions the user's umask gives a new
file. :func:`check_output` refuses, before anything is computed, an output that could not be written,
that is one of the command's inputs, or that is, lies inside or holds a folder the command reads;
:func:`check_distinct`, two outputs of one command that are one file; :func:`check_replace`, an existing
file the command did not create. A full disk or quota is a
:class:`~wheretolisten.errors.DiskFullError` (exit 4), never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from .errors import DiskFullError, OutputError, WTLError

PathLike = str | os.PathLike[str]


#: errno values of a full disk and of an exhausted quota.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
#: How libraries that wrap the OS error (safetensors' Rust I/O, tokenizers) word a full disk.
_DISK_FULL_WORDS = ("No space left on device", "Disk quota exceeded", "StorageFull", "os error 28")


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk or quota is full (an OSError ENOSPC/EDQUOT, or a wrapped one)."""
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return True
    return any(words in str(exc) for words in _DISK_FULL_WORDS)


def disk_full(target: PathLike) -> DiskFullError:
    """The one-line error of a write to ``target`` that found the disk full."""
    return DiskFullError(
        f"{target}: cannot write, the disk (or quota) is full; free some space and rerun "
        "(files already written are kept whole, nothing partial is left)"
    )


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _write_error(target: Path, exc: OSError) -> WTLError:
    return disk_full(target) if is_disk_full(exc) else OutputError(f"{target}: cannot write ({_reason(exc)})")


def _umask_mode() -> int:
    """Permissions of a new regular file under the current umask (mkstemp alone would give 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; when the block succeeds it replaces ``path`` atomically.

    On error the temp file is removed and ``path`` is untouched. Parent directories are created.
    Failures of the file system become one-line :class:`OutputError` messages. A symbolic link is
    written through (the file it points to is replaced, the link kept); a device, pipe or socket is
    refused (a rename would have put a regular file in its place).
    """
    target = _writable_target(Path(path))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as exc:
        raise _write_error(target, exc) from None
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, target)
    except OSError as exc:
        raise _write_error(target, exc) from None
    except Exception as exc:  # a library's own error type around a full disk (safetensors)
        if is_disk_full(exc):
            raise disk_full(target) from None
        raise
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _writable_target(path: Path) -> Path:
    """The file an atomic write of ``path`` replaces: a link's target; refused when it is not a regular
    file (``/dev/null``, a named pipe: they would be replaced by a regular file)."""
    if path.is_symlink():
        real = Path(os.path.realpath(path))
        if not real.parent.is_dir():  # no folder is made at the far end of a link
            raise OutputError(f"{path} is a link to {real}, whose folder does not exist")
        path = real
    if path.exists() and not path.is_file() and not path.is_dir():
        raise OutputError(
            f"{path} is not a regular file (a device, a pipe or a socket); results are written to files "
            "atomically: give a file name"
        )
    return path


def write_atomic(path: PathLike, data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` atomically; returns the path."""
    blob = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path) as tmp:
        tmp.write_bytes(blob)
    return Path(path)


@contextlib.contextmanager
def atomic_dir(path: PathLike) -> Iterator[Path]:
    """Yield a temp folder beside ``path``; when the block succeeds it becomes ``path``, else it is removed.

    A new (or empty) ``path`` appears whole or not at all (one rename); into an existing non-empty folder
    the files are moved one by one, each whole. A full disk is one :class:`DiskFullError` line.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    except OSError as exc:
        raise _write_error(target, exc) from None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        if target.exists():
            for item in sorted(tmp.rglob("*")):
                dest = target / item.relative_to(tmp)
                if item.is_dir():
                    dest.mkdir(exist_ok=True)
                else:
                    os.replace(item, dest)
        else:
            os.replace(tmp, target)
    except OSError as exc:
        raise _write_error(target, exc) from None
    except Exception as exc:
        if is_disk_full(exc):
            raise disk_full(target) from None
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    """The process's umask (read by setting and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _nesting(a: Path, b: Path) -> str | None:
    """How folder ``a`` stands to folder ``b`` (symlinks resolved): "is", "lies inside", "holds", or None
    when neither lies in the other."""
    try:
        first, second = a.resolve(), b.resolve()
    except OSError:
        return None
    if first == second:
        return "is"
    if first.is_relative_to(second):
        return "lies inside"
    return "holds" if second.is_relative_to(first) else None


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
    input_folders: Iterable[PathLike] = (),
) -> Path:
    """Refuse an output that cannot be written or that names an input, before anything is computed.

    ``directory``: the output is a folder (created later) rather than a file. ``mkdir``: missing parent
    folders may be created when writing (the command line passes False unless ``--mkdir`` is given, so
    a mistyped folder is refused rather than created). ``input_folders``: folders the command reads
    whole (a sound bank); an output that is one, lies inside one or holds one is refused, since what it
    writes would be read back as input the next time. Nothing is created here.
    """
    target = Path(path)
    name = f"{option} {target}" if option else str(target)
    if not directory and target.name in ("", ".", ".."):
        raise OutputError(f"{name}: give a file name")
    for source in inputs:
        if _same_file(target, Path(source)):
            raise OutputError(f"{name} is also an input of this command; choose another output path")
    for folder in input_folders:
        relation = _nesting(target, Path(folder))
        if relation is not None:
            raise OutputError(
                f"{name} {relation} the input folder {folder} (what it writes there would be read as "
                "input); choose an output outside it"
            )
    if target.exists():
        if directory and not target.is_dir():
            raise OutputError(f"{name} exists and is not a directory")
        if not directory and target.is_dir():
            raise OutputError(f"{name} is a directory; give a file name")
        if not directory:
            _writable_target(target)  # a device or a pipe
    anchor = _nearest_existing(target if directory else target.parent)
    if not mkdir and not target.parent.exists():
        raise OutputError(
            f"{name}: the folder {target.parent} does not exist; create it first or pass mkdir=True"
        )
    if not anchor.is_dir():
        raise OutputError(f"{name}: {anchor} is not a directory")
    _probe_writable(anchor, target)
    if target.exists() and not directory and not os.access(target, os.W_OK):
        raise OutputError(f"{name} exists and is not writable")
    return target


def check_distinct(outputs: Sequence[tuple[str, PathLike]]) -> None:
    """Refuse two outputs of one command that are one file (the same path, a symlink or a hard link)."""
    named = [(option, Path(path)) for option, path in outputs]
    for i, (first_option, first) in enumerate(named):
        for option, other in named[i + 1 :]:
            if _same_file(first, other):
                raise OutputError(
                    f"{first_option} {first} and {option} {other} are the same file; give each output "
                    "its own path"
                )


def check_replace(path: PathLike, option: str, overwrite: bool = False) -> None:
    """Refuse to replace an existing ``path`` the user did not name as the output, unless ``overwrite``."""
    target = Path(path)
    if not overwrite and (target.exists() or target.is_symlink()):
        raise OutputError(
            f"{option} would replace {target}, which exists and was not written by this command; "
            "pass overwrite=True to replace it, or choose another path"
        )


def file_sha256(path: PathLike, chunk: int = 1 << 20) -> str | None:
    """The sha256 of a file's bytes (hex, 16 digits), read in chunks; None when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(chunk), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()[:16]
