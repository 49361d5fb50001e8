"""Tiny Qwen2.5-Omni and Qwen3-Omni thinkers, built offline: the real thinker classes, a few MB each.

The processor is the family's audio-only processor (the real class without its vision processors): the
offline BPE tokenizer with the family's special tokens (named as the real tokenizer names them), a chat
template with the real one's structure, and the 128-bin Whisper front end. The decoders keep what the
probe must handle: grouped-query attention and multimodal rotary positions (mRoPE sections scaled to the
small head), and for Qwen3-Omni query/key norms and a mixture-of-experts MLP in every layer.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

from transformers import (
    Qwen2_5OmniThinkerConfig,
    Qwen2Tokenizer,
    Qwen3OmniMoeThinkerConfig,
    WhisperFeatureExtractor,
)

from ..qwen2_5_omni import Qwen2_5OmniAdapter
from ..qwen3_omni_moe import Qwen3OmniMoeAdapter
from ..qwen_omni import QwenOmniAdapter
from .seeded import seeded_model
from .sizes import sizes
from .templates import QWEN2_5_OMNI_CHAT_TEMPLATE, QWEN3_OMNI_CHAT_TEMPLATE
from .tokenizer import train_tokenizer


@dataclass(frozen=True)
class Spec:
    """One family's tiny build: its adapter and chat template."""

    adapter: type[QwenOmniAdapter]
    chat_template: str

    @property
    def tokens(self) -> dict[str, str]:
        """The family's special tokens by processor attribute name."""
        return self.adapter.processor_class.tokens


SPECS = {
    "qwen2.5-omni": Spec(Qwen2_5OmniAdapter, QWEN2_5_OMNI_CHAT_TEMPLATE),
    "qwen3-omni": Spec(Qwen3OmniMoeAdapter, QWEN3_OMNI_CHAT_TEMPLATE),
}


def build_tokenizer(family: str) -> Qwen2Tokenizer:
    """The offline BPE tokenizer with the family's special tokens, each also under its processor name."""
    named = SPECS[family].tokens
    base = train_tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>", *named.values()])
    # Named tokens (audio_token=...) are set at load time, as a real checkpoint's tokenizer_config does.
    with tempfile.TemporaryDirectory() as folder:
        base.save_pretrained(folder)
        tok = Qwen2Tokenizer.from_pretrained(folder, **named)  # type: ignore[arg-type]
    assert isinstance(tok, Qwen2Tokenizer)
    return tok


def build_processor(family: str, tokenizer: Any = None, chunk_s: int = 30) -> Any:
    """The family's audio-only processor around the offline tokenizer and a 128-bin Whisper front end."""
    spec = SPECS[family]
    tok = tokenizer if tokenizer is not None else build_tokenizer(family)
    fe = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, hop_length=160, chunk_length=chunk_s)
    return spec.adapter.processor_class(feature_extractor=fe, tokenizer=tok, chat_template=spec.chat_template)


def tiny_config(family: str, tok: Any, size: dict[str, int] | None = None) -> Any:
    """A few-MB thinker config of the family's architecture (vision encoder kept, and tiny)."""
    s = sizes(size)
    ids = {name: tok.convert_tokens_to_ids(token) for name, token in SPECS[family].tokens.items()}
    head_dim = s["dim"] // s["heads"]
    # mRoPE splits the rotary frequencies into time / height / width sections (the real 16:24:24 or
    # 24:20:20 of 64 pairs); scaled to this head's head_dim / 2 pairs.
    third = head_dim // 6
    text: dict[str, Any] = {
        "vocab_size": len(tok),
        "hidden_size": s["dim"],
        "intermediate_size": s["ffn"],
        "num_hidden_layers": s["layers"],
        "num_attention_heads": s["heads"],
        "num_key_value_heads": max(1, s["heads"] // 2),
        "max_position_embeddings": 32768,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 1000000.0,
            "mrope_section": [head_dim // 2 - 2 * third, third, third],
        },
        "tie_word_embeddings": False,
    }
    audio: dict[str, Any] = {
        "num_mel_bins": 128,
        "d_model": s["enc_dim"],
        "encoder_layers": s["enc_layers"],
        "encoder_attention_heads": s["enc_heads"],
        "encoder_ffn_dim": 2 * s["enc_dim"],
        "output_dim": s["dim"],
    }
    vision: dict[str, Any] = {
        "depth": 1,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_heads": 2,
        "out_hidden_size": s["dim"],
    }
    if family == "qwen2.5-omni":
        vision["fullatt_block_indexes"] = [0]
    else:
        text.update(head_dim=head_dim, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32)
        text["rope_parameters"].update(interleaved=True, mrope_interleaved=True)
        # Attention windows of 2 s (the real 8 s would never split the test clips).
        audio.update(downsample_hidden_size=8, n_window_infer=200)
        vision.update(deepstack_visual_indexes=[0], num_position_embeddings=64)
    common = {
        "text_config": text,
        "audio_config": audio,
        "vision_config": vision,
        "audio_start_token_id": ids["audio_bos_token"],
        "vision_start_token_id": ids["vision_bos_token"],
    }
    # The two config classes name the placeholder ids differently (``*_index`` and ``*_id``).
    if family == "qwen2.5-omni":
        return Qwen2_5OmniThinkerConfig(
            audio_token_index=ids["audio_token"],
            image_token_index=ids["image_token"],
            video_token_index=ids["video_token"],
            audio_end_token_id=ids["audio_eos_token"],
            **common,
        )
    return Qwen3OmniMoeThinkerConfig(
        audio_token_id=ids["audio_token"],
        image_token_id=ids["image_token"],
        video_token_id=ids["video_token"],
        **common,
    )


def build_tiny_model(
    family: str, seed: int = 0, size: dict[str, int] | None = None, chunk_s: int = 30, tokenizer: Any = None
) -> tuple[Any, Any]:
    """(thinker, processor) with random weights drawn from ``seed``."""
    processor = build_processor(family, tokenizer, chunk_s)
    tok = processor.tokenizer
    config = tiny_config(family, tok, size)
    model = seeded_model(
        SPECS[family].adapter.model_class,
        config,
        seed,
        tok.pad_token_id,
        tok.convert_tokens_to_ids("<|im_end|>"),
    )
    return model, processor
