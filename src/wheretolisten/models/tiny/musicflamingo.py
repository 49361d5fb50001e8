"""Tiny Music Flamingo: the tiny AF3 encoder and decoder inside Music Flamingo's config (so with its rotary
time embedding), and the real processor around the offline tokenizer with the sound delimiters."""

from __future__ import annotations

from typing import Any

from transformers import (
    MusicFlamingoConfig,
    MusicFlamingoForConditionalGeneration,
    MusicFlamingoProcessor,
    Qwen2Tokenizer,
    WhisperFeatureExtractor,
)

from . import whisper_qwen
from .seeded import seeded_model
from .templates import MF_CHAT_TEMPLATE
from .tokenizer import train_tokenizer

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<sound>", "<|sound_bos|>", "<|sound_eos|>"]


def build_processor(tokenizer: Qwen2Tokenizer | None = None, chunk_s: int = 30) -> MusicFlamingoProcessor:
    """The real processor (20-minute limit) with an offline tokenizer and a 128-bin Whisper front end."""
    tok = tokenizer if tokenizer is not None else train_tokenizer(SPECIAL_TOKENS)
    fe = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, hop_length=160, chunk_length=chunk_s)
    return MusicFlamingoProcessor(feature_extractor=fe, tokenizer=tok, chat_template=MF_CHAT_TEMPLATE)


def tiny_config(tokenizer: Any, size: dict[str, int] | None = None, chunk_s: int = 30) -> MusicFlamingoConfig:
    """AF3's tiny encoder and decoder configs, with the tokenizer's audio token and delimiters."""
    ids = tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS[3:])
    af3 = whisper_qwen.tiny_config("audioflamingo3", len(tokenizer), ids[0], size, chunk_s)
    return MusicFlamingoConfig(
        audio_config=af3.audio_config.to_dict(),
        text_config=af3.text_config.to_dict(),
        audio_token_id=ids[0],
        audio_bos_token_id=ids[1],
        audio_eos_token_id=ids[2],
    )


def build_tiny_model(
    family: str,
    seed: int = 0,
    size: dict[str, int] | None = None,
    chunk_s: int = 30,
    tokenizer: Qwen2Tokenizer | None = None,
) -> tuple[Any, Any]:
    """(model, processor) with random weights drawn from ``seed`` (``family`` is always musicflamingo)."""
    processor = build_processor(tokenizer, chunk_s)
    tok = processor.tokenizer
    config = tiny_config(tok, size, chunk_s)
    model = seeded_model(
        MusicFlamingoForConditionalGeneration,
        config,
        seed,
        tok.pad_token_id,
        tok.convert_tokens_to_ids("<|im_end|>"),
    )
    return model, processor
