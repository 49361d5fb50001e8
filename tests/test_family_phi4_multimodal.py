"""Phi-4-multimodal specifics: 40-s encoder windows that concatenate, the prompt (also after a reload that
drops the processor's template), the decoder-only attention switch, length limits and the speech LoRA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import SR, noise
from wheretolisten.errors import ModelError
from wheretolisten.models import Phi4MultimodalAdapter, load_model, wrap
from wheretolisten.models.phi4_multimodal import MERGED_LORA_ATTR
from wheretolisten.models.tiny import build_tiny_model, make_tiny_model
from wheretolisten.probe import ATTN_NAME, install, temporal_attention

pytestmark = pytest.mark.usefixtures("one_thread")

PROMPT = "Listen for the dog barking."


@pytest.fixture(scope="module")
def adapter() -> Phi4MultimodalAdapter:
    a = wrap(*build_tiny_model("phi4-multimodal", seed=0), name="tiny-phi4")
    assert isinstance(a, Phi4MultimodalAdapter)
    return a


def _encoder_output(a: Phi4MultimodalAdapter, clip: np.ndarray) -> torch.Tensor:
    """The conformer's output for one clip (before the projector), [tokens, width]."""
    batch = a.encode([clip], ["Describe the audio."])
    with torch.no_grad():
        out = a.audio_tower(batch["audio_input_features"], None)
    return out[0]


def test_encoder_windows_concatenate(adapter: Phi4MultimodalAdapter) -> None:
    """45 s = 563 tokens: a 500-token (40-s) window, then the rest. A click at 41 s changes the second window
    only (the conformer runs on each window alone), most where the time axis puts 41 s."""
    seconds = 45.0
    assert adapter.window_token_counts(int(seconds * SR)) == [500, 63]
    quiet = noise(seconds, seed=2, amplitude=0.01)
    base = _encoder_output(adapter, quiet)
    assert base.shape[0] == 563
    starts = adapter.time_axis(563)
    assert starts[500] == pytest.approx(40.0)
    for t in (38.5, 41.0, 44.0):
        clicked = quiet.copy()
        clicked[int(t * SR) : int(t * SR) + 80] += 0.8
        change = (_encoder_output(adapter, clicked) - base).norm(dim=-1)
        other = slice(0, 500) if t > 40 else slice(500, None)
        assert float(change[other].abs().max()) == 0.0
        token = int(change.argmax())
        assert starts[token] - adapter.token_s <= t < starts[token] + 2 * adapter.token_s, (t, token)


def test_prompt_follows_the_checkpoint_template(adapter: Phi4MultimodalAdapter, tmp_path: Path) -> None:
    expected = f"<|user|><|audio|>{PROMPT}<|end|><|assistant|>"
    assert adapter.render_prompt(PROMPT) == expected
    batch = adapter.encode([noise(1.0)], [PROMPT])
    ids = batch["input_ids"][0]
    start, end = adapter.instruction_span(ids)
    assert adapter.tokenizer.decode(ids[start:end]) == PROMPT
    assert adapter.tokenizer.convert_ids_to_tokens(int(ids[end])) == "<|end|>"
    # transformers drops this processor's saved template on reload; the tokenizer keeps it.
    loaded = load_model(make_tiny_model("phi4-multimodal", tmp_path / "m"), device="cpu", dtype="float32")
    assert not loaded.processor.chat_template
    assert loaded.render_prompt(PROMPT) == expected


def test_only_the_decoder_switches_attention(adapter: Phi4MultimodalAdapter) -> None:
    install(adapter)
    assert adapter.text_config._attn_implementation == ATTN_NAME
    assert adapter.audio_tower.config._attn_implementation == "sdpa"
    batch = adapter.encode([noise(2.0)], [PROMPT])
    eager = temporal_attention(adapter, batch, [0], method="eager")
    assert adapter.text_config._attn_implementation == ATTN_NAME
    assert adapter.audio_tower.config._attn_implementation == "sdpa"
    assert eager.per_row[0].shape[-1] == adapter.window_token_counts(2 * SR)[0]


def test_length_limits(adapter: Phi4MultimodalAdapter) -> None:
    with pytest.raises(ModelError, match="at most 300 s"):
        adapter.check_duration(300.5)
    with pytest.raises(ModelError, match="at least 400 samples"):
        adapter.encode([noise(0.02)], [PROMPT])
    # The long RoPE switches frequencies past 4096 positions: such a prompt is refused.
    with pytest.raises(ModelError, match="4096 positions"):
        adapter.encode([noise(1.0)], [" ".join(["sound"] * 4200)])


def test_full_size_architecture() -> None:
    config = Phi4MultimodalAdapter.full_size_config()
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads) == (32, 3072, 24)
    assert config.hidden_size // config.num_attention_heads == 128
    assert config.original_max_position_embeddings == 4096
    assert Phi4MultimodalAdapter.token_s * 500 == pytest.approx(Phi4MultimodalAdapter.window_s)


def test_the_speech_lora_is_loaded_with_the_checkpoint(tmp_path: Path) -> None:
    peft = pytest.importorskip("peft")
    path = make_tiny_model("phi4-multimodal", tmp_path / "m")
    model, _ = build_tiny_model("phi4-multimodal", seed=0)
    lora = peft.LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
        init_lora_weights=False,
    )
    peft.get_peft_model(model, lora).save_pretrained(path / "speech-lora")
    plain = load_model(make_tiny_model("phi4-multimodal", tmp_path / "plain"), device="cpu", dtype="float32")
    a = load_model(path, device="cpu", dtype="float32")
    assert getattr(a.model, MERGED_LORA_ATTR, None) == "speech-lora"
    assert getattr(plain.model, MERGED_LORA_ATTR, None) is None
    assert type(a.model) is type(plain.model)  # merged: still the plain transformers class
    batch = a.encode([noise(1.5)], [PROMPT])
    with torch.no_grad():
        assert not torch.allclose(a.model(**batch).logits, plain.model(**batch).logits)
    # The probe still equals eager attention through the LoRA-wrapped projections.
    fast = temporal_attention(a, batch, [0, 3], method="fast")
    eager = temporal_attention(a, batch, [0, 3], method="eager")
    torch.testing.assert_close(fast.per_row[0], eager.per_row[0], atol=1e-5, rtol=0)


def test_a_speech_lora_without_peft_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    path = make_tiny_model("phi4-multimodal", tmp_path / "m")
    (path / "speech-lora").mkdir()
    (path / "speech-lora" / "adapter_config.json").write_text("{}")
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "peft" else find_spec(name, *a)
    )
    with pytest.raises(ModelError, match="needs peft"):
        load_model(path, device="cpu", dtype="float32")
