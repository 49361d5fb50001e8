"""Find the adapter for a checkpoint by ``config.model_type`` and load model + processor."""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError

from ..errors import ModelError, ResourceError
from .audioflamingo3 import AudioFlamingo3Adapter
from .base import Adapter
from .checkpoint import DEVICE_TYPES, DTYPE_NAMES, check_source, weights_fingerprint
from .gemma3n import Gemma3nAdapter
from .granite_speech import GraniteSpeechAdapter
from .hub import local_files_only
from .musicflamingo import MusicFlamingoAdapter
from .phi4_multimodal import Phi4MultimodalAdapter
from .qwen2_5_omni import Qwen2_5OmniAdapter
from .qwen2_audio import Qwen2AudioAdapter
from .qwen3_omni_moe import Qwen3OmniMoeAdapter
from .voxtral import VoxtralAdapter

KNOWN: tuple[type[Adapter], ...] = (
    Qwen2AudioAdapter,
    AudioFlamingo3Adapter,
    MusicFlamingoAdapter,
    Qwen2_5OmniAdapter,
    Qwen3OmniMoeAdapter,
    VoxtralAdapter,
    GraniteSpeechAdapter,
    Gemma3nAdapter,
    Phi4MultimodalAdapter,
)
#: Families that can run here; a family whose optional requirements are missing is in UNAVAILABLE instead.
ADAPTERS: dict[str, type[Adapter]] = {
    model_type: cls
    for cls in KNOWN
    if cls.unavailable_reason() is None
    for model_type in (cls.model_type, *cls.checkpoint_model_types)
}
UNAVAILABLE: dict[str, str] = {
    cls.model_type: reason for cls in KNOWN if (reason := cls.unavailable_reason()) is not None
}
FAMILIES: dict[str, type[Adapter]] = {cls.family: cls for cls in ADAPTERS.values()}
#: Family name -> why it cannot run here (a missing optional package).
UNAVAILABLE_FAMILIES: dict[str, str] = {
    cls.family: reason for cls in KNOWN if (reason := cls.unavailable_reason()) is not None
}

DTYPES = {name: getattr(torch, name) for name in DTYPE_NAMES}
#: Device types a model can run on (``meta`` holds no data).
COMPUTE_DEVICES = frozenset(DEVICE_TYPES)


def resolve_device(device: str | None) -> torch.device:
    """``auto``/None picks CUDA when present, else CPU; anything else must be a valid torch device."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ModelError(f"unknown device {device!r} (try cpu, cuda, cuda:1, mps)") from None
    if dev.type not in COMPUTE_DEVICES:
        raise ModelError(f"device {device!r} cannot run a model here; use cpu, cuda, cuda:N or mps")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelError(f"device {device!r} requested but CUDA is not available")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ModelError(
                f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} GPU(s)"
            )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ModelError(f"device {device!r} requested but MPS is not available")
    return dev


def resolve_dtype(dtype: str | None, device: torch.device) -> torch.dtype:
    """``auto``/None: bfloat16 on GPU, float32 on CPU."""
    if dtype in (None, "auto"):
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype not in DTYPES:
        raise ModelError(f"unknown dtype {dtype!r}; choose one of auto, {', '.join(DTYPES)}")
    return DTYPES[dtype]


def adapter_class(model_type: str) -> type[Adapter]:
    """The adapter for a ``config.model_type``; a clear error for families not supported yet."""
    if model_type in UNAVAILABLE:
        raise ModelError(f"model type {model_type!r} cannot run here: {UNAVAILABLE[model_type]}")
    if model_type not in ADAPTERS:
        raise ModelError(f"unknown model type {model_type!r}; supported: {', '.join(sorted(ADAPTERS))}")
    return ADAPTERS[model_type]


def wrap(model: Any, processor: Any, name: str = "in-memory") -> Adapter:
    """Adapt an already-built model (put in eval mode) with its family's adapter."""
    cls = adapter_class(model.config.model_type)
    model.eval()
    return cls(model, processor, name)


