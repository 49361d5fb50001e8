"""A tiny Phi-4-multimodal, built offline: NeMo-subsampled conformer + Phi-4-mini-style decoder.

Kept at the real model's shape where the adapter depends on it: the real audio front end (80 mel bins,
10-ms hop, 25-ms window, 8 frames a token), grouped-query attention with a fused QKV projection, partial
long RoPE (three quarters of each head, short and long factors, the switch at 4096 positions) and the
sliding window of the real config (wider than any prompt). The vision encoder (never run) is one small
layer; its image processor is a PIL stand-in, since the real one needs torchvision.
"""

from __future__ import annotations

from typing import Any

from transformers import (
    Phi4MultimodalConfig,
    Phi4MultimodalFeatureExtractor,
    Phi4MultimodalForCausalLM,
    Phi4MultimodalProcessor,
)

from .image_stand_in import with_image_stand_in
from .seeded import seeded_pair
from .templates import PHI4MM_CHAT_TEMPLATE
from .tokenizer import train_tokenizer

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|end|>",
    "<|image|>",
    "<|audio|>",
]
NAMED_TOKENS = {"image_token": "<|image|>", "audio_token": "<|audio|>"}


def build_processor(tokenizer: Any = None) -> Phi4MultimodalProcessor:
    """The real processor class around an offline tokenizer and the real audio front end."""
    tok = tokenizer if tokenizer is not None else train_tokenizer(SPECIAL_TOKENS, named_tokens=NAMED_TOKENS)
    fe = Phi4MultimodalFeatureExtractor()
    processor: Phi4MultimodalProcessor = with_image_stand_in(
        Phi4MultimodalProcessor, tok, PHI4MM_CHAT_TEMPLATE, audio_processor=fe
    )
    return processor


def tiny_config(tok: Any, size: dict[str, int] | None = None) -> Phi4MultimodalConfig:
    """A few-MB config of the real architecture (the real: 32 layers, 3072 wide, 24 heads, 8 KV heads)."""
    s = {"enc_dim": 32, "enc_layers": 2, "dim": 64, "layers": 4, "heads": 4}
    s.update(size or {})
    head_dim = s["dim"] // s["heads"]
    rotary_pairs = int(head_dim * 0.75) // 2
    rope = {
        "rope_type": "longrope",
        "rope_theta": 10000.0,
        "partial_rotary_factor": 0.75,
        "short_factor": [1.0 + 0.05 * i for i in range(rotary_pairs)],
        "long_factor": [1.0 + 0.5 * i for i in range(rotary_pairs)],
    }
    audio = {
        "hidden_size": s["enc_dim"],
        "intermediate_size": 2 * s["enc_dim"],
        "num_blocks": s["enc_layers"],
        "num_attention_heads": 2,
        "ext_pw_out_channel": s["enc_dim"],
        "depthwise_separable_out_channel": s["enc_dim"],
        "nemo_conv_channels": 8,
        "audio_token_id": tok.audio_token_id,
    }
    vision = {
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": 28,
        "crop_size": 28,
        "patch_size": 14,
        "image_token_id": tok.image_token_id,
    }
    return Phi4MultimodalConfig(
        vocab_size=len(tok),
        hidden_size=s["dim"],
        intermediate_size=2 * s["dim"],
        num_hidden_layers=s["layers"],
        num_attention_heads=s["heads"],
        num_key_value_heads=max(1, s["heads"] // 2),
        max_position_embeddings=131072,
        original_max_position_embeddings=4096,
        rope_parameters=rope,
        sliding_window=262144,
        tie_word_embeddings=True,
        bos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"),
        pad_token_id=tok.pad_token_id,
        eos_token_id=[tok.eos_token_id, tok.convert_tokens_to_ids("<|end|>")],
        audio_config=audio,
        vision_config=vision,
    )


def build_tiny_model(
    family: str, seed: int = 0, size: dict[str, int] | None = None, chunk_s: int = 30, tokenizer: Any = None
) -> tuple[Any, Any]:
    """(model, processor) with random weights drawn from ``seed`` (the encoder window is the real 40 s)."""
    return seeded_pair(Phi4MultimodalForCausalLM, build_processor(tokenizer), tiny_config, seed, size)
