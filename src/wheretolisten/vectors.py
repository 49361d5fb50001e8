"""Steering vectors as data: one direction per decoder layer, metadata, safetensors + JSON on disk.

A vector is a per-layer direction in the language model's residual stream (the output of a decoder
layer). Files are safetensors (no pickle) with the metadata inside the header, and a readable JSON copy
beside them; both are written atomically. File names follow one rule (:func:`vector_path`): a name
ending in ``.safetensors`` is kept, any other gets ``.safetensors`` appended (``dog.v1`` →
``dog.v1.safetensors``), never a suffix replaced; the metadata is the same name ending in ``.json``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DataError, ModelError, OptionError, OutputError
from .files import atomic_path, check_replace, write_atomic

# torch is imported where a tensor is checked: the command line runs the name rule and the replace
# check (vector_path, check_vector_target) before torch is imported.
if TYPE_CHECKING:
    from collections.abc import Sequence

    import torch

    from .models.base import Adapter

#: The newest file format this code writes and reads; a file of a newer one is refused, not misread.
FORMAT_VERSION = 1
#: The suffix of a vector file (the metadata beside it ends in ``.json``).
SUFFIX = ".safetensors"
#: Tensor types a direction may have (torch's names): a float of at least 16 bits (float8 has no
#: arithmetic on CPU, and a bool or integer tensor is not a direction).
DIRECTION_DTYPES = ("float16", "bfloat16", "float32", "float64")
#: Key of the metadata in the safetensors header.
HEADER_KEY = "wheretolisten"
#: A path as :meth:`SteeringVector.save` and :meth:`SteeringVector.load` take it.
PathArg = str | bytes | os.PathLike[str] | os.PathLike[bytes]


@dataclass
class SteeringVector:
    """One direction per decoder layer plus the metadata needed to reproduce it."""

    directions: dict[int, torch.Tensor]
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """One finite 1-D direction per layer, all of one size: what :meth:`load` accepts, so that a
        vector that :meth:`save` writes can be read back, and a malformed one is refused where it is made.
        ``metadata`` is a dict (None is refused here, not as a TypeError when saving)."""
        if not isinstance(self.directions, dict) or not self.directions:
            raise DataError("a steering vector needs a dict {layer: direction} with at least one layer")
        _check_metadata(self.metadata)
        sizes = set()
        for layer, v in self.directions.items():
            if isinstance(layer, bool) or not isinstance(layer, int) or layer < 0:
                raise DataError(f"steering vector layers must be indices >= 0, got {layer!r}")
            _check_direction(v, f"layer {layer}")
            sizes.add(int(v.numel()))
        if len(sizes) != 1:
            raise DataError(f"the steering vector's layers have different sizes {sorted(sizes)}")

    @property
    def layers(self) -> list[int]:
        return sorted(self.directions)

    def check_fits(self, adapter: Adapter, layers: Sequence[int]) -> None:
        """One ModelError unless this vector has a direction of ``adapter``'s hidden size for each of
        ``layers`` (checked when settings are resolved, before any pass, and again where it steers)."""
        missing = [layer for layer in layers if layer not in self.directions]
        if missing:
            raise ModelError(f"the steering vector has no direction for layer {missing[0]}")
        sizes = {int(self.directions[layer].numel()) for layer in layers}
        if sizes != {adapter.hidden_size}:
            built_for = self.metadata.get("model", "another model")
            raise ModelError(
                f"the steering vector has {min(sizes)} dimensions but {adapter.name} has hidden size "
                f"{adapter.hidden_size}: it was built for {built_for}"
            )

    def norms(self) -> dict[int, float]:
        return {layer: float(v.float().norm()) for layer, v in sorted(self.directions.items())}

    def cosine(self, other: SteeringVector) -> dict[int, float]:
        """Cosine similarity with ``other`` at every layer both have (NaN where a direction is zero)."""
        out = {}
        for layer in sorted(set(self.directions) & set(other.directions)):
            a, b = self.directions[layer].float().ravel(), other.directions[layer].float().ravel()
            if a.numel() != b.numel():
                raise DataError(f"layer {layer}: the vectors have {a.numel()} and {b.numel()} dimensions")
            denom = float(a.norm() * b.norm())
            out[layer] = float(a @ b) / denom if denom > 0 else float("nan")
        return out

    def save(self, path: PathArg, *, overwrite: bool = False) -> Path:
        """Write the vector file and its metadata ``.json`` beside it, both atomically, no pickle; return
        the vector file's path.

        The name follows :func:`vector_path`: ``dog.safetensors`` and ``dog`` both write
        ``dog.safetensors`` + ``dog.json``, ``dog.v1`` writes ``dog.v1.safetensors`` + ``dog.v1.json``
        (a suffix is never replaced, so two names never become one file). An existing ``.json`` that is
        not a vector's metadata (``save("results")`` beside the user's ``results.json``) is refused
        unless ``overwrite``; a vector's own metadata is replaced. The metadata must be JSON: numpy
        scalars are written as numbers, NaN, infinity and other objects are refused. Everything is
        checked before anything is written.
        """
        from safetensors.torch import save_file

        target, meta_file = check_vector_target(path, overwrite)
        _check_metadata(self.metadata)
        meta = {
            **self.metadata,
            "layers": self.layers,
            "norms": self.norms(),
            "format_version": FORMAT_VERSION,
        }
        header, readable = _metadata_json(meta, None), _metadata_json(meta, 2)
        for layer, v in self.directions.items():  # the dict may have changed since the vector was made
            _check_direction(v, f"layer {layer}")
        tensors = {  # in their own precision (DIRECTION_DTYPES), so a vector loads back equal
            f"layer.{layer}": v.detach().cpu().contiguous() for layer, v in self.directions.items()
        }
        with atomic_path(target) as tmp:
            save_file(tensors, str(tmp), metadata={HEADER_KEY: header})
        write_atomic(meta_file, readable + "\n")
        return target

    @classmethod
    def load(cls, path: PathArg) -> SteeringVector:
        """Read a vector written by :meth:`save`; anything malformed is one DataError naming the file: a
        tensor that is not a float direction (bool, integer, float8), two names of one layer
        (``layer.1`` and ``layer.01``), or a format newer than :data:`FORMAT_VERSION` (written by a newer
        wheretolisten: it would be misread). ``path`` may be str, bytes or a path object."""
        from safetensors import safe_open

        source = _as_path(path)
        if not source.is_file():
            raise DataError(f"{source}: no such steering-vector file")
        try:
            with safe_open(str(source), framework="pt") as handle:
                header = handle.metadata() or {}
                tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
        except Exception as exc:  # safetensors raises several types for corrupt files
            raise DataError(f"{source}: not a readable safetensors file ({type(exc).__name__})") from None
        try:
            meta = json.loads(header.get(HEADER_KEY, "{}"))
        except ValueError:
            raise DataError(f"{source}: its wheretolisten metadata is not valid JSON") from None
        if not isinstance(meta, dict):
            raise DataError(f"{source}: its wheretolisten metadata must be a JSON object")
        _check_format(meta.get("format_version", FORMAT_VERSION), source)
        directions: dict[int, torch.Tensor] = {}
        names: dict[int, str] = {}
        for key, value in tensors.items():
            prefix, _, index = key.partition(".")
            if prefix != "layer" or not (index.isascii() and index.isdigit()):
                raise DataError(f"{source}: unexpected tensor {key!r} (expected layer.N)")
            layer = int(index)
            if layer in names:
                raise DataError(f"{source}: {names[layer]} and {key} are both layer {layer}; keep one")
            _check_direction(value, f"{source}: {key}")
            directions[layer], names[layer] = value, key
        if not directions:
            raise DataError(f"{source}: holds no layer directions")
        sizes = {int(v.numel()) for v in directions.values()}
        if len(sizes) != 1:
            raise DataError(f"{source}: its layers have different sizes {sorted(sizes)}")
        return cls(directions, meta)


def _check_direction(value: object, name: str) -> None:
    """One finite 1-D float tensor (of :data:`DIRECTION_DTYPES`): a bool or integer tensor is no
    direction, and float8 cannot even be checked for NaN on CPU (one DataError line naming it)."""
    import torch

    if not isinstance(value, torch.Tensor) or value.ndim != 1:
        raise DataError(f"{name}: a direction must be one finite 1-D tensor (no NaN or inf)")
    if str(value.dtype).removeprefix("torch.") not in DIRECTION_DTYPES:
        kinds = ", ".join(DIRECTION_DTYPES)
        raise DataError(f"{name}: a direction must be a float tensor ({kinds}), got {value.dtype}")
    if not bool(torch.isfinite(value).all()):
        raise DataError(f"{name}: a direction must be one finite 1-D tensor (no NaN or inf)")


def _check_metadata(metadata: object) -> None:
    """The metadata is a dict (its values are checked as JSON when saving)."""
    if not isinstance(metadata, dict):
        raise DataError(
            f"a steering vector's metadata must be a dict (empty for none), got {type(metadata).__name__}"
        )


def _check_format(version: object, source: Path) -> None:
    """A format version this code reads: a whole number from 1 to :data:`FORMAT_VERSION`."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise DataError(f"{source}: its format_version must be a whole number >= 1, got {version!r}")
    if version > FORMAT_VERSION:
        raise DataError(
            f"{source}: written in vector format {version}, newer than this wheretolisten reads "
            f"({FORMAT_VERSION}); upgrade wheretolisten to read it"
        )


