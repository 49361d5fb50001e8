"""Spoken words and phrases synthesized with espeak-ng (and flite): a speech bank that needs no recordings.

Each render draws a voice (accent and variant), speed, pitch and gain from the rng, so the same rng
state gives the same audio; the synthesized waveforms are cached per (text, voice, speed, pitch) in
an in-process LRU because starting the synthesizer is the slow part. espeak-ng is a formant
synthesizer; flite's ``awb``, ``rms`` and ``slt`` voices are statistical voices built from recordings of
real speakers (and ``kal16`` a diphone voice), so a bank with both engines hears more kinds of voice.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..audio import resample
from ..errors import AudioError, DataError, OptionError
from .banks import Bank, active_span, n_samples

F32 = npt.NDArray[np.float32]

SPEECH_WORDS: tuple[str, ...] = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
    "today", "tomorrow", "yesterday",
)  # fmt: skip
SPEECH_PHRASES: tuple[str, ...] = ("good morning", "thank you", "call me back", "see you later", "excuse me")

#: espeak-ng English voices and the variants drawn with them ("" = the voice's own).
VOICES: tuple[str, ...] = ("en", "en-us", "en-gb")
VARIANTS: tuple[str, ...] = ("", *(f"+m{k}" for k in range(1, 8)), *(f"+f{k}" for k in range(1, 5)))
#: Speed (words per minute) and pitch (0-99) ranges, drawn on a grid of 10 so the cache gets hits.
SPEED_WPM = (110, 190)
PITCH = (20, 80)
MAX_SPEED_WPM = 350  # a word too long for its slot is re-spoken faster, up to this speed
TELEPHONE_BAND_HZ = (300.0, 3400.0)
ESPEAK = "espeak-ng"
FLITE = "flite"
#: The synthesizers a bank may draw from (``SpeechBank(engines=...)``).
ENGINES: tuple[str, ...] = (ESPEAK, FLITE)
#: flite voices (all built in) and their duration stretch (1 = the voice's own pace) and mean pitch (Hz)
#: ranges, drawn on grids of 0.1 and 20 Hz so the cache gets hits.
FLITE_VOICES: tuple[str, ...] = ("kal16", "awb", "rms", "slt")
FLITE_STRETCH = (0.8, 1.3)
FLITE_F0_HZ = (80, 220)
MIN_FLITE_STRETCH = 0.4  # a word too long for its slot is re-spoken faster, down to this stretch
_CACHE_SIZE = 2048  # float32 at the scene rate: a word is ~40 kB at 16 kHz, a babble sentence ~130 kB
_TRIM_DB = -45.0
_PAD_S = 0.015  # kept around the trimmed speech so the scene's 10-ms fades never cut into it


def speech_label(text: str) -> str:
    """'good morning' → 'say_good_morning'."""
    return "say_" + "_".join(text.split())


def speech_query(text: str) -> str:
    """'seven' → "someone saying 'seven'"."""
    return f"someone saying '{text}'"


def espeak_binary() -> str:
    """Path of the espeak-ng binary, or one DataError line saying how to install it."""
    return _binary(ESPEAK)


def _binary(engine: str) -> str:
    """Path of a synthesizer's binary, or one DataError line saying how to install it."""
    path = shutil.which(engine)
    if path is None:
        raise DataError(
            f"{engine} is not installed (Debian/Ubuntu: apt-get install {engine}); this speech bank needs it"
        )
    return path


@dataclass(frozen=True)
class Voice:
    """One espeak-ng rendering setup: voice name (with variant), words per minute, pitch."""

    name: str
    speed: int
    pitch: int


@dataclass(frozen=True)
class FliteVoice:
    """One flite rendering setup: built-in voice, duration stretch (1 = its own pace), mean pitch in Hz."""

    name: str
    stretch: float
    f0_hz: int


