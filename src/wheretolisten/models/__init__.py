"""Per-family adapters, the registry that picks one by ``config.model_type``, and tiny model builders."""

from .audioflamingo3 import AudioFlamingo3Adapter
from .base import Adapter
from .musicflamingo import MusicFlamingoAdapter
from .qwen2_audio import Qwen2AudioAdapter
from .registry import ADAPTERS, FAMILIES, load_model, wrap

__all__ = [
    "ADAPTERS",
    "FAMILIES",
    "Adapter",
    "AudioFlamingo3Adapter",
    "MusicFlamingoAdapter",
    "Qwen2AudioAdapter",
    "load_model",
    "wrap",
]
