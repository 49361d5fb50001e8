"""User-facing errors: the CLI turns these into one line on stderr and a non-zero exit."""

from __future__ import annotations


class WTLError(Exception):
    """An error caused by the user's input (file, option, model), reported without a traceback."""

    exit_code: int = 2


class AudioError(WTLError):
    """Audio that cannot be read or is unusable (missing, corrupt, empty, silent, NaN, too long)."""


class ModelError(WTLError):
    """A model that cannot be loaded or used (unknown family, missing processor, bad layer)."""


class DataError(WTLError):
    """A manifest, bank, or results file that is malformed or inconsistent."""


class OptionError(WTLError, ValueError):
    """An option or setting value that cannot be used (out of range, not finite, unknown choice).

    Also a ``ValueError``, so library callers that catch bad values keep working.
    """


class OutputError(WTLError):
    """An output path that cannot be written, or that would overwrite an input."""


class ResourceError(WTLError):
    """The machine ran out of a resource (memory); exit status 3."""

    exit_code = 3


class DiskFullError(WTLError):
    """The disk (or the user's quota) is full: exit status 4; files already written are kept whole."""

    exit_code = 4


def over_limit_s(duration_s: float, limit_s: float) -> str:
    """A length beyond ``limit_s`` written with the decimals that show it is beyond (10 s and one sample at
    16 kHz is 10.0001, not 10.00)."""
    for digits in range(2, 7):
        text = f"{duration_s:.{digits}f}"
        if float(text) > limit_s:
            return text
    return f"{duration_s:.7f}"
