"""What an adapter takes, checked before the processor sees it: clips (mono float arrays at the model's
rate) and text (words, never the tokenizer's special tokens)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import AudioError, OptionError


def checked_clips(audios: Sequence[Any], instructions: Sequence[str], sample_rate: int) -> list[np.ndarray]:
    """``audios`` as float32 mono arrays, one per instruction: anything else is one error (a stereo clip was
    counted as twice its length, int16 went unscaled into the features, NaN through them)."""
    if isinstance(audios, np.ndarray) or hasattr(audios, "detach") or isinstance(instructions, str):
        raise OptionError(
            "encode takes a list of clips and a list of instructions, one per clip: "
            "encode([clip], ['Describe the audio.'])"
        )
    if len(audios) != len(instructions):
        raise OptionError(f"encode: one instruction per clip, got {len(audios)} clips, {len(instructions)}")
    clips = []
    for a in audios:
        if isinstance(a, (str, bytes, os.PathLike)):
            raise OptionError("encode takes arrays at the model's rate: read a file with audio.load_audio")
        mono = a.detach().float().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)
        if mono.ndim != 1 or not np.issubdtype(mono.dtype, np.floating):
            raise OptionError(
                f"encode takes mono float clips at the model's rate, got shape {mono.shape} of "
                f"{mono.dtype}: audio.from_array(clip, rate, {sample_rate}) makes one"
            )
        if not np.all(np.isfinite(mono)):
            raise AudioError("encode: a clip contains NaN or infinite samples")
        mono = mono.astype(np.float32, copy=False)
        clips.append(mono)
    return clips


def special_texts(tokenizer: Any) -> tuple[str, ...]:
    """The tokenizer's special tokens as text (the audio placeholder, turn markers): a prompt that
    contains one would be tokenized as that token, not as words."""
    added = getattr(tokenizer, "added_tokens_decoder", None)
    added = added if isinstance(added, dict) else {}  # mistral-common's is a method
    found = {str(t) for t in getattr(tokenizer, "all_special_tokens", None) or ()} | {
        str(t.content) for t in added.values() if getattr(t, "special", False)
    }
    return tuple(sorted(t for t in found if t.strip()))


def check_text(text: str, specials: Sequence[str], family: str) -> None:
    """One OptionError when ``text`` contains one of ``specials`` (the family's special tokens)."""
    special = next((t for t in specials if t in text), None)
    if special is not None:
        raise OptionError(
            f"the text {text!r} contains {special!r}, a special token of {family}'s tokenizer; write the "
            "sound or the question in words"
        )
