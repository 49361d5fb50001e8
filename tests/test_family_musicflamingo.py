"""Music Flamingo specifics: the sound delimiters, the rotary time embedding on the 40-ms axis across windows,
the 20-minute limit, the checkpoint's prompt structure and architecture."""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest
import torch
from transformers import MusicFlamingoForConditionalGeneration, MusicFlamingoProcessor

from helpers import SR, noise
from wheretolisten.errors import ModelError
from wheretolisten.localize import LocalizeConfig, localize_many
from wheretolisten.models import MusicFlamingoAdapter, wrap
from wheretolisten.models.base import frames_to_tokens
from wheretolisten.models.tiny import build_tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")

PROMPT = "Describe the audio."


@pytest.fixture(scope="module")
def mf() -> MusicFlamingoAdapter:
    adapter = wrap(*build_tiny_model("musicflamingo", seed=0), name="tiny-musicflamingo")
    assert isinstance(adapter, MusicFlamingoAdapter)
    return adapter


def _features(adapter: MusicFlamingoAdapter, clip: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(encoder output per window, before the time embedding; what the decoder reads per audio token)."""
    batch = adapter.encode([clip], [PROMPT])
    with torch.no_grad():
        out = adapter.model.model.get_audio_features(
            batch["input_features"], batch["input_features_mask"], batch["input_ids"], return_dict=True
        )
    return out.last_hidden_state.float(), out.pooler_output.float()


def test_prompt_has_the_checkpoint_structure(mf: MusicFlamingoAdapter) -> None:
    """System turn, then <sound> before the instruction whatever the content order, then the assistant."""
    text = mf.render_prompt("Listen for the dog barking.")
    assert text.startswith("<|im_start|>system\n")
    assert text.endswith(
        "<|im_start|>user\n<sound>Listen for the dog barking.<|im_end|>\n<|im_start|>assistant\n"
    )
    audio_first = [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": "Hi."}]}]
    text_first = [{"role": "user", "content": [{"type": "text", "text": "Hi."}, {"type": "audio"}]}]
    render = mf.processor.apply_chat_template
    assert render(audio_first, tokenize=False) == render(text_first, tokenize=False)
    own = [{"role": "system", "content": "Be brief."}, *text_first]
    assert render(own, tokenize=False).count("<|im_start|>system\n") == 1


def test_audio_block_is_delimited_and_expanded_like_the_processor(mf: MusicFlamingoAdapter) -> None:
    batch = mf.encode([noise(2.53, seed=1)], [PROMPT])
    ids = batch["input_ids"][0].tolist()
    n = int(mf.audio_mask(batch["input_ids"]).sum())
    bos, eos = mf.tokenizer.convert_tokens_to_ids(["<|sound_bos|>", "<|sound_eos|>"])
    first = ids.index(mf.audio_token_id)
    assert ids[first - 1] == bos and ids[first + n] == eos
    assert ids[first : first + n] == [mf.audio_token_id] * n
    assert mf.audio_marker_ids == {mf.audio_token_id, bos, eos}
    # The shared prefix rebuilds prompts with expand_audio: it must give the processor's tokens.
    assert mf.tokenizer(mf.expand_audio(mf.render_prompt(PROMPT), n))["input_ids"] == ids
    assert mf.instruction_span(batch["input_ids"][0])[0] == first + n + 1


def test_rotary_time_embedding_uses_the_time_axis(mf: MusicFlamingoAdapter) -> None:
    """The timestamps the rotary time embedding rotates each audio token by are the adapter's time axis."""
    clip = noise(2 * mf.window_s + 1.7, seed=2)
    batch = mf.encode([clip], [PROMPT])
    seen: list[torch.Tensor] = []

    def hook(_module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        seen.append(args[0] if args else kwargs["timestamps"])

    handle = mf.model.model.pos_emb.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        with torch.no_grad():
            mf.model(**batch, use_cache=False)
    finally:
        handle.remove()
    counts = mf.window_token_counts(clip.size)
    stamps = torch.cat([seen[0][w, :c] for w, c in enumerate(counts)]).double().numpy()
    np.testing.assert_allclose(stamps, mf.time_axis(sum(counts)), atol=1e-4)
    assert counts[:2] == [750, 750] and mf.time_axis(751)[750] == pytest.approx(mf.window_s)


def test_rotary_time_embedding_tells_windows_apart(mf: MusicFlamingoAdapter) -> None:
    """A window repeated verbatim: same encoder output, different decoder input (the time is encoded)."""
    half = noise(mf.window_s, seed=3)
    encoded, features = _features(mf, np.concatenate([half, half]))
    torch.testing.assert_close(encoded[0], encoded[1])
    first, second = features[:750], features[750:]
    assert ((first - second).norm(dim=-1) > 1e-4).all()


def test_time_axis_follows_the_encoder_across_windows(mf: MusicFlamingoAdapter) -> None:
    """Clicks in the second and third windows change most the tokens that cover them."""
    seconds = 2 * mf.window_s + 1.7
    quiet = noise(seconds, seed=4, amplitude=0.01)
    base = _features(mf, quiet)[1]
    starts = mf.time_axis(base.shape[0])
    for t in (31.3, 45.02, 60.5, 61.2):
        clicked = quiet.copy()
        clicked[int(t * SR) : int(t * SR) + 80] += 0.8
        token = int((_features(mf, clicked)[1] - base).norm(dim=-1).argmax())
        assert starts[token - 1] <= t < starts[min(token + 1, len(starts) - 1)] + mf.token_s, (t, token)


def test_shared_prefix_equals_whole_prompts_on_several_windows(mf: MusicFlamingoAdapter) -> None:
    """Steering in the audio of a two-window clip: the shared prefix reproduces the whole prompts."""
    clip = noise(mf.window_s + 1.3, seed=5)
    common = {"alpha": 64.0, "positions": "audio"}
    shared = localize_many(mf, clip, ["a bell"], LocalizeConfig(**common)).results[0].profile
    whole = LocalizeConfig(**common, engine="full", probe="eager")
    full = localize_many(mf, clip, ["a bell"], whole).results[0]
    assert shared.delta.size == sum(mf.window_token_counts(clip.size))
    # Δ is small on a tiny random model (~1e-6): compare relative to its size.
    scale = float(np.abs(shared.delta).max())
    assert scale > 1e-8
    np.testing.assert_allclose(shared.delta, full.profile.delta, rtol=0, atol=1e-3 * scale)
    np.testing.assert_allclose(shared.base, full.profile.base, rtol=0, atol=1e-6 * shared.base.max())


def test_twenty_minutes_at_most(mf: MusicFlamingoAdapter) -> None:
    assert mf.window_s == 30.0 and mf.max_audio_limit_s == 1200.0
    clip = np.zeros(int(1200 * SR), dtype=np.float32)
    batch = mf.encode([clip], [PROMPT])
    assert int(mf.audio_mask(batch["input_ids"]).sum()) == sum(mf.window_token_counts(clip.size)) == 30000
    with pytest.raises(ModelError, match="accepts at most 1200 s"):
        mf.encode([np.zeros(int(1200.5 * SR), dtype=np.float32)], [PROMPT])


def test_limit_follows_the_processor_in_whole_windows(mf: MusicFlamingoAdapter) -> None:
    """A processor with max_audio_len 45 s keeps one 30-s window: longer audio is refused, not cut."""
    processor = copy.copy(mf.processor)
    processor.max_audio_len = 45
    adapter = MusicFlamingoAdapter(mf.model, processor, "short")
    assert adapter.max_audio_limit_s == 30.0
    with pytest.raises(ModelError, match="accepts at most 30 s"):
        adapter.encode([noise(30.5)], [PROMPT])


def test_real_architecture_and_numbers() -> None:
    """Qwen2.5-7B decoder (28 layers, GQA 28/4), Whisper-large encoder, 25 audio tokens/s, 20 minutes."""
    config = MusicFlamingoAdapter.full_size_config()
    with torch.device("meta"):
        model = MusicFlamingoForConditionalGeneration._from_config(config)
    adapter = MusicFlamingoAdapter(model, None, "meta")
    text, audio = config.text_config, config.audio_config
    assert (adapter.num_layers, adapter.hidden_size) == (28, 3584)
    assert (text.num_attention_heads, text.num_key_value_heads, text.vocab_size) == (28, 4, 151672)
    assert (audio.num_hidden_layers, audio.hidden_size, len(adapter.audio_tower.layers)) == (32, 1280, 32)
    assert text.rope_parameters["rope_theta"] == 1e6 and config.rope_parameters["rope_theta"] == 1200.0
    assert frames_to_tokens(3000) / 30 == 1 / adapter.token_s == 25
    assert inspect.signature(MusicFlamingoProcessor).parameters["max_audio_len"].default == 1200
