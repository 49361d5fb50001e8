"""The page's audio: the recording read once in chunks, as a small Ogg/Opus copy and its spectrogram.

A recording of any length is read through the one loader (``audio.load_audio``) a chunk at a time, so
memory holds one chunk, the compressed bytes and the spectrogram columns, whatever the length.
"""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from ..audio import audio_info, check_span, load_audio
from .spectrogram import SpectrogramBuilder

#: The page's copy of the audio: 16 kHz mono Ogg/Opus (the models' own rate).
RATE = 16000
#: libsndfile's Opus compression level: 0.97 gives about 12 kbit/s (5.5 MB an hour).
OPUS_LEVEL = 0.97
#: Seconds of audio read at once.
CHUNK_S = 60.0


#: The Ogg stream serial number of every page's audio (libsndfile draws a random one): same input,
#: same bytes.
SERIAL = 0x77746C31


#: Each byte with its bits in reverse order.
_REVERSED = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _ogg_crc(data: bytes) -> int:
    """Ogg's page checksum (CRC-32, polynomial 0x04C11DB7, not reflected, no initial or final xor),
    computed with zlib's reflected CRC-32 on the bit-reversed bytes."""
    reflected = zlib.crc32(data.translate(_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)


def fixed_serial(ogg: bytes, serial: int = SERIAL) -> bytes:
    """The Ogg stream with every page's serial number set to ``serial`` (and its checksum redone)."""
    out = bytearray(ogg)
    at = 0
    while at + 27 <= len(out) and out[at : at + 4] == b"OggS":
        segments = out[at + 26]
        size = 27 + segments + sum(out[at + 27 : at + 27 + segments])
        out[at + 14 : at + 18] = serial.to_bytes(4, "little")
        out[at + 22 : at + 26] = b"\0\0\0\0"
        out[at + 22 : at + 26] = _ogg_crc(bytes(out[at : at + size])).to_bytes(4, "little")
        at += size
    return bytes(out)


@dataclass(frozen=True)
class PageSound:
    """What the page shows of the audio: the compressed copy (None when linked) and the spectrogram."""

    ogg: bytes | None
    png: bytes
    #: Seconds each spectrogram column covers, and where the first one starts in the file.
    column_s: float
    start_s: float
    duration_s: float


def _chunks(path: str | os.PathLike[str], start: float, end: float, pad_s: float) -> Iterator[np.ndarray]:
    """[start, end) of the file at :data:`RATE`, mono, one chunk at a time; each chunk reads ``pad_s``
    further (the spectrogram's last frames see the next samples), the Opus copy drops the extra."""
    at = start
    while at < end - 1.0 / RATE:
        stop = min(at + CHUNK_S, end)
        clip, _ = load_audio(path, RATE, start_s=at, end_s=min(stop + pad_s, end), allow_silent=True)
        yield clip
        at = stop


def page_sound(
    path: str | os.PathLike[str],
    span: tuple[float | None, float | None] = (None, None),
    embed: bool = True,
    max_columns: int = 6000,
) -> PageSound:
    """Read [span) of ``path`` once: the Ogg/Opus copy (when ``embed``) and the spectrogram PNG."""
    head = audio_info(path)
    start, end = check_span(*span, head.duration_s, str(head.path))
    spec = SpectrogramBuilder(RATE, end - start, max_columns)
    keep = int(round(CHUNK_S * RATE))
    buffer = io.BytesIO()
    writer = (
        sf.SoundFile(buffer, "w", RATE, 1, "OPUS", format="OGG", compression_level=OPUS_LEVEL)
        if embed
        else None
    )
    try:
        for clip in _chunks(path, start, end, spec.pad_s):
            spec.add(clip, keep)
            if writer is not None:
                writer.write(clip[:keep])
    finally:
        if writer is not None:
            writer.close()
    png, column_s = spec.png()
    return PageSound(fixed_serial(buffer.getvalue()) if embed else None, png, column_s, start, end - start)


def array_sound(audio: np.ndarray, sample_rate: int, max_columns: int = 6000) -> PageSound:
    """The same from an array in memory (a notebook's clip at ``sample_rate``), in any layout and type
    ``localize`` takes (``audio.array_mono``)."""
    from ..audio import array_mono, resample

    clip = resample(array_mono(audio)[0], int(sample_rate), RATE)
    spec = SpectrogramBuilder(RATE, clip.size / RATE, max_columns)
    spec.add(clip, clip.size)
    buffer = io.BytesIO()
    sf.write(buffer, clip, RATE, format="OGG", subtype="OPUS", compression_level=OPUS_LEVEL)
    png, column_s = spec.png()
    return PageSound(fixed_serial(buffer.getvalue()), png, column_s, 0.0, clip.size / RATE)
