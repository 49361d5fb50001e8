"""Shift-averaged profiles: the clip and its circular shifts, each profile moved back and averaged.

A steering vector can point to a time by itself: the shipped organism's "a low hum" vector peaks at
2.0 s in 18 of 24 clips whatever the audio (``organism/miss_positions.py``). What the model hears moves
with the audio; such a preferred position does not. Rolling the clip by ``k`` tokens, computing the
profiles there and rolling them back by ``k`` keeps the heard part in place and moves the preferred
position by ``k``; the mean over ``shifts`` evenly spaced rolls keeps the first whole and spreads the
second. The instruction vector is built once, on the clip as it is, and steers every shifted copy (the
same vector for all: building one per copy gave the same hit rates in a check on 400 held-out scenes).
Vectors and residuals come from the clip as it is; every attention profile (probe rows, so profiles,
layer deltas and the tuner's rows, and the prompted rows) is averaged. Each shift costs one more audio
prefix and probe pass.
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
        self, adapter: Adapter, clip: np.ndarray, config: Resolved, make: Callable[[np.ndarray], Engine]
    ) -> None:
        """``make(clip)``: the plain engine (shared prefix or whole prompts) of one shifted copy."""
        super().__init__(adapter, clip, config)
        per_token = int(round(adapter.token_s * adapter.sample_rate))
        self.rolls = shift_tokens(clip.size, adapter.sample_rate, adapter.token_s, config.shifts)
        self.copies = [make(np.roll(clip, k * per_token)) for k in self.rolls]

    def derive(self, config: Resolved) -> Engine:
        """The same clip and shifts with other settings; every copy's audio prefix is shared."""
        engine = object.__new__(ShiftedEngine)
        Engine.__init__(engine, self.adapter, self.clip, config)
        engine.rolls, engine.copies = self.rolls, [copy.derive(config) for copy in self.copies]
        return engine

    def run_rows(self, rows: Rows) -> Run:
        """Prompts on the clip as it is (vectors, residuals, prompted attention)."""
        return self.copies[0].run_rows(rows)

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
        """Vectors from the clip as it is; the prompted attention (when asked) averaged like the rest."""
        found = super().vectors(queries, prompted)
        if prompted:
            first = self.config.instructed_templates[0]
            rows = self.attention([self.config.prompt, *(first.format(query=q) for q in queries)])
            found.prompted_base, found.prompted = rows[0], rows[1:]
        return found
