"""Engines run prompts on one clip: the shared-prefix session or whole prompts, one interface."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Engine, Rows, Run, VectorPass
from .batch import WindowBatch, batchable, windows_per_batch
from .full import FullEngine
from .shared import SharedEngine, applies
from .shifted import ShiftedEngine, mean_moved_back, shift_tokens

if TYPE_CHECKING:
    import numpy as np

    from ..models.base import Adapter
    from ..settings import Resolved


def make_engine(adapter: Adapter, clip: np.ndarray, config: Resolved) -> Engine:
    """The shared-prefix engine when it applies to ``config`` (see :func:`applies`) and the family allows
    it (``Adapter.shared_prefix``), else whole prompts; with ``config.shifts`` > 1, one of those per
    circular shift of the clip, their profiles averaged (:class:`ShiftedEngine`)."""
    if config.shifts > 1:
        return ShiftedEngine(adapter, clip, config, lambda audio, cfg: _plain(adapter, audio, cfg))
    return _plain(adapter, clip, config)


def _plain(adapter: Adapter, clip: np.ndarray, config: Resolved) -> Engine:
    """One clip's shared-prefix or whole-prompt engine (no shifts)."""
    if applies(config) and adapter.shared_prefix:
        return SharedEngine(adapter, clip, config)
    return FullEngine(adapter, clip, config)


__all__ = [
    "Engine",
    "FullEngine",
    "Rows",
    "Run",
    "SharedEngine",
    "ShiftedEngine",
    "VectorPass",
    "WindowBatch",
    "applies",
    "batchable",
    "make_engine",
    "mean_moved_back",
    "shift_tokens",
    "windows_per_batch",
]
