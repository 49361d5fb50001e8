"""Gemma 3n specifics: audio tokens versus padding soft tokens, the causal front end's time axis, AltUp
streams, whole prompts only, the prompt, the length limits and the timm requirement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import SR, noise
from wheretolisten.engine import FullEngine, make_engine
from wheretolisten.errors import ModelError
from wheretolisten.models import registry, wrap
from wheretolisten.models.gemma3n import Gemma3nAdapter
from wheretolisten.models.tiny import build_tiny_model, make_tiny_model
from wheretolisten.positions import PositionTable
from wheretolisten.settings import LocalizeConfig, resolve
from wheretolisten.steering import hook_layers
from wheretolisten.vectors import SteeringVector

pytestmark = pytest.mark.usefixtures("one_thread")

PROMPT = "Listen for the dog barking."


def needs_timm() -> None:
    pytest.importorskip("timm", reason="Gemma 3n's model class builds a timm vision tower")


@pytest.fixture(scope="module")
def adapter() -> Gemma3nAdapter:
    needs_timm()
    a = wrap(*build_tiny_model("gemma3n", seed=0), name="tiny-gemma3n")
    assert isinstance(a, Gemma3nAdapter)
    return a


def _embeddings(a: Gemma3nAdapter, clip: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The decoder's input embeddings (AltUp's active stream) and the encoded input ids, one clip."""
    batch = a.encode([clip], ["Describe the audio."])
    with torch.no_grad():
        out = a.model(**batch, output_hidden_states=True, use_cache=False)
    return a.layer_hidden(out.hidden_states[0])[0], batch["input_ids"]


def _audio_embeddings(a: Gemma3nAdapter, clip: np.ndarray) -> torch.Tensor:
    hidden, ids = _embeddings(a, clip)
    return hidden[a.audio_mask(ids)[0]]


def test_only_tokens_that_cover_the_clip_are_audio(adapter: Gemma3nAdapter) -> None:
    """188 soft tokens for any clip; past the clip's end the model writes one padding embedding."""
    clip = noise(2.0, seed=1)
    hidden, ids = _embeddings(adapter, clip)
    placeholders = (ids[0] == adapter.audio_token_id).nonzero().squeeze(-1)
    audio = adapter.audio_mask(ids)[0].nonzero().squeeze(-1)
    assert len(placeholders) == 188
    # 2 s = 197 mel frames of 10 ms; a token every 16 frames: 13 tokens, the last starting at 1.92 s.
    assert adapter.window_token_counts(clip.size) == [13] and len(audio) == 13
    assert torch.equal(audio, placeholders[:13])
    padding = hidden[placeholders[13:]]
    assert torch.equal(padding, padding[:1].expand_as(padding))
    assert not torch.isclose(hidden[placeholders[12]], padding[0]).all()
    np.testing.assert_allclose(adapter.time_axis(13)[[0, 1, -1]], [0.0, 0.16, 1.92])
    # Ids this adapter did not encode (here a copy) fall back to every placeholder.
    assert int(adapter.audio_mask(ids.clone()).sum()) == 188


def test_a_30_s_clip_fills_every_soft_token(adapter: Gemma3nAdapter) -> None:
    assert adapter.window_token_counts(30 * SR) == [188]
    batch = adapter.encode([noise(30.0)], ["Describe the audio."])
    assert int(adapter.audio_mask(batch["input_ids"]).sum()) == 188
    assert adapter.time_axis(188)[-1] == pytest.approx(29.92)


