"""Tiny random-weight models of the exact transformers architectures, built offline for tests and smoke runs.

One module per family (or per group of families that share a builder) exposes
``build(family, seed, size, chunk_s, tokenizer) -> (model, processor)``; :data:`BUILDERS` maps each
family name to its builder, so adding a family is one module and one line here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...errors import ModelError, OptionError, OutputError
from ...files import atomic_dir
from ..registry import FAMILIES as RUNNABLE
from ..registry import UNAVAILABLE_FAMILIES
from . import gemma3n, granite_speech, phi4_multimodal, qwen_omni, voxtral, whisper_qwen
from .whisper_qwen import build_processor, build_tokenizer, tiny_config

#: (family, seed, size overrides, encoder window in seconds, tokenizer or None) -> (model, processor)
Builder = Callable[[str, int, "dict[str, int] | None", int, Any], "tuple[Any, Any]"]

BUILDERS: dict[str, Builder] = {
    "qwen2-audio": whisper_qwen.build_tiny_model,
    "audioflamingo3": whisper_qwen.build_tiny_model,
    "musicflamingo": whisper_qwen.build_tiny_model,
    "qwen2.5-omni": qwen_omni.build_tiny_model,
    "qwen3-omni": qwen_omni.build_tiny_model,
    "voxtral": voxtral.build_tiny_model,
    "granite-speech": granite_speech.build_tiny_model,
    "gemma3n": gemma3n.build_tiny_model,
    "phi4-multimodal": phi4_multimodal.build_tiny_model,
}
#: Only families that can run here (a family's optional requirements may be missing: see the registry).
BUILDERS = {family: build for family, build in BUILDERS.items() if family in RUNNABLE}
FAMILIES = tuple(BUILDERS)


def build_tiny_model(
    family: str,
    seed: int = 0,
    size: dict[str, int] | None = None,
    chunk_s: int = 30,
    tokenizer: Any = None,
) -> tuple[Any, Any]:
    """(model, processor) of ``family`` with random weights drawn from ``seed``."""
    if family in UNAVAILABLE_FAMILIES:  # known, but its optional requirements are missing here
        raise ModelError(f"family {family!r} cannot run here: {UNAVAILABLE_FAMILIES[family]}")
    if family not in BUILDERS:
        raise ModelError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    return BUILDERS[family](family, seed, size, chunk_s, tokenizer)


def make_tiny_model(family: str, out: str | Path, seed: int = 0, overwrite: bool = False) -> Path:
    """Write a tiny model plus its processor to ``out``; ``load_model(out)`` loads it like a checkpoint.

    Written into a temporary folder and renamed: a failure (a full disk) leaves no partial model. A folder
    that holds anything (a checkpoint, the user's files) is written into only with ``overwrite=True``.
    """
    if not isinstance(out, (str, os.PathLike)) or not str(out).strip():
        raise OptionError(f"make_tiny_model: out must name a folder, got {out!r}")
    if not isinstance(overwrite, bool):
        raise OptionError(f"make_tiny_model: overwrite must be True or False, got {overwrite!r}")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} is a file, not a folder for the tiny model")
    if not overwrite and path.is_dir() and any(path.iterdir()):
        raise OutputError(f"{path} is not empty; pass overwrite=True to write the tiny model into it")
    model, processor = build_tiny_model(family, seed)
    with atomic_dir(path) as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
    return path


__all__ = [
    "BUILDERS",
    "FAMILIES",
    "build_processor",
    "build_tiny_model",
    "build_tokenizer",
    "make_tiny_model",
    "tiny_config",
]
