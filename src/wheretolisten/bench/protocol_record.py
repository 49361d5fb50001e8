"""The record of a protocol run in its folder (``protocol.json``): which protocol, model and weights it
holds, so that a rerun into the folder resumes that run and nothing else. Imports no torch (the command
line checks it before the model loads)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..records.documents import read_json
from ..records.layout import PROTOCOL_NAME
from ..records.runs import other_model
from .protocol_file import Protocol


def check_recorded(
    protocol: Protocol,
    out: Path,
    model: str | None = None,
    computed_with: Mapping[str, Any] | None = None,
) -> bool:
    """Whether ``out`` holds the record of a run (``protocol.json``); one of another protocol is refused,
    and of another model when ``model`` is given (the protocol is checked before the model loads, the
    model once it has: its weights and precision, ``computed_with``, where the record has them, so the
    same weights under another name are the same model)."""
    path = out / PROTOCOL_NAME
    if not path.is_file():
        return False
    record = read_json(path, "protocol record")
    if not isinstance(record, dict) or record.get("protocol") != protocol.to_dict():
        raise DataError(f"{out} holds a run of another protocol ({path}); use another out folder")
    why = other_model(record, model, computed_with) if model is not None else None
    if why is not None:
        raise DataError(
            f"{out} holds a run of {why}, {path}; use the same model and --dtype, or another out folder"
        )
    return True
