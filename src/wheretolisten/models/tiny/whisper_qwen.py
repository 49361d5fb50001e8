"""Tiny Qwen2-Audio, Audio Flamingo 3 and Music Flamingo models: Whisper-style encoder + Qwen2 decoder,
built offline. Music Flamingo is the tiny AF3 encoder and decoder inside Music Flamingo's config (so with
its rotary time embedding).

The processor is real: the offline BPE tokenizer with the family's special tokens, a chat template with
the real model's structure, and the Whisper feature extractor with 128 mel bins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from transformers import (
    AudioFlamingo3Config,
    AudioFlamingo3ForConditionalGeneration,
    AudioFlamingo3Processor,
    MusicFlamingoConfig,
    MusicFlamingoForConditionalGeneration,
    MusicFlamingoProcessor,
    Qwen2AudioConfig,
    Qwen2AudioForConditionalGeneration,
    Qwen2AudioProcessor,
    Qwen2Tokenizer,
    WhisperFeatureExtractor,
)

from ...errors import ModelError
from .seeded import seeded_model
from .sizes import gqa_decoder, sizes
from .templates import AF3_CHAT_TEMPLATE, MF_CHAT_TEMPLATE, QWEN2_AUDIO_CHAT_TEMPLATE
from .tokenizer import train_tokenizer

#: The chat tokens every family's tokenizer starts with (the first ends the text).
TEXT_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


@dataclass(frozen=True)
class Spec:
    """One family's tiny build: its classes, chat template and audio tokens."""

    model_class: type
    processor_class: type
    chat_template: str
    #: The audio placeholder, then the delimiters the processor puts around the audio tokens (if any).
    audio_tokens: tuple[str, ...]

    @property
    def special_tokens(self) -> list[str]:
        return [*TEXT_TOKENS, *self.audio_tokens]


SPECS = {
    "qwen2-audio": Spec(
        Qwen2AudioForConditionalGeneration,
        Qwen2AudioProcessor,
        QWEN2_AUDIO_CHAT_TEMPLATE,
        ("<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"),
    ),
    "audioflamingo3": Spec(
        AudioFlamingo3ForConditionalGeneration, AudioFlamingo3Processor, AF3_CHAT_TEMPLATE, ("<sound>",)
    ),
    "musicflamingo": Spec(
        MusicFlamingoForConditionalGeneration,
        MusicFlamingoProcessor,
        MF_CHAT_TEMPLATE,
        ("<sound>", "<|sound_bos|>", "<|sound_eos|>"),
    ),
}
FAMILIES = tuple(SPECS)


def build_tokenizer(
    family: str, corpus: Sequence[str] | None = None, vocab_size: int = 512
) -> Qwen2Tokenizer:
    """The offline BPE tokenizer with ``family``'s special tokens."""
    if family not in SPECS:
        raise ModelError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    tok = train_tokenizer(SPECS[family].special_tokens, corpus, vocab_size)
    if family == "qwen2-audio":
        tok.audio_token, tok.audio_bos_token, tok.audio_eos_token = SPECS[family].audio_tokens
    return tok


def build_processor(
    family: str, tokenizer: Qwen2Tokenizer | None = None, chunk_s: int = 30, n_mels: int = 128
) -> Any:
    """The family's real processor class around an offline tokenizer and a Whisper front end.

    ``chunk_s`` is the encoder window (30 s in the real models; a small model may use a shorter one);
    ``n_mels`` is 128 as in the real models, or 80 for a Whisper-base encoder.
    """
    tok = tokenizer if tokenizer is not None else build_tokenizer(family)
    fe = WhisperFeatureExtractor(
        feature_size=n_mels, sampling_rate=16000, hop_length=160, chunk_length=chunk_s
    )
    spec = SPECS[family]
    return spec.processor_class(feature_extractor=fe, tokenizer=tok, chat_template=spec.chat_template)


def tiny_config(
    family: str,
    vocab_size: int,
    audio_token_id: int,
    size: dict[str, int] | None = None,
    chunk_s: int = 30,
    n_mels: int = 128,
    delimiter_ids: Sequence[int] = (),
) -> Any:
    """A few-MB config of the family's exact architecture (AF3 with grouped-query attention; Music
    Flamingo: AF3's encoder and decoder, with the ids of its audio delimiters)."""
    s = sizes(size)
    text = gqa_decoder("qwen2", vocab_size, s)
    text.update(max_position_embeddings=32768, rope_theta=10000.0, tie_word_embeddings=False)
    if family == "qwen2-audio":
        # Qwen2-Audio's decoder is multi-head; AF3's (Qwen2.5-7B) uses grouped-query attention.
        text["num_key_value_heads"] = s["heads"]
    audio: dict[str, Any] = {
        "num_mel_bins": n_mels,
        "d_model": s["enc_dim"],
        "encoder_layers": s["enc_layers"],
        "encoder_attention_heads": s["enc_heads"],
        "encoder_ffn_dim": s.get("enc_ffn", 2 * s["enc_dim"]),
        # 100 mel frames per second, halved by the strided conv: 1500 positions for a 30-s window.
        "max_source_positions": 50 * chunk_s,
    }
    if family == "qwen2-audio":
        audio["model_type"] = "qwen2_audio_encoder"
        return Qwen2AudioConfig(audio_config=audio, text_config=text, audio_token_index=audio_token_id)
    if family not in SPECS:
        raise ModelError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    audio["model_type"] = "audioflamingo3_encoder"
    if family == "audioflamingo3":
        return AudioFlamingo3Config(audio_config=audio, text_config=text, audio_token_id=audio_token_id)
    bos, eos = delimiter_ids
    return MusicFlamingoConfig(
        audio_config=audio,
        text_config=text,
        audio_token_id=audio_token_id,
        audio_bos_token_id=bos,
        audio_eos_token_id=eos,
    )


def build_tiny_model(
    family: str,
    seed: int = 0,
    size: dict[str, int] | None = None,
    chunk_s: int = 30,
    tokenizer: Qwen2Tokenizer | None = None,
    n_mels: int = 128,
) -> tuple[Any, Any]:
    """(model, processor) with random weights drawn from ``seed``."""
    spec = SPECS[family]
    processor = build_processor(family, tokenizer, chunk_s, n_mels)
    tok = processor.tokenizer
    audio_ids = tok.convert_tokens_to_ids(list(spec.audio_tokens))
    config = tiny_config(family, len(tok), audio_ids[0], size, chunk_s, n_mels, audio_ids[1:])
    end = tok.convert_tokens_to_ids(TEXT_TOKENS[2])
    model = seeded_model(spec.model_class, config, seed, tok.pad_token_id, end)
    return model, processor
