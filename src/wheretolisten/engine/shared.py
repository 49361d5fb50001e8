"""The shared-prefix engine: the clip's audio prefix runs once, every prompt is a suffix on its KV cache."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..positions import SUFFIX_POSITIONS
from ..session import ClipSession
from ..vectors import SteeringVector
from .base import Engine, Run
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
        self.session = ClipSession(adapter, clip, keep_hidden=[min(config.layers)] if touches_prefix else [])
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

    def run(
        self,
        prompts: Sequence[str],
        read_layers: Sequence[int] = (),
        probe_layers: Sequence[int] = (),
        vectors: Sequence[SteeringVector | None] | None = None,
        alphas: Sequence[float] | None = None,
    ) -> Run:
        cfg = self.config
        out = self.session.run(
            prompts,
            read_layers=read_layers,
            read_positions=cfg.read_positions,
            probe_layers=probe_layers,
            vectors=vectors,
            alpha=list(alphas) if alphas is not None else 0.0,
            steer_positions=cfg.positions,
            steer_layers=cfg.layers if vectors is not None else None,
            clips=[self.clip_index] * len(prompts),
        )
        return Run(out.residual, out.attention)
