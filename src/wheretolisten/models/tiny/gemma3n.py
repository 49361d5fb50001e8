"""A tiny Gemma 3n, built offline: USM-style conformer + AltUp decoder, sliding-window and KV-shared layers.

Everything the adapter depends on is kept at the real model's shape: the 188 audio soft tokens per clip,
the mel front end (128 bins, 10-ms hop), the sub-sampling (two stride-2 convolutions, then every fourth
frame), the decoder's layer pattern (sliding and full attention, the last layers reusing earlier layers'
keys and values), AltUp, per-layer inputs and the logit soft-cap. The soft-token vocabularies are shrunk to
four ids each; the vision tower (never run) is timm's smallest test network.
"""

from __future__ import annotations

from typing import Any

from transformers import (
    Gemma3nAudioFeatureExtractor,
    Gemma3nConfig,
    Gemma3nForConditionalGeneration,
    Gemma3nProcessor,
)

from .image_stand_in import with_image_stand_in
from .seeded import seeded_pair
from .templates import GEMMA3N_CHAT_TEMPLATE
from .tokenizer import train_tokenizer

#: Text-range special tokens, then the vision and the audio soft-token ranges (4 ids each, like the real
#: 128: the range opens with the end-of-modality token, then the soft token).
TEXT_TOKENS = [
    "<|endoftext|>",
    "<pad>",
    "<eos>",
    "<bos>",
    "<start_of_turn>",
    "<end_of_turn>",
    "<start_of_image>",
    "<start_of_audio>",
]
SOFT_VOCAB = 4
IMAGE_TOKENS = ["<end_of_image>", "<image_soft_token>", "<unused_image_2>", "<unused_image_3>"]
AUDIO_TOKENS = ["<end_of_audio>", "<audio_soft_token>", "<unused_audio_2>", "<unused_audio_3>"]
NAMED_TOKENS = {
    "boi_token": "<start_of_image>",
    "eoi_token": "<end_of_image>",
    "image_token": "<image_soft_token>",
    "boa_token": "<start_of_audio>",
    "eoa_token": "<end_of_audio>",
    "audio_token": "<audio_soft_token>",
}


def build_processor(tokenizer: Any = None) -> Gemma3nProcessor:
    """The real processor class: offline tokenizer, the real audio front end, a PIL image processor."""
    tok = tokenizer
    if tok is None:
        tok = train_tokenizer([*TEXT_TOKENS, *IMAGE_TOKENS, *AUDIO_TOKENS], named_tokens=NAMED_TOKENS)
        tok.bos_token, tok.eos_token, tok.pad_token = "<bos>", "<eos>", "<pad>"
    fe = Gemma3nAudioFeatureExtractor()
    processor: Gemma3nProcessor = with_image_stand_in(
        Gemma3nProcessor, tok, GEMMA3N_CHAT_TEMPLATE, feature_extractor=fe
    )
    return processor


def tiny_config(tok: Any, size: dict[str, int] | None = None) -> Gemma3nConfig:
    """A few-MB config of the real architecture; ids follow the tokenizer's soft-token ranges."""
    s = {"enc_dim": 32, "enc_layers": 2, "dim": 64, "layers": 6, "heads": 4, "window": 48}
    s.update(size or {})
    image_offset = int(tok.convert_tokens_to_ids(IMAGE_TOKENS[0]))
    audio_offset = int(tok.convert_tokens_to_ids(AUDIO_TOKENS[0]))
    ids = {f"{key}_id": tok.convert_tokens_to_ids(token) for key, token in NAMED_TOKENS.items()}
    # Sliding and full layers alternate; the last third reuses the keys and values of the last unshared
    # layer of each type (the real E4B: 35 layers, full every fifth, the last 15 shared), so that the
    # default steered band (n/3 to n/2) stays below the shared layers, as in the real models.
    layers = s["layers"]
    text = {
        "vocab_size": audio_offset + SOFT_VOCAB,
        "vocab_size_per_layer_input": image_offset,
        "hidden_size": s["dim"],
        "intermediate_size": 2 * s["dim"],
        "num_hidden_layers": layers,
        "num_attention_heads": s["heads"],
        "num_key_value_heads": max(1, s["heads"] // 2),
        "head_dim": s["dim"] // s["heads"],
        "hidden_size_per_layer_input": 16,
        "laurel_rank": 8,
        "sliding_window": s["window"],
        "layer_types": ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)],
        "num_kv_shared_layers": layers // 3,
        "activation_sparsity_pattern": [0.95] + [0.0] * (layers - 1),
        "pad_token_id": tok.pad_token_id,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": [tok.eos_token_id, tok.convert_tokens_to_ids("<end_of_turn>")],
    }
    audio = {
        "hidden_size": s["enc_dim"],
        "conf_num_hidden_layers": s["enc_layers"],
        "conf_num_attention_heads": 2,
        "sscp_conv_channel_size": [8, 4],
        # The encoder is causal; the real 13-frame (480-ms) attention context lets a random-weight encoder's
        # strongest response trail an event by up to three tokens, which hides the token-to-time mapping
        # from the generic click test. tests/test_family_gemma3n.py checks the mapping with the real context.
        "conf_attention_context_left": 3,
        "vocab_size": SOFT_VOCAB,
        "vocab_offset": audio_offset,
    }
    vision = {
        "architecture": "test_efficientnet",
        "hidden_size": 16,
        "vocab_size": SOFT_VOCAB,
        "vocab_offset": image_offset,
        "label_names": ["none"],
    }
    return Gemma3nConfig(text_config=text, audio_config=audio, vision_config=vision, **ids)


def build_tiny_model(
    family: str, seed: int = 0, size: dict[str, int] | None = None, chunk_s: int = 30, tokenizer: Any = None
) -> tuple[Any, Any]:
    """(model, processor) with random weights drawn from ``seed`` (the window is always the real 30 s)."""
    return seeded_pair(Gemma3nForConditionalGeneration, build_processor(tokenizer), tiny_config, seed, size)
