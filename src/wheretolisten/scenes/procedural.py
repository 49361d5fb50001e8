"""Built-in synthetic sound classes: a bank that needs no data and never repeats itself.

Eight classes that differ in pitch, bandwidth, envelope and periodicity, each drawn with randomized
parameters, so scenes can be synthesized (and tests run) without any recordings.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from .banks import Bank, n_samples

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


def ramp_envelope(n: int, sample_rate: int, attack_s: float, release_s: float) -> F64:
    """Flat envelope with raised-cosine attack and release."""
    env = np.ones(n)
    attack = min(n // 2, int(attack_s * sample_rate))
    release = min(n // 2, int(release_s * sample_rate))
    if attack > 0:
        env[:attack] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(attack) / attack)
    if release > 0:
        env[n - release :] *= 0.5 + 0.5 * np.cos(np.pi * (np.arange(release) + 1) / release)
    return env


def _one_pole(x: F64, coeff: float) -> F64:
    """First-order low-pass (coeff in [0, 1)); used to colour noise."""
    from scipy.signal import lfilter

    return np.asarray(lfilter([1.0 - coeff], [1.0, -coeff], x), dtype=np.float64)


def _tone(rng: np.random.Generator, sr: int, n: int) -> F64:
    """Steady sinusoid with a faint second harmonic: narrowband, stable pitch, flat envelope."""
    t = np.arange(n) / sr
    f = min(float(np.exp(rng.uniform(np.log(250.0), np.log(1500.0)))), 0.2 * sr)
    a2 = rng.uniform(0.0, 0.15)
    x = np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    x += a2 * np.sin(4 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return x * ramp_envelope(n, sr, rng.uniform(0.01, 0.05), rng.uniform(0.02, 0.1))


def _siren(rng: np.random.Generator, sr: int, n: int) -> F64:
    """Periodic pitch sweep (wail) with odd harmonics: tonal but moving pitch."""
    t = np.arange(n) / sr
    f_lo = rng.uniform(500.0, 900.0)
    f_hi = f_lo * rng.uniform(1.5, 2.2)
    rate = rng.uniform(0.6, 2.5)
    inst = f_lo + (f_hi - f_lo) * (0.5 - 0.5 * np.cos(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi)))
    phase = 2 * np.pi * np.cumsum(inst) / sr
    x = np.sin(phase)
    if 3 * f_hi < 0.45 * sr:
        x += rng.uniform(0.2, 0.4) * np.sin(3 * phase)
    return x * ramp_envelope(n, sr, 0.02, 0.05)


def _noise_burst(rng: np.random.Generator, sr: int, n: int) -> F64:
    """Coloured broadband noise with a sharp attack and slow decay: flat spectrum, no pitch."""
    t = np.arange(n) / sr
    x = _one_pole(rng.standard_normal(n), rng.uniform(0.0, 0.5))
    tau = rng.uniform(0.4, 1.0) * max(t[-1], 1.0 / sr)
    env = np.exp(-t / tau) * ramp_envelope(n, sr, rng.uniform(0.002, 0.02), 0.03)
    return x * env


def _click_train(rng: np.random.Generator, sr: int, n: int) -> F64:
    """Periodic short bright clicks (8-25 Hz): impulsive, high crest factor, high centroid."""
    x = np.zeros(n)
    period = 1.0 / rng.uniform(8.0, 25.0)
    click_len = max(2, int(0.003 * sr))
    ct = np.arange(click_len) / sr
    f_res = min(rng.uniform(2000.0, 4000.0), 0.4 * sr)
    time = rng.uniform(0.0, 0.3 * period)
    while int(time * sr) < n:
        start = int(time * sr)
        click = (rng.standard_normal(click_len) * 0.5 + np.sin(2 * np.pi * f_res * ct)) * np.exp(-ct / 0.0008)
        stop = min(n, start + click_len)
        x[start:stop] += rng.uniform(0.7, 1.0) * click[: stop - start]
        time += period * rng.uniform(0.95, 1.05)
    return x


def _bell(rng: np.random.Generator, sr: int, n: int) -> F64:
    """Inharmonic partials with exponential decay, re-struck about every second."""
    t = np.arange(n) / sr
    f0 = float(np.exp(rng.uniform(np.log(350.0), np.log(900.0))))
    ratios = np.array([1.0, 2.76, 5.40, 8.93]) * (1 + rng.uniform(-0.02, 0.02, 4))
    amps = np.array([1.0, 0.6, 0.4, 0.25]) * rng.uniform(0.7, 1.0, 4)
    tau0 = rng.uniform(0.4, 1.2)
    phases = rng.uniform(0, 2 * np.pi, 4)
    strike_every = rng.uniform(0.9, 1.6)
    x = np.zeros(n)
    for strike in np.arange(0.0, t[-1] + 1.0 / sr, strike_every):
        s = int(strike * sr)
        ts = t[: n - s]
        for ratio, amp, ph in zip(ratios, amps, phases, strict=True):
            if f0 * ratio < 0.45 * sr:
                x[s:] += amp * np.sin(2 * np.pi * f0 * ratio * ts + ph) * np.exp(-ts * np.sqrt(ratio) / tau0)
    return x * ramp_envelope(n, sr, 0.001, 0.02)


def _groups(
    rng: np.random.Generator,
    sr: int,
    n: int,
    per_group: tuple[int, int],
    gap_s: tuple[float, float],
    burst: Callable[[], tuple[F64, float]],
) -> F64:
    """Groups of bursts over ``n`` samples: ``per_group`` bursts (drawn, upper bound excluded), each from
    ``burst()`` (the sound and the seconds to the next), then a pause drawn from ``gap_s``."""
    x = np.zeros(n)
    time = rng.uniform(0.0, 0.03)
    while int(time * sr) < n:
        for _ in range(int(rng.integers(*per_group))):
            start = int(time * sr)
            if start >= n:
                break
            sound, step = burst()
            stop = min(n, start + sound.size)
            x[start:stop] += sound[: stop - start]
            time += step
        time += rng.uniform(*gap_s)
    return x


def _knock(rng: np.random.Generator, sr: int, n: int) -> F64:
    """Groups of short damped low resonances (knocks on a door): sparse, low, percussive."""
    f_res = rng.uniform(120.0, 350.0)
    tau = rng.uniform(0.008, 0.025)
    hit_len = min(n, int(8 * tau * sr) + 1)
    ht = np.arange(hit_len) / sr

    def knock() -> tuple[F64, float]:
        hit = np.sin(2 * np.pi * f_res * (1 + rng.uniform(-0.03, 0.03)) * ht) * np.exp(-ht / tau)
        hit += 0.3 * rng.standard_normal(hit_len) * np.exp(-ht / 0.0015)
        return rng.uniform(0.7, 1.0) * hit, rng.uniform(0.1, 0.2)

    return _groups(rng, sr, n, (2, 5), (0.35, 0.7), knock)


def _hum(rng: np.random.Generator, sr: int, n: int) -> F64:
    """Low harmonic buzz (50-120 Hz fundamental, many harmonics): steady, low, dense harmonics."""
    t = np.arange(n) / sr
    f0 = rng.uniform(50.0, 120.0)
    slope = rng.uniform(0.8, 1.3)
    x = np.zeros(n)
    for k in range(1, 21):
        if k * f0 >= 0.45 * sr:
            break
        x += k**-slope * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
    wobble = 1 + rng.uniform(0.0, 0.1) * np.sin(2 * np.pi * rng.uniform(0.5, 3.0) * t)
    return x * wobble * ramp_envelope(n, sr, rng.uniform(0.02, 0.08), rng.uniform(0.02, 0.08))


def _chirp(rng: np.random.Generator, sr: int, n: int) -> F64:
    """Phrases of fast rising high chirps (bird-like): high pitch, rapid upward sweeps."""
    f_lo = min(rng.uniform(2000.0, 3000.0), 0.3 * sr)
    f_hi = min(rng.uniform(4000.0, 6000.0), 0.45 * sr)

    def chirp() -> tuple[F64, float]:
        length = int(rng.uniform(0.04, 0.09) * sr)
        ct = np.arange(length) / sr
        inst = f_lo * (f_hi / f_lo) ** (ct / ct[-1]) if length > 1 else np.full(length, f_lo)
        sweep = np.sin(2 * np.pi * np.cumsum(inst) / sr) * np.sin(np.pi * np.arange(length) / length)
        return rng.uniform(0.6, 1.0) * sweep, length / sr + rng.uniform(0.03, 0.1)

    return _groups(rng, sr, n, (3, 8), (0.2, 0.5), chirp)


_Generator = Callable[[np.random.Generator, int, int], F64]

PROCEDURAL_CLASSES: dict[str, tuple[_Generator, str]] = {
    "tone": (_tone, "a steady tone"),
    "siren": (_siren, "a siren"),
    "noise_burst": (_noise_burst, "a burst of noise"),
    "click_train": (_click_train, "a train of clicks"),
    "bell": (_bell, "a bell ringing"),
    "knock": (_knock, "knocking"),
    "hum": (_hum, "a low hum"),
    "chirp": (_chirp, "chirping"),
}


class ProceduralBank(Bank):
    """Built-in synthetic classes with randomized parameters: needs no data, never repeats itself."""

    def __init__(self) -> None:
        self.name = "procedural"
        self.labels = list(PROCEDURAL_CLASSES)

    def query_text(self, label: str) -> str:
        """Hand-written query text for each synthetic class."""
        self._check_label(label)
        return PROCEDURAL_CLASSES[label][1]

    def render(self, label: str, rng: np.random.Generator, sample_rate: int, max_duration_s: float) -> F32:
        """Synthesize one instance that fills exactly ``max_duration_s`` (rounded down to samples)."""
        self._check_label(label)
        n = n_samples(max_duration_s, sample_rate)
        x = PROCEDURAL_CLASSES[label][0](rng, sample_rate, n)
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        return (x / peak if peak > 0 else x).astype(np.float32)


__all__ = ["PROCEDURAL_CLASSES", "ProceduralBank", "ramp_envelope"]