def test_the_first_changed_token_follows_the_front_end() -> None:
    """With the real 480-ms attention context: an event first reaches the token covering it, or the next one
    when it falls past that token's direct receptive field (its first ~100 ms); earlier tokens never change.

    The encoder is causal (look-ahead convolutions of 70 ms, attention and normalisation over the past only),
    so the first token that changes is fixed by the strides whatever the weights, while the most changed one
    may trail by up to three tokens with random weights (the generic click test uses a shorter context).
    """
    needs_timm()
    model, processor = build_tiny_model("gemma3n", seed=3)
    config = model.config.audio_config
    config.conf_attention_context_left = 13
    torch.manual_seed(3)
    a = wrap(type(model)(model.config).eval(), processor, name="tiny-gemma3n-real-context")
    quiet = noise(6.0, seed=2, amplitude=0.01)
    base = _audio_embeddings(a, quiet)
    starts = a.time_axis(base.shape[0])
    for t in (0.5, 1.8, 2.05, 3.3, 4.8, 5.5):
        clicked = quiet.copy()
        i = int(t * SR)
        clicked[i : i + 80] += 0.8
        change = (_audio_embeddings(a, clicked) - base).norm(dim=-1)
        first = int(change.nonzero()[0])
        covering = int(np.searchsorted(starts, t, side="right")) - 1
        # Mel frames are 32 ms long every 10 ms; token k reads frames 16k .. 16k + 6.
        first_frame = -(-(i - 512) // 160)
        assert first == -(-(first_frame - 6) // 16), t
        assert first in (covering, covering + 1), (t, first, covering)


def test_steering_reads_and_writes_the_active_altup_stream(adapter: Gemma3nAdapter) -> None:
    """A steered layer's output changes in the active stream only, by α·v at the steered positions."""
    batch = adapter.encode([noise(1.0)], [PROMPT])
    layer, alpha = 2, 3.0
    entering: list[torch.Tensor] = []
    record = adapter.decoder_layers[layer + 1].register_forward_pre_hook(
        lambda _m, args: entering.append(args[0])
    )
    vector = SteeringVector({layer: torch.ones(adapter.hidden_size)})
    mask = PositionTable.for_prompts(adapter, batch["input_ids"], batch["attention_mask"]).mask("last")
    try:
        with torch.no_grad():
            adapter.model(**batch, use_cache=False)
            handles = hook_layers(adapter, [vector], torch.tensor([alpha]), mask, [layer])
            try:
                adapter.model(**batch, use_cache=False)
            finally:
                for h in handles:
                    h.remove()
    finally:
        record.remove()
    plain, steered = entering
    assert plain.shape[0] == adapter.text_config.altup_num_inputs
    active = adapter.text_config.altup_active_idx
    others = [i for i in range(plain.shape[0]) if i != active]
    assert torch.equal(steered[others], plain[others])
    torch.testing.assert_close(
        steered[active] - plain[active], alpha * mask[..., None].float().expand_as(plain[0])
    )
    assert torch.equal(adapter.layer_hidden(steered), steered[active])


def test_prompts_run_whole(adapter: Gemma3nAdapter) -> None:
    assert not adapter.shared_prefix
    engine = make_engine(adapter, noise(1.0), resolve(adapter, LocalizeConfig(positions="audio")))
    assert isinstance(engine, FullEngine)
    with pytest.raises(ModelError, match="whole prompts"):
        adapter.run_decoder(1, torch.zeros(1, 4, adapter.hidden_size), None)  # type: ignore[arg-type]


def test_prompt_follows_the_checkpoint_template(adapter: Gemma3nAdapter) -> None:
    assert adapter.render_prompt(PROMPT) == (
        f"<bos><start_of_turn>user\n<audio_soft_token>{PROMPT}<end_of_turn>\n<start_of_turn>model\n"
    )
    # A system message is folded into the first user turn (Gemma has no system role).
    system = [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        *adapter.messages(PROMPT),
    ]
    text = adapter.processor.apply_chat_template(system, tokenize=False, add_generation_prompt=True)
    assert text.startswith("<bos><start_of_turn>user\nBe brief.\n\n<audio_soft_token>")
    batch = adapter.encode([noise(1.0)], [PROMPT])
    ids = batch["input_ids"][0]
    assert int((ids == adapter.tokenizer.bos_token_id).sum()) == 1
    start, end = adapter.instruction_span(ids)
    assert adapter.tokenizer.decode(ids[start:end]) == PROMPT
    assert adapter.tokenizer.convert_ids_to_tokens(int(ids[end])) == "<end_of_turn>"


def test_length_limits(adapter: Gemma3nAdapter) -> None:
    with pytest.raises(ModelError, match="at most 30 s"):
        adapter.encode([noise(30.01)], [PROMPT])
    with pytest.raises(ModelError, match="at least 513 samples"):
        adapter.encode([noise(0.02)], [PROMPT])


def test_a_saved_tiny_model_loads_like_a_checkpoint(tmp_path: Path) -> None:
    from wheretolisten.models import load_model

    needs_timm()
    path = make_tiny_model("gemma3n", tmp_path / "m")
    size = sum(f.stat().st_size for f in path.iterdir())
    assert size < 4_000_000
    a = load_model(path, device="cpu", dtype="float32")
    assert isinstance(a, Gemma3nAdapter) and a.num_layers == 6
    assert a.render_prompt(PROMPT).startswith("<bos><start_of_turn>user\n<audio_soft_token>")


def test_without_timm_the_family_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "timm" else find_spec(name, *a)
    )
    reason = Gemma3nAdapter.unavailable_reason()
    assert reason is not None and "timm" in reason
    monkeypatch.setattr(registry, "ADAPTERS", {k: v for k, v in registry.ADAPTERS.items() if k != "gemma3n"})
    monkeypatch.setattr(registry, "UNAVAILABLE", {"gemma3n": reason})
    with pytest.raises(ModelError, match=r"wheretolisten\[gemma3n\]"):
        registry.adapter_class("gemma3n")
