"""A log-mel spectrogram of any length as one small PNG, computed in numpy (no matplotlib, no model).

Frames of 25 ms every 10 ms, 64 mel bands up to 8 kHz, power averaged over as many frames per column
as keep the image at most ``max_columns`` wide; log10 power floored 8 decades below the loudest column
(as Whisper floors its features), drawn with a magma-like palette, low frequencies at the bottom.
"""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np

WINDOW = 400
HOP = 160
N_FFT = 512
N_MELS = 64
FMAX = 8000.0
#: Decades of log10 power shown below the loudest column.
FLOOR_LOG10 = 8.0
#: Magma-like anchors (position, RGB) for the palette.
_ANCHORS = (
    (0.0, (0, 0, 4)),
    (0.25, (80, 18, 123)),
    (0.5, (182, 54, 121)),
    (0.75, (251, 136, 97)),
    (1.0, (252, 253, 191)),
)


def _mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + f / 700.0)


def mel_filters(rate: int, n_fft: int = N_FFT, n_mels: int = N_MELS, fmax: float = FMAX) -> np.ndarray:
    """Triangular filters [n_mels, n_fft // 2 + 1] on the HTK mel scale, each summing to one."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    top = float(_mel(np.array(min(fmax, rate / 2))))
    edges = 700.0 * (10 ** (np.linspace(0.0, top, n_mels + 2) / 2595) - 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    tri = np.maximum(0.0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    for band in np.flatnonzero(tri.sum(axis=1) == 0):  # narrower than one bin: its nearest bin
        tri[band, np.argmin(np.abs(freqs - mid[band, 0]))] = 1.0
    return tri / tri.sum(axis=1, keepdims=True)


def palette() -> bytes:
    """256 RGB triplets from dark (quiet) to light (loud)."""
    pos = np.array([a for a, _ in _ANCHORS])
    rgb = np.array([c for _, c in _ANCHORS], dtype=float)
    x = np.linspace(0.0, 1.0, 256)
    table = np.stack([np.interp(x, pos, rgb[:, k]) for k in range(3)], axis=1)
    return bytes(np.round(table).astype(np.uint8).ravel())


def png_bytes(pixels: np.ndarray) -> bytes:
    """An 8-bit palette PNG of ``pixels`` ([rows, columns] uint8, the top row first)."""
    rows, cols = pixels.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = np.concatenate([np.zeros((rows, 1), np.uint8), pixels.astype(np.uint8)], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", cols, rows, 8, 3, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"PLTE", palette())
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


class SpectrogramBuilder:
    """Fed a recording chunk by chunk (:meth:`add`), it keeps only pooled columns; :meth:`png` draws them."""

    def __init__(self, rate: int, duration_s: float, max_columns: int = 6000) -> None:
        if max_columns < 1:
            raise ValueError("max_columns must be at least 1")
        self.rate = rate
        frames = max(1, math.ceil(duration_s * rate / HOP))
        self.per_column = max(1, math.ceil(frames / max_columns))
        self.pad_s = WINDOW / rate
        self._filters = mel_filters(rate)
        self._window = np.hanning(WINDOW + 2)[1:-1]
        self._carry = np.zeros((0, N_MELS))
        self._columns: list[np.ndarray] = []

    @property
    def column_s(self) -> float:
        return self.per_column * HOP / self.rate

    def add(self, clip: np.ndarray, keep: int) -> None:
        """Frames starting in the first ``keep`` samples of ``clip`` (the rest only completes them)."""
        starts = np.arange(0, min(keep, clip.size), HOP)
        if starts.size == 0:
            return
        x = np.pad(np.asarray(clip, dtype=np.float64), (0, max(0, int(starts[-1]) + WINDOW - clip.size)))
        frames = np.lib.stride_tricks.sliding_window_view(x, WINDOW)[starts] * self._window
        power = np.abs(np.fft.rfft(frames, n=N_FFT, axis=1)) ** 2 @ self._filters.T
        pending = np.concatenate([self._carry, power])
        whole = pending.shape[0] // self.per_column * self.per_column
        if whole:
            pooled = pending[:whole].reshape(-1, self.per_column, N_MELS).mean(axis=1)
            self._columns.append(pooled)
        self._carry = pending[whole:]

    def png(self) -> tuple[bytes, float]:
        """(PNG bytes, seconds per column): the image of everything added."""
        parts = [*self._columns]
        if self._carry.shape[0]:
            parts.append(self._carry.mean(axis=0, keepdims=True))
        columns = np.concatenate(parts) if parts else np.zeros((1, N_MELS))
        log = np.log10(np.maximum(columns, 1e-12))
        top = float(log.max())
        scaled = np.clip((log - (top - FLOOR_LOG10)) / FLOOR_LOG10, 0.0, 1.0)
        pixels = np.round(scaled.T[::-1] * 255).astype(np.uint8)
        return png_bytes(pixels), self.column_s
