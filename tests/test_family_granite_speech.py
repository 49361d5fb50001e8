"""Granite Speech specifics: 0.3-s Q-Former windows of three tokens each, the torch log-mel front end, the
model card's system prompt, the LoRA adapter the checkpoints need."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoProcessor

from helpers import SR, noise
from wheretolisten.errors import ModelError
from wheretolisten.models import GraniteSpeechAdapter, wrap
from wheretolisten.models.granite_speech import (
    GRANITE_SYSTEM_PROMPT,
    WheretolistenGraniteSpeechFeatureExtractor,
)
from wheretolisten.models.tiny import build_tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def granite() -> GraniteSpeechAdapter:
    adapter = wrap(*build_tiny_model("granite-speech", seed=0), name="tiny-granite")
    assert isinstance(adapter, GraniteSpeechAdapter)
    return adapter


def _n_audio(a: GraniteSpeechAdapter, clip: np.ndarray) -> int:
    return int(a.audio_mask(a.encode([clip], ["Describe the audio."])["input_ids"]).sum())


@pytest.mark.parametrize(
    ("n_samples", "tokens", "covered"),
    # Encoder frames are (samples // 160 + 1) // 2: 15 frames fill one window up to 4959 samples.
    [(257, 3, 1), (1600, 3, 1), (1601, 3, 2), (4959, 3, 3), (4960, 6, 4), (16000, 12, 10), (64000, 42, 40)],
)
def test_window_boundaries(granite: GraniteSpeechAdapter, n_samples: int, tokens: int, covered: int) -> None:
    """Three tokens per started window of 15 encoder frames (0.3 s), as the processor counts them."""
    clip = noise(n_samples / SR, seed=3)
    assert clip.size == n_samples
    assert sum(granite.window_token_counts(n_samples)) == tokens == _n_audio(granite, clip)
    assert granite.clip_audio_tokens(n_samples) == covered


def test_three_tokens_per_window_on_a_100_ms_grid(granite: GraniteSpeechAdapter) -> None:
    config = granite.model.config
    hop = granite.processor.audio_processor.melspec_kwargs["hop_length"]
    window_s = config.window_size * 2 * hop / granite.sample_rate
    assert window_s == pytest.approx(granite.token_cover_s)
    assert window_s / (config.window_size // config.downsample_rate) == pytest.approx(granite.token_s)
    np.testing.assert_allclose(granite.time_axis(6), [0.0, 0.1, 0.2, 0.3, 0.4, 0.5])


def test_a_token_reads_its_whole_window_and_nothing_else(granite: GraniteSpeechAdapter) -> None:
    """Changing encoder frame f changes the three tokens of window f // 15, and only those: each token
    summarizes its whole 0.3-s window."""
    model = granite.model.model
    features = torch.randn(1, 100, 160, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        base = model.get_audio_features(features).pooler_output[0]
    assert base.shape[0] == 3 * 7  # 100 frames: 6 full windows and a padded one
    for frame in (0, 14, 15, 52, 99):

        def nudge(_module: torch.nn.Module, _args: object, output: object, f: int = frame) -> None:
            output.last_hidden_state[0, f] += 1.0  # type: ignore[attr-defined]

        handle = granite.audio_tower.register_forward_hook(nudge)
        try:
            with torch.no_grad():
                moved = model.get_audio_features(features).pooler_output[0]
        finally:
            handle.remove()
        changed = torch.nonzero((moved - base).abs().amax(dim=-1) > 0).flatten().tolist()
        window = frame // 15
        assert changed == [3 * window, 3 * window + 1, 3 * window + 2]


def test_front_end_frames_and_mel_scale() -> None:
    """Pairs of centred 10-ms frames (an odd last one dropped), the log floor, and a tone lighting the mel
    bin of its pitch."""
    fe = WheretolistenGraniteSpeechFeatureExtractor()
    t = np.arange(int(0.5 * SR)) / SR
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    out = fe([tone, tone[:4959]])
    frames = (tone.size // 160 + 1) // 2
    assert out["input_features"].shape == (2, frames, 160)
    assert out["audio_embed_sizes"] == [3 * -(-frames // 15), 3]
    assert out["input_features_mask"].sum(dim=1).tolist() == out["audio_embed_sizes"]
    mel = out["input_features"][0, 5, :80]
    hz = 700 * (10 ** (np.linspace(0, 2595 * np.log10(1 + 8000 / 700), 82) / 2595) - 1)  # HTK centres
    assert abs(hz[int(mel.argmax()) + 1] - 1000) < 100
    # log10 power floored 8 decades below the clip's peak, then scaled by 1/4: a span of at most 2.
    row = out["input_features"][0]
    assert float(row.max() - row.min()) == pytest.approx(2.0)


def test_front_end_matches_torchaudio() -> None:
    """Where torchaudio is installed, the torch front end gives the reference features."""
    pytest.importorskip("torchaudio")
    from transformers import GraniteSpeechFeatureExtractor

    clips = [noise(1.37, seed=5), noise(0.61, seed=6)]
    ours = WheretolistenGraniteSpeechFeatureExtractor()(clips)
    reference = GraniteSpeechFeatureExtractor()(clips)
    torch.testing.assert_close(ours["input_features"], reference["input_features"], atol=1e-4, rtol=1e-4)
    assert ours["audio_embed_sizes"] == reference["audio_embed_sizes"]


def test_saved_processor_loads_without_torchaudio(granite: GraniteSpeechAdapter, tmp_path: Path) -> None:
    granite.processor.save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded.audio_processor, WheretolistenGraniteSpeechFeatureExtractor)
    clip = noise(1.3, seed=7)
    torch.testing.assert_close(
        loaded.audio_processor([clip])["input_features"],
        granite.processor.audio_processor([clip])["input_features"],
    )


def test_prompt_has_the_model_cards_system_prompt(granite: GraniteSpeechAdapter) -> None:
    text = granite.render_prompt("Listen for the dog barking.")
    assert text.startswith(f"<|start_of_role|>system<|end_of_role|>{GRANITE_SYSTEM_PROMPT}<|end_of_text|>\n")
    assert text.endswith(
        "<|start_of_role|>user<|end_of_role|><|audio|>Listen for the dog barking.<|end_of_text|>\n"
        "<|start_of_role|>assistant<|end_of_role|>"
    )
    batch = granite.encode([noise(1.0)], ["Listen for the dog barking."], padding_side="right")
    ids = batch["input_ids"][0].tolist()
    start, end = granite.instruction_span(batch["input_ids"][0])
    assert ids[start - 1] == granite.audio_token_id and ids[end] == granite.end_of_turn_id
    assert ids == granite.prompt_ids("Listen for the dog barking.", 12)


def test_too_long_or_too_short_audio_is_one_error(granite: GraniteSpeechAdapter) -> None:
    """The decoder's context bounds the audio: 4096 positions in the tiny model, 128k in the checkpoints;
    the STFT needs 257 samples."""
    assert granite.max_audio_limit_s == pytest.approx((4096 - 512) * 0.1)
    assert GraniteSpeechAdapter.max_audio_s == pytest.approx((131072 - 512) * 0.1)
    with pytest.raises(ModelError, match=r"accepts at most 358\.4 s"):
        granite.encode([noise(360.0)], ["Describe the audio."])
    with pytest.raises(ModelError, match=r"needs at least 16\.1 ms"):
        granite.encode([noise(0.01)], ["Describe the audio."])


def test_a_checkpoint_with_a_lora_adapter_needs_peft(granite: GraniteSpeechAdapter) -> None:
    from transformers.utils import is_peft_available

    if is_peft_available():
        pytest.skip("peft is installed")
    config = granite.model.config
    config.has_lora_adapter = True
    try:
        with pytest.raises(ModelError, match="pip install peft"):
            granite.encode([noise(1.0)], ["Describe the audio."])
    finally:
        config.has_lora_adapter = False
