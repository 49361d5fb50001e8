"""Scene backgrounds under the events: coloured noise, speech babble, or a few quiet other sounds.

Every background is returned at unit level (noise and babble: RMS 1 over the clip; sounds: each one
RMS 1 over its active span); the synthesizer scales it to the drawn ``background_db``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from .banks import Bank, active_span
from .procedural import ProceduralBank, ramp_envelope
from .speech import Voice, speak

F64 = npt.NDArray[np.float64]

#: Neutral sentences for babble: none contains a speech-bank word or phrase, nor a homophone of one
#: ("to", "for", "won", "ate" ...), so a babble background never says a query.
BABBLE_SENTENCES: tuple[str, ...] = (
    "The garden looks green after the rain.",
    "She painted the kitchen a pale yellow.",
    "The river runs past the old mill.",
    "We walked along the quiet beach.",
    "The library closes early in winter.",
    "His coffee was still warm.",
    "The children built a castle of sand.",
    "A small boat drifted across the lake.",
    "The market sells fresh bread and cheese.",
    "Please close the window.",
    "The bus was late again.",
    "Her brother plays the piano.",
    "The mountains were covered in snow.",
    "They planted apple trees near the fence.",
    "The museum has a new painting.",
    "Our neighbours keep chickens in the yard.",
    "The soup needs a little more salt.",
    "The cat sleeps on the warm carpet.",
    "A light breeze moved the curtains.",
    "The old bridge is made of stone.",
)
BABBLE_VOICES = (4, 8)  # number of overlapped talkers, inclusive
#: The talkers of babble, each drawn at most once per scene: a fixed pool, so that after a few scenes
#: every (sentence, talker) is in espeak-ng's cache and babble costs only the mixing.
BABBLE_POOL: tuple[Voice, ...] = (
    Voice("en-us+m1", 150, 40),
    Voice("en-us+f2", 160, 60),
    Voice("en-gb+m3", 140, 50),
    Voice("en-gb+f1", 170, 55),
    Voice("en+m7", 150, 35),
    Voice("en+f4", 145, 65),
    Voice("en-us+m5", 175, 45),
    Voice("en-gb+f3", 155, 70),
    Voice("en+m2", 165, 30),
    Voice("en-us+f1", 150, 50),
    Voice("en-gb+m6", 160, 40),
    Voice("en+f2", 140, 60),
)
BABBLE_LOOP_S = 20.0  # each talker speaks at most this long, then loops (keeps long scenes cheap)
SOUNDS_COUNT = (2, 4)  # number of quiet background sounds, inclusive
SOUNDS_S = (0.5, 3.0)
_NOISE_LOW_HZ = 20.0
_SILENT_RMS = 1e-7


def _unit_rms(x: F64) -> F64:
    rms = float(np.sqrt(np.mean(x**2))) if x.size else 0.0
    return x / rms if rms > 0 else x


def coloured_noise(kind: str, rng: np.random.Generator, n: int, sample_rate: int) -> F64:
    """White, pink (1/f power) or brown (1/f^2 power) noise of unit RMS, shaped in the frequency domain."""
    white = rng.standard_normal(n)
    if kind == "white":
        return _unit_rms(white)
    exponent = {"pink": 0.5, "brown": 1.0}[kind]  # amplitude slope: power falls as 1/f or 1/f^2
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    spectrum *= np.maximum(freqs, _NOISE_LOW_HZ) ** -exponent
    spectrum[0] = 0.0
    return _unit_rms(np.fft.irfft(spectrum, n))


def babble(rng: np.random.Generator, n: int, sample_rate: int) -> F64:
    """4-8 distinct synthetic talkers reading neutral sentences at once, unit RMS; each loops after 20 s."""
    mix = np.zeros(n)
    loop = min(n, round(BABBLE_LOOP_S * sample_rate))
    talkers = int(rng.integers(BABBLE_VOICES[0], BABBLE_VOICES[1] + 1))
    for index in rng.choice(len(BABBLE_POOL), talkers, replace=False):
        voice = BABBLE_POOL[int(index)]
        talker = np.zeros(loop)
        at = int(rng.integers(0, max(1, round(0.5 * sample_rate))))
        while at < loop:
            sentence = BABBLE_SENTENCES[int(rng.integers(len(BABBLE_SENTENCES)))]
            said = _unit_rms(speak(sentence, voice, sample_rate).astype(np.float64))[: loop - at]
            talker[at : at + len(said)] += said
            at += len(said) + round(rng.uniform(0.1, 0.5) * sample_rate)
        shift = int(rng.integers(loop))
        mix += np.resize(np.roll(talker, shift), n)  # np.resize repeats the loop to fill the clip
    return _unit_rms(mix)


def background_sounds(
    bank: Bank, exclude: Sequence[str], rng: np.random.Generator, n: int, sample_rate: int
) -> F64:
    """2-4 sounds of labels not in ``exclude`` (the procedural classes when the bank has none left),
    each of RMS 1 over its active span, at random places."""
    labels = [label for label in bank.labels if label not in exclude]
    source: Bank = bank
    if not labels:
        source = ProceduralBank()
        labels = [label for label in source.labels if label not in exclude] or list(source.labels)
    mix = np.zeros(n)
    for _ in range(int(rng.integers(SOUNDS_COUNT[0], SOUNDS_COUNT[1] + 1))):
        label = labels[int(rng.integers(len(labels)))]
        length = max(1, min(n, round(rng.uniform(*SOUNDS_S) * sample_rate)))
        x = np.asarray(source.render(label, rng, sample_rate, length / sample_rate), dtype=np.float64)[
            :length
        ]
        x = x * ramp_envelope(len(x), sample_rate, 0.01, 0.01)
        a0, a1 = active_span(x, sample_rate)
        rms = float(np.sqrt(np.mean(x[a0:a1] ** 2))) if a1 > a0 else 0.0
        if rms < _SILENT_RMS:
            continue  # a silent render adds nothing (and must not be blown up)
        start = int(rng.integers(0, n - len(x) + 1))
        mix[start : start + len(x)] += x / rms
    return mix


def make_background(
    kind: str, bank: Bank, exclude: Sequence[str], rng: np.random.Generator, n: int, sample_rate: int
) -> F64:
    """The unit-level background of ``kind`` (see :data:`~.options.BACKGROUNDS`), ``n`` samples."""
    if kind in ("white", "pink", "brown"):
        return coloured_noise(kind, rng, n, sample_rate)
    if kind == "babble":
        return babble(rng, n, sample_rate)
    if kind == "sounds":
        return background_sounds(bank, exclude, rng, n, sample_rate)
    raise ValueError(f"no background of kind {kind!r}")  # SceneOptions validated it: a bug


__all__ = [
    "BABBLE_POOL",
    "BABBLE_SENTENCES",
    "babble",
    "background_sounds",
    "coloured_noise",
    "make_background",
]
