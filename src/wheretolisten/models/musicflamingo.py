"""Music Flamingo (nvidia/music-flamingo-2601-hf): AF3's encoder and Qwen2.5-7B decoder, plus rotary time
embeddings on the audio features; 30-s windows, at most 40 of them (20 minutes).

The processor wraps the audio tokens in ``<|sound_bos|>`` … ``<|sound_eos|>``. The rotary time embedding
rotates each audio feature by its timestamp, window * window_s + 0.04 * (index in window), which is the
same 40-ms grid, continued across windows, that AF3's time axis uses: it encodes the axis, never moves it.
"""

from __future__ import annotations

from typing import ClassVar

from transformers import MusicFlamingoForConditionalGeneration

from .audioflamingo3 import AudioFlamingo3Adapter


class MusicFlamingoAdapter(AudioFlamingo3Adapter):
    """Music Flamingo: AF3's modules and prompt order; audio between sound delimiters, up to 20 minutes."""

    family: ClassVar[str] = "musicflamingo"
    model_class: ClassVar[type] = MusicFlamingoForConditionalGeneration
    max_audio_s: ClassVar[float] = 1200.0
    checkpoints: ClassVar[tuple[str, ...]] = ("nvidia/music-flamingo-2601-hf",)

    @property
    def window_s(self) -> float:  # type: ignore[override]
        """The processor cuts audio into windows of the feature extractor's chunk (30 s in the real model)."""
        return float(self.feature_extractor.chunk_length)

    @property
    def max_audio_limit_s(self) -> float:
        """Whole windows up to the processor's ``max_audio_len``; the processor silently drops the rest."""
        windows = int(float(self.processor.max_audio_len) // self.window_s)
        return min(self.max_audio_s, windows * self.window_s)

    @property
    def audio_delimiters(self) -> tuple[str, str]:  # type: ignore[override]
        """The tokens the processor puts before and after the audio tokens."""
        return str(self.processor.audio_bos_token), str(self.processor.audio_eos_token)

    def expand_audio(self, text: str, n_audio: int) -> str:
        bos, eos = self.audio_delimiters
        placeholder = str(self.processor.audio_token)
        return text.replace(placeholder, bos + placeholder * n_audio + eos, 1)
