"""organism/train_words.py's vocabulary step: whole-word tokens that leave every other prompt as it was."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
STAGE2 = ROOT / "organism" / "stage2" / "model"  # the second stage, which the words stage continued


@pytest.fixture(scope="module")
def train_words() -> Any:
    sys.path.insert(0, str(ROOT / "organism"))
    try:
        yield importlib.import_module("train_words")
    finally:
        sys.path.remove(str(ROOT / "organism"))


def test_words_get_their_own_tokens_and_other_text_is_tokenized_as_before(train_words: Any) -> None:
    from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration

    from wheretolisten.scenes.speech import SPEECH_WORDS

    root = STAGE2
    processor = AutoProcessor.from_pretrained(root)
    model = Qwen2AudioForConditionalGeneration.from_pretrained(root, dtype=torch.float32)
    texts = [
        "\nListen for a train of clicks.<|im_end|>\n<|im_start|>assistant\n",
        "I hear someone, then a low hum. From 3.4 to 5.0 seconds.",
        "What sound plays at 1.0 seconds?",
    ]
    before = [processor.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    rows_before = model.get_input_embeddings().weight.shape[0]
    old = model.get_input_embeddings().weight.detach().clone()

    added = train_words.add_word_tokens(processor, model)

    tok = processor.tokenizer
    assert added == list(SPEECH_WORDS)
    assert [tok(t, add_special_tokens=False)["input_ids"] for t in texts] == before
    pieces = tok.convert_ids_to_tokens(tok(" someone saying 'seven'", add_special_tokens=False)["input_ids"])
    assert "seven" in pieces and "one" not in pieces  # 'one' is a word token, but not inside 'someone'
    emb = model.get_input_embeddings().weight.detach()
    assert emb.shape[0] == rows_before + len(SPEECH_WORDS) == len(tok)
    assert torch.equal(emb[:rows_before], old)  # the old rows are untouched
    new = torch.nn.functional.normalize(emb[rows_before:], dim=-1)
    cos = new @ new.T - torch.eye(len(SPEECH_WORDS))
    assert float(cos.max()) < 0.5  # the days do not start alike


def test_the_export_declares_the_words_and_keeps_the_settings(train_words: Any) -> None:
    import json

    meta = train_words.declared(STAGE2, ["seven"])
    base = json.loads((STAGE2 / "wheretolisten.json").read_text())
    assert meta["vocabulary"]["speech"] == ["seven"]
    assert meta["vocabulary"]["sounds"] == base["vocabulary"]["sounds"]
    assert meta["localize"] == base["localize"] and meta["detect"] == base["detect"]
    assert "generate_note" not in meta and meta["note"].startswith("words stage:")
