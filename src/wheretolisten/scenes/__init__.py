"""Sound banks and controlled multi-event scene synthesis for the localization benchmark.

A scene is a clip divided into ``n`` equal slots; each slot holds one event of a distinct label,
shorter than its slot and placed with gaps, so the ground truth (which event, where) is exact.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf
import soxr

from wheretolisten.errors import AudioError, DataError

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
POSITIONS = ("first", "middle", "last")
MANIFEST_NAME = "manifest.jsonl"
EVENTS_TSV_NAME = "events.tsv"
AUDIO_DIR_NAME = "audio"

TARGET_RMS = 0.05  # every event is normalized to this RMS over its active span (about -26 dBFS)
NOISE_FLOOR_DB = -45.0  # noise floor relative to the event RMS: never digitally silent
ACTIVE_THRESHOLD_DB = -30.0  # frames above this (re the peak frame RMS) count as active
FADE_S = 0.010
PEAK_LIMIT = 0.9  # the mix is scaled down to this peak if it would exceed it
MIN_EVENT_S = 0.5
EVENT_FRACTION = (0.35, 0.75)  # event length as a fraction of the slot width
_TIME_DECIMALS = 6
_EPS = 1e-6


# --------------------------------------------------------------------------------------------------
# Dataclasses
# --------------------------------------------------------------------------------------------------


def _where(where: str) -> str:
    return f"{where}: " if where else ""


def _get(d: Mapping[str, Any], key: str, where: str) -> Any:
    """Fetch a required field, raising DataError naming it and the row."""
    if key not in d:
        raise DataError(f"{_where(where)}missing field {key!r}")
    return d[key]


def _as_str(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str):
        raise DataError(f"{_where(where)}field {key!r} must be a string, got {value!r}")
    return value


def _as_float(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise DataError(f"{_where(where)}field {key!r} must be a finite number, got {value!r}")
    return float(value)


def _as_int(value: Any, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(f"{_where(where)}field {key!r} must be an integer, got {value!r}")
    return value


def _as_span(value: Any, key: str, where: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise DataError(f"{_where(where)}field {key!r} must be a [start, end] pair, got {value!r}")
    start, end = (_as_float(v, key, where) for v in value)
    if end < start:
        raise DataError(f"{_where(where)}field {key!r} ends before it starts: {value!r}")
    return start, end


@dataclass(frozen=True)
class Event:
    """One placed sound event: where its audio sits, its slot, and its energy-trimmed active span."""

    label: str
    onset_s: float
    offset_s: float
    slot: tuple[float, float]
    active: tuple[float, float]
    position: str
    query: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (spans as lists)."""
        return {
            "label": self.label,
            "onset_s": self.onset_s,
            "offset_s": self.offset_s,
            "slot": [self.slot[0], self.slot[1]],
            "active": [self.active[0], self.active[1]],
            "position": self.position,
            "query": self.query,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "") -> Event:
        """Parse and type-check one event; ``where`` prefixes error messages (file/row)."""
        if not isinstance(d, Mapping):
            raise DataError(f"{_where(where)}an event must be an object, got {d!r}")
        position = _as_str(_get(d, "position", where), "position", where)
        if position not in POSITIONS:
            raise DataError(f"{_where(where)}field 'position' must be one of {POSITIONS}, got {position!r}")
        onset = _as_float(_get(d, "onset_s", where), "onset_s", where)
        offset = _as_float(_get(d, "offset_s", where), "offset_s", where)
        if offset <= onset:
            raise DataError(f"{_where(where)}event offset_s={offset} is not after onset_s={onset}")
        return cls(
            label=_as_str(_get(d, "label", where), "label", where),
            onset_s=onset,
            offset_s=offset,
            slot=_as_span(_get(d, "slot", where), "slot", where),
            active=_as_span(_get(d, "active", where), "active", where),
            position=position,
            query=_as_str(_get(d, "query", where), "query", where),
        )


