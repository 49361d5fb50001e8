"""Load, validate and resample audio: every model sees mono float32 at its own sample rate."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .errors import AudioError

SUPPORTED_SUFFIXES = (".wav", ".flac", ".ogg")
#: Below this RMS (about -100 dBFS) a clip is treated as digital silence.
SILENCE_RMS = 1e-5


@dataclass(frozen=True)
class AudioInfo:
    """Where a clip came from and what it was before resampling."""

    path: str | None
    duration_s: float
    sample_rate: int
    source_sample_rate: int
    source_channels: int


def to_mono(data: np.ndarray) -> np.ndarray:
    """Average channels (soundfile gives frames × channels) into one float32 channel."""
    if data.ndim == 2:
        data = data.mean(axis=1)
    return np.asarray(data, dtype=np.float32)


def resample(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """High-quality resampling with soxr; a no-op when the rates agree."""
    if source_rate == target_rate:
        return np.asarray(audio, dtype=np.float32)
    return np.asarray(soxr.resample(audio, source_rate, target_rate, quality="HQ"), dtype=np.float32)


def validate(audio: np.ndarray, sample_rate: int, name: str = "audio", max_s: float | None = None) -> None:
    """Reject audio a model cannot meaningfully read: empty, non-finite, silent, or too long."""
    if audio.ndim != 1:
        raise AudioError(f"{name}: expected mono audio, got shape {audio.shape}")
    if audio.size == 0:
        raise AudioError(f"{name}: the audio is empty (0 samples)")
    if not np.all(np.isfinite(audio)):
        raise AudioError(f"{name}: the audio contains NaN or infinite samples")
    if float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) < SILENCE_RMS:
        raise AudioError(f"{name}: the audio is silent (RMS below {SILENCE_RMS:g})")
    duration = audio.size / sample_rate
    if max_s is not None and duration > max_s + 1e-9:
        raise AudioError(
            f"{name}: the audio is {duration:.2f} s long; this model accepts at most {max_s:g} s"
        )


def load_audio(
    path: str | os.PathLike[str], sample_rate: int, max_s: float | None = None
) -> tuple[np.ndarray, AudioInfo]:
    """Read wav/flac/ogg, downmix to mono, resample to ``sample_rate`` and validate it."""
    p = Path(path)
    if not p.exists():
        raise AudioError(f"{p}: no such file")
    if p.is_dir():
        raise AudioError(f"{p}: is a directory, expected an audio file")
    try:
        data, source_rate = sf.read(str(p), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for unreadable files
        raise AudioError(f"{p}: cannot read audio ({type(exc).__name__}: {exc})") from None
    channels = int(data.shape[1])
    mono = to_mono(data)
    if mono.size and not np.all(np.isfinite(mono)):
        raise AudioError(f"{p}: the audio contains NaN or infinite samples")
    audio = resample(mono, int(source_rate), sample_rate)
    validate(audio, sample_rate, name=str(p), max_s=max_s)
    info = AudioInfo(
        path=str(p),
        duration_s=audio.size / sample_rate,
        sample_rate=sample_rate,
        source_sample_rate=int(source_rate),
        source_channels=channels,
    )
    return audio, info


def from_array(
    audio: np.ndarray, source_rate: int, sample_rate: int, max_s: float | None = None, name: str = "audio"
) -> tuple[np.ndarray, AudioInfo]:
    """Validate and resample an in-memory clip (mono or frames × channels)."""
    arr = np.asarray(audio)
    channels = 1 if arr.ndim == 1 else int(arr.shape[1])
    mono = to_mono(arr)
    if mono.size and not np.all(np.isfinite(mono)):
        raise AudioError(f"{name}: the audio contains NaN or infinite samples")
    out = resample(mono, source_rate, sample_rate)
    validate(out, sample_rate, name=name, max_s=max_s)
    info = AudioInfo(None, out.size / sample_rate, sample_rate, source_rate, channels)
    return out, info
