"""The clip itself: its waveform envelope, and its log-mel spectrogram as the Whisper front end computes it.

Both model families read 128-bin log-mel features from Whisper's feature extractor; the figure uses
the same ``transformers.audio_utils`` functions and parameters, so it shows what the model hears.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .marks import gid

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: The Whisper front end: 16 kHz audio, 25-ms Hann window, 10-ms hop, 128 slaney mel bins up to 8 kHz.
WHISPER_RATE = 16000
WINDOW = 400
HOP = 160
N_MELS = 128
FMAX = 8000.0
#: Whisper floors the log10 mel power this far below its maximum.
CLIP_LOG10 = 8.0


class LogMel(NamedTuple):
    """``log10``: [n_mels, frames] log10 mel power, floored at max − 8; frame k is centred on k · hop_s."""

    log10: np.ndarray
    hop_s: float
    fmin: float
    fmax: float


def log_mel(audio: np.ndarray, sample_rate: int, n_mels: int = N_MELS) -> LogMel:
    """Whisper's log-mel of a clip (resampled to 16 kHz first when it is not): what the encoder reads."""
    from transformers.audio_utils import mel_filter_bank, spectrogram, window_function

    from ..audio import resample

    x = resample(np.asarray(audio, dtype=np.float32).ravel(), int(sample_rate), WHISPER_RATE)
    if x.size <= WINDOW // 2:  # centred frames reflect-pad by half a window
        x = np.pad(x, (0, WINDOW // 2 + 1 - x.size))
    filters = mel_filter_bank(
        num_frequency_bins=1 + WINDOW // 2,
        num_mel_filters=n_mels,
        min_frequency=0.0,
        max_frequency=FMAX,
        sampling_rate=WHISPER_RATE,
        norm="slaney",
        mel_scale="slaney",
    )
    spec = spectrogram(
        x,
        window_function(WINDOW, "hann"),
        frame_length=WINDOW,
        hop_length=HOP,
        power=2.0,
        mel_filters=filters,
        log_mel="log10",
    )
    if spec.shape[1] > 1:
        spec = spec[:, :-1]  # Whisper drops the frame centred past the end
    floored = np.maximum(spec, spec.max() - CLIP_LOG10)
    return LogMel(np.asarray(floored, dtype=np.float64), HOP / WHISPER_RATE, 0.0, FMAX)


def envelope(audio: np.ndarray, sample_rate: int, bins: int = 2000) -> tuple[np.ndarray, ...]:
    """(time_s, min, max) per bin: a waveform drawn as its envelope stays small for long clips."""
    x = np.asarray(audio, dtype=np.float64).ravel()
    per = max(1, math.ceil(x.size / bins))
    n = math.ceil(x.size / per)
    padded = np.pad(x, (0, n * per - x.size), mode="edge").reshape(n, per)
    t = (np.arange(n) * per + per / 2) / sample_rate
    return t, padded.min(axis=1), padded.max(axis=1)


def draw_waveform(ax: Axes, audio: np.ndarray, sample_rate: int) -> None:
    """The waveform's envelope, symmetric y limits a little above the loudest sample."""
    t, lo, hi = envelope(audio, sample_rate)
    ax.fill_between(t, lo, hi, color="#555555", lw=0, step="mid", gid=gid(ax, "envelope"))
    top = max(float(np.max(np.abs(audio))), 1e-6) * 1.1
    ax.set_ylim(-top, top)
    ax.set_ylabel("amplitude")


def draw_log_mel(ax: Axes, audio: np.ndarray, sample_rate: int) -> None:
    """The log-mel image on a mel-spaced axis labelled in Hz, with a colorbar in log10 units."""
    from transformers.audio_utils import hertz_to_mel

    spec = log_mel(audio, sample_rate)
    n_mels, n_frames = spec.log10.shape
    m_lo, m_hi = (float(hertz_to_mel(f, mel_scale="slaney")) for f in (spec.fmin, spec.fmax))
    step = (m_hi - m_lo) / (n_mels + 1)  # filter i is centred on m_lo + (i + 1) · step
    image = ax.imshow(
        spec.log10,
        origin="lower",
        aspect="auto",
        cmap="magma",
        interpolation="nearest",
        extent=(-spec.hop_s / 2, (n_frames - 0.5) * spec.hop_s, m_lo + step / 2, m_hi - step / 2),
        gid=gid(ax, "log-mel"),
    )
    ticks = [f for f in (250, 500, 1000, 2000, 4000, 8000) if f < spec.fmax]
    ax.set_yticks([float(hertz_to_mel(f, mel_scale="slaney")) for f in ticks])
    ax.set_yticklabels([f"{f // 1000}k" if f >= 1000 else str(f) for f in ticks])
    ax.set_ylabel("log-mel (Hz)")
    bar = ax.figure.colorbar(image, ax=ax, fraction=0.025, pad=0.01)
    bar.set_label(f"log10 power\n(floor max − {CLIP_LOG10:g})", fontsize=7)
    bar.ax.tick_params(labelsize=7)
