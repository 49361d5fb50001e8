"""Moved to :mod:`wheretolisten.scenes.annotations`; this re-export goes once callers import from there."""

from .scenes.annotations import *  # noqa: F403
from .scenes.annotations import __all__ as __all__
