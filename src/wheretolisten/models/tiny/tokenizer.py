"""A byte-level BPE tokenizer trained offline on a small corpus, with a family's real special tokens.

Every tiny model needs a working tokenizer without a download; Qwen2's pre-tokenization and byte-level
BPE serve every family whose real tokenizer is BPE-like (the special tokens are the family's own).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import Qwen2Tokenizer

#: Qwen2's pre-tokenization pattern (split words, digits, punctuation and whitespace runs).
_PRETOKENIZE = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    r"|\s+(?!\S)|\s+"
)

#: Text the tokenizer learns its merges from: chat scaffolding, instructions, sound names, numbers.
CORPUS = [
    "system",
    "user",
    "assistant",
    "You are a helpful assistant.",
    "Audio 1:",
    "Describe the audio.",
    "What do you hear?",
    "Listen to the recording.",
    "What is in this clip?",
    "Listen for the dog barking.",
    "Focus on the sound of",
    "Pay attention to",
    "Listen for",
    "When does the sound start and end? Answer in seconds.",
    "from 2.5 to 4.0 seconds",
    "Which sounds are present, in order?",
    "Is there a siren? Yes. No.",
    "What sound plays at 3.5 seconds?",
    "a steady tone",
    "a siren",
    "a burst of noise",
    "a train of clicks",
    "a bell ringing",
    "knocking",
    "a low hum",
    "chirping",
    "the dog barking",
    "speech",
    "music",
    "rain",
    "a car horn",
    "footsteps",
    "0 1 2 3 4 5 6 7 8 9 10 seconds",
    "then",
    "and",
    "first",
    "second",
    "third",
    "the",
    "sound",
    "of",
]


def train_tokenizer(
    special_tokens: Sequence[str],
    corpus: Sequence[str] | None = None,
    vocab_size: int = 512,
    named_tokens: Mapping[str, str] | None = None,
) -> Qwen2Tokenizer:
    """A small byte-level BPE tokenizer; ``special_tokens[0]`` is the end-of-text token, the rest are added
    as special tokens. Trained deterministically (same inputs, same vocabulary). ``named_tokens`` (e.g.
    ``{"audio_token": "<|audio|>"}``) become named attributes with ids, saved with the tokenizer."""
    backend = Tokenizer(models.BPE())
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_PRETOKENIZE), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[special_tokens[0]],
        show_progress=False,
    )
    text = corpus if corpus is not None else CORPUS
    backend.train_from_iterator([line for line in text for _ in range(4)], trainer)
    model = json.loads(backend.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    vocab, named = model["vocab"], {}
    if named_tokens:
        # Named tokens join at construction, before the others: reserve every special token's id, in order.
        extra = [t for t in special_tokens[1:] if t not in vocab]
        vocab = {**vocab, **{t: len(vocab) + i for i, t in enumerate(extra)}}
        named = {"extra_special_tokens": dict(named_tokens)}
    tok = Qwen2Tokenizer(vocab=vocab, merges=merges, **named)  # type: ignore[arg-type]
    tok.add_special_tokens({"additional_special_tokens": list(special_tokens[1:])})
    return tok
