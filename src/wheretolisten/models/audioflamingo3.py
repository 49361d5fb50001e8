"""Audio Flamingo 3 (nvidia/audio-flamingo-3-hf): Whisper-style encoder + Qwen2.5-7B decoder, 30-s windows.

AF3 cuts audio into 30-s windows (at most 20, i.e. 10 minutes) and concatenates their tokens, so the
time axis continues across windows at 25 tokens per second.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from transformers import AudioFlamingo3ForConditionalGeneration

from .base import Adapter

#: The checkpoints' decoder, Qwen2.5-7B (transformers' default text config is a different Qwen2).
QWEN2_5_7B_TEXT = {
    "model_type": "qwen2",
    # len(tokenizer): Qwen2.5's vocabulary and the added audio tokens.
    "vocab_size": 151672,
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
}


class AudioFlamingo3Adapter(Adapter):
    """AF3: ``model.model.language_model.layers`` are the decoder layers (the encoder has more layers)."""

    family: ClassVar[str] = "audioflamingo3"
    model_class: ClassVar[type] = AudioFlamingo3ForConditionalGeneration
    max_audio_s: ClassVar[float] = 600.0
    checkpoints: ClassVar[tuple[str, ...]] = ("nvidia/audio-flamingo-3-hf",)

    #: Explicit module paths (never guessed from layer names): the decoder and the audio encoder.
    language_model_path: ClassVar[str] = "model.language_model"
    audio_tower_path: ClassVar[str] = "model.audio_tower"

    @classmethod
    def full_size_config(cls) -> Any:
        """transformers' default encoder (Whisper-large style) with the checkpoint's Qwen2.5-7B decoder."""
        return cls.model_class.config_class(text_config=dict(QWEN2_5_7B_TEXT))  # type: ignore[attr-defined]

    def messages(self, instruction: str) -> list[dict[str, Any]]:
        return [{"role": "user", "content": [{"type": "text", "text": instruction}, {"type": "audio"}]}]

    def _call_processor(self, texts: list[str], audios: list[np.ndarray]) -> Any:
        # The AF3 processor pads on the left unless told otherwise: pass the side explicitly.
        return self.processor(
            text=texts, audio=audios, sampling_rate=self.sample_rate, padding_side=self.tokenizer.padding_side
        )
