"""Steering vectors as data: one direction per decoder layer, metadata, safetensors + JSON on disk.

A vector is a per-layer direction in the language model's residual stream (the output of a decoder
layer). Files are safetensors (no pickle) with the metadata inside the header, and a readable JSON copy
beside them; both are written atomically.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import DataError
from .files import atomic_path, write_atomic

FORMAT_VERSION = 1
#: Key of the metadata in the safetensors header.
HEADER_KEY = "wheretolisten"


@dataclass
class SteeringVector:
    """One direction per decoder layer plus the metadata needed to reproduce it."""

    directions: dict[int, torch.Tensor]
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """One finite 1-D direction per layer, all of one size: what :meth:`load` accepts, so that a
        vector that :meth:`save` writes can be read back, and a malformed one is refused where it is made."""
        if not isinstance(self.directions, dict) or not self.directions:
            raise DataError("a steering vector needs a dict {layer: direction} with at least one layer")
        sizes = set()
        for layer, v in self.directions.items():
            if isinstance(layer, bool) or not isinstance(layer, int) or layer < 0:
                raise DataError(f"steering vector layers must be indices >= 0, got {layer!r}")
            if not isinstance(v, torch.Tensor) or v.ndim != 1 or not bool(torch.isfinite(v).all()):
                raise DataError(f"layer {layer}: a direction must be one finite 1-D tensor (no NaN or inf)")
            sizes.add(int(v.numel()))
        if len(sizes) != 1:
            raise DataError(f"the steering vector's layers have different sizes {sorted(sizes)}")

    @property
    def layers(self) -> list[int]:
        return sorted(self.directions)

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

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``path`` (.safetensors) and ``path.json``; both atomically, no pickle."""
        from safetensors.torch import save_file

        target = Path(path)
        if target.suffix != ".safetensors":
            target = target.with_suffix(".safetensors")
        meta = {
            **self.metadata,
            "layers": self.layers,
            "norms": self.norms(),
            "format_version": FORMAT_VERSION,
        }
        tensors = {
            f"layer.{layer}": v.detach().float().cpu().contiguous() for layer, v in self.directions.items()
        }
        with atomic_path(target) as tmp:
            save_file(tensors, str(tmp), metadata={HEADER_KEY: json.dumps(meta, sort_keys=True)})
        write_atomic(metadata_path(target), json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SteeringVector:
        """Read a vector written by :meth:`save`; anything malformed is one DataError naming the file."""
        from safetensors import safe_open

        source = Path(path)
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
        directions: dict[int, torch.Tensor] = {}
        for key, value in tensors.items():
            prefix, _, index = key.partition(".")
            if prefix != "layer" or not index.isdigit():
                raise DataError(f"{source}: unexpected tensor {key!r} (expected layer.N)")
            if value.ndim != 1 or not bool(torch.isfinite(value).all()):
                raise DataError(f"{source}: {key} must be one finite direction (1-D, no NaN or inf)")
            directions[int(index)] = value
        if not directions:
            raise DataError(f"{source}: holds no layer directions")
        sizes = {int(v.numel()) for v in directions.values()}
        if len(sizes) != 1:
            raise DataError(f"{source}: its layers have different sizes {sorted(sizes)}")
        return cls(directions, meta)


def metadata_path(path: Path) -> Path:
    """Where the readable JSON copy of a vector's metadata lives (``V.safetensors`` → ``V.json``)."""
    return path.with_suffix(".json")


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