def load_model(
    name_or_path: str | os.PathLike[str],
    device: str | None = "auto",
    dtype: str | None = "auto",
    trust_remote_code: bool = False,
) -> Adapter:
    """Load a checkpoint (hub id or local directory) and its processor."""
    name = str(name_or_path)
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    from transformers import AutoConfig
    from transformers.utils import logging as hf_logging

    local = check_source(name)
    # A hub id is checked against the cache and the network first: no minutes of retries offline.
    offline = {"local_files_only": True} if not local and local_files_only(name) else {}
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    if not sys.stderr.isatty():  # a notebook, a log file: no "Loading weights" bar (restored below)
        hf_logging.disable_progress_bar()
    try:
        try:
            config = AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code, **offline)
        except (OSError, ValueError, KeyError, ImportError) as exc:
            raise ModelError(f"cannot load a model config from {name!r}: {_first_line(exc)}") from None
        cls = adapter_class(config.model_type)
        try:
            processor = cls.load_processor(name, trust_remote_code=trust_remote_code, **offline)
        except (OSError, ValueError, TypeError, KeyError, ImportError) as exc:
            raise ModelError(
                f"{name!r} has no usable processor (tokenizer + feature extractor): {_first_line(exc)}"
            ) from None
        front_end = hasattr(processor, "feature_extractor") or hasattr(processor, "audio_processor")
        if not front_end or not hasattr(processor, "tokenizer"):
            raise ModelError(f"{name!r} has no usable processor (tokenizer + feature extractor)")
        try:
            model = cls.load_weights(
                name, dtype=torch_dtype, trust_remote_code=trust_remote_code, use_safetensors=True, **offline
            )
        except (OSError, ValueError, RuntimeError, SafetensorError) as exc:
            if _no_memory(exc):  # the weights do not fit: a resource limit (exit 3), not a bad model
                raise ResourceError(
                    f"out of memory loading the weights of {name!r} ({_first_line(exc)}); try "
                    "dtype='bfloat16' or a machine with more memory"
                ) from None
            raise ModelError(f"cannot load model weights from {name!r}: {_first_line(exc)}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    model.to(dev)
    logging.getLogger(__name__).debug("loaded %s (%s) on %s as %s", name, cls.family, dev, torch_dtype)
    adapter = wrap(model, processor, name)
    adapter.recommended = read_recommended(Path(name)) if local else {}
    commit = getattr(model.config, "_commit_hash", None)
    adapter.weights_id = (
        f"sha256:{weights_fingerprint(Path(name))}" if local else f"hub:{commit}" if commit else None
    )
    return adapter


#: Optional file beside a checkpoint with the settings wheretolisten should default to for it.
RECOMMENDED_FILE = "wheretolisten.json"


def read_recommended(path: Path) -> dict[str, Any]:
    """The checkpoint's ``wheretolisten.json`` (e.g. {"localize": {"layers": [2], "alpha": 8}}), or {}."""
    file = path / RECOMMENDED_FILE
    if not file.is_file():
        return {}
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{file}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{file}: expected a JSON object")
    problem = _recommended_problem(data.get("localize", {}))
    if problem is not None:
        raise ModelError(f"{file}: {problem}")
    return data


#: Numbers of the ``localize`` section, and whether 0 is allowed (alpha may be any finite number).
_RECOMMENDED_NUMBERS = {"alpha": None, "smooth_s": True, "window_s": False, "fraction": False}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _recommended_problem(section: Any) -> str | None:
    """Why a checkpoint's ``localize`` settings cannot be used (types and ranges), or None.

    Checked when the model loads, so a bad file is one line naming it, not an error deep in a run.
    """
    if not isinstance(section, dict):
        return f"'localize' must be an object, got {section!r}"
    for key in ("layers", "probe_layers"):
        value = section.get(key)
        if value is not None and not (isinstance(value, list) and all(_is_int(v) and v >= 0 for v in value)):
            return f"'localize.{key}' must be a list of layer indices (integers >= 0), got {value!r}"
    for key, zero_ok in _RECOMMENDED_NUMBERS.items():
        value = section.get(key)
        if value is None:
            continue
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        in_range = number and (zero_ok is None or value > 0 or (zero_ok and value == 0))
        if not in_range:
            kind = "a finite number" if zero_ok is None else f"a finite number {'>= 0' if zero_ok else '> 0'}"
            return f"'localize.{key}' must be {kind}, got {value!r}"
    for key in ("probe", "positions", "read_positions", "interval", "engine", "prompt"):
        if key in section and not isinstance(section[key], str):
            return f"'localize.{key}' must be a string, got {section[key]!r}"
    if "normalize" in section and not isinstance(section["normalize"], bool):
        return f"'localize.normalize' must be true or false, got {section['normalize']!r}"
    return None


def _no_memory(exc: BaseException) -> bool:
    """Whether loading failed for want of memory (ENOMEM from mmap or the allocator)."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOMEM:
        return True
    return "Cannot allocate memory" in str(exc) or "can't allocate memory" in str(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
