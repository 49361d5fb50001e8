"""Gemma 3n (google/gemma-3n-E4B-it, -E2B-it): USM-style conformer + AltUp decoder, 188 audio tokens a clip.

The processor always inserts 188 audio soft tokens: the encoder gives one per 160 ms (10-ms mel frames,
two stride-2 convolutions, then every fourth frame) over at most 30 s, and the model fills the tokens past
the clip's end with one learned padding embedding. Only the tokens that cover the clip are its audio tokens
here (:meth:`Gemma3nAdapter.audio_mask`), so token i covers [0.16 i, 0.16 (i + 1)) s of the clip.
"""

from __future__ import annotations

import importlib.util
import math
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from transformers import Gemma3nForConditionalGeneration

from ..errors import ModelError
from .base import Adapter

if TYPE_CHECKING:
    from transformers import Cache


#: The feature extractor pads every batch to a multiple of this many samples (its call default).
PAD_TO_MULTIPLE_OF = 128


class Gemma3nAdapter(Adapter):
    """Gemma 3n: ``model.model.language_model.layers`` are the decoder layers; audio capped at 30 s.

    The decoder's layers pass a stack of AltUp streams ([streams, batch, seq, hidden]); the residual stream
    read and steered is the active one (``altup_active_idx``), the one each layer's attention and MLP
    update. The shared prefix is off: recomputing a steered prefix from one layer on would need the four
    AltUp streams, every layer's per-token inputs and, for the KV-shared layers, the keys of earlier layers,
    not the one hidden state the engine keeps; prompts are ~200 tokens, so whole prompts cost little.
    """

    family: ClassVar[str] = "gemma3n"
    model_class: ClassVar[type] = Gemma3nForConditionalGeneration
    max_audio_s: ClassVar[float] = 30.0
    token_s: ClassVar[float] = 0.16
    end_of_turn_token: ClassVar[str] = "<end_of_turn>"
    shared_prefix: ClassVar[bool] = False
    #: Batched with a longer clip, a short clip can get one more audio token (see ``audio_mask``).
    batch_invariant: ClassVar[bool] = False
    checkpoints: ClassVar[tuple[str, ...]] = ("google/gemma-3n-E4B-it", "google/gemma-3n-E2B-it")

    language_model_path: ClassVar[str] = "model.language_model"
    audio_tower_path: ClassVar[str] = "model.audio_tower"

    def __init__(self, model: Any, processor: Any, name: str) -> None:
        super().__init__(model, processor, name)
        #: id(input_ids) -> (the ids, how many audio tokens cover each row's clip), for batches encoded
        #: here; an entry leaves with its ids tensor.
        self._clip_tokens: dict[int, tuple[weakref.ref[torch.Tensor], torch.Tensor]] = {}

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if importlib.util.find_spec("timm") is None:
            return "Gemma 3n's vision tower is a timm network: pip install 'wheretolisten[gemma3n]' (timm)"
        return None

    # ---- residual stream -------------------------------------------------------------------------
    @property
    def _active(self) -> int:
        return int(self.text_config.altup_active_idx)

    def layer_hidden(self, output: Any) -> torch.Tensor:
        hidden = output[self._active]
        assert isinstance(hidden, torch.Tensor)
        return hidden

    def with_layer_hidden(self, output: Any, hidden: torch.Tensor) -> Any:
        streams = output.clone()
        streams[self._active] = hidden
        return streams

    def run_decoder(self, start: int, hidden: torch.Tensor, cache: Cache) -> torch.Tensor:
        raise ModelError("Gemma 3n runs whole prompts only (KV-shared layers, per-layer inputs)")

    # ---- tokens and prompt -----------------------------------------------------------------------
    @property
    def audio_marker_ids(self) -> frozenset[int]:
        config = self.model.config
        return frozenset({self.audio_token_id, int(config.boa_token_id), int(config.eoa_token_id)})

    def _call_processor(self, texts: list[str], audios: list[np.ndarray]) -> Any:
        # The rendered template already starts with BOS: the tokenizer must not add another.
        return self.processor(
            text=texts, audio=audios, return_tensors="pt", padding=True, add_special_tokens=False
        )

    # ---- time axis -------------------------------------------------------------------------------
    @property
    def _frames_per_token(self) -> int:
        """Mel frames per audio token: the sub-sampling convolutions' time strides, then the reduction."""
        audio = self.model.config.audio_config
        strides = math.prod(int(pair[0]) for pair in audio.sscp_conv_stride_size)
        return strides * int(audio.conf_reduction_factor)

    @property
    def _max_tokens(self) -> int:
        return int(self.model.config.audio_soft_tokens_per_image)

    def window_token_counts(self, n_samples: int) -> list[int]:
        """One window: the tokens whose first mel frame holds the clip (padded as the processor pads)."""
        fe = self.feature_extractor
        padded = -(-n_samples // PAD_TO_MULTIPLE_OF) * PAD_TO_MULTIPLE_OF
        frames = (padded - fe.frame_length - 1) // fe.hop_length + 1
        valid = min(frames, -(-n_samples // fe.hop_length))
        return [min(self._max_tokens, -(-valid // self._frames_per_token))]

    def encode(
        self, audios: Sequence[np.ndarray], instructions: Sequence[str], padding_side: str = "left"
    ) -> dict[str, torch.Tensor]:
        """As :meth:`Adapter.encode`, remembering for the batch how many audio tokens cover each clip."""
        shortest = int(self.feature_extractor.frame_length) + 1
        if any(a.size < shortest for a in audios):
            raise ModelError(f"{self.family} needs at least {shortest} samples of audio (one mel frame)")
        batch = super().encode(audios, instructions, padding_side)
        # The encoder keeps every ``frames_per_token``-th frame; a token is padding where that frame is.
        valid = batch["input_features_mask"].long().sum(dim=1)
        counts = (-(-valid // self._frames_per_token)).clamp(max=self._max_tokens)
        ids, key = batch["input_ids"], id(batch["input_ids"])
        self._clip_tokens[key] = (weakref.ref(ids, lambda _: self._clip_tokens.pop(key, None)), counts)
        return batch

    def audio_mask(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The audio tokens that cover the clip; for ids not encoded here, every audio placeholder."""
        placeholders = input_ids == self.audio_token_id
        entry = self._clip_tokens.get(id(input_ids))
        if entry is None or entry[0]() is not input_ids:
            return placeholders
        rank = placeholders.long().cumsum(dim=1)
        return placeholders & (rank <= entry[1].to(rank.device)[:, None])