@dataclass
class Scene:
    """One synthesized clip and its ground truth; ``path`` is relative to the manifest's directory."""

    scene_id: str
    path: str
    duration_s: float
    sample_rate: int
    events: list[Event]
    target: int
    seed: int
    bank: str = ""

    @property
    def target_event(self) -> Event:
        """The designated target event."""
        return self.events[self.target]

    def audio_path(self, manifest_dir: str | os.PathLike[str]) -> Path:
        """Resolve the wav path against the manifest's directory (absolute paths stay as they are)."""
        return Path(manifest_dir) / self.path

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, one manifest row."""
        return {
            "scene_id": self.scene_id,
            "path": self.path,
            "duration_s": self.duration_s,
            "sample_rate": self.sample_rate,
            "events": [e.to_dict() for e in self.events],
            "target": self.target,
            "seed": self.seed,
            "bank": self.bank,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "") -> Scene:
        """Parse and type-check one manifest row; ``where`` prefixes error messages (file/row)."""
        if not isinstance(d, Mapping):
            raise DataError(f"{_where(where)}a scene must be a JSON object, got {type(d).__name__}")
        raw_events = _get(d, "events", where)
        if not isinstance(raw_events, list) or not raw_events:
            raise DataError(f"{_where(where)}field 'events' must be a non-empty list")
        events = [Event.from_dict(e, f"{where} event {k}".strip()) for k, e in enumerate(raw_events)]
        target = _as_int(_get(d, "target", where), "target", where)
        if not 0 <= target < len(events):
            raise DataError(f"{_where(where)}target={target} is not an index into {len(events)} events")
        sample_rate = _as_int(_get(d, "sample_rate", where), "sample_rate", where)
        duration = _as_float(_get(d, "duration_s", where), "duration_s", where)
        if sample_rate <= 0 or duration <= 0:
            raise DataError(f"{_where(where)}sample_rate and duration_s must be positive")
        bank = d.get("bank", "")
        return cls(
            scene_id=_as_str(_get(d, "scene_id", where), "scene_id", where),
            path=_as_str(_get(d, "path", where), "path", where),
            duration_s=duration,
            sample_rate=sample_rate,
            events=events,
            target=target,
            seed=_as_int(_get(d, "seed", where), "seed", where),
            bank=_as_str(bank, "bank", where),
        )


def position_name(index: int, n_events: int) -> str:
    """'first' for index 0, 'last' for index n-1, 'middle' for the inner ones."""
    if index == 0:
        return "first"
    return "last" if index == n_events - 1 else "middle"


# --------------------------------------------------------------------------------------------------
# Banks
# --------------------------------------------------------------------------------------------------


def _n_samples(max_duration_s: float, sample_rate: int) -> int:
    """Number of samples that fits in ``max_duration_s`` (at least one)."""
    if sample_rate <= 0 or not np.isfinite(max_duration_s) or max_duration_s <= 0:
        raise DataError(f"bad render request: max_duration_s={max_duration_s}, sample_rate={sample_rate}")
    return max(1, int(max_duration_s * sample_rate + 1e-6))


class Bank(ABC):
    """A labelled source of event audio: ``render`` draws one random instance of a label."""

    name: str
    labels: list[str]

    def query_text(self, label: str) -> str:
        """Natural-language query for a label (default: the label with '_' and '-' as spaces)."""
        self._check_label(label)
        return " ".join(label.replace("_", " ").replace("-", " ").split())

    @abstractmethod
    def render(self, label: str, rng: np.random.Generator, sample_rate: int, max_duration_s: float) -> F32:
        """Mono float32 audio of one instance of ``label``, at most ``max_duration_s`` long."""

    def _check_label(self, label: str) -> None:
        if label not in self.labels:
            raise DataError(f"bank {self.name!r} has no label {label!r} (labels: {', '.join(self.labels)})")


# ---- procedural ----------------------------------------------------------------------------------


def _ramp_envelope(n: int, sample_rate: int, attack_s: float, release_s: float) -> F64:
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
    return x * _ramp_envelope(n, sr, rng.uniform(0.01, 0.05), rng.uniform(0.02, 0.1))


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
    return x * _ramp_envelope(n, sr, 0.02, 0.05)


def _noise_burst(rng: np.random.Generator, sr: int, n: int) -> F64:
    """Coloured broadband noise with a sharp attack and slow decay: flat spectrum, no pitch."""
    t = np.arange(n) / sr
    x = _one_pole(rng.standard_normal(n), rng.uniform(0.0, 0.5))
    tau = rng.uniform(0.4, 1.0) * max(t[-1], 1.0 / sr)
    env = np.exp(-t / tau) * _ramp_envelope(n, sr, rng.uniform(0.002, 0.02), 0.03)
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
    return x * _ramp_envelope(n, sr, 0.001, 0.02)


def _knock(rng: np.random.Generator, sr: int, n: int) -> F64:
    """Groups of short damped low resonances (knocks on a door): sparse, low, percussive."""
    x = np.zeros(n)
    f_res = rng.uniform(120.0, 350.0)
    tau = rng.uniform(0.008, 0.025)
    hit_len = min(n, int(8 * tau * sr) + 1)
    ht = np.arange(hit_len) / sr
    time = rng.uniform(0.0, 0.03)
    while int(time * sr) < n:
        for _ in range(int(rng.integers(2, 5))):
            start = int(time * sr)
            if start >= n:
                break
            hit = np.sin(2 * np.pi * f_res * (1 + rng.uniform(-0.03, 0.03)) * ht) * np.exp(-ht / tau)
            hit += 0.3 * rng.standard_normal(hit_len) * np.exp(-ht / 0.0015)
            stop = min(n, start + hit_len)
            x[start:stop] += rng.uniform(0.7, 1.0) * hit[: stop - start]
            time += rng.uniform(0.1, 0.2)
        time += rng.uniform(0.35, 0.7)
    return x


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
    return x * wobble * _ramp_envelope(n, sr, rng.uniform(0.02, 0.08), rng.uniform(0.02, 0.08))


def _chirp(rng: np.random.Generator, sr: int, n: int) -> F64:
    """Phrases of fast rising high chirps (bird-like): high pitch, rapid upward sweeps."""
    x = np.zeros(n)
    f_lo = min(rng.uniform(2000.0, 3000.0), 0.3 * sr)
    f_hi = min(rng.uniform(4000.0, 6000.0), 0.45 * sr)
    time = rng.uniform(0.0, 0.03)
    while int(time * sr) < n:
        for _ in range(int(rng.integers(3, 8))):
            start = int(time * sr)
            if start >= n:
                break
            length = int(rng.uniform(0.04, 0.09) * sr)
            ct = np.arange(length) / sr
            inst = f_lo * (f_hi / f_lo) ** (ct / ct[-1]) if length > 1 else np.full(length, f_lo)
            chirp = np.sin(2 * np.pi * np.cumsum(inst) / sr) * np.sin(np.pi * np.arange(length) / length)
            stop = min(n, start + length)
            x[start:stop] += rng.uniform(0.6, 1.0) * chirp[: stop - start]
            time += length / sr + rng.uniform(0.03, 0.1)
        time += rng.uniform(0.2, 0.5)
    return x


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
        n = _n_samples(max_duration_s, sample_rate)
        x = PROCEDURAL_CLASSES[label][0](rng, sample_rate, n)
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        return (x / peak if peak > 0 else x).astype(np.float32)


# ---- file-backed banks ----------------------------------------------------------------------------


def _frame_rms(x: npt.NDArray[np.floating[Any]], frame: int) -> F64:
    """RMS of consecutive non-overlapping frames (the last one may be short)."""
    n_frames = max(1, -(-len(x) // frame))
    padded = np.zeros(n_frames * frame)
    padded[: len(x)] = x
    counts = np.full(n_frames, frame, dtype=np.float64)
    counts[-1] = len(x) - (n_frames - 1) * frame or frame
    return np.sqrt(np.sum(padded.reshape(n_frames, frame) ** 2, axis=1) / counts)


def active_span(
    x: npt.NDArray[np.floating[Any]],
    sample_rate: int,
    threshold_db: float = ACTIVE_THRESHOLD_DB,
    frame_s: float = 0.01,
) -> tuple[int, int]:
    """Sample range [start, stop) from the first to the last 10 ms frame within ``threshold_db`` of the
    loudest frame: the event's energy-trimmed active span."""
    if len(x) == 0:
        return 0, 0
    frame = max(1, round(frame_s * sample_rate))
    rms = _frame_rms(x, frame)
    peak = float(rms.max())
    if peak <= 0:
        return 0, 0
    above = np.flatnonzero(rms >= peak * 10 ** (threshold_db / 20))
    return int(above[0]) * frame, min(len(x), (int(above[-1]) + 1) * frame)


