"""The shared-prefix engine: the clip's audio prefix runs once, every prompt is a suffix on its KV cache."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..depth import needed_depth
from ..positions import SUFFIX_POSITIONS
from ..session import ClipSession, Run
from .base import Engine, Rows
from .full import FullEngine

if TYPE_CHECKING:
    from ..models.base import Adapter
    from ..settings import Resolved


def applies(config: Resolved) -> bool:
    """Whether the shared prefix can serve ``config``: fast probe, activations read in the suffix.

    Steering may write anywhere: where it writes into the prefix (audio, text, all), steered rows
    recompute the prefix from the first steered layer on (see :mod:`wheretolisten.session`).
    """
    return config.engine == "shared" and config.probe == "fast" and config.read_positions in SUFFIX_POSITIONS


class SharedEngine(Engine):
    """Runs prompt suffixes on one :class:`~wheretolisten.session.ClipSession` of the clip."""

    name: ClassVar[str] = "shared"

    def __init__(self, adapter: Adapter, clip: np.ndarray, config: Resolved) -> None:
        super().__init__(adapter, clip, config)
        touches_prefix = config.positions not in SUFFIX_POSITIONS
        self.session = ClipSession(
            adapter,
            clip,
            keep_hidden=[min(config.layers)] if touches_prefix else [],
            depth=needed_depth(config.layers, config.probe_layers),
        )
        self.clip_index = 0  # this clip's index in the session (several windows may share one)

    @classmethod
    def on_session(
        cls, adapter: Adapter, clip: np.ndarray, config: Resolved, session: ClipSession, index: int
    ) -> SharedEngine:
        """The engine of clip ``index`` of a session that holds several clips (``engine.batch``)."""
        engine = object.__new__(cls)
        Engine.__init__(engine, adapter, clip, config)
        engine.session, engine.clip_index = session, index
        return engine

    def derive(self, config: Resolved) -> Engine:
        """The same clip with other settings; its audio prefix is shared, not recomputed."""
        if not applies(config):
            return FullEngine(self.adapter, self.clip, config)
        return SharedEngine.on_session(self.adapter, self.clip, config, self.session, self.clip_index)

    def run_rows(self, rows: Rows) -> Run:
        return suffix_run(self.session, self.config, rows, [self.clip_index] * len(rows.prompts))


def suffix_run(session: ClipSession, config: Resolved, rows: Rows, clips: Sequence[int]) -> Run:
    """``rows`` as suffixes on ``session`` (row i on clip ``clips[i]``), with ``config``'s positions."""
    return session.run(
        rows.prompts,
        read_layers=rows.read_layers,
        read_positions=config.read_positions,
        probe_layers=rows.probe_layers,
        vectors=rows.vectors,
        alpha=list(rows.alphas) if rows.alphas is not None else 0.0,
        steer_positions=config.positions,
        steer_layers=config.layers if rows.vectors is not None else None,
        clips=clips,
    )
