"""Real recordings shipped by Debian packages, read in place: spoken words and desktop sounds.

``AsteriskWordsBank`` reads the Allison voice of ``asterisk-core-sounds-en-wav`` (8 kHz telephone
recordings, one file per word) with the same labels and queries as the speech bank, so a model trained
on synthetic speech can be tested on a real voice; ``FreedesktopBank`` reads ``sound-theme-freedesktop``.
Both are for testing and benchmarks: one recording per label, so every render of a label is the same
sound (randomly cropped when it is longer than asked).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError
from .banks import FileBank
from .speech import SPEECH_WORDS, speech_label, speech_query

ASTERISK_PACKAGE = "asterisk-core-sounds-en-wav"
ASTERISK_DIGITS = Path("/usr/share/asterisk/sounds/en_US_f_Allison/digits")
FREEDESKTOP_PACKAGE = "sound-theme-freedesktop"
FREEDESKTOP_DIR = Path("/usr/share/sounds/freedesktop/stereo")

#: Speech-bank word → file stem in the asterisk digits folder (day-0 is Sunday, as asterisk counts).
ASTERISK_FILES: dict[str, str] = {
    **{word: str(k) for k, word in enumerate(SPEECH_WORDS[:10])},
    **{word: f"day-{k}" for k, word in enumerate(SPEECH_WORDS[10:17])},
    "today": "today",
    "tomorrow": "tomorrow",
    "yesterday": "yesterday",
}


def _missing(package: str, path: Path) -> DataError:
    return DataError(f"{path} not found: install the Debian package {package} (apt-get install {package})")


class AsteriskWordsBank(FileBank):
    """The 20 speech-bank words spoken by asterisk's Allison voice (labels ``say_seven``, queries
    "someone saying 'seven'"), read in place from ``root`` (default: the Debian package's folder)."""

    def __init__(self, root: str | os.PathLike[str] = ASTERISK_DIGITS) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise _missing(ASTERISK_PACKAGE, self.root)
        self.texts: dict[str, str] = {}
        self.files = {}
        for word, stem in ASTERISK_FILES.items():
            path = self.root / f"{stem}.wav"
            if not path.is_file():
                raise DataError(f"{path} not found: the {ASTERISK_PACKAGE} install is incomplete")
            self.texts[speech_label(word)] = word
            self.files[speech_label(word)] = [path]
        self.labels = list(self.files)
        self.name = "asterisk-words" if self.root == ASTERISK_DIGITS else f"asterisk-words:{self.root}"

    def query_text(self, label: str) -> str:
        """ "someone saying 'seven'", as in the speech bank."""
        self._check_label(label)
        return speech_query(self.texts[label])


class FreedesktopBank(FileBank):
    """The freedesktop sound theme: label = file stem (``phone-incoming-call``), query = its words."""

    def __init__(self, root: str | os.PathLike[str] = FREEDESKTOP_DIR) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise _missing(FREEDESKTOP_PACKAGE, self.root)
        files = sorted(p for p in self.root.iterdir() if p.suffix == ".oga" and p.is_file())
        if not files:
            raise DataError(f"{self.root} holds no .oga sounds (package {FREEDESKTOP_PACKAGE})")
        self.files = {p.stem: [p] for p in files}
        self.labels = list(self.files)
        self.name = "freedesktop" if self.root == FREEDESKTOP_DIR else f"freedesktop:{self.root}"


__all__ = ["ASTERISK_FILES", "AsteriskWordsBank", "FreedesktopBank"]
