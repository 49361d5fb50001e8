"""One table of what a position specification means, for reads and writes alike.

:class:`PositionTable` holds, per row, which tokens are real, which are audio, which are the user's
instruction and which is last; :meth:`PositionTable.mask` is the only place where ``last``,
``instruction``, ``audio``, ``text`` and ``all`` are turned into token masks — for whole prompts
(:meth:`PositionTable.for_prompts`) and for prompt suffixes on a shared audio prefix
(:meth:`PositionTable.for_suffixes`) alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch

from .settings import SUFFIX_POSITIONS, Positions

if TYPE_CHECKING:
    from .models.base import Adapter


def last_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real token in each row (either padding side)."""
    seq = attention_mask.shape[1]
    idx = torch.arange(seq, device=attention_mask.device).expand_as(attention_mask)
    return torch.where(attention_mask.bool(), idx, torch.full_like(idx, -1)).max(dim=1).values


class PositionTable:
    """Per row of a batch: real tokens, audio tokens, the instruction span, the last token.

    The instruction mask is computed on first use (it scans the tokens of each row).
    """

    def __init__(
        self,
        valid: torch.Tensor,
        audio: torch.Tensor,
        last: torch.Tensor,
        instruction: Callable[[], torch.Tensor],
    ) -> None:
        self.valid = valid.bool()
        self.audio = audio.bool() & self.valid
        self.last = last
        self._instruction = instruction
        self._instruction_mask: torch.Tensor | None = None

    @property
    def instruction(self) -> torch.Tensor:
        if self._instruction_mask is None:
            self._instruction_mask = self._instruction().to(self.valid.device) & self.valid
        return self._instruction_mask

    def mask(self, positions: str | Positions) -> torch.Tensor:
        """Boolean [rows, seq] mask of the selected positions; padding is never selected."""
        spec = Positions.parse(positions)
        if spec is Positions.ALL:
            return self.valid.clone()
        if spec is Positions.AUDIO:
            return self.audio.clone()
        if spec is Positions.TEXT:
            return self.valid & ~self.audio
        if spec is Positions.LAST:
            out = torch.zeros_like(self.valid)
            out[torch.arange(out.shape[0], device=out.device), self.last] = True
            return out
        return self.instruction.clone()

    @classmethod
    def for_prompts(
        cls, adapter: Adapter, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> PositionTable:
        """The table of whole prompts (either padding side: every rule is computed per row)."""

        def instruction() -> torch.Tensor:
            out = torch.zeros_like(input_ids, dtype=torch.bool)
            for row in range(input_ids.shape[0]):
                start, end = adapter.instruction_span(input_ids[row])
                out[row, start:end] = True
            return out

        return cls(attention_mask, adapter.audio_mask(input_ids), last_positions(attention_mask), instruction)

    @classmethod
    def for_suffixes(
        cls,
        adapter: Adapter,
        prefix_ids: torch.Tensor,
        suffixes: Sequence[Sequence[int]],
        attention_mask: torch.Tensor,
    ) -> PositionTable:
        """The table of right-padded prompt suffixes following a shared ``prefix_ids`` (no audio in them)."""

        def instruction() -> torch.Tensor:
            out = torch.zeros_like(attention_mask, dtype=torch.bool)
            prefix = prefix_ids.cpu()
            for row, suffix in enumerate(suffixes):
                ids = torch.cat([prefix, torch.tensor(list(suffix), dtype=prefix.dtype)])
                start, end = adapter.instruction_span(ids)
                out[row, start - len(prefix) : end - len(prefix)] = True
            return out

        audio = torch.zeros_like(attention_mask, dtype=torch.bool)
        return cls(attention_mask, audio, last_positions(attention_mask), instruction)


def position_mask(
    adapter: Adapter, input_ids: torch.Tensor, attention_mask: torch.Tensor, positions: str | Positions
) -> torch.Tensor:
    """Boolean [batch, seq] mask of ``positions`` in whole prompts (see :class:`PositionTable`)."""
    return PositionTable.for_prompts(adapter, input_ids, attention_mask).mask(positions)


__all__ = ["SUFFIX_POSITIONS", "PositionTable", "Positions", "last_positions", "position_mask"]
