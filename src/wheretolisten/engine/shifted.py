"""Shift-averaged profiles: the clip and its circular shifts, each profile moved back and averaged.

A steering vector can point to a time by itself: the shipped organism's "a low hum" vector peaks at
2.0 s in 18 of 24 clips whatever the audio (``organism/miss_positions.py``). What the model hears moves
with the audio; such a preferred position does not. Rolling the clip by ``k`` tokens, computing the
profiles there and rolling them back by ``k`` keeps the heard part in place and moves the preferred
position by ``k``; the mean over ``shifts`` evenly spaced rolls keeps the first whole and spreads the
second. The instruction vector is built once, on the clip as it is, and steers every shifted copy (the
same vector for all: building one per copy gave the same hit rates in a check on 400 held-out scenes).
Vectors, prompted attention and residuals come from the clip as it is; :meth:`profiles` and
:meth:`layer_deltas` are averaged. Each shift costs one more audio prefix and probe pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..session import Run
from .base import Engine, Rows

if TYPE_CHECKING:
    from ..models.base import Adapter
    from ..settings import Resolved
    from ..vectors import SteeringVector


def shift_tokens(n_samples: int, sample_rate: int, token_s: float, shifts: int) -> list[int]:
    """The roll of each of ``shifts`` copies, in whole audio tokens, evenly spaced over the clip (0 first)."""
    tokens = n_samples / (sample_rate * token_s)
    return [int(round(tokens * j / shifts)) for j in range(shifts)]


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

    def _back(self, k: int, profile: np.ndarray) -> np.ndarray:
        return np.roll(profile, -k, axis=-1)

    def profiles(
        self, vectors: Sequence[SteeringVector], alphas: Sequence[float] | float | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """The unsteered probe row and one row per vector, each the mean over the shifted copies (moved
        back); base and steered rows of every copy come from one batch, so α = 0 still gives Δ = 0."""
        bases, rows = [], []
        for k, copy in zip(self.rolls, self.copies, strict=True):
            base, steered = copy.profiles(vectors, alphas)
            bases.append(self._back(k, base))
            rows.append([self._back(k, row) for row in steered])
        mean_rows = [np.mean([copy_rows[i] for copy_rows in rows], axis=0) for i in range(len(vectors))]
        return np.mean(bases, axis=0), mean_rows

    def layer_deltas(self, vector: SteeringVector, alpha: float | None, layers: Sequence[int]) -> np.ndarray:
        """Δ of each of ``layers`` alone, averaged over the shifted copies (moved back)."""
        parts = [
            self._back(k, copy.layer_deltas(vector, alpha, layers))
            for k, copy in zip(self.rolls, self.copies, strict=True)
        ]
        return np.asarray(np.mean(parts, axis=0))
