"""Per-family adapters, the registry that picks one by ``config.model_type``, and tiny model builders."""

from .audioflamingo3 import AudioFlamingo3Adapter
from .base import Adapter
from .granite_speech import GraniteSpeechAdapter
from .qwen2_audio import Qwen2AudioAdapter
from .registry import ADAPTERS, FAMILIES, load_model, wrap
from .voxtral import VoxtralAdapter

__all__ = [
    "ADAPTERS",
    "FAMILIES",
    "Adapter",
    "AudioFlamingo3Adapter",
    "GraniteSpeechAdapter",
    "Qwen2AudioAdapter",
    "VoxtralAdapter",
    "load_model",
    "wrap",
]
