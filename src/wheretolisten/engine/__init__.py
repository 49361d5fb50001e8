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

    def plain(audio: np.ndarray) -> Engine:
        if applies(config) and adapter.shared_prefix:
            return SharedEngine(adapter, audio, config)
        return FullEngine(adapter, audio, config)

    return ShiftedEngine(adapter, clip, config, plain) if config.shifts > 1 else plain(clip)


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