def draw_voice(rng: np.random.Generator) -> Voice:
    """A random English voice, variant, speed and pitch (on grids of 10)."""
    name = VOICES[int(rng.integers(len(VOICES)))] + VARIANTS[int(rng.integers(len(VARIANTS)))]
    speed = 10 * int(rng.integers(SPEED_WPM[0] // 10, SPEED_WPM[1] // 10 + 1))
    pitch = 10 * int(rng.integers(PITCH[0] // 10, PITCH[1] // 10 + 1))
    return Voice(name, speed, pitch)


def draw_flite_voice(rng: np.random.Generator) -> FliteVoice:
    """A random flite voice, pace and pitch (on grids of 0.1 and 20 Hz)."""
    name = FLITE_VOICES[int(rng.integers(len(FLITE_VOICES)))]
    lo, hi = FLITE_STRETCH
    stretch = round(lo + 0.1 * int(rng.integers(0, round((hi - lo) / 0.1) + 1)), 1)
    f0 = 20 * int(rng.integers(FLITE_F0_HZ[0] // 20, FLITE_F0_HZ[1] // 20 + 1))
    return FliteVoice(name, stretch, f0)


def _flite(text: str, voice: FliteVoice) -> tuple[npt.NDArray[np.int16], int]:
    """Raw flite output: 16-bit samples and their rate (flite writes a plain RIFF file)."""
    args = [_binary(FLITE), "-voice", voice.name, "--setf", f"duration_stretch={voice.stretch:g}"]
    args += ["--setf", f"int_f0_target_mean={voice.f0_hz}", "-t", text, "-o", "/dev/stdout"]
    try:
        done = subprocess.run(args, capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise AudioError(f"{FLITE} failed for {text!r} with voice {voice.name}: {exc}") from None
    return _riff_pcm(done.stdout, text, voice.name, FLITE)


def _riff_pcm(data: bytes, text: str, voice: str, engine: str) -> tuple[npt.NDArray[np.int16], int]:
    """16-bit mono PCM and its rate from a synthesizer's RIFF output (44-byte header, sizes maybe unset)."""
    if len(data) < 46 or data[:4] != b"RIFF" or data[36:40] != b"data":
        raise AudioError(f"{engine} wrote no usable audio for {text!r} with voice {voice}")
    rate = int.from_bytes(data[24:28], "little")
    body = data[44 : 44 + (len(data) - 44) // 2 * 2]
    return np.frombuffer(body, dtype="<i2").astype(np.int16), rate


def _espeak(text: str, voice: Voice) -> tuple[npt.NDArray[np.int16], int]:
    """Raw espeak-ng output: 16-bit samples and their rate."""
    args = [espeak_binary(), "-v", voice.name, "-s", str(voice.speed), "-p", str(voice.pitch), "--stdout"]
    try:
        done = subprocess.run([*args, text], capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise AudioError(f"{ESPEAK} failed for {text!r} with voice {voice.name}: {exc}") from None
    # espeak-ng --stdout writes a 44-byte RIFF header (sizes unknown, 0x7fff...) then 16-bit mono PCM.
    return _riff_pcm(done.stdout, text, voice.name, ESPEAK)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def speak(text: str, voice: Voice | FliteVoice, sample_rate: int) -> F32:
    """``text`` spoken by ``voice`` (espeak-ng's ``Voice`` or flite's ``FliteVoice``) at ``sample_rate``,
    silence trimmed (a few ms kept at each end).

    Cached per (text, voice, rate) in an in-process LRU: the array is read-only, copy it to change it.
    """
    pcm, rate = _flite(text, voice) if isinstance(voice, FliteVoice) else _espeak(text, voice)
    raw = pcm.astype(np.float32) / 32768.0
    start, stop = active_span(raw, rate, threshold_db=_TRIM_DB)
    if stop <= start:
        engine = FLITE if isinstance(voice, FliteVoice) else ESPEAK
        raise AudioError(f"{engine} produced silence for {text!r} with voice {voice.name}")
    pad = round(_PAD_S * rate)
    trimmed = raw[max(0, start - pad) : min(len(raw), stop + pad)]
    audio = np.array(resample(trimmed, rate, sample_rate), dtype=np.float32)
    audio.flags.writeable = False
    return audio


def telephone(audio: F32, sample_rate: int) -> F32:
    """Band-limit to the telephone band (300-3400 Hz); unchanged when the rate cannot hold the band."""
    from scipy.signal import butter, sosfiltfilt

    low, high = TELEPHONE_BAND_HZ
    if high >= 0.5 * sample_rate or len(audio) < 64:
        return audio
    sos = butter(4, [low, high], btype="bandpass", fs=sample_rate, output="sos")
    return np.asarray(sosfiltfilt(sos, audio), dtype=np.float32)


class SpeechBank(Bank):
    """Words and short phrases spoken by espeak-ng (and flite), one label per text (``say_seven``).

    ``telephone_p``: probability that a render is band-limited to 300-3400 Hz (a phone line).
    ``engines``: the synthesizers each render draws from, uniformly (default espeak-ng alone, whose
    renders are unchanged by the option's existence: the engine is drawn only when there are several).
    """

    def __init__(
        self,
        words: Sequence[str] = SPEECH_WORDS,
        phrases: Sequence[str] = SPEECH_PHRASES,
        telephone_p: float = 0.0,
        engines: Sequence[str] = (ESPEAK,),
    ) -> None:
        if not 0.0 <= telephone_p <= 1.0:
            raise OptionError(f"telephone_p must be in [0, 1], got {telephone_p!r}")
        self.engines = tuple(dict.fromkeys(engines))
        unknown = [e for e in self.engines if e not in ENGINES]
        if unknown or not self.engines:
            raise OptionError(
                f"speech engines must be among {', '.join(ENGINES)}; got {', '.join(engines) or 'none'}"
            )
        for engine in self.engines:
            _binary(engine)
        texts = [" ".join(t.lower().split()) for t in (*words, *phrases)]
        if not texts or any(not t for t in texts):
            raise OptionError("a speech bank needs at least one non-empty word or phrase")
        self.texts = {speech_label(t): t for t in texts}
        if len(self.texts) != len(texts):
            raise OptionError("the speech bank's words and phrases must be distinct")
        self.labels = list(self.texts)
        self.telephone_p = float(telephone_p)
        parts = [f"telephone={telephone_p:g}"] if telephone_p else []
        if self.engines != (ESPEAK,):
            parts.append("engines=" + ",".join(self.engines))
        self.name = ":".join(["speech", *parts])

    def query_text(self, label: str) -> str:
        """ "someone saying 'seven'"."""
        self._check_label(label)
        return speech_query(self.texts[label])

    def render(self, label: str, rng: np.random.Generator, sample_rate: int, max_duration_s: float) -> F32:
        """One spoken instance; re-spoken faster (espeak-ng up to 350 wpm, flite down to 0.4 of its
        pace) when longer than ``max_duration_s``, cropped only if still too long."""
        self._check_label(label)
        n = n_samples(max_duration_s, sample_rate)
        text = self.texts[label]
        engine = self.engines[int(rng.integers(len(self.engines)))] if len(self.engines) > 1 else ESPEAK
        voice: Voice | FliteVoice = draw_voice(rng) if engine == ESPEAK else draw_flite_voice(rng)
        gain = rng.uniform(0.5, 1.0)
        phone = rng.uniform() < self.telephone_p
        audio = speak(text, voice, sample_rate)
        if len(audio) > n:
            faster = _faster(voice, len(audio), n)
            if faster is not None:
                audio = speak(text, faster, sample_rate)
        audio = audio[:n]
        if phone:
            audio = telephone(audio, sample_rate)
        return np.ascontiguousarray(audio * gain, dtype=np.float32)


def _faster(voice: Voice | FliteVoice, have: int, want: int) -> Voice | FliteVoice | None:
    """The voice re-paced to fit ``have`` samples into ``want`` (5 % margin, on its grid), or None when it
    is already at its fastest. espeak-ng's speed is computed exactly as before flite joined, so the
    default bank's scenes are unchanged."""
    if isinstance(voice, FliteVoice):
        if voice.stretch <= MIN_FLITE_STRETCH:
            return None
        stretch = max(MIN_FLITE_STRETCH, np.floor(voice.stretch / (have / want) / 1.05 * 10) / 10)
        return FliteVoice(voice.name, round(float(stretch), 1), voice.f0_hz)
    if voice.speed >= MAX_SPEED_WPM:
        return None
    faster = min(MAX_SPEED_WPM, int(np.ceil(voice.speed * have / want * 1.05 / 10)) * 10)
    return Voice(voice.name, faster, voice.pitch)


__all__ = [
    "ENGINES",
    "ESPEAK",
    "FLITE",
    "SPEECH_PHRASES",
    "SPEECH_WORDS",
    "FliteVoice",
    "SpeechBank",
    "Voice",
    "draw_flite_voice",
    "draw_voice",
    "espeak_binary",
    "speak",
    "speech_label",
    "speech_query",
]
