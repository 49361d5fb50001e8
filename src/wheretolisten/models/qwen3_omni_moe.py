"""Qwen3-Omni (Qwen/Qwen3-Omni-30B-A3B-Instruct, -Thinking): the thinker only (AuT encoder + MoE decoder).

Time axis: Whisper log-mel frames of 10 ms, cut into encoder windows of ``2 * n_window`` = 100 frames (1 s);
three stride-2 convolutions turn each window into ceil(ceil(ceil(f / 2) / 2) / 2) tokens, 13 for a full
second, and the windows' tokens concatenate (attention then spans ``n_window_infer`` frames, 8 s, which
changes no count). Inside a window token j is centred on frame 8 j (80-ms stride, the last of 13 half
covered), so a second holds 13 tokens but not on an even grid: the time axis spreads each second's 13
tokens evenly (token i covers [i/13, (i+1)/13) s), which keeps the readout's uniform grid; every token's
receptive-field centre lies inside its bin. The processor cuts no audio; the published limit is 40 minutes.
"""

from __future__ import annotations

from typing import Any, ClassVar

from transformers import (
    Qwen3OmniMoeProcessor,
    Qwen3OmniMoeThinkerConfig,
    Qwen3OmniMoeThinkerForConditionalGeneration,
)

from .qwen_omni import AudioOnlyProcessor, QwenOmniAdapter

#: Tokens one full encoder window (100 frames) gives: three stride-2 convolutions.
TOKENS_PER_WINDOW = 13


def window_tokens(frames: int) -> int:
    """Tokens from ``frames`` mel frames of one encoder window: ceil(f / 2), three times."""
    for _ in range(3):
        frames = -(-frames // 2)
    return frames


class Qwen3OmniMoeAudioProcessor(AudioOnlyProcessor, Qwen3OmniMoeProcessor):
    """Qwen3-Omni's processor for audio and text (its image and video processors need torchvision)."""

    tokens: ClassVar[dict[str, str]] = {
        "audio_token": "<|audio_pad|>",
        "audio_bos_token": "<|audio_start|>",
        "audio_eos_token": "<|audio_end|>",
        "image_token": "<|image_pad|>",
        "video_token": "<|video_pad|>",
        "vision_bos_token": "<|vision_start|>",
        "vision_eos_token": "<|vision_end|>",
    }


class Qwen3OmniMoeAdapter(QwenOmniAdapter):
    """Qwen3-Omni's thinker (MoE decoder): 13 audio tokens per 1-s encoder window, up to 40 minutes."""

    family: ClassVar[str] = "qwen3-omni"
    checkpoint_model_types: ClassVar[tuple[str, ...]] = ("qwen3_omni_moe",)
    model_class: ClassVar[type] = Qwen3OmniMoeThinkerForConditionalGeneration
    processor_class: ClassVar[type] = Qwen3OmniMoeAudioProcessor
    max_audio_s: ClassVar[float] = 2400.0
    token_s: ClassVar[float] = 1.0 / TOKENS_PER_WINDOW
    #: The model card's examples give no system turn, and the template adds none.
    system_prompt: ClassVar[str] = ""
    checkpoints: ClassVar[tuple[str, ...]] = (
        "Qwen/Qwen3-Omni-30B-A3B-Instruct",
        "Qwen/Qwen3-Omni-30B-A3B-Thinking",
    )

    @property
    def layer_types(self) -> list[str]:
        """Every layer full: the thinker's text model builds one causal mask and gives its attention no
        window, whatever its config's ``sliding_window`` says (transformers 5.17 to 5.25)."""
        return ["full_attention"] * self.num_layers

    def clip_frames(self, n_samples: int) -> int:
        """Valid mel frames: the processor pads to the longest clip, which keeps floor(samples / hop)."""
        return n_samples // int(self.feature_extractor.hop_length)

    def window_token_counts(self, n_samples: int) -> list[int]:
        """Tokens per 1-s encoder window: 13 for a full one, ceil(f / 8) (stride 2, three times) otherwise."""
        return [window_tokens(frames) for frames in self.window_frames(n_samples)]

    @classmethod
    def full_size_config(cls) -> Any:
        """Qwen3-Omni-30B-A3B's thinker, from the checkpoint's published config.json (transformers' defaults
        for this class are not the checkpoint's)."""
        text = {
            "vocab_size": 152064,
            "hidden_size": 2048,
            "intermediate_size": 768,
            "moe_intermediate_size": 768,
            "num_hidden_layers": 48,
            "num_attention_heads": 32,
            "num_key_value_heads": 4,
            "head_dim": 128,
            "num_experts": 128,
            "num_experts_per_tok": 8,
            "max_position_embeddings": 65536,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1000000.0,
                "mrope_section": [24, 20, 20],
                "interleaved": True,
                "mrope_interleaved": True,
            },
        }
        audio = {
            "d_model": 1280,
            "encoder_layers": 32,
            "output_dim": 2048,
            "n_window": 50,
            "n_window_infer": 800,
        }
        vision = {"out_hidden_size": 2048, "patch_size": 16, "depth": 27}
        # Token ids of the checkpoint's vocabulary (some are not fields of the config class, only kwargs).
        ids: dict[str, Any] = {
            "audio_token_id": 151675,
            "image_token_id": 151655,
            "video_token_id": 151656,
            "audio_start_token_id": 151669,
            "audio_end_token_id": 151670,
            "vision_start_token_id": 151652,
            "vision_end_token_id": 151653,
        }
        return Qwen3OmniMoeThinkerConfig(
            text_config=text, audio_config=audio, vision_config=vision, position_id_per_seconds=13, **ids
        )
