"""Whisper base from its CTranslate2 packages, converted to Qwen2-Audio's audio tower, is exact.

Two proofs: the converted ``Qwen2AudioEncoder`` computes what ``WhisperEncoder`` computes with the same
tensors (real and synthetic audio, 30-s and 10-s windows), and the full converted Whisper greedily
transcribes asterisk's spoken digits correctly, which only a right q/k/v split and decoder mapping can do.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from wheretolisten.audio import load_audio
from wheretolisten.errors import ModelError
from wheretolisten.models import whisper_ct2

try:
    FILES: whisper_ct2.Ct2Files | None = whisper_ct2.locate()
except ModelError as exc:
    FILES, MISSING = None, str(exc)
else:
    MISSING = ""
pytestmark = pytest.mark.skipif(
    FILES is None,
    reason=f"Whisper base packages absent: {MISSING}",
)

DIGITS = Path("/usr/share/asterisk/sounds/en_US_f_Allison/digits")
OGA = Path("/usr/share/sounds/freedesktop/stereo/bell.oga")
RATE = 16_000


@pytest.fixture(scope="module")
def variables(one_thread: None) -> dict[str, np.ndarray]:
    assert FILES is not None
    return whisper_ct2.read_ct2(FILES.parts)


def _clips() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    t = np.arange(8 * RATE) / RATE
    chirp = 0.3 * np.sin(2 * np.pi * (200 + 150 * t) * t) + 0.02 * rng.standard_normal(t.size)
    clips = [("synthetic", chirp.astype(np.float32))]
    if (DIGITS / "7.wav").is_file():
        clips.append(("asterisk 7.wav", load_audio(DIGITS / "7.wav", RATE)[0]))
    if OGA.is_file():
        clips.append(("freedesktop bell.oga", load_audio(OGA, RATE)[0]))
    return clips


def _features(chunk_s: int) -> torch.Tensor:
    from transformers import WhisperFeatureExtractor

    extractor = WhisperFeatureExtractor(feature_size=80, chunk_length=chunk_s)
    audio = [clip[: chunk_s * RATE] for _, clip in _clips()]
    return extractor(audio, sampling_rate=RATE, return_tensors="pt").input_features


@pytest.mark.parametrize("positions", [1500, 500])
def test_qwen2_audio_encoder_equals_whisper_encoder(variables: dict[str, np.ndarray], positions: int) -> None:
    from transformers import WhisperConfig
    from transformers.models.qwen2_audio.configuration_qwen2_audio import Qwen2AudioEncoderConfig
    from transformers.models.qwen2_audio.modeling_qwen2_audio import Qwen2AudioEncoder
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    state = {k: v.float() for k, v in whisper_ct2.encoder_state_dict(variables, positions).items()}
    kwargs = whisper_ct2.encoder_config_kwargs(positions)
    qwen = Qwen2AudioEncoder(Qwen2AudioEncoderConfig(**kwargs)).eval()
    whisper = WhisperEncoder(WhisperConfig(**kwargs)).eval()
    qwen.load_state_dict(state, strict=True)
    whisper.load_state_dict(state, strict=True)
    feats = _features(positions // 50)
    assert feats.shape[-1] == 2 * positions

    seen: dict[str, torch.Tensor] = {}

    def keep(name: str) -> Any:
        return lambda _module, args: seen.__setitem__(name, args[0])

    hooks = [
        whisper.layer_norm.register_forward_pre_hook(keep("whisper")),
        qwen.avg_pooler.register_forward_pre_hook(keep("qwen")),
    ]
    try:
        with torch.no_grad():
            out_qwen = qwen(feats).last_hidden_state
            out_whisper = whisper(feats).last_hidden_state
            pre = seen["whisper"]
            expected = whisper.layer_norm(
                torch.nn.functional.avg_pool1d(pre.transpose(1, 2), 2).transpose(1, 2)
            )
    finally:
        for hook in hooks:
            hook.remove()
    scale = float(pre.abs().max())
    assert seen["qwen"].shape == (feats.shape[0], 512, positions)
    torch.testing.assert_close(seen["qwen"].transpose(1, 2), pre, rtol=1e-4, atol=1e-4 * scale)
    assert out_qwen.shape == (feats.shape[0], positions // 2, 512)
    torch.testing.assert_close(out_qwen, expected, rtol=1e-4, atol=1e-4)
    # WhisperEncoder normalizes without pooling: its output is the unpooled, normed state
    torch.testing.assert_close(out_whisper, whisper.layer_norm(pre))


def _words(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).strip()


@pytest.mark.skipif(not DIGITS.is_dir(), reason="asterisk-core-sounds-en-wav not installed")
def test_converted_whisper_transcribes_spoken_digits(variables: dict[str, np.ndarray]) -> None:
    from transformers import (
        PreTrainedTokenizerFast,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
    )

    assert FILES is not None
    model = WhisperForConditionalGeneration(WhisperConfig(**whisper_ct2.whisper_config_kwargs())).eval()
    model.load_state_dict({k: v.float() for k, v in whisper_ct2.whisper_state_dict(variables).items()})
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(FILES.tokenizer))
    extractor = WhisperFeatureExtractor(feature_size=80)
    specials = ["<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"]
    vocab = tokenizer.get_vocab()
    prompt = [vocab[token] for token in specials]
    eot = vocab["<|endoftext|>"]
    expected = {"7.wav": {"7", "seven"}, "3.wav": {"3", "three"}, "day-1.wav": {"monday"}}
    for name, accepted in expected.items():
        audio, _ = load_audio(DIGITS / name, RATE)
        feats = extractor(audio, sampling_rate=RATE, return_tensors="pt").input_features
        ids = torch.tensor([prompt])
        with torch.no_grad():
            encoded = model.model.encoder(feats).last_hidden_state
            for _ in range(8):
                token = int(model(encoder_outputs=(encoded,), decoder_input_ids=ids).logits[0, -1].argmax())
                if token == eot:
                    break
                ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
        text = _words(str(tokenizer.decode(ids[0, len(prompt) :].tolist())))
        assert text in accepted, f"{name}: transcribed {text!r}, expected one of {sorted(accepted)}"


def test_malformed_model_bin_is_one_clear_error(tmp_path: Path) -> None:
    assert FILES is not None
    head = tmp_path / "model.bin.part1"
    head.write_bytes(FILES.parts[0].read_bytes()[: 1 << 20])
    with pytest.raises(ModelError, match=r"malformed model\.bin"):
        whisper_ct2.read_ct2((head,))
    bad = tmp_path / "bad.bin"
    bad.write_bytes((5).to_bytes(4, "little") + b"\0" * 16)
    with pytest.raises(ModelError, match="binary version 5"):
        whisper_ct2.read_ct2((bad,))
