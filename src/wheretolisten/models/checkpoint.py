"""A checkpoint checked before it is loaded: folder contents, weight files, decoder layers. No torch.

Everything here reads small files only (``config.json``, the safetensors headers), so a mistyped model
folder, a truncated download or ``--layers 99`` is one line in well under a second, before torch is
imported or a weight is read. The adapter checks the same things again once the model is loaded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ModelError

#: The file every transformers checkpoint folder holds.
CONFIG_FILE = "config.json"
#: Nested configs searched (in this order) for the language model's own config.
_TEXT_KEYS = ("thinker_config", "text_config")


def check_source(name: str) -> bool:
    """Whether ``name`` is a local checkpoint (checked: a folder with a config and whole safetensors
    weights) rather than a hub id; a path that does not exist is one ModelError. No weights are read."""
    local = Path(name).exists()
    if not local and (name.startswith((".", "/", "~")) or os.sep in name.strip("/").replace("/", "", 1)):
        raise ModelError(f"{name}: no such model directory")
    if local:
        check_folder(Path(name))
    return local


def check_folder(path: Path) -> None:
    """A local checkpoint: a folder with ``config.json`` and safetensors weights whose files are whole
    (pickle files are never loaded)."""
    if not path.is_dir():
        raise ModelError(f"{path}: is not a model directory")
    weights = sorted(path.glob("*.safetensors"))
    if not weights and (any(path.glob("*.bin")) or any(path.glob("*.pt"))):
        raise ModelError(
            f"{path} holds only pickle weights (.bin/.pt), which wheretolisten never loads (no pickle): "
            "convert them to safetensors"
        )
    if not (path / CONFIG_FILE).is_file():
        raise ModelError(f"{path}: no {CONFIG_FILE} here, so it is not a model directory")
    if not weights:
        raise ModelError(f"{path}: no model weights (*.safetensors) in this directory")
    for file in weights:
        _check_safetensors(file)


def _header(file: Path) -> tuple[int, dict[str, Any]]:
    """(header length, tensors) of a safetensors file: name -> {dtype, shape, data_offsets}."""
    try:
        with file.open("rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            if size <= 0 or size > 100_000_000:
                raise ValueError("bad header length")
            header = json.loads(handle.read(size))
        if not isinstance(header, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError):
        raise ModelError(f"cannot load model weights from {file}: not a safetensors file") from None
    return size, {k: v for k, v in header.items() if k != "__metadata__"}


def _check_safetensors(file: Path) -> None:
    """The header of a safetensors file parses and the file holds every byte the header announces."""
    size, tensors = _header(file)
    try:
        ends = [int(v["data_offsets"][1]) for v in tensors.values()]
    except (KeyError, TypeError, IndexError, ValueError):
        raise ModelError(f"cannot load model weights from {file}: not a safetensors file") from None
    needed = 8 + size + max(ends, default=0)
    if file.stat().st_size < needed:
        raise ModelError(
            f"cannot load model weights from {file}: the file is cut off ({file.stat().st_size} of "
            f"{needed} bytes; download it again)"
        )


def parameter_count(path: Path) -> int:
    """How many parameters a checkpoint folder's safetensors files hold (from their headers only)."""
    total = 0
    for file in sorted(path.glob("*.safetensors")):
        for tensor in _header(file)[1].values():
            count = 1
            for dim in tensor.get("shape", []):
                count *= int(dim)
            total += count
    return total


def read_config(path: Path) -> dict[str, Any]:
    """A checkpoint folder's ``config.json`` as a dict (one ModelError line when it is not JSON)."""
    file = path / CONFIG_FILE
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{file}: not a readable JSON model config ({exc})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{file}: expected a JSON object")
    return data


def decoder_layers(config: Mapping[str, Any]) -> int | None:
    """How many decoder layers the language model of this config has (None: the config does not say).

    The language model's config is ``text_config`` (inside ``thinker_config`` for the omni families),
    or the config itself for a family without one.
    """
    current: Mapping[str, Any] = config
    for key in _TEXT_KEYS:
        nested = current.get(key)
        if isinstance(nested, Mapping):
            current = nested
    count = current.get("num_hidden_layers")
    return int(count) if isinstance(count, int) and count > 0 else None


def check_layer_indices(layers: Sequence[int], count: int | None, option: str = "--layers") -> None:
    """Every layer index is below ``count`` (None: unknown, nothing to check)."""
    if count is None:
        return
    bad = [x for x in layers if not 0 <= x < count]
    if bad:
        raise ModelError(
            f"{option}: layer {bad[0]} is out of range: the language model has layers 0..{count - 1}"
        )