def load_mono(path: Path, sample_rate: int) -> F32:
    """Read an audio file, downmix to mono, resample with soxr; AudioError names the file."""
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError, OSError) as exc:
        raise AudioError(f"{path}: cannot read audio ({exc})") from exc
    if data.size == 0:
        raise AudioError(f"{path}: audio file is empty")
    mono = np.asarray(data.mean(axis=1), dtype=np.float32)
    if not np.all(np.isfinite(mono)):
        raise AudioError(f"{path}: audio contains NaN or Inf")
    if sr != sample_rate:
        mono = np.asarray(soxr.resample(mono, sr, sample_rate, quality="HQ"), dtype=np.float32)
    return mono


class FileBank(Bank):
    """Shared logic for banks backed by audio files: pick a file, trim silence, random-crop."""

    files: dict[str, list[Path]]

    def render(self, label: str, rng: np.random.Generator, sample_rate: int, max_duration_s: float) -> F32:
        """A random file of ``label``, silence-trimmed, randomly cropped to at most ``max_duration_s``."""
        self._check_label(label)
        n = _n_samples(max_duration_s, sample_rate)
        choices = self.files[label]
        path = choices[int(rng.integers(len(choices)))]
        audio = load_mono(path, sample_rate)
        start, stop = active_span(audio, sample_rate, threshold_db=-40.0)
        if stop <= start:
            raise AudioError(f"{path}: audio is silent")
        audio = audio[start:stop]
        if len(audio) > n:
            offset = int(rng.integers(len(audio) - n + 1))
            crop = audio[offset : offset + n]
            if float(np.max(np.abs(crop))) < 1e-4 * float(np.max(np.abs(audio))):
                centre = int(np.argmax(np.abs(audio)))  # the crop fell in a silent gap: take the loudest part
                offset = min(max(0, centre - n // 2), len(audio) - n)
                crop = audio[offset : offset + n]
            audio = crop
        return np.ascontiguousarray(audio, dtype=np.float32)


def _audio_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".")
    )


