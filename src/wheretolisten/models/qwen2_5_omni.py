"""Qwen2.5-Omni (Qwen/Qwen2.5-Omni-7B, -3B): the thinker only (Whisper-style encoder + Qwen2.5 decoder).

Time axis: Whisper log-mel frames of 10 ms; the encoder convolves (stride 2) and attends within windows of
``2 * n_window`` = 200 frames (2 s, positional embeddings restart in each), then average-pools pairs: one
token per 40 ms, 50 per full window, and the windows' tokens simply concatenate (200 frames are a whole
number of tokens, so the grid never shifts). The feature extractor pads to and cuts at ``chunk_length``
(300 s in the real checkpoints): longer audio is refused, not cut.
"""

from __future__ import annotations

from typing import ClassVar

from transformers import Qwen2_5OmniProcessor, Qwen2_5OmniThinkerForConditionalGeneration

from .base import frames_to_tokens
from .qwen_omni import AudioOnlyProcessor, QwenOmniAdapter

#: The system prompt the model card uses in every example (the thinker was trained with it).
QWEN2_5_OMNI_SYSTEM_PROMPT = (
    "You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving "
    "auditory and visual inputs, as well as generating text and speech."
)


class Qwen2_5OmniAudioProcessor(AudioOnlyProcessor, Qwen2_5OmniProcessor):
    """Qwen2.5-Omni's processor for audio and text (its image and video processors need torchvision)."""

    tokens: ClassVar[dict[str, str]] = {
        "audio_token": "<|AUDIO|>",
        "audio_bos_token": "<|audio_bos|>",
        "audio_eos_token": "<|audio_eos|>",
        "image_token": "<|IMAGE|>",
        "video_token": "<|VIDEO|>",
        "vision_bos_token": "<|vision_bos|>",
        "vision_eos_token": "<|vision_eos|>",
    }


class Qwen2_5OmniAdapter(QwenOmniAdapter):
    """Qwen2.5-Omni's thinker: 25 audio tokens per second in 2-s encoder windows, up to 300 s."""

    family: ClassVar[str] = "qwen2.5-omni"
    checkpoint_model_types: ClassVar[tuple[str, ...]] = ("qwen2_5_omni",)
    model_class: ClassVar[type] = Qwen2_5OmniThinkerForConditionalGeneration
    processor_class: ClassVar[type] = Qwen2_5OmniAudioProcessor
    max_audio_s: ClassVar[float] = 300.0
    system_prompt: ClassVar[str] = QWEN2_5_OMNI_SYSTEM_PROMPT
    checkpoints: ClassVar[tuple[str, ...]] = ("Qwen/Qwen2.5-Omni-7B", "Qwen/Qwen2.5-Omni-3B")

    @property
    def max_audio_limit_s(self) -> float:
        """The feature extractor's ``chunk_length`` when shorter (it cuts longer audio silently)."""
        return min(self.max_audio_s, float(self.feature_extractor.chunk_length))

    def window_token_counts(self, n_samples: int) -> list[int]:
        """Tokens per 2-s encoder window: conv stride 2, then pooling by 2, within each window."""
        return [frames_to_tokens(frames) for frames in self.window_frames(n_samples)]
