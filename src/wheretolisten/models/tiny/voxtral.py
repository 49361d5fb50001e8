"""A tiny Voxtral: Whisper-style encoder (frames stacked by four) + Llama decoder, with a real processor.

The processor is the real ``VoxtralProcessor``: a 128-bin Whisper front end and mistral-common's
``MistralCommonBackend`` around a small Tekken vocabulary (the offline BPE's merges as byte ranks) with the
checkpoints' special tokens at their ids ([INST] 3, [/INST] 4, [AUDIO] 24, [BEGIN_AUDIO] 25, [TRANSCRIBE]
34) and their audio settings (16 kHz, 12.5 tokens per second, 30-s windows).
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from transformers import VoxtralConfig, VoxtralForConditionalGeneration, WhisperFeatureExtractor
from transformers.convert_slow_tokenizer import bytes_to_unicode

from ...errors import ModelError
from ...files import write_atomic
from ..voxtral import AUDIO_TOKEN_ID
from .seeded import seeded_model
from .sizes import gqa_decoder, sizes
from .tokenizer import _PRETOKENIZE, train_tokenizer

#: The Tekken special tokens up to [TRANSCRIBE], by id; the gaps are unnamed fillers.
_NAMED = {
    0: "<unk>",
    1: "<s>",
    2: "</s>",
    3: "[INST]",
    4: "[/INST]",
    5: "[AVAILABLE_TOOLS]",
    6: "[/AVAILABLE_TOOLS]",
    7: "[TOOL_RESULTS]",
    8: "[/TOOL_RESULTS]",
    9: "[TOOL_CALLS]",
    10: "[IMG]",
    11: "<pad>",
    12: "[IMG_BREAK]",
    13: "[IMG_END]",
    14: "[PREFIX]",
    15: "[MIDDLE]",
    16: "[SUFFIX]",
    17: "[SYSTEM_PROMPT]",
    18: "[/SYSTEM_PROMPT]",
    19: "[TOOL_CONTENT]",
    20: "[ARGS]",
    21: "[CALL_ID]",
    AUDIO_TOKEN_ID: "[AUDIO]",
    AUDIO_TOKEN_ID + 1: "[BEGIN_AUDIO]",
    34: "[TRANSCRIBE]",
}
#: The real vocabulary reserves 1000 special ids; a few dozen keep the tiny embedding small.
NUM_SPECIAL = 40


def tekken_json(vocab_size: int = 512) -> dict[str, Any]:
    """A Tekken tokenizer file: byte ranks first, then the offline BPE's merges in order."""
    trained = train_tokenizer(["</s>"], vocab_size=vocab_size)
    merges = json.loads(trained.backend_tokenizer.to_str())["model"]["merges"]
    to_byte = {char: byte for byte, char in bytes_to_unicode().items()}
    pieces = [bytes([i]) for i in range(256)]
    for merge in merges:
        left, right = merge if isinstance(merge, list) else merge.split(" ")
        pieces.append(bytes(to_byte[c] for c in left + right))
    specials = [
        {"rank": i, "token_str": _NAMED.get(i, f"<SPECIAL_{i}>"), "is_control": True}
        for i in range(NUM_SPECIAL)
    ]
    return {
        "config": {
            "pattern": _PRETOKENIZE,
            "num_vocab_tokens": len(pieces),
            "default_vocab_size": len(pieces) + NUM_SPECIAL,
            "default_num_special_tokens": NUM_SPECIAL,
            "version": "v7",
        },
        "vocab": [
            {"rank": i, "token_bytes": base64.b64encode(p).decode("ascii"), "token_str": None}
            for i, p in enumerate(pieces)
        ],
        "special_tokens": specials,
        "audio": {
            "sampling_rate": 16000,
            "frame_rate": 12.5,
            "audio_encoding_config": {"num_mel_bins": 128, "hop_length": 160, "window_size": 400},
            "chunk_length_s": 30.0,
        },
    }


def build_tokenizer() -> Any:
    """mistral-common's backend around the tiny Tekken file (kept in the temp directory, by content hash,
    because the backend copies the file when the processor is saved)."""
    try:
        from transformers.tokenization_mistral_common import MistralCommonBackend
    except ImportError:  # pragma: no cover - depends on the environment
        raise ModelError("Voxtral needs mistral-common: pip install 'wheretolisten[voxtral]'") from None
    text = json.dumps(tekken_json(), sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"wheretolisten-tekken-{digest}" / "tekken.json"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
    return MistralCommonBackend(tokenizer_path=str(path))


def tiny_config(vocab_size: int, size: dict[str, int] | None = None) -> VoxtralConfig:
    """A few-MB Voxtral: 4 encoder frames per token, 1500 encoder positions per 30-s window, GQA decoder."""
    s = sizes(size)
    audio = {
        "model_type": "voxtral_encoder",
        "hidden_size": s["enc_dim"],
        # The projector reads 4 stacked encoder frames: its input width is 4 × the encoder's.
        "intermediate_size": 4 * s["enc_dim"],
        "num_hidden_layers": s["enc_layers"],
        "num_attention_heads": s["enc_heads"],
        "num_mel_bins": 128,
        "max_source_positions": 1500,
    }
    text = gqa_decoder("llama", vocab_size, s)
    text.update(head_dim=s["dim"] // s["heads"], max_position_embeddings=32768, tie_word_embeddings=False)
    return VoxtralConfig(audio_config=audio, text_config=text, audio_token_id=AUDIO_TOKEN_ID)


def build_tiny_model(
    family: str, seed: int = 0, size: dict[str, int] | None = None, chunk_s: int = 30, tokenizer: Any = None
) -> tuple[Any, Any]:
    """(model, processor) with random weights drawn from ``seed``; the window is fixed at 30 s."""
    from transformers import VoxtralProcessor

    if chunk_s != 30:
        raise ModelError("Voxtral's processor cuts audio into 30-s windows; chunk_s must be 30")
    tok = tokenizer if tokenizer is not None else build_tokenizer()
    fe = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, hop_length=160, chunk_length=30)
    processor = VoxtralProcessor(feature_extractor=fe, tokenizer=tok)
    model = seeded_model(
        VoxtralForConditionalGeneration, tiny_config(len(tok), size), seed, tok.pad_token_id, tok.eos_token_id
    )
    return model, processor
