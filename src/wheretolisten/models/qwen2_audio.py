"""Qwen2-Audio (Qwen/Qwen2-Audio-7B-Instruct): Whisper-style encoder + Qwen-7B decoder, one 30-s window."""

from __future__ import annotations

from typing import Any, ClassVar

from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration

from .base import Adapter


class Qwen2AudioAdapter(Adapter):
    """Qwen2-Audio: ``model.model.language_model.layers`` are the decoder layers; audio capped at 30 s."""

    family: ClassVar[str] = "qwen2-audio"
    model_class: ClassVar[type] = Qwen2AudioForConditionalGeneration
    max_audio_s: ClassVar[float] = 30.0
    checkpoints: ClassVar[tuple[str, ...]] = ("Qwen/Qwen2-Audio-7B-Instruct", "Qwen/Qwen2-Audio-7B")
    audio_delimiters: ClassVar[tuple[str, ...]] = ("<|audio_bos|>", "<|audio_eos|>")

    @property
    def window_s(self) -> float:  # type: ignore[override]
        """One window: the feature extractor's chunk (30 s for the real model, shorter for small ones)."""
        return float(self.feature_extractor.chunk_length)

    @property
    def max_audio_limit_s(self) -> float:
        return min(self.max_audio_s, self.window_s)

    #: Explicit module paths (never guessed from layer names): the decoder and the audio encoder.
    language_model_path: ClassVar[str] = "model.language_model"
    audio_tower_path: ClassVar[str] = "model.audio_tower"

    @classmethod
    def full_size_config(cls) -> Any:
        """transformers' default encoder (Whisper-large style) with the checkpoint's Qwen-7B decoder."""
        text = {
            "model_type": "qwen2",
            "vocab_size": 156032,
            "hidden_size": 4096,
            "intermediate_size": 11008,
            "num_hidden_layers": 32,
            "num_attention_heads": 32,
            "num_key_value_heads": 32,
            "max_position_embeddings": 8192,
            "rope_theta": 10000.0,
        }
        return Qwen2AudioConfig(text_config=text)
