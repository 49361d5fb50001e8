"""A checkpoint checked before it is loaded: folder contents, weight files, decoder layers. No torch.

Everything here reads small files only (``config.json``, the safetensors headers), so a mistyped model
folder, a truncated download or ``--layers 99`` is one line in well under a second, before torch is
imported or a weight is read. The adapter checks the same things again once the model is loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ModelError
from .families import LIMITED_BY_CHUNK, MAX_AUDIO_S, MODEL_TYPES

#: The file every transformers checkpoint folder holds.
CONFIG_FILE = "config.json"
#: How transformers names the index of a sharded safetensors checkpoint (tensor name -> shard file).
INDEX_SUFFIX = ".safetensors.index.json"
#: Files one of which every checkpoint's tokenizer is saved in (Hugging Face's, SentencePiece's, Mistral's).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "tekken.json", "vocab.json")
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
    """A local checkpoint: a folder with ``config.json`` and safetensors weights (one file, or shards and
    their ``model.safetensors.index.json``) whose files are whole (pickle files are never loaded)."""
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
    if not any((path / name).is_file() for name in TOKENIZER_FILES):  # a stand-in tokenizer lacks the audio
        raise ModelError(
            f"{path}: no tokenizer here ({', '.join(TOKENIZER_FILES)}): copy the checkpoint's tokenizer "
            "files into the folder"
        )
    for index in sorted(path.glob(f"*{INDEX_SUFFIX}")):
        _check_index(index)
    for file in weights:
        _check_safetensors(file)


def _shard_map(index: Path) -> dict[str, str]:
    """The ``weight_map`` (tensor name -> shard file name) of a sharded checkpoint's index."""
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
        shards = data["weight_map"]
        if not (isinstance(shards, dict) and all(isinstance(v, str) for v in shards.values())):
            raise ValueError("weight_map is not an object of file names")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{index}: not a readable safetensors index ({exc})") from None
    return shards


def _check_index(index: Path) -> None:
    """Every shard a sharded checkpoint's index names is in the folder and holds the tensors it is named
    for (a shard missing or from another download is one line, not a failure inside the loader)."""
    shards = _shard_map(index)
    by_file: dict[str, set[str]] = {}
    for tensor, name in shards.items():
        by_file.setdefault(name, set()).add(tensor)
    for name, tensors in sorted(by_file.items()):
        file = index.parent / name
        if Path(name).name != name or not file.is_file():
            raise ModelError(
                f"{index.parent}: the shard {name} named in {index.name} is not here (download it)"
            )
        missing = sorted(tensors - set(_header(file)[1]))
        if missing:
            raise ModelError(
                f"{file}: lacks {len(missing)} tensor(s) {index.name} places there (e.g. {missing[0]}); "
                "the shards come from different downloads"
            )


def weight_files(path: Path) -> list[Path]:
    """The safetensors files a checkpoint folder loads: the shards its index names, else every
    ``*.safetensors`` file."""
    indexes = sorted(path.glob(f"*{INDEX_SUFFIX}"))
    if indexes:
        return [path / name for name in sorted({n for i in indexes for n in _shard_map(i).values()})]
    return sorted(path.glob("*.safetensors"))


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


#: Precisions a model loads in (``registry.DTYPES`` maps them to torch's), and the device types it runs on.
DTYPE_NAMES = ("float32", "float16", "bfloat16")
DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")


def check_device_and_dtype(device: str, dtype: str) -> None:
    """--device and --dtype are names a model can load with (torch checks the device's presence later):
    a misspelling is one line before torch is imported, not after its seconds of import."""
    kind, colon, index = device.partition(":")
    if device != "auto" and (kind not in DEVICE_TYPES or (colon and not index.isdigit())):
        raise ModelError(f"unknown device {device!r} (try auto, cpu, cuda, cuda:1, mps)")
    if dtype != "auto" and dtype not in DTYPE_NAMES:
        raise ModelError(f"unknown dtype {dtype!r}; choose one of auto, {', '.join(DTYPE_NAMES)}")


#: Checkpoints up to this size are hashed whole by :func:`weights_fingerprint`; larger ones by samples.
FULL_HASH_BYTES = 2 << 30
#: Blocks (of :data:`SAMPLE_BYTES` each) read across each weight file of a larger checkpoint.
SAMPLES_PER_FILE, SAMPLE_BYTES = 64, 1 << 16


def weights_fingerprint(path: Path) -> str:
    """A short hash of what a checkpoint folder computes with: its ``config.json`` and its weight files
    (names and sizes, and their bytes: all of them up to :data:`FULL_HASH_BYTES` in all, else
    :data:`SAMPLES_PER_FILE` blocks spread over each file, which a fine-tune of a few tensors may miss).
    Results keyed by it are not resumed on other weights saved under the same name; a copied or moved
    folder keeps it."""
    files = weight_files(path)
    sizes = [f.stat().st_size for f in files]
    whole = sum(sizes) <= FULL_HASH_BYTES
    digest = hashlib.sha256((path / CONFIG_FILE).read_bytes() if (path / CONFIG_FILE).is_file() else b"")
    for file, size in zip(files, sizes, strict=True):
        digest.update(f"{file.name}:{size}".encode())
        with file.open("rb") as handle:
            if whole:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
                continue
            for k in range(SAMPLES_PER_FILE):
                handle.seek(k * max(0, size - SAMPLE_BYTES) // max(1, SAMPLES_PER_FILE - 1))
                digest.update(handle.read(SAMPLE_BYTES))
    return digest.hexdigest()[:16]


def parameter_count(path: Path) -> int:
    """How many parameters a checkpoint folder's safetensors files (one file, or the shards of its index)
    hold, from their headers only."""
    total = 0
    for file in weight_files(path):
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


def _json(file: Path) -> dict[str, Any]:
    """A small JSON file as a dict; {} when it is missing or unreadable (the loader reports those)."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def audio_limit_s(path: Path) -> float | None:
    """The longest clip the checkpoint in ``path`` takes, from its files alone (None: an unknown family).

    Never below the loaded model's own limit (``Adapter.max_audio_limit_s``, checked again after loading):
    the family's limit, or the feature extractor's ``chunk_length`` where the family is limited by it and
    the processor files agree on it (``processor_config.json``, ``preprocessor_config.json``).
    """
    family = MODEL_TYPES.get(str(read_config(path).get("model_type")))
    if family is None:
        return None
    limit = MAX_AUDIO_S[family]
    if family in LIMITED_BY_CHUNK:
        nested = _json(path / "processor_config.json").get("feature_extractor")
        found = [
            extractor.get("chunk_length")
            for extractor in (
                nested if isinstance(nested, dict) else {},
                _json(path / "preprocessor_config.json"),
            )
            if "chunk_length" in extractor
        ]
        chunks = [
            float(c) for c in found if isinstance(c, (int, float)) and not isinstance(c, bool) and c > 0
        ]
        if found and len(chunks) == len(found):  # a chunk the loader would read, whichever file it reads
            limit = min(limit, max(chunks))
    return limit


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
