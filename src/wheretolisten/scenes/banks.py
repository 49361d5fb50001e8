"""Sound banks: labelled sources of event audio (recordings in folders, ESC-50, or the built-in classes).

A bank's ``render`` draws one random instance of a label at a given rate and maximum length; files are
read with the package's one audio loader, so every format it reads works in a bank folder.
"""

from __future__ import annotations

import csv
import io
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..audio import FORMATS_TEXT, is_audio_file, load_audio
from ..errors import AudioError, DataError
from ..records.documents import read_text

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

ACTIVE_THRESHOLD_DB = -30.0  # frames above this (re the peak frame RMS) count as active


def n_samples(max_duration_s: float, sample_rate: int) -> int:
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

    def folders(self) -> list[Path]:
        """The folders this bank reads its audio from (none: synthesized): scenes written there would
        become sounds of the bank (``make_scenes`` refuses such an output)."""
        return []

    def _check_label(self, label: str) -> None:
        if label not in self.labels:
            raise DataError(f"bank {self.name!r} has no label {label!r} (labels: {', '.join(self.labels)})")


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


class FileBank(Bank):
    """Shared logic for banks backed by audio files: pick a file, trim silence, random-crop."""

    files: dict[str, list[Path]]
    root: Path

    def folders(self) -> list[Path]:
        """The bank's root folder (its label folders, or an ESC-50 layout)."""
        return [self.root]

    def render(self, label: str, rng: np.random.Generator, sample_rate: int, max_duration_s: float) -> F32:
        """A random file of ``label``, silence-trimmed, randomly cropped to at most ``max_duration_s``."""
        self._check_label(label)
        n = n_samples(max_duration_s, sample_rate)
        choices = self.files[label]
        path = choices[int(rng.integers(len(choices)))]
        audio, _ = load_audio(path, sample_rate, for_model=False)  # sound effects may be under 0.1 s
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
    return sorted(p for p in folder.iterdir() if p.is_file() and is_audio_file(p))


class FolderBank(FileBank):
    """``root/<label>/*.wav`` (or any format the loader reads, see ``audio.AUDIO_SUFFIXES``)."""

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
                raise DataError(f"bank folder {d} has no audio files ({FORMATS_TEXT})")
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
        reader = csv.DictReader(io.StringIO(read_text(csv_path, "ESC-50 metadata"), newline=""))
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


class MixedBank(Bank):
    """Several banks as one (e.g. procedural classes and speech): each label renders from its own bank.

    Labels must be distinct across the banks; a collision is refused with one DataError line.
    """

    def __init__(self, banks: Sequence[Bank]) -> None:
        if len(banks) < 2:
            raise DataError("a mixed bank needs at least two banks")
        self.banks = list(banks)
        self.owner: dict[str, Bank] = {}
        for bank in self.banks:
            for label in bank.labels:
                if label in self.owner:
                    raise DataError(
                        f"banks {self.owner[label].name!r} and {bank.name!r} both have label {label!r}"
                    )
                self.owner[label] = bank
        self.labels = list(self.owner)
        self.name = "+".join(bank.name for bank in self.banks)

    def folders(self) -> list[Path]:
        """The folders of every bank of the mix."""
        return [folder for bank in self.banks for folder in bank.folders()]

    def query_text(self, label: str) -> str:
        """The query of the bank that owns ``label``."""
        self._check_label(label)
        return self.owner[label].query_text(label)

    def render(self, label: str, rng: np.random.Generator, sample_rate: int, max_duration_s: float) -> F32:
        """One instance of ``label`` from the bank that owns it."""
        self._check_label(label)
        return self.owner[label].render(label, rng, sample_rate, max_duration_s)


class SubsetBank(Bank):
    """Some labels of a bank (e.g. scenes in which one class occurs several times); renders from it."""

    def __init__(self, bank: Bank, labels: Sequence[str]) -> None:
        unknown = [label for label in labels if label not in bank.labels]
        if unknown or not labels:
            raise DataError(
                f"bank {bank.name!r} has no label {', '.join(map(repr, unknown)) or '(none given)'}"
                f" (labels: {', '.join(bank.labels)})"
            )
        self.bank = bank
        self.labels = list(dict.fromkeys(labels))
        self.name = f"{bank.name}:labels={','.join(self.labels)}"

    def folders(self) -> list[Path]:
        """The parent bank's folders (its other labels' files lie there too)."""
        return self.bank.folders()

    def query_text(self, label: str) -> str:
        """The parent bank's query."""
        self._check_label(label)
        return self.bank.query_text(label)

    def render(self, label: str, rng: np.random.Generator, sample_rate: int, max_duration_s: float) -> F32:
        """One instance of ``label`` from the parent bank."""
        self._check_label(label)
        return self.bank.render(label, rng, sample_rate, max_duration_s)