class FolderBank(FileBank):
    """``root/<label>/*.wav|flac|ogg``: one sub-folder per label."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"bank folder {self.root} does not exist or is not a directory")
        label_dirs = sorted(
            p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
        )
        if not label_dirs:
            raise DataError(f"bank folder {self.root} has no label sub-folders (expected <label>/*.wav)")
        self.files = {}
        for d in label_dirs:
            files = _audio_files(d)
            if not files:
                raise DataError(f"bank folder {d} has no audio files ({', '.join(AUDIO_EXTENSIONS)})")
            self.files[d.name] = files
        self.labels = list(self.files)
        self.name = f"folder:{self.root}"


class ESC50Bank(FileBank):
    """ESC-50 layout: ``root/meta/esc50.csv`` and ``root/audio/*.wav``; folds select the split."""

    CSV_COLUMNS = ("filename", "fold", "category")

    def __init__(
        self,
        root: str | os.PathLike[str],
        folds: Sequence[int] | None = None,
        categories: Sequence[str] | None = None,
    ) -> None:
        self.root = Path(root)
        self.folds = sorted(set(folds)) if folds is not None else None
        csv_path = self.root / "meta" / "esc50.csv"
        if not csv_path.is_file():
            raise DataError(f"ESC-50 metadata not found: expected {csv_path}")
        files: dict[str, list[Path]] = {}
        all_categories: set[str] = set()
        with csv_path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in self.CSV_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{csv_path}: missing column(s) {', '.join(missing)}")
            for line, row in enumerate(reader, start=2):
                try:
                    fold = int(row["fold"])
                except (TypeError, ValueError) as exc:
                    raise DataError(f"{csv_path}: line {line}: bad fold {row['fold']!r}") from exc
                category = (row["category"] or "").strip()
                if not category or not row["filename"]:
                    raise DataError(f"{csv_path}: line {line}: empty filename or category")
                all_categories.add(category)
                if self.folds is not None and fold not in self.folds:
                    continue
                if categories is not None and category not in categories:
                    continue
                path = self.root / "audio" / row["filename"]
                if not path.is_file():
                    raise DataError(f"{csv_path}: line {line}: audio file {path} does not exist")
                files.setdefault(category, []).append(path)
        if categories is not None:
            unknown = sorted(set(categories) - all_categories)
            if unknown:
                raise DataError(f"{csv_path}: unknown categor(ies) {', '.join(unknown)}")
        if not files:
            raise DataError(f"{csv_path}: no clips match folds={self.folds} categories={categories}")
        self.files = {k: sorted(v) for k, v in sorted(files.items())}
        self.labels = list(self.files)
        fold_part = f":folds={','.join(map(str, self.folds))}" if self.folds is not None else ""
        self.name = f"esc50:{self.root}{fold_part}"


def _parse_folds(text: str, spec: str) -> list[int]:
    try:
        folds = [int(f) for f in text.split(",") if f.strip()]
    except ValueError as exc:
        raise DataError(f"bank {spec!r}: folds must be comma-separated integers, got {text!r}") from exc
    if not folds:
        raise DataError(f"bank {spec!r}: empty fold list")
    return folds


def get_bank(spec: str) -> Bank:
    """'procedural', 'esc50:DIR[:folds=1,2,3]', 'folder:DIR', or an existing directory (ESC-50 if it has
    meta/esc50.csv, else a label-folder bank)."""
    if spec == "procedural":
        return ProceduralBank()
    if spec.startswith("esc50:"):
        rest = spec[len("esc50:") :]
        if ":folds=" in rest:
            root, fold_text = rest.rsplit(":folds=", 1)
            return ESC50Bank(root, folds=_parse_folds(fold_text, spec))
        return ESC50Bank(rest)
    if spec.startswith("folder:"):
        return FolderBank(spec[len("folder:") :])
    path = Path(spec)
    if path.is_dir():
        if (path / "meta" / "esc50.csv").is_file():
            return ESC50Bank(path)
        return FolderBank(path)
    raise DataError(
        f"unknown bank {spec!r}: expected 'procedural', 'esc50:DIR[:folds=1,2]', or an existing directory"
    )


# --------------------------------------------------------------------------------------------------
# Scene synthesis
# --------------------------------------------------------------------------------------------------


def _fade(x: F64, sample_rate: int, fade_s: float = FADE_S) -> F64:
    """Raised-cosine fade in and out so pasted events have no clicks at their edges."""
    return x * _ramp_envelope(len(x), sample_rate, fade_s, fade_s)


def _t(samples: int | float, sample_rate: int) -> float:
    return round(samples / sample_rate, _TIME_DECIMALS)


def make_scene(
    bank: Bank,
    rng: np.random.Generator,
    scene_id: str,
    n_events: int = 3,
    duration_s: float = 10.0,
    sample_rate: int = 16000,
    target: int | None = None,
    *,
    seed: int = 0,
) -> tuple[Scene, F32]:
    """Synthesize one scene: ``n_events`` distinct labels, one per equal slot, gaps between them.

    Returns the Scene (its ``path`` is ``audio/<scene_id>.wav``) and the mono float32 mix. ``seed`` is
    only recorded in the Scene (pass the integer that seeded ``rng`` so the scene can be regenerated).
    """
    if n_events < 1:
        raise DataError(f"n_events must be at least 1, got {n_events}")
    if n_events > len(bank.labels):
        raise DataError(f"bank {bank.name!r} has {len(bank.labels)} labels, fewer than n_events={n_events}")
    if sample_rate <= 0:
        raise DataError(f"sample_rate must be positive, got {sample_rate}")
    slot_s = duration_s / n_events if duration_s > 0 else 0.0
    if slot_s * EVENT_FRACTION[1] < MIN_EVENT_S:
        raise DataError(
            f"duration_s={duration_s} is too short for n_events={n_events}: each slot must be at least "
            f"{MIN_EVENT_S / EVENT_FRACTION[1]:.2f} s"
        )
    if target is None:
        target = int(rng.integers(n_events))
    if not 0 <= target < n_events:
        raise DataError(f"target={target} is not an index into {n_events} events")

    total = round(duration_s * sample_rate)
    mix = np.zeros(total)
    labels = [str(x) for x in rng.choice(np.array(bank.labels, dtype=object), n_events, replace=False)]
    events: list[Event] = []
    for k, label in enumerate(labels):
        s0, s1 = round(k * total / n_events), round((k + 1) * total / n_events)
        frac = rng.uniform(*EVENT_FRACTION)
        length_s = min(max(frac * slot_s, MIN_EVENT_S), EVENT_FRACTION[1] * slot_s)
        want = max(1, int(length_s * sample_rate))
        raw = np.asarray(bank.render(label, rng, sample_rate, want / sample_rate), dtype=np.float64)[:want]
        if raw.ndim != 1 or raw.size == 0 or not np.all(np.isfinite(raw)):
            raise AudioError(f"bank {bank.name!r} rendered unusable audio for label {label!r}")
        x = _fade(raw, sample_rate)
        a0, a1 = active_span(x, sample_rate)
        rms = float(np.sqrt(np.mean(x[a0:a1] ** 2))) if a1 > a0 else 0.0
        if rms < 1e-7:
            raise AudioError(f"bank {bank.name!r} rendered silent audio for label {label!r}")
        x *= TARGET_RMS / rms
        slack = (s1 - s0) - len(x)
        margin = max(1, min(round(0.05 * sample_rate), slack // 4))
        start = s0 + int(rng.integers(margin, max(margin, slack - margin) + 1))
        mix[start : start + len(x)] += x
        events.append(
            Event(
                label=label,
                onset_s=_t(start, sample_rate),
                offset_s=_t(start + len(x), sample_rate),
                slot=(_t(s0, sample_rate), _t(s1, sample_rate)),
                active=(_t(start + a0, sample_rate), _t(start + a1, sample_rate)),
                position=position_name(k, n_events),
                query=bank.query_text(label),
            )
        )
    mix += rng.standard_normal(total) * TARGET_RMS * 10 ** (NOISE_FLOOR_DB / 20)
    peak = float(np.max(np.abs(mix)))
    if peak > PEAK_LIMIT:
        mix *= PEAK_LIMIT / peak
    scene = Scene(
        scene_id=scene_id,
        path=f"{AUDIO_DIR_NAME}/{scene_id}.wav",
        duration_s=_t(total, sample_rate),
        sample_rate=sample_rate,
        events=events,
        target=target,
        seed=seed,
        bank=bank.name,
    )
    return scene, mix.astype(np.float32)


def scene_seed(seed: int, index: int) -> int:
    """Integer seed of scene ``index``: depends only on (seed, index), never on how many scenes are made."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


# ---- atomic writes --------------------------------------------------------------------------------


@contextlib.contextmanager
def _atomic_target(path: Path) -> Iterator[Path]:
    """Yield a temp path in ``path``'s directory; on success it replaces ``path``, on error it is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _write_text_atomic(path: Path, text: str) -> None:
    with _atomic_target(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _write_wav_atomic(path: Path, audio: F32, sample_rate: int) -> None:
    with _atomic_target(path) as tmp:
        sf.write(str(tmp), audio, sample_rate, format="WAV", subtype="PCM_16")


def _manifest_text(scenes: Iterable[Scene]) -> str:
    return "".join(json.dumps(s.to_dict(), ensure_ascii=False) + "\n" for s in scenes)


def write_manifest(scenes: Sequence[Scene], out_dir: str | os.PathLike[str]) -> Path:
    """Write ``out_dir/manifest.jsonl`` and the DESED-style ``events.tsv`` beside it, atomically."""
    out = Path(out_dir)
    _write_text_atomic(out / MANIFEST_NAME, _manifest_text(scenes))
    _write_text_atomic(out / EVENTS_TSV_NAME, _events_tsv_text(scenes))
    return out / MANIFEST_NAME


def _events_tsv_text(scenes: Iterable[Scene]) -> str:
    """DESED-style ground truth (placement onset/offset of every event), one row per event."""
    rows = ["filename\tonset\toffset\tevent_label"]
    for s in scenes:
        name = Path(s.path).name
        rows.extend(f"{name}\t{e.onset_s}\t{e.offset_s}\t{e.label}" for e in s.events)
    return "\n".join(rows) + "\n"


def make_scenes(
    bank: Bank,
    n: int,
    out_dir: str | os.PathLike[str],
    n_events: int = 3,
    duration_s: float = 10.0,
    seed: int = 0,
    sample_rate: int = 16000,
    progress: bool = True,
) -> list[Scene]:
    """Write ``n`` scenes to ``out_dir`` (audio/*.wav, manifest.jsonl, events.tsv), deterministically.

    Scene ``i`` is seeded from (seed, i) and its target index is ``i % n_events`` (balanced positions).
    """
    if n < 1:
        raise DataError(f"number of scenes must be at least 1, got {n}")
    out = Path(out_dir)
    audio_dir = out / AUDIO_DIR_NAME
    audio_dir.mkdir(parents=True, exist_ok=True)
    scenes: list[Scene] = []
    indices: Iterable[int] = range(n)
    if progress:
        from rich.console import Console
        from rich.progress import track

        indices = track(range(n), description="Synthesizing scenes", console=Console(stderr=True))
    for i in indices:
        child = scene_seed(seed, i)
        scene, audio = make_scene(
            bank,
            np.random.default_rng(child),
            f"scene_{i:05d}",
            n_events=n_events,
            duration_s=duration_s,
            sample_rate=sample_rate,
            target=i % n_events,
            seed=child,
        )
        _write_wav_atomic(scene.audio_path(out), audio, sample_rate)
        scenes.append(scene)
    write_manifest(scenes, out)
    return scenes


# ---- loading ----------------------------------------------------------------------------------------


def _check_scene(scene: Scene, manifest_dir: Path, where: str) -> None:
    """Consistency checks of one parsed row: wav exists, events inside the clip, in slots, no overlaps."""
    wav = scene.audio_path(manifest_dir)
    if not wav.is_file():
        raise DataError(f"{where}: audio file {wav} does not exist")
    for k, e in enumerate(scene.events):
        if e.onset_s < -_EPS or e.offset_s > scene.duration_s + _EPS:
            raise DataError(
                f"{where}: event {k} ({e.label}) [{e.onset_s}, {e.offset_s}] "
                f"is outside [0, {scene.duration_s}]"
            )
        if e.active[0] < e.onset_s - _EPS or e.active[1] > e.offset_s + _EPS:
            raise DataError(f"{where}: event {k} ({e.label}) active span {e.active} is outside onset/offset")
    ordered = sorted(scene.events, key=lambda e: e.onset_s)
    for prev, nxt in itertools.pairwise(ordered):
        if nxt.onset_s < prev.offset_s - _EPS:
            raise DataError(
                f"{where}: overlapping ground truth: {prev.label} [{prev.onset_s}, {prev.offset_s}] and "
                f"{nxt.label} [{nxt.onset_s}, {nxt.offset_s}]"
            )


def load_manifest(path: str | os.PathLike[str]) -> list[Scene]:
    """Read and validate a manifest.jsonl (or a directory holding one); DataError names the bad row."""
    manifest = Path(path)
    if manifest.is_dir():
        manifest = manifest / MANIFEST_NAME
    if not manifest.is_file():
        raise DataError(f"manifest {manifest} does not exist")
    scenes: list[Scene] = []
    seen: dict[str, int] = {}
    with manifest.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{manifest}: line {lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: invalid JSON ({exc.msg})") from exc
            if isinstance(row, dict) and isinstance(row.get("scene_id"), str):
                where += f" (scene {row['scene_id']!r})"
            scene = Scene.from_dict(row, where)
            if scene.scene_id in seen:
                raise DataError(f"{where}: duplicate scene_id, first seen on line {seen[scene.scene_id]}")
            seen[scene.scene_id] = lineno
            _check_scene(scene, manifest.parent, where)
            scenes.append(scene)
    if not scenes:
        raise DataError(f"manifest {manifest} has no scenes")
    return scenes


__all__ = [
    "PROCEDURAL_CLASSES",
    "Bank",
    "ESC50Bank",
    "Event",
    "FileBank",
    "FolderBank",
    "ProceduralBank",
    "Scene",
    "active_span",
    "get_bank",
    "load_manifest",
    "load_mono",
    "make_scene",
    "make_scenes",
    "position_name",
    "scene_seed",
    "write_manifest",
]
