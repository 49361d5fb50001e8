"""The one audio loader: header first, then mono float32 at the model's rate, validated.

Every audio file the package reads goes through :func:`load_audio` (or :func:`audio_info` for the
header alone), so one list of formats (:data:`AUDIO_SUFFIXES`, what this machine's libsndfile decodes)
holds everywhere. The header is read before any decoding, so a clip that is too long, or a span
outside the file, is refused without decoding an hour of audio.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from .errors import AudioError, OptionError, over_limit_s
from .parsing import is_real_number

#: Below this RMS (about -100 dBFS) a clip is treated as digital silence.
SILENCE_RMS = 1e-5
#: Shortest audio a model is given (seconds): shorter clips have no audio token to attend to.
MIN_AUDIO_S = 0.1

_FORMAT_SUFFIXES = {
    "WAV": (".wav",),
    "WAVEX": (".wav",),
    "FLAC": (".flac",),
    "OGG": (".ogg", ".oga", ".opus"),
    "MP3": (".mp3",),
    "AIFF": (".aiff", ".aif"),
    "CAF": (".caf",),
    "W64": (".w64",),
}


def _suffixes() -> tuple[str, ...]:
    available = sf.available_formats()
    return tuple(dict.fromkeys(s for fmt, sfx in _FORMAT_SUFFIXES.items() if fmt in available for s in sfx))


#: File suffixes the loader reads (what libsndfile on this machine decodes).
AUDIO_SUFFIXES = _suffixes()
#: The same, for help texts: "wav, flac, ogg, ...".
FORMATS_TEXT = ", ".join(s.lstrip(".") for s in AUDIO_SUFFIXES)

log = logging.getLogger("wheretolisten")


@dataclass(frozen=True)
class AudioInfo:
    """Where a clip came from and what it was before resampling."""

    path: str | None
    duration_s: float
    sample_rate: int
    source_sample_rate: int
    source_channels: int
    #: Offset of the clip in its file, seconds (``start_s``).
    start_s: float = 0.0


@dataclass(frozen=True)
class FileInfo:
    """An audio file's header: its length, rate and channels, read without decoding."""

    path: Path
    frames: int
    sample_rate: int
    channels: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def is_audio_file(path: Path) -> bool:
    """Whether ``path`` has a suffix the loader reads (hidden files excluded)."""
    return path.suffix.lower() in AUDIO_SUFFIXES and not path.name.startswith(".")


