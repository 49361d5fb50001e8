from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wheretolisten.audio import check_min_length, from_array, load_audio
from wheretolisten.errors import AudioError


def test_stereo_44k_is_downmixed_and_resampled(tmp_path: Path) -> None:
    t = np.arange(44100 * 2) / 44100
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([left, -0.5 * left + 0.2], axis=1).astype(np.float32)
    path = tmp_path / "s.flac"
    sf.write(path, stereo, 44100)
    audio, info = load_audio(path, 16000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.size == 32000
    assert info.source_sample_rate == 44100 and info.source_channels == 2
    assert info.duration_s == pytest.approx(2.0)
    # The mean of the channels is 0.25 * sin + 0.1: its DC offset survives resampling.
    assert audio.mean() == pytest.approx(0.1, abs=0.01)


def test_ogg_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "a.ogg"
    sf.write(path, (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32), 16000)
    audio, info = load_audio(path, 16000)
    assert info.duration_s == pytest.approx(1.0, abs=0.01)
    assert audio.std() == pytest.approx(0.1, rel=0.1)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_bytes(b"definitely not audio"), "cannot read audio"),
        (lambda p: sf.write(p, np.zeros(0, dtype=np.float32), 16000), "empty"),
        (lambda p: sf.write(p, np.full(1600, np.nan, dtype=np.float32), 16000, subtype="FLOAT"), "NaN"),
        (lambda p: sf.write(p, np.zeros(16000, dtype=np.float32), 16000), "silent"),
        (lambda p: sf.write(p, np.full(16000 * 3, 0.1, dtype=np.float32), 16000), "at most 2 s"),
    ],
    ids=["missing", "corrupt", "empty", "nan", "silent", "too-long"],
)
def test_bad_audio_is_a_clear_error(tmp_path: Path, make, message: str) -> None:
    path = tmp_path / "x.wav"
    make(path)
    with pytest.raises(AudioError, match=message):
        load_audio(path, 16000, max_s=2.0)


def test_from_array_validates() -> None:
    with pytest.raises(AudioError, match="NaN"):
        from_array(np.array([0.1, np.nan], dtype=np.float32), 16000, 16000)
    audio, info = from_array(np.full((8000, 2), 0.1, dtype=np.float32), 8000, 16000)
    assert audio.size == 16000 and info.source_channels == 2


def test_array_clips_in_the_layouts_and_types_notebooks_hold() -> None:
    """An array clip as torchaudio or librosa give it (channels × frames) equals the same samples as
    soundfile gives them (frames × channels); integer PCM is scaled as soundfile scales it (an int16
    array was once read as samples up to 32767); other shapes and types are one AudioError."""
    from wheretolisten.audio import from_array

    x = (np.random.default_rng(0).normal(0, 0.1, 2 * 16000)).astype(np.float32)
    ref, _ = from_array(x, 16000, 16000)
    for layout in (np.stack([x, x]), np.stack([x, x]).T, x[None, :]):
        out, info = from_array(layout, 16000, 16000)
        assert np.array_equal(out, ref) and info.source_channels == min(layout.shape)
    pcm16 = np.round(np.clip(x, -1, 1) * 32767).astype(np.int16)
    assert np.abs(from_array(pcm16, 16000, 16000)[0] - ref).max() < 1e-4
    u8 = np.round(np.clip(x, -1, 1) * 127 + 128).astype(np.uint8)
    assert np.abs(from_array(u8, 16000, 16000)[0] - ref).max() < 0.02
    for bad in (np.zeros((2, 2, 2), dtype=np.float32), np.array(["a"] * 4000)):
        with pytest.raises(AudioError, match="expected"):
            from_array(bad, 16000, 16000)


def test_the_shortest_clip_is_measured_within_a_sample() -> None:
    """A 0.1-s span given as 7.0 to 7.1 s (0.0999... in floating point) was refused as shorter than 0.1 s;
    one sample short at 16 kHz, with the digits to show it, still is."""
    check_min_length(7.1 - 7.0, "a span")
    with pytest.raises(AudioError, match=r"lasts 0\.0999 s"):
        check_min_length(1599 / 16000, "a file")


def test_the_page_and_the_figures_read_an_array_as_localize_does() -> None:
    """The listening page flattened a stereo array (twice as long, channels one after another) and the
    figures averaged a channels × frames array over its frames (two samples left); integer PCM was not
    scaled. Both now read an array as ``from_array`` does."""
    from wheretolisten.figures.localization import audio_array
    from wheretolisten.page.sound import array_sound

    rate = 48000
    t = np.arange(3 * rate) / rate
    x = 0.01 * np.random.default_rng(1).standard_normal(t.size) + 0.4 * np.sin(2 * np.pi * 700 * t) * (t > 1)
    x = x.astype(np.float32)
    mono = array_sound(x, rate)
    for layout in (np.stack([x, x], axis=1), np.stack([x, x])):
        sound = array_sound(layout, rate)
        assert sound.duration_s == pytest.approx(3.0) and sound.png == mono.png
        clip, got_rate = audio_array(layout, rate)
        assert got_rate == rate and np.array_equal(clip, from_array(x, rate, rate)[0])
    pcm = np.round(x * 32767).astype(np.int16)
    assert np.abs(audio_array(pcm, rate)[0] - x).max() < 1e-4
    assert array_sound(pcm, rate).duration_s == pytest.approx(3.0)


def test_a_float_file_far_outside_the_unit_range_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The same samples as an array were warned about, as a file they were read silently."""
    path = tmp_path / "loud.wav"
    sf.write(
        path,
        np.full(16000, 300.0, dtype=np.float32) * np.sign(np.arange(16000) % 2 - 0.5),
        16000,
        subtype="FLOAT",
    )
    with caplog.at_level("WARNING", logger="wheretolisten"):
        load_audio(path, 16000)
    assert any("far outside [-1, 1]" in r.getMessage() for r in caplog.records)
