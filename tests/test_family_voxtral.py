"""Voxtral specifics: 80-ms tokens stacked from four encoder frames, 30-s windows whose padding keeps its
tokens, prompts from mistral-common."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import SR, noise
from wheretolisten.errors import ModelError
from wheretolisten.localize import LocalizeConfig, localize_many
from wheretolisten.models import VoxtralAdapter, wrap
from wheretolisten.models.tiny import build_tiny_model

WINDOW = 30 * SR


@pytest.fixture(scope="module")
def vox() -> VoxtralAdapter:
    torch.set_num_threads(1)
    adapter = wrap(*build_tiny_model("voxtral", seed=0), name="tiny-voxtral")
    assert isinstance(adapter, VoxtralAdapter)
    return adapter


def _n_audio(a: VoxtralAdapter, clip: np.ndarray) -> int:
    return int(a.audio_mask(a.encode([clip], ["Describe the audio."])["input_ids"]).sum())


def test_token_rate_comes_from_the_front_end_and_the_projector(vox: VoxtralAdapter) -> None:
    """10-ms hop × conv stride 2 × 4 stacked frames = 80 ms; 1500 encoder positions / 4 = 375 per window."""
    audio = vox.model.config.audio_config
    stack = audio.intermediate_size // audio.hidden_size
    assert stack == 4
    hop = vox.processor.feature_extractor.hop_length
    assert hop * 2 * stack / vox.sample_rate == pytest.approx(vox.token_s)
    assert audio.max_source_positions // stack * vox.token_s == pytest.approx(vox.window_s)


@pytest.mark.parametrize(
    ("n_samples", "windows", "covered"),
    [(1280, 1, 1), (1281, 1, 2), (WINDOW - 1, 1, 375), (WINDOW, 1, 375), (WINDOW + 1, 2, 376)],
)
def test_window_boundaries(vox: VoxtralAdapter, n_samples: int, windows: int, covered: int) -> None:
    """Every started 30-s window gives 375 tokens (mistral-common pads the clip); the clip's own tokens are
    one per started 80 ms."""
    clip = noise(n_samples / SR, seed=3)
    assert clip.size == n_samples
    assert vox.window_token_counts(n_samples) == [375] * windows
    assert _n_audio(vox, clip) == 375 * windows
    assert vox.clip_audio_tokens(n_samples) == covered


def test_projector_stacks_four_frames_and_windows_concatenate(vox: VoxtralAdapter) -> None:
    """Changing encoder frame f of window c changes audio token 375 c + f // 4 and no other."""
    model = vox.model.model
    features = torch.randn(2, 128, 3000, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        base = model.get_audio_features(features).pooler_output
    assert base.shape[0] == 2 * 375
    for window, frame in [(0, 0), (0, 613), (1, 3), (1, 1499)]:

        def nudge(
            _module: torch.nn.Module, _args: object, output: object, w: int = window, f: int = frame
        ) -> None:
            output.last_hidden_state[w, f] += 1.0  # type: ignore[attr-defined]

        handle = vox.audio_tower.register_forward_hook(nudge)
        try:
            with torch.no_grad():
                moved = model.get_audio_features(features).pooler_output
        finally:
            handle.remove()
        changed = torch.nonzero((moved - base).abs().amax(dim=-1) > 0).flatten().tolist()
        assert changed == [375 * window + frame // 4]


def test_prompt_is_mistral_commons(vox: VoxtralAdapter) -> None:
    """[INST], the audio block opened by [BEGIN_AUDIO], the instruction, [/INST]: no system prompt."""
    text = vox.render_prompt("Listen for the dog barking.")
    assert text == "<s>[INST][BEGIN_AUDIO][AUDIO]Listen for the dog barking.[/INST]"
    clips = [noise(2.0, seed=1), noise(31.0, seed=2)]
    prompts = ["Listen for the dog barking.", "What do you hear?"]
    for side in ("left", "right"):
        batch = vox.encode(clips, prompts, padding_side=side)
        for row, (clip, prompt) in enumerate(zip(clips, prompts, strict=True)):
            ids = batch["input_ids"][row][batch["attention_mask"][row].bool()].tolist()
            assert ids == vox.prompt_ids(prompt, sum(vox.window_token_counts(clip.size)))
            start, end = vox.instruction_span(torch.tensor(ids))
            assert vox.tokenizer.decode(ids[start:end]) == prompt
            assert ids[start - 1] == vox.audio_token_id and ids[end] == vox.end_of_turn_id


def test_profiles_cover_the_clip_not_the_padding(vox: VoxtralAdapter) -> None:
    """A 2-s clip has 375 audio tokens; its profile keeps the 25 that cover it, on a time axis inside it."""
    clip = noise(2.0, seed=4)
    result = localize_many(vox, clip, ["a bell"], LocalizeConfig(alpha=4.0)).results[0]
    assert result.profile.base.size == result.profile.delta.size == 25
    assert result.profile.time_s[-1] == pytest.approx(1.92)


def test_too_long_audio_is_one_error(vox: VoxtralAdapter) -> None:
    assert vox.max_audio_limit_s == 2400.0
    with pytest.raises(ModelError, match="at most 2400 s"):
        vox.check_duration(2400.5)


def test_the_window_is_fixed_at_30_s() -> None:
    with pytest.raises(ModelError, match="30-s windows"):
        build_tiny_model("voxtral", chunk_s=10)