def _declared_wav_bytes(path: Path) -> tuple[int, int] | None:
    """(declared data bytes, bytes present) of a RIFF/WAVE file's data chunk; None when not a plain WAV.

    libsndfile silently shortens a WAV whose data chunk is cut off; the header still says how long it was.
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            while True:
                chunk = handle.read(8)
                if len(chunk) < 8:
                    return None
                size = int.from_bytes(chunk[4:8], "little")
                if chunk[:4] == b"data":
                    present = path.stat().st_size - handle.tell()
                    return size, present
                handle.seek(size + (size & 1), os.SEEK_CUR)
    except OSError:
        return None


def audio_info(path: str | os.PathLike[str], warn: bool = False) -> FileInfo:
    """The header of an audio file; one AudioError line for a missing, unreadable or empty file.

    ``warn``: also log a warning when a WAV file is shorter than its header announces (cut off).
    """
    p = Path(path)
    if not p.exists():
        raise AudioError(f"{p}: no such file")
    if p.is_dir():
        raise AudioError(f"{p}: is a directory, expected an audio file")
    try:
        info = sf.info(str(p))
    except Exception as exc:  # soundfile raises several types for unreadable files
        kind = f"the formats read here are {FORMATS_TEXT}"
        raise AudioError(f"{p}: cannot read audio ({type(exc).__name__}; {kind})") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(f"{p}: the audio is empty (0 samples)")
    declared = _declared_wav_bytes(p) if warn and p.suffix.lower() == ".wav" else None
    if declared is not None and declared[0] != 0xFFFFFFFF and declared[1] < declared[0]:
        share = declared[1] / declared[0]
        log.warning(
            "%s is truncated: its header announces %.2f s of audio, the file holds %.2f s; using those",
            p,
            info.duration / share if share > 0 else info.duration,
            info.duration,
        )
    return FileInfo(p, int(info.frames), int(info.samplerate), int(info.channels))


def to_mono(data: np.ndarray) -> np.ndarray:
    """Average channels (soundfile gives frames × channels) into one float32 channel."""
    if data.ndim == 2:
        data = data.mean(axis=1)
    return np.asarray(data, dtype=np.float32)


def resample(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """High-quality resampling with soxr; a no-op when the rates agree."""
    if source_rate == target_rate:
        return np.asarray(audio, dtype=np.float32)
    import soxr

    return np.asarray(soxr.resample(audio, source_rate, target_rate, quality="HQ"), dtype=np.float32)


def validate(
    audio: np.ndarray,
    sample_rate: int,
    name: str = "audio",
    max_s: float | None = None,
    allow_silent: bool = False,
    for_model: bool = True,
) -> None:
    """Reject audio a model cannot meaningfully read: empty, non-finite, silent (unless allowed), too long;
    ``for_model``: also shorter than :data:`MIN_AUDIO_S` (not for material, e.g. a bank's sound effects)."""
    if audio.ndim != 1:
        raise AudioError(f"{name}: expected mono audio, got shape {audio.shape}")
    if audio.size == 0:
        raise AudioError(f"{name}: the audio is empty (0 samples)")
    if not np.all(np.isfinite(audio)):
        raise AudioError(f"{name}: the audio contains NaN or infinite samples")
    if not allow_silent and is_silent(audio):
        raise AudioError(f"{name}: the audio is silent (RMS below {SILENCE_RMS:g})")
    if not allow_silent and for_model:  # a clip for a model (windows and page chunks pass allow_silent)
        check_min_length(audio.size / sample_rate, name)
    check_length(audio.size / sample_rate, name, max_s)


def is_silent(audio: np.ndarray) -> bool:
    """Whether a clip's RMS is below :data:`SILENCE_RMS` (digital silence)."""
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) < SILENCE_RMS


def check_min_length(duration_s: float, name: str) -> None:
    """Refuse a clip shorter than :data:`MIN_AUDIO_S` (one line, before any model sees it)."""
    if duration_s < MIN_AUDIO_S - 1e-6:  # below one sample at 96 kHz: 7.1 - 7.0 s is a 0.1-s span
        raise AudioError(f"{name}: the audio lasts {duration_s:.4f} s; at least {MIN_AUDIO_S:g} s is needed")


def check_length(duration_s: float, name: str, max_s: float | None) -> None:
    """Refuse a clip longer than ``max_s``, saying how to pick a span."""
    if max_s is not None and duration_s > max_s + 1e-9:
        raise AudioError(
            f"{name}: the audio is {over_limit_s(duration_s, max_s)} s long; this model accepts at most "
            f"{max_s:g} s at once: "
            "pick a span (--start/--end, or span=(start_s, end_s) in Python), or cut the file"
        )


def span_pair(span: Any) -> tuple[float | None, float | None]:
    """A call's ``span`` argument as (start_s, end_s): None for the whole file, else two values (either
    may be None); anything else is one OptionError (a bare number once raised a TypeError)."""
    if span is None:
        return None, None
    if isinstance(span, (str, bytes)) or not isinstance(span, (tuple, list)) or len(span) != 2:
        raise OptionError(f"span must be (start_s, end_s), e.g. (2.0, 8.0) or (None, 5.0), got {span!r}")
    if any(v is not None and not is_real_number(v) for v in span):  # ("1", "2") was read as numbers
        raise OptionError(f"span must hold numbers of seconds (or None), got {span!r}")
    return span[0], span[1]


def check_span(
    start_s: float | None, end_s: float | None, duration_s: float, name: str
) -> tuple[float, float]:
    """[start, end) seconds of a file of ``duration_s``; bad values are one OptionError line."""
    start = 0.0 if start_s is None else float(start_s)
    end = duration_s if end_s is None else float(end_s)
    if not (math.isfinite(start) and math.isfinite(end)):
        raise OptionError(f"start_s/end_s must be finite numbers of seconds, got {start_s!r}/{end_s!r}")
    if start >= duration_s:
        raise OptionError(f"{name} lasts {duration_s:.2f} s: start_s {start:g} is past its end")
    if start < 0 or end <= start:
        raise OptionError(f"start_s must be >= 0 and before end_s, got {start:g} and {end:g}")
    if end > duration_s + 1e-3:  # cut silently, it read as if the span ran to end_s
        raise OptionError(f"{name} lasts {duration_s:.2f} s: end_s {end:g} is past its end")
    return start, min(end, duration_s)


