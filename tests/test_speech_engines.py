"""flite as a second speech engine of the speech bank: its renders, names, specs and refusals."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from wheretolisten.errors import DataError, OptionError
from wheretolisten.scenes import get_bank
from wheretolisten.scenes.speech import ESPEAK, FLITE, FliteVoice, SpeechBank, speak

needs_both = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("flite") is None,
    reason="espeak-ng or flite is not installed",
)


@needs_both
def test_flite_renders_words_deterministically_and_voices_differ() -> None:
    bank = SpeechBank(engines=(FLITE,))
    assert bank.name == "speech:engines=flite"
    a = bank.render("say_seven", np.random.default_rng(3), 16000, 2.0)
    assert np.array_equal(a, bank.render("say_seven", np.random.default_rng(3), 16000, 2.0))
    assert 0.2 <= len(a) / 16000 <= 1.5 and np.sqrt(np.mean(a**2)) > 0.01 and np.all(np.isfinite(a))
    others = [bank.render("say_seven", np.random.default_rng(s), 16000, 2.0) for s in range(4, 10)]
    assert any(len(o) != len(a) or not np.array_equal(o, a) for o in others)


@needs_both
def test_a_bank_of_both_engines_draws_both(monkeypatch: pytest.MonkeyPatch) -> None:
    from wheretolisten.scenes import speech

    called: list[str] = []
    for name, engine in (("_espeak", ESPEAK), ("_flite", FLITE)):
        real = getattr(speech, name)
        monkeypatch.setattr(
            speech,
            name,
            lambda text, voice, real=real, engine=engine: (called.append(engine), real(text, voice))[1],
        )
    speak.cache_clear()
    bank = SpeechBank(words=("six",), phrases=(), engines=(ESPEAK, FLITE))
    for seed in range(12):
        bank.render("say_six", np.random.default_rng(seed), 16000, 2.0)
    speak.cache_clear()
    assert set(called) == {ESPEAK, FLITE}


@needs_both
def test_too_long_flite_speech_is_spoken_faster() -> None:
    bank = SpeechBank(engines=(FLITE,))
    slow = bank.render("say_see_you_later", np.random.default_rng(0), 16000, 5.0)
    short = bank.render("say_see_you_later", np.random.default_rng(0), 16000, 0.7 * len(slow) / 16000)
    assert len(short) <= round(0.7 * len(slow)) + 1
    voice = FliteVoice("slt", 1.0, 120)
    assert len(speak("see you later", FliteVoice("slt", 0.6, 120), 16000)) < len(
        speak("see you later", voice, 16000)
    )


@needs_both
def test_speech_specs_round_trip_their_names() -> None:
    for spec in (
        "speech",
        "speech:telephone=0.3",
        "speech:engines=flite",
        "speech:telephone=0.5:engines=espeak-ng,flite",
    ):
        assert get_bank(spec).name == spec
    assert get_bank("speech:engines=espeak-ng").name == "speech"  # the default engine alone
    assert get_bank("procedural+speech:engines=flite").name == "procedural+speech:engines=flite"


@needs_both
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("speech:engines=sam", "engines are among espeak-ng, flite"),
        ("speech:volume=2", "speech takes ':telephone=P' and ':engines=E,E', once each"),
        ("speech:telephone=0.1:telephone=0.2", "once each"),
        ("speech:telephone=2", r"telephone= takes a probability in \[0, 1\]"),
    ],
)
def test_bad_speech_specs_are_one_line(spec: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        get_bank(spec)


def test_unknown_or_missing_engines_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="speech engines must be among espeak-ng, flite; got sam"):
        SpeechBank(engines=("sam",))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DataError, match=r"flite is not installed \(Debian/Ubuntu: apt-get install flite\)"):
        SpeechBank(engines=(FLITE,))
