"""Sizes shared by the tiny builders (all but Gemma 3n and Phi-4-multimodal): a few-MB encoder and GQA
decoder."""

from __future__ import annotations

from typing import Any

#: Default tiny sizes; a builder's ``size`` argument overrides any of them.
DEFAULT_SIZE = {
    "enc_dim": 32,
    "enc_layers": 2,
    "enc_heads": 2,
    "dim": 64,
    "layers": 4,
    "heads": 4,
    "ffn": 128,
}


def sizes(size: dict[str, int] | None) -> dict[str, int]:
    """The default tiny sizes with ``size`` applied."""
    return {**DEFAULT_SIZE, **(size or {})}


def gqa_decoder(model_type: str, vocab_size: int, s: dict[str, int]) -> dict[str, Any]:
    """A decoder config dict of ``model_type`` with grouped-query attention (half as many key/value heads),
    as in the real checkpoints."""
    return {
        "model_type": model_type,
        "vocab_size": vocab_size,
        "hidden_size": s["dim"],
        "intermediate_size": s["ffn"],
        "num_hidden_layers": s["layers"],
        "num_attention_heads": s["heads"],
        "num_key_value_heads": max(1, s["heads"] // 2),
    }