def _json_scalar(value: object) -> object:
    """A numpy scalar as the Python number (or bool, str) it holds; anything else json cannot write."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _metadata_json(meta: dict[str, Any], indent: int | None) -> str:
    """The metadata as strict JSON (numpy scalars as numbers): a NaN or infinity, which strict parsers
    reject, or an object JSON cannot hold is one DataError line, before anything is written."""
    try:
        return json.dumps(meta, indent=indent, sort_keys=True, allow_nan=False, default=_json_scalar)
    except ValueError as exc:  # json says "Out of range float values" for NaN and infinity
        what = "NaN or infinity" if "Out of range" in str(exc) else f"a value it cannot write ({exc})"
        raise DataError(
            f"the steering vector's metadata holds {what}, which JSON cannot hold; give a finite number "
            "or None"
        ) from None
    except TypeError as exc:
        raise DataError(
            f"the steering vector's metadata must hold JSON values (str, numbers, bool, None, lists, "
            f"dicts with str keys): {exc}"
        ) from None


def _as_path(path: PathArg) -> Path:
    """``path`` (str, bytes or a path object) as a Path; anything else is one OptionError line."""
    try:
        return Path(os.fsdecode(path))
    except TypeError:
        raise OptionError(f"a vector path must be a str or path, got {type(path).__name__}") from None


def vector_path(path: PathArg, option: str = "") -> Path:
    """The file a vector named ``path`` is written to, by one rule for the API and the command line: a
    name ending in ``.safetensors`` (any case) is kept, any other gets ``.safetensors`` appended
    (``dog`` → ``dog.safetensors``, ``dog.v1`` → ``dog.v1.safetensors``). A suffix is never replaced,
    so ``run.2024.05`` and ``run.2024.06`` stay two files. A path with no file name (``''``, ``.``,
    ``..``) is one OptionError line."""
    target = _as_path(path)
    if target.name in ("", ".", ".."):
        where = f"{option} {target}" if option else str(target)
        raise OptionError(f"{where}: give a file name for the vector")
    if target.suffix.lower() == SUFFIX:
        return target
    return target.with_name(target.name + SUFFIX)


def metadata_path(path: Path) -> Path:
    """Where the readable JSON copy of a vector's metadata lives (``V.safetensors`` → ``V.json``)."""
    return path.with_suffix(".json")


