"""Shift-averaged profiles: the clip and its circular shifts, each profile moved back and averaged.

A steering vector can point to a time by itself: the shipped organism's "a low hum" vector peaks at
2.0 s in 18 of 24 clips whatever the audio (``organism/miss_positions.py``). What the model hears moves
with the audio; such a preferred position does not. Rolling the clip by ``k`` tokens, computing the
profiles there and rolling them back by ``k`` keeps the heard part in place and moves the preferred
position by ``k``; the mean over ``shifts`` evenly spaced rolls keeps the first whole and spreads the
second. The instruction vector is built once, on the clip as it is, and steers every shifted copy.
Vectors and residuals come from the clip as it is; every attention profile (probe rows, so profiles,
layer deltas and the tuner's rows, and the prompted rows of the vector pass) is averaged. A shifted copy
is made (its audio prefix run) only when an attention profile is asked for, so a call that only builds
vectors runs the clip alone; each profile costs one more audio prefix and probe pass per shift.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from ..session import Run
from .base import Engine, Rows, VectorPass

if TYPE_CHECKING:
    from ..models.base import Adapter
    from ..settings import Resolved
    from ..vectors import SteeringVector


def shift_tokens(n_samples: int, sample_rate: int, token_s: float, shifts: int) -> list[int]:
    """The roll of each of ``shifts`` copies, in whole audio tokens, evenly spaced over the clip (0 first)."""
    tokens = n_samples / (sample_rate * token_s)
    return [int(round(tokens * j / shifts)) for j in range(shifts)]


def mean_moved_back(rolls: Sequence[int], profiles: Sequence[np.ndarray]) -> np.ndarray:
    """The mean of the shifted copies' profiles (one per roll), each moved back by its roll."""
    return np.asarray(
        np.mean([np.roll(p, -k, axis=-1) for k, p in zip(rolls, profiles, strict=True)], axis=0)
    )


class ShiftedEngine(Engine):
    """One engine per circular shift of the clip (``config.shifts`` of them; the first unshifted)."""

    name: ClassVar[str] = "shifted"

    def __init__(
        self,
        adapter: Adapter,
        clip: np.ndarray,
        config: Resolved,
        make: Callable[[np.ndarray, Resolved], Engine],
    ) -> None:
        """``make(clip, config)``: the plain engine (shared prefix or whole prompts) of one shifted copy."""
        super().__init__(adapter, clip, config)
        self.rolls = shift_tokens(clip.size, adapter.sample_rate, adapter.token_s, config.shifts)
        self._make = make
        self._copies: list[Engine | None] = [make(clip, config), *([None] * (len(self.rolls) - 1))]

    @property
    def first(self) -> Engine:
        """The plain engine of the clip as it is (no shift)."""
        first = self._copies[0]
        assert first is not None
        return first

    @property
    def copies(self) -> list[Engine]:
        """Every shifted copy's plain engine (the first unshifted), each made on first use."""
        per_token = int(round(self.adapter.token_s * self.adapter.sample_rate))
        for j, k in enumerate(self.rolls):
            if self._copies[j] is None:
                self._copies[j] = self._make(np.roll(self.clip, k * per_token), self.config)
        return [copy for copy in self._copies if copy is not None]

    def derive(self, config: Resolved) -> Engine:
        """The same clip and shifts with other settings; the audio prefix of every copy made so far is
        shared."""
        engine = object.__new__(ShiftedEngine)
        Engine.__init__(engine, self.adapter, self.clip, config)
        engine.rolls, engine._make = self.rolls, self._make
        engine._copies = [None if copy is None else copy.derive(config) for copy in self._copies]
        return engine

    def run_rows(self, rows: Rows) -> Run:
        """Prompts on the clip as it is (vectors, residuals)."""
        return self.first.run_rows(rows)

    def _averaged(self, run_of: Callable[[Engine], Run]) -> Run:
        """``run_of`` on every shifted copy; their attention moved back and averaged (residuals: the clip's).

        Each row is normalized over the clip's tokens first (when the settings normalize), so that
        :meth:`Engine.profile` of the result is the mean of the copies' profiles, moved back.
        """
        runs = [run_of(copy) for copy in self.copies]
        covered = self.adapter.clip_audio_tokens(self.clip.size)

        def back(attention: torch.Tensor, k: int) -> torch.Tensor:
            part = attention[..., : attention.shape[-1] if covered is None else covered].double()
            if self.config.normalize:
                part = part / part.sum(dim=-1, keepdim=True).clamp_min(1e-30)
            return torch.roll(part, -k, dims=-1)

        attention = {
            layer: torch.stack(
                [back(run.attention[layer], k) for run, k in zip(runs, self.rolls, strict=True)]
            ).mean(dim=0)
            for layer in runs[0].attention
        }
        return Run(runs[0].residual, attention)

    def probe_run(
        self, vectors: Sequence[SteeringVector], alphas: Sequence[float] | float | None, layers: Sequence[int]
    ) -> Run:
        """The probe rows (unsteered, then one per vector) on every shifted copy, averaged: what
        :meth:`layer_deltas` and the tuner read. Base and steered rows of each copy come
        from one batch, so α = 0 still gives Δ = 0."""
        return self._averaged(lambda copy: copy.probe_run(vectors, alphas, layers))

    def profiles(
        self, vectors: Sequence[SteeringVector], alphas: Sequence[float] | float | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """The unsteered probe row and one row per vector: each copy's profiles, moved back and averaged
        (the same numbers as :meth:`probe_run`'s, summed in the order a batch of windows sums them, so
        windows one by one and in batches agree to the bit). α = 0 still gives Δ = 0."""
        per_copy = [copy.profiles(vectors, alphas) for copy in self.copies]
        base = mean_moved_back(self.rolls, [b for b, _ in per_copy])
        rows = [mean_moved_back(self.rolls, [r[i] for _, r in per_copy]) for i in range(len(vectors))]
        return base, rows

    def attention(self, prompts: Sequence[str]) -> list[np.ndarray]:
        """Unsteered attention profiles of ``prompts``, averaged over the shifted copies."""
        run = self._averaged(lambda copy: copy.run(prompts, probe_layers=self.config.probe_layers))
        return [self.profile(run, i) for i in range(len(prompts))]

    def vectors(self, queries: Sequence[str], prompted: bool = True) -> VectorPass:
        """One batch per copy: residuals (so vectors) from the clip as it is; with ``prompted``, the batch's
        attention (the prompted rows the tuner and the prompted condition read) averaged over the copies."""
        prompts, query_rows = self.vector_prompts(queries, prompted)
        cfg = self.config
        if not prompted:
            return self.vector_pass(self.run(prompts, cfg.layers), queries, query_rows, prompted)
        first = self.first
        run = self._averaged(
            lambda copy: copy.run(prompts, cfg.layers if copy is first else (), cfg.probe_layers)
        )
        return self.vector_pass(run, queries, query_rows, prompted)
