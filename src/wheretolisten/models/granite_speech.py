"""Granite Speech (ibm-granite/granite-speech-3.3-8b, -2b): conformer encoder, windowed Q-Former, Granite LM.

Time axis: 10-ms mel frames stacked in pairs give 20-ms encoder frames (the conformer attends within 4-s
blocks of 200 frames and keeps the frame rate); the projector cuts them into windows of 15 frames (0.3 s,
the last one zero-padded) and a Q-Former turns each window into 3 tokens: 10 tokens per second. The three
queries of a window each read the whole window, so a token summarizes 0.3 s; on the time axis the k-th
token of window w is placed at 0.3 w + 0.1 k (a uniform 100-ms grid whose resolution is the window).

The real feature extractor needs torchaudio; :class:`WheretolistenGraniteSpeechFeatureExtractor` computes
the same log-mel features with ``torch.stft`` and serves the tiny test models (and any checkpoint saved
with it) where torchaudio is missing.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from transformers import (
    AutoFeatureExtractor,
    GraniteSpeechConfig,
    GraniteSpeechFeatureExtractor,
    GraniteSpeechForConditionalGeneration,
)
from transformers.audio_utils import mel_filter_bank
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor
from transformers.feature_extraction_utils import BatchFeature
from transformers.utils import is_peft_available

from ..errors import ModelError
from .base import Adapter

#: Positions left for the prompt's text when the decoder's context bounds the audio.
PROMPT_ROOM = 512


class MelSpectrogram(nn.Module):
    """torchaudio's ``MelSpectrogram`` as Granite Speech configures it (periodic Hann window, centred
    reflect-padded STFT, power spectrum, HTK mel filters without normalization), with ``torch.stft``."""

    window: torch.Tensor
    filters: torch.Tensor

    def __init__(self, sample_rate: int, n_fft: int, win_length: int, hop_length: int, n_mels: int) -> None:
        super().__init__()
        self.n_fft, self.win_length, self.hop_length = n_fft, win_length, hop_length
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)
        bank = mel_filter_bank(n_fft // 2 + 1, n_mels, 0.0, sample_rate / 2, sample_rate, None, "htk")
        self.register_buffer("filters", torch.from_numpy(bank).float(), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """[batch, samples] → [batch, n_mels, frames]: one frame every ``hop_length`` samples, centred."""
        spec = torch.stft(
            audio,
            self.n_fft,
            self.hop_length,
            self.win_length,
            self.window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        power = spec.abs().pow(2)
        return (power.transpose(-1, -2) @ self.filters).transpose(-1, -2)


class WheretolistenGraniteSpeechFeatureExtractor(GraniteSpeechFeatureExtractor):
    """Granite Speech's front end without torchaudio: the same log-mel features, frame stacking and token
    counts (``_get_num_audio_features`` is the real one)."""

    def __init__(
        self,
        sampling_rate: int = 16000,
        n_fft: int = 512,
        win_length: int = 400,
        hop_length: int = 160,
        n_mels: int = 80,
        projector_window_size: int = 15,
        projector_downsample_rate: int = 5,
        padding_value: float = 0.0,
        **kwargs: Any,
    ) -> None:
        spec = {"n_fft": n_fft, "win_length": win_length, "hop_length": hop_length, "n_mels": n_mels}
        spec.update(kwargs.pop("melspec_kwargs", {}))  # a saved extractor stores these as one dict
        feature_size = kwargs.pop("feature_size", None) or spec["n_mels"]
        # The parent's __init__ would build torchaudio's transform: set up the sequence extractor directly.
        SequenceFeatureExtractor.__init__(
            self,
            feature_size=feature_size,
            sampling_rate=sampling_rate,
            padding_value=padding_value,
            **kwargs,
        )
        self.sampling_rate = sampling_rate
        self.melspec_kwargs = {"sample_rate": sampling_rate, **spec}
        self.mel_filters = MelSpectrogram(**self.melspec_kwargs)
        self.projector_window_size = projector_window_size
        self.projector_downsample_rate = projector_downsample_rate

    def __call__(self, audios: Any, device: str | None = "cpu") -> BatchFeature:
        """Log-mel features, the number of tokens per clip and the mask of real tokens (as the real one)."""
        batch, lengths = self._get_audios_and_audio_lengths(audios)
        sizes = list(self._get_num_audio_features(lengths))
        mask = torch.arange(max(sizes))[None, :] < torch.tensor(sizes)[:, None]
        features = self._extract_mel_spectrograms(batch, device=device)
        return BatchFeature(
            data={"input_features": features, "audio_embed_sizes": sizes, "input_features_mask": mask}
        )

    def _extract_mel_spectrograms(self, audio: torch.Tensor, device: str | None = "cpu") -> torch.Tensor:
        """log10 mel power, floored 8 decades below the clip's peak, scaled to /4 + 1; frame pairs stacked."""
        melspec = self.mel_filters.to(device) if device is not None else self.mel_filters
        with torch.no_grad():
            mel = melspec(audio.to(melspec.window.device).float())
            logmel = mel.transpose(-1, -2).clamp(min=1e-10).log10()
            floor = logmel.amax(dim=(-2, -1), keepdim=True) - 8.0
            logmel = torch.maximum(logmel, floor) / 4 + 1
            frames = logmel.shape[1] // 2 * 2  # an odd last frame is dropped
            return logmel[:, :frames].reshape(audio.shape[0], frames // 2, 2 * logmel.shape[-1])


# Lets AutoFeatureExtractor (hence AutoProcessor) find the class by the name a saved processor records.
AutoFeatureExtractor.register(
    "wheretolisten-granite-speech", WheretolistenGraniteSpeechFeatureExtractor, exist_ok=True
)

#: The system prompt of the checkpoints' model card (without one, their template inserts today's date).
GRANITE_SYSTEM_PROMPT = (
    "Knowledge Cutoff Date: April 2024.\nToday's Date: April 9, 2025.\n"
    "You are Granite, developed by IBM. You are a helpful AI assistant"
)


class GraniteSpeechAdapter(Adapter):
    """Granite Speech: ``model.model.language_model.layers`` are the decoder layers; the encoder is
    ``model.model.encoder``; ten tokens per second, three per 0.3-s Q-Former window."""

    family: ClassVar[str] = "granite-speech"
    model_class: ClassVar[type] = GraniteSpeechForConditionalGeneration
    #: Neither the processor nor the encoder (block attention) caps the length: the decoder's 128k-token
    #: context does, at 10 tokens per second.
    max_audio_s: ClassVar[float] = (131072 - PROMPT_ROOM) * 0.1
    #: The conformer's attention block (200 frames of 20 ms); tokens come from 0.3-s projector windows.
    window_s: ClassVar[float] = 4.0
    token_s: ClassVar[float] = 0.1
    token_cover_s: ClassVar[float | None] = 0.3
    system_prompt: ClassVar[str] = GRANITE_SYSTEM_PROMPT
    end_of_turn_token: ClassVar[str] = "<|end_of_text|>"
    #: The conformer has no padding mask: a shorter clip's tokens read the batch's padding frames.
    batch_invariant: ClassVar[bool] = False
    checkpoints: ClassVar[tuple[str, ...]] = (
        "ibm-granite/granite-speech-3.3-8b",
        "ibm-granite/granite-speech-3.3-2b",
    )

    #: Explicit module paths (never guessed from layer names): the decoder and the audio encoder.
    language_model_path: ClassVar[str] = "model.language_model"
    audio_tower_path: ClassVar[str] = "model.encoder"

    def set_text_attention(self, implementation: str) -> None:
        """Switch the decoder alone (through the whole model, transformers warns about the conformer)."""
        self.language_model.set_attn_implementation(implementation)  # type: ignore[operator]

    @property
    def feature_extractor(self) -> Any:
        """This processor calls its audio front end ``audio_processor``."""
        return self.processor.audio_processor

    @property
    def max_audio_limit_s(self) -> float:
        """The family's limit, or less where the loaded decoder's context is shorter."""
        positions = int(self.text_config.max_position_embeddings)
        return min(self.max_audio_s, (positions - PROMPT_ROOM) * self.token_s)

    def check_duration(self, duration_s: float) -> None:
        """Also refuse clips too short for the front end's reflect-padded STFT (half a 512-point window)."""
        super().check_duration(duration_s)
        shortest = int(self.feature_extractor.melspec_kwargs["n_fft"]) // 2 + 1
        if round(duration_s * self.sample_rate) < shortest:
            raise ModelError(
                f"the audio is {duration_s * 1000:.1f} ms long, but {self.family} needs at least "
                f"{shortest / self.sample_rate * 1000:.1f} ms"
            )

    def messages(self, instruction: str) -> list[dict[str, Any]]:
        """The model card's convention: a fixed system prompt, then ``<|audio|>`` and the instruction."""
        placeholder = self.processor.audio_token
        return [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": f"{placeholder}{instruction}"},
        ]

    def render_prompt(self, instruction: str) -> str:
        """The prompt from the tokenizer's chat template (where the checkpoints keep it)."""
        text = self.tokenizer.apply_chat_template(
            self.chat(instruction), tokenize=False, add_generation_prompt=True
        )
        assert isinstance(text, str)
        return text

    def _call_processor(self, texts: list[str], audios: list[np.ndarray]) -> Any:
        if getattr(self.model.config, "has_lora_adapter", False) and not is_peft_available():
            raise ModelError(
                f"{self.name} applies a LoRA adapter to its decoder when it hears audio; without peft it "
                "answers wrongly: pip install peft, then load it again"
            )
        return self.processor(text=texts, audio=audios, device="cpu", return_tensors="pt", padding=True)

    # ---- time axis -------------------------------------------------------------------------------
    def window_token_counts(self, n_samples: int) -> list[int]:
        """Tokens per 0.3-s projector window (three queries each), the zero-padded last window included."""
        hop = int(self.feature_extractor.melspec_kwargs["hop_length"])
        frames = (n_samples // hop + 1) // 2  # centred mel frames, stacked in pairs (an odd last one dropped)
        config = self.model.config
        window = int(config.window_size)
        return [window // int(config.downsample_rate)] * math.ceil(frames / window)

    def clip_audio_tokens(self, n_samples: int) -> int:
        """Tokens whose 100-ms slot starts inside the clip: the last window's later queries, placed past
        the clip's end, are left out of profiles (they read the same zero-padded window as the first)."""
        slot = round(self.token_s * self.sample_rate)
        return min(sum(self.window_token_counts(n_samples)), max(1, math.ceil(n_samples / slot)))

    @classmethod
    def full_size_config(cls) -> Any:
        """granite-speech-3.3-8b: 16 conformer blocks of width 1024, a 2-layer Q-Former, Granite-3.3-8B."""
        return GraniteSpeechConfig(
            audio_token_index=49159,
            encoder_config={
                "input_dim": 160,
                "num_layers": 16,
                "hidden_dim": 1024,
                "num_heads": 8,
                "dim_head": 128,
                "output_dim": 256,
                "context_size": 200,
                "max_pos_emb": 512,
            },
            projector_config={
                "model_type": "blip_2_qformer",
                "hidden_size": 1024,
                "num_hidden_layers": 2,
                "num_attention_heads": 16,
                "intermediate_size": 4096,
                "encoder_hidden_size": 1024,
                "cross_attention_frequency": 1,
                "max_position_embeddings": 2048,
            },
            text_config={
                "model_type": "granite",
                "vocab_size": 49160,
                "hidden_size": 4096,
                "intermediate_size": 12800,
                "num_hidden_layers": 40,
                "num_attention_heads": 32,
                "num_key_value_heads": 8,
                "max_position_embeddings": 131072,
                "embedding_multiplier": 12.0,
                "attention_multiplier": 1 / 128,
                "residual_multiplier": 0.22,
                "logits_scaling": 16.0,
                "tie_word_embeddings": True,
            },
        )
