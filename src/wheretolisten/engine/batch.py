"""Several clips of one length (the windows of a long recording) as one batch: one pass per step for all.

Windows are independent, so instead of one engine per window run one after another, their audio
prefixes run as one batch on one :class:`~wheretolisten.session.ClipSession`, and each step (the
vector prompts, then the probe rows) runs every window's rows in one suffix pass, each row on its own
window's prefix. Each window's vectors and profiles are then computed from its rows exactly as its own
engine would (:meth:`Engine.vector_pass`, :meth:`Engine.profile`). Only settings the shared prefix serves
with steering after the audio (``positions`` last or instruction) can be batched: :func:`batchable`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..depth import needed_depth
from ..positions import SUFFIX_POSITIONS
from ..session import ClipSession, Run
from ..vectors import SteeringVector
from .base import Rows
from .shared import SharedEngine, applies, suffix_run

if TYPE_CHECKING:
    from ..models.base import Adapter
    from ..settings import Resolved

#: Most windows in one batch (beyond this the passes gain little and memory grows).
MAX_WINDOWS_PER_BATCH = 16


def batchable(adapter: Adapter, config: Resolved) -> bool:
    """Whether windows can share one session: the shared prefix applies and steering stays after it."""
    return adapter.shared_prefix and applies(config) and config.positions in SUFFIX_POSITIONS


def windows_per_batch(prefix_bytes: int, rows_per_window: int, budget_bytes: int, row_bytes: int) -> int:
    """How many windows one batch takes: a window costs its prefix's keys and values plus what each of its
    suffix rows adds (``ClipSession.row_bytes``: scores over the prefix read in place, or a copy of it);
    as many as fit ``budget_bytes`` (1 to :data:`MAX_WINDOWS_PER_BATCH`)."""
    per_window = max(1, prefix_bytes + row_bytes * max(1, rows_per_window))
    return max(1, min(MAX_WINDOWS_PER_BATCH, budget_bytes // per_window))


class WindowBatch:
    """Clips of one length on one session; :meth:`vectors` and :meth:`profiles` do one pass each."""

    def __init__(self, adapter: Adapter, clips: Sequence[np.ndarray], config: Resolved) -> None:
        if not batchable(adapter, config):
            raise ValueError("these settings cannot batch windows (steering inside the audio prefix)")
        self.adapter, self.config = adapter, config
        self.session = ClipSession(adapter, clips, depth=needed_depth(config.layers, config.probe_layers))
        self.engines = [
            SharedEngine.on_session(adapter, clip, config, self.session, k) for k, clip in enumerate(clips)
        ]

    def _run(self, batches: list[Rows], clips: Sequence[int] | None = None) -> list[Run]:
        """Every clip's rows (``batches[j]``: clip ``clips[j]``'s, default clip j's) in one suffix pass,
        chunked by the session's budget; one Run per batch. The batches differ only in their prompts,
        vectors and α."""
        which = list(range(len(batches))) if clips is None else list(clips)
        first = batches[0]
        whole = Rows(
            [p for b in batches for p in b.prompts],
            first.read_layers,
            first.probe_layers,
            None if first.vectors is None else [v for b in batches for v in b.vectors or ()],
            None if first.alphas is None else [a for b in batches for a in b.alphas or ()],
        )
        out = suffix_run(
            self.session,
            self.config,
            whole,
            [k for k, b in zip(which, batches, strict=True) for _ in b.prompts],
        )
        runs, start = [], 0
        for b in batches:
            runs.append(out.rows(slice(start, start + len(b.prompts))))
            start += len(b.prompts)
        return runs

    @torch.no_grad()
    def vectors(
        self, queries: Sequence[str], clips: Sequence[int] | None = None
    ) -> list[list[SteeringVector]]:
        """The instruction vector for every query of each clip (of ``clips``, default all), as
        ``engine.vectors(queries, False)`` gives it."""
        which = list(range(len(self.engines))) if clips is None else list(clips)
        prompts, query_rows = self.engines[0].vector_prompts(queries, prompted=False)
        runs = self._run([Rows(prompts, self.config.layers)] * len(which), which)
        return [
            self.engines[k].vector_pass(run, queries, query_rows, prompted=False).vectors
            for k, run in zip(which, runs, strict=True)
        ]

    @torch.no_grad()
    def profiles(
        self, vectors: Sequence[Sequence[SteeringVector]]
    ) -> list[tuple[np.ndarray, list[np.ndarray]]]:
        """Each clip's (unsteered probe row, steered rows) for its vectors (as ``engine.profiles``)."""
        planned = [engine.probe_rows(list(vecs)) for engine, vecs in zip(self.engines, vectors, strict=True)]
        runs = self._run([Rows(p, (), self.config.probe_layers, v, a) for p, v, a in planned])
        out = []
        for engine, run, (prompts, _, _) in zip(self.engines, runs, planned, strict=True):
            rows = [engine.profile(run, i) for i in range(len(prompts))]
            out.append((rows[0], rows[1:]))
        return out