def check_vector_target(path: PathArg, overwrite: bool, option: str = "") -> tuple[Path, Path]:
    """The vector file and metadata ``.json`` that saving to ``path`` writes (:func:`vector_path`); an
    existing ``.json`` that is not a vector's metadata (the user's ``results.json`` beside
    ``results.safetensors``) is refused unless ``overwrite``. The one check of :meth:`SteeringVector.save`
    and of the command line (``option`` names its flag), so both refuse the same files."""
    if not isinstance(overwrite, (bool, np.bool_)):  # overwrite="no" read as true replaced a user's file
        raise OptionError(f"overwrite must be True or False, got {overwrite!r}")
    given = _as_path(path)
    text = os.fsdecode(path)  # _as_path took it
    where = f"{option} {text}" if option else text
    if given.is_dir() or text.endswith(("/", os.sep)):  # "vectors/" was saved as vectors.safetensors
        raise OptionError(f"{where}: is a folder; give a file name for the vector (e.g. {given / 'dog'})")
    target = vector_path(path, option)
    meta = metadata_path(target)
    for file in (target, meta):
        if file.is_dir():  # the pair is checked whole before either is written
            raise OutputError(f"{where}: {file} is a folder, so the vector cannot be written there")
    if (meta.is_file() or meta.is_symlink()) and not is_vector_metadata(meta):
        check_replace(meta, option or f"saving {target}", bool(overwrite))
    return target, meta


#: Keys every metadata file written by :meth:`SteeringVector.save` holds.
_METADATA_KEYS = ("format_version", "layers", "norms")


def is_vector_metadata(path: Path) -> bool:
    """Whether ``path`` is a metadata JSON that :meth:`SteeringVector.save` wrote (so a new save may
    replace it), rather than a file of the user's that happens to sit beside the vector."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and all(key in data for key in _METADATA_KEYS)


def mean_difference(
    acts: Mapping[int, torch.Tensor], positive: list[int], negative: list[int], meta: dict[str, Any]
) -> SteeringVector:
    """Per layer, the mean of rows ``positive`` minus the mean of rows ``negative`` (float32)."""
    directions = {
        layer: a[positive].float().mean(0) - a[negative].float().mean(0) for layer, a in acts.items()
    }
    for layer, d in directions.items():
        if not math.isfinite(float(d.norm())):
            raise DataError(f"the steering vector is not finite at layer {layer}")
    return SteeringVector(directions, dict(meta))