#: Frames read at a time by :func:`check_audible`.
_SCAN_FRAMES = 1 << 16


def check_audible(
    path: str | os.PathLike[str], start_s: float | None = None, end_s: float | None = None
) -> None:
    """Refuse, before any model, a span that holds a NaN or infinite sample, or is digital silence
    (every sample below :data:`SILENCE_RMS`).

    Reads the span a block at a time (a recorded hour in a fraction of a second), so that a bad sample
    deep in a long recording is refused before its first window runs, not when its window comes. A
    silent span is silent for :func:`validate` and in every window, so nothing accepted later is refused
    here; quieter-than-threshold RMS with some louder samples is left to :func:`validate`.
    """
    head = audio_info(path)
    name = str(head.path)
    start, end = check_span(start_s, end_s, head.duration_s, name)
    first, last = int(round(start * head.sample_rate)), int(round(end * head.sample_rate))
    audible, at = False, first
    try:
        with sf.SoundFile(name) as handle:
            handle.seek(first)
            while at < last:
                block = handle.read(min(_SCAN_FRAMES, last - at), dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    break
                finite = np.isfinite(block)
                if not finite.all():
                    bad = at + int(np.argmin(finite.all(axis=1)))
                    raise AudioError(
                        f"{name}: the audio contains NaN or infinite samples (the first at "
                        f"{bad / head.sample_rate:.2f} s)"
                    )
                audible = audible or float(np.max(np.abs(block))) >= SILENCE_RMS
                at += block.shape[0]
    except (RuntimeError, OSError):  # soundfile errors are RuntimeErrors
        return  # undecodable data: load_audio reports it with its own message
    if not audible:
        raise AudioError(f"{name}: the audio is silent (every sample below {SILENCE_RMS:g})")


def load_audio(
    path: str | os.PathLike[str],
    sample_rate: int,
    max_s: float | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
    allow_silent: bool = False,
    for_model: bool = True,
) -> tuple[np.ndarray, AudioInfo]:
    """Read [start, end) of an audio file as mono float32 at ``sample_rate``, validated.

    The header is checked first (length against ``max_s``, the span against the file); only the span
    is decoded. A file whose data ends before its header says is read as far as it goes, with a warning.
    ``allow_silent``: a silent span is returned (the windows of a long recording), not refused.
    ``for_model=False``: a sound that goes into a scene, not to a model, may be shorter than
    :data:`MIN_AUDIO_S` (a 67-ms click of a sound theme).
    """
    head = audio_info(path, warn=True)
    name = str(head.path)
    start, end = check_span(start_s, end_s, head.duration_s, name)
    check_length(end - start, name, max_s)
    first, last = int(round(start * head.sample_rate)), int(round(end * head.sample_rate))
    try:
        data, source_rate = sf.read(name, dtype="float32", always_2d=True, start=first, stop=last)
    except Exception as exc:  # soundfile raises several types for corrupt data
        raise AudioError(f"{name}: cannot decode audio ({type(exc).__name__})") from None
    if data.shape[0] < last - first:
        got = (first + data.shape[0]) / head.sample_rate
        log.warning(
            "%s is truncated: its header says %.2f s, the data ends at %.2f s", name, head.duration_s, got
        )
    mono = to_mono(data)
    if mono.size and not np.all(np.isfinite(mono)):
        raise AudioError(f"{name}: the audio contains NaN or infinite samples")
    if not allow_silent and mono.size:  # a clip read whole (localize_long warns once for its windows)
        warn_if_loud(float(np.max(np.abs(mono))), name, LOUD_FILE_HINT)
    audio = resample(mono, int(source_rate), sample_rate)
    validate(audio, sample_rate, name=name, max_s=max_s, allow_silent=allow_silent, for_model=for_model)
    info = AudioInfo(name, audio.size / sample_rate, sample_rate, int(source_rate), head.channels, start)
    return audio, info


#: A float clip whose samples reach beyond this is warned about (its scale is probably not [-1, 1]).
LOUD_ARRAY_PEAK = 4.0


def warn_if_loud(peak: float, name: str, hint: str) -> None:
    """One warning when a clip's samples reach far beyond [-1, 1] (``hint``: the likely cause): the model
    hears such audio as clipped noise, and nothing else would say why it finds nothing."""
    if peak > LOUD_ARRAY_PEAK:
        log.warning("%s: samples reach %.4g, far outside [-1, 1] (%s)", name, peak, hint)


#: Why a float file's samples would be far outside [-1, 1].
LOUD_FILE_HINT = "a float file written without scaling to [-1, 1]?"
#: Channels an in-memory clip may have: a wider 2-D array is read as channels × frames.
MAX_ARRAY_CHANNELS = 32


def as_frames(arr: np.ndarray, name: str = "audio") -> np.ndarray:
    """An array clip as float32 mono or frames × channels: integer PCM scaled to [-1, 1) as soundfile
    does (int16 by 2**15, int32 by 2**31, uint8 centred on 128), channels × frames transposed (a 2-D
    array with at most :data:`MAX_ARRAY_CHANNELS` rows and more columns), other shapes refused."""
    if arr.ndim == 0 or arr.ndim > 2:
        raise AudioError(f"{name}: expected a 1-D (mono) or 2-D (channels) array, got shape {arr.shape}")
    if arr.ndim == 2 and arr.shape[0] <= MAX_ARRAY_CHANNELS < arr.shape[1]:
        arr = arr.T
    if arr.dtype == np.uint8:
        return (arr.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(arr.dtype, np.signedinteger):
        return (arr.astype(np.float64) / float(2 ** (8 * arr.dtype.itemsize - 1))).astype(np.float32)
    if not np.issubdtype(arr.dtype, np.floating):
        raise AudioError(f"{name}: expected float or integer PCM samples, got dtype {arr.dtype}")
    return arr


def check_rate(rate: Any) -> None:
    """Refuse a sample rate that is not a positive whole number of Hz (OptionError)."""
    if isinstance(rate, (bool, np.bool_)) or not isinstance(rate, (int, np.integer)):
        raise OptionError(f"sample_rate must be a whole number of Hz, got {rate!r}")
    if rate <= 0:
        raise OptionError(f"sample_rate must be a positive number of Hz, got {rate}")


def array_mono(audio: Any, name: str = "audio") -> tuple[np.ndarray, int]:
    """An in-memory clip (numpy or torch; mono, frames × channels or channels × frames; float or integer
    PCM) as mono float32, and its number of channels: how every reader of an array sees it (the engine,
    the listening page and the figures)."""
    if hasattr(audio, "detach"):  # a torch tensor (bf16 and GPU ones too), without importing torch here
        audio = audio.detach().float().cpu().numpy()
    arr = as_frames(np.asarray(audio), name)
    return to_mono(arr), 1 if arr.ndim == 1 else int(arr.shape[1])


def from_array(
    audio: np.ndarray,
    source_rate: int,
    sample_rate: int,
    max_s: float | None = None,
    name: str = "audio",
    assumed: bool = False,
) -> tuple[np.ndarray, AudioInfo]:
    """Validate and resample an in-memory clip: mono, frames × channels (soundfile's order) or channels ×
    frames (torchaudio's and librosa's), float in [-1, 1] or integer PCM (scaled as soundfile scales it)."""
    check_rate(source_rate)
    mono, channels = array_mono(audio, name)
    if mono.size and not np.all(np.isfinite(mono)):
        raise AudioError(f"{name}: the audio contains NaN or infinite samples")
    peak = float(np.max(np.abs(mono))) if mono.size else 0.0
    warn_if_loud(peak, name, "integer PCM as floats? divide by 32768")
    hint = f" (read at {source_rate} Hz: pass sample_rate= if that is not its rate)" if assumed else ""
    where = name + hint
    check_length(mono.size / source_rate, where, max_s)
    out = resample(mono, source_rate, sample_rate)
    validate(out, sample_rate, name=name, max_s=max_s)
    info = AudioInfo(None, out.size / sample_rate, sample_rate, source_rate, channels)
    return out, info
