"""Phi-4-multimodal (microsoft/Phi-4-multimodal-instruct): conformer audio encoder + Phi-4-mini decoder.

Audio: 10-ms mel frames (25-ms window), a NeMo-style stack of three stride-2 convolutions (8 frames a
token, 12.5 tokens per second), then a conformer that runs on 500-token (40-s) windows and concatenates
them, so the time axis continues across windows. The speech LoRA is not part of the transformers
checkpoint's main weights: :meth:`Phi4MultimodalAdapter.load_weights` merges it in from ``speech-lora/``.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from transformers import Phi4MultimodalConfig, Phi4MultimodalForCausalLM

from ..errors import ModelError
from .base import Adapter

#: Sub-folder of the checkpoint with the speech LoRA (a PEFT adapter), and the model attribute that records
#: which LoRA was merged into the weights.
SPEECH_LORA = "speech-lora"
MERGED_LORA_ATTR = "wheretolisten_merged_lora"
#: The conformer runs on windows of this many audio tokens (transformers hard-codes it in the encoder).
ENCODER_WINDOW_TOKENS = 500

log = logging.getLogger(__name__)


def has_speech_lora(name: str) -> bool:
    """Whether the checkpoint ``name`` (a directory or a hub id) has a speech LoRA beside its weights."""
    path = Path(name)
    if path.exists():
        return (path / SPEECH_LORA / "adapter_config.json").is_file()
    from huggingface_hub import file_exists, try_to_load_from_cache

    config = f"{SPEECH_LORA}/adapter_config.json"
    if isinstance(try_to_load_from_cache(name, config), str):
        return True
    try:
        return bool(file_exists(name, config))
    except Exception as exc:  # offline, gated, unknown repo: the weights loaded anyway
        log.warning("could not check %s for a speech LoRA (%s); loading without it", name, exc)
        return False


class Phi4MultimodalAdapter(Adapter):
    """Phi-4-multimodal: ``model.model.layers`` are the decoder layers; audio capped at 300 s.

    The decoder's long RoPE switches to other frequencies once a forward pass reaches 4096 positions, so
    a prompt past that point would depend on its batch (padding) and would break the shared prefix; prompts
    are kept below it (300 s of audio is 3750 tokens). The transformers class loads the decoder, both
    encoders and their projectors; the vision encoder is loaded but never run.
    """

    family: ClassVar[str] = "phi4-multimodal"
    model_class: ClassVar[type] = Phi4MultimodalForCausalLM
    max_audio_s: ClassVar[float] = 300.0
    window_s: ClassVar[float] = 40.0
    token_s: ClassVar[float] = 0.08
    end_of_turn_token: ClassVar[str] = "<|end|>"
    #: A shorter clip's tokens change when it is batched with a longer one (measured on the tiny model).
    batch_invariant: ClassVar[bool] = False
    checkpoints: ClassVar[tuple[str, ...]] = ("microsoft/Phi-4-multimodal-instruct",)

    language_model_path: ClassVar[str] = "model"
    audio_tower_path: ClassVar[str] = "model.embed_tokens_extend.audio_embed.encoder"

    @classmethod
    def full_size_config(cls) -> Any:
        """Phi-4-multimodal-instruct's decoder (transformers' defaults differ: 32 heads, full RoPE): 32
        layers, 3072 wide, 24 heads of 128 (8 KV heads), long RoPE on three quarters of each head, tied
        embeddings. The long-RoPE factors are placeholders of the right length; a checkpoint has its own."""
        rope = {
            "rope_type": "longrope",
            "rope_theta": 10000.0,
            "partial_rotary_factor": 0.75,
            "short_factor": [1.0] * 48,
            "long_factor": [1.0] * 48,
        }
        return Phi4MultimodalConfig(
            num_attention_heads=24,
            num_key_value_heads=8,
            rope_parameters=rope,
            sliding_window=262144,
            tie_word_embeddings=True,
        )

    @classmethod
    def load_weights(cls, name: str, **kwargs: Any) -> Any:
        """The base weights, with the speech LoRA of ``speech-lora/`` merged in when the checkpoint has one.

        Merged with PEFT (the original code switches the LoRA on for any speech input; merging gives the same
        function up to rounding), so the model stays the plain transformers class.
        """
        model = super().load_weights(name, **kwargs)
        if not has_speech_lora(name):
            return model
        if importlib.util.find_spec("peft") is None:
            raise ModelError(
                f"{name} has a speech LoRA, which needs peft: pip install 'wheretolisten[phi4-multimodal]'"
            )
        from peft import PeftModel

        merged = PeftModel.from_pretrained(model, name, subfolder=SPEECH_LORA).merge_and_unload()
        setattr(merged, MERGED_LORA_ATTR, SPEECH_LORA)
        return merged

    # ---- modules ---------------------------------------------------------------------------------
    @property
    def text_config(self) -> Any:
        """The top-level config is the decoder's (the encoders have sub-configs)."""
        return self.model.config

    def set_text_attention(self, implementation: str) -> None:
        """Switch the decoder's attention only: the encoders keep their own implementations."""
        self.model.set_attn_implementation({"": implementation})

    @property
    def audio_token_id(self) -> int:
        return int(self.model.config.audio_config.audio_token_id)

    @property
    def feature_extractor(self) -> Any:
        """This processor calls its audio front end ``audio_processor``."""
        return self.processor.audio_processor

    # ---- prompt ----------------------------------------------------------------------------------
    def render_prompt(self, instruction: str) -> str:
        """The processor's chat template, else the tokenizer's (transformers drops a processor's saved
        template when it reloads this processor class, but the tokenizer keeps it)."""
        owner = self.processor if self.processor.chat_template else self.tokenizer
        text = owner.apply_chat_template(self.chat(instruction), tokenize=False, add_generation_prompt=True)
        assert isinstance(text, str)
        return text

    def encode(
        self, audios: Sequence[np.ndarray], instructions: Sequence[str], padding_side: str = "left"
    ) -> dict[str, torch.Tensor]:
        """As :meth:`Adapter.encode`, refusing clips shorter than one mel window and prompts that reach the
        long-RoPE switch."""
        window = int(self.feature_extractor.win_length)
        if any(a.size < window for a in audios):
            raise ModelError(f"{self.family} needs at least {window} samples of audio (one mel frame)")
        batch = super().encode(audios, instructions, padding_side)
        limit = int(self.text_config.original_max_position_embeddings)
        if batch["input_ids"].shape[1] > limit:
            raise ModelError(
                f"the prompt is {batch['input_ids'].shape[1]} tokens long; {self.family} switches its RoPE "
                f"frequencies past {limit} positions: shorten the audio or the instruction"
            )
        return batch

    # ---- time axis -------------------------------------------------------------------------------
    def window_token_counts(self, n_samples: int) -> list[int]:
        """Tokens per 40-s encoder window: ceil(mel frames / 8), split into 500-token windows."""
        fe = self.feature_extractor
        frames = (n_samples - fe.win_length) // fe.hop_length + 1
        total = -(-frames * fe.audio_feat_stride // fe.audio_compression_rate)
        total = -(-total // fe.audio_downsample_rate)
        full, rest = divmod(total, ENCODER_WINDOW_TOKENS)
        return [ENCODER_WINDOW_TOKENS] * full + ([rest] if rest else [])
