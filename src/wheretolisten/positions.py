"""One position specification, shared by reading activations and writing steering vectors."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .models.base import Adapter


class Positions(str, Enum):
    """Which token positions of a prompt a read or a write touches."""

    LAST = "last"  # the last prompt token (the one that predicts the answer)
    INSTRUCTION = "instruction"  # the user's instruction text, after the audio block
    AUDIO = "audio"  # the audio placeholder tokens
    TEXT = "text"  # every non-audio prompt token
    ALL = "all"  # every prompt token

    @classmethod
    def parse(cls, value: str | Positions) -> Positions:
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(p.value for p in cls)
            raise ValueError(f"unknown positions {value!r}; choose one of {choices}") from None

    @property
    def continues_in_generation(self) -> bool:
        """Whether newly generated tokens also belong to this set (they are text, and each is the last)."""
        return self in (Positions.LAST, Positions.TEXT, Positions.ALL)


def position_mask(
    adapter: Adapter, input_ids: torch.Tensor, attention_mask: torch.Tensor, positions: str | Positions
) -> torch.Tensor:
    """Boolean [batch, seq] mask of the selected positions; padding is never selected.

    Works for either padding side because every rule is computed per row from the real tokens.
    """
    spec = Positions.parse(positions)
    valid = attention_mask.bool()
    if spec is Positions.ALL:
        return valid.clone()
    audio = adapter.audio_mask(input_ids) & valid
    if spec is Positions.AUDIO:
        return audio
    if spec is Positions.TEXT:
        return valid & ~audio
    mask = torch.zeros_like(valid)
    if spec is Positions.LAST:
        mask[torch.arange(input_ids.shape[0]), last_positions(attention_mask)] = True
        return mask
    for row in range(input_ids.shape[0]):
        start, end = adapter.instruction_span(input_ids[row])
        mask[row, start:end] = True
    return mask & valid


def last_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real token in each row (either padding side)."""
    seq = attention_mask.shape[1]
    idx = torch.arange(seq, device=attention_mask.device).expand_as(attention_mask)
    return torch.where(attention_mask.bool(), idx, torch.full_like(idx, -1)).max(dim=1).values
