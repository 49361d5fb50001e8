"""What the explorer does between requests: hold one model and the audio files, and localize on demand.

Every request is checked before the model runs (the audio's header, the queries, the layers and α); a
bad one is a :class:`~wheretolisten.errors.WTLError` whose one line the page shows. One model call runs
at a time.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..audio import AUDIO_SUFFIXES, FORMATS_TEXT, audio_info
from ..detections import DetectConfig
from ..errors import OptionError, WTLError
from ..files import write_atomic
from ..long import localize_file
from ..models.base import Adapter
from ..page import render_page
from ..parsing import finite_float
from ..settings import LocalizeConfig, parse_layers

#: The largest upload taken, bytes.
MAX_UPLOAD = 512 * 2**20
#: The most queries of one run.
MAX_QUERIES = 8


@dataclass(frozen=True)
class AudioItem:
    """One audio file the explorer can run on: given on the command line or uploaded."""

    key: str
    name: str
    path: Path
    duration_s: float

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "duration_s": round(self.duration_s, 3)}


class Explorer:
    """One model, the audio files (given or uploaded to a private temp folder) and the runs on them."""

    def __init__(
        self, adapter: Adapter, audio: list[Path] | None = None, detection: DetectConfig | None = None
    ):
        self.adapter = adapter
        self.detection = detection or DetectConfig()
        self._lock = threading.Lock()
        self._items: dict[str, AudioItem] = {}
        self._uploads = tempfile.TemporaryDirectory(prefix="wheretolisten-explore-")
        for path in audio or []:
            self._add(Path(path), Path(path).name)

    def close(self) -> None:
        """Remove the uploaded files."""
        self._uploads.cleanup()

    def _add(self, path: Path, name: str) -> AudioItem:
        head = audio_info(path)
        item = AudioItem(str(len(self._items) + 1), name, path, head.duration_s)
        self._items[item.key] = item
        return item

    def items(self) -> list[dict[str, Any]]:
        return [item.to_json() for item in self._items.values()]

    def upload(self, name: str, data: bytes) -> AudioItem:
        """Keep an uploaded file (its name decides how it is decoded) if it reads as audio."""
        base = os.path.basename(name.replace("\\", "/")).strip() or "upload"
        suffix = Path(base).suffix.lower()
        if suffix not in AUDIO_SUFFIXES:
            raise WTLError(f"{base}: not an audio file this machine reads ({FORMATS_TEXT})")
        if not data:
            raise WTLError(f"{base}: the file is empty")
        if len(data) > MAX_UPLOAD:
            raise WTLError(
                f"{base}: larger than {MAX_UPLOAD // 2**20} MiB; run localize --html on it instead"
            )
        path = Path(self._uploads.name) / f"{len(self._items) + 1}{suffix}"
        write_atomic(path, data)
        try:
            return self._add(path, base)
        except WTLError as exc:
            path.unlink(missing_ok=True)
            raise WTLError(str(exc).replace(str(path), base)) from None

    def _config(self, layers: Any, alpha: Any) -> LocalizeConfig:
        text = "" if layers is None else str(layers)
        value: float | None = None
        if alpha not in (None, ""):
            try:
                value = finite_float(alpha)
            except ValueError as exc:
                raise OptionError(f"α must be {exc}, got {alpha!r}") from None
        return LocalizeConfig(layers=parse_layers(text, "layers"), alpha=value)

    def run(self, key: Any, queries: Any, layers: Any = None, alpha: Any = None) -> str:
        """The page of every query on audio ``key`` with these settings (the model's defaults if blank)."""
        item = self._items.get(str(key))
        if item is None:
            raise WTLError("choose an audio file first (drop one in, or give it on the command line)")
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            raise WTLError("queries must be a list of texts")
        wanted = [q.strip() for q in queries if q.strip()]
        if not wanted:
            raise WTLError("type a query: the sound to find, e.g. 'a dog barking'")
        if len(wanted) > MAX_QUERIES:
            raise WTLError(f"at most {MAX_QUERIES} queries at once")
        config = self._config(layers, alpha)
        with self._lock:
            results = localize_file(self.adapter, item.path, wanted, config, detection=self.detection)
        title = f"wheretolisten explore: {item.name}"  # the upload's name, not its temporary copy's path
        return render_page(results, item.path, title=title, audio_name=item.name)
