"""Per-family adapters, the registry that picks one by ``config.model_type``, and tiny model builders."""

from .audioflamingo3 import AudioFlamingo3Adapter
from .base import Adapter
from .gemma3n import Gemma3nAdapter
from .phi4_multimodal import Phi4MultimodalAdapter
from .qwen2_audio import Qwen2AudioAdapter
from .registry import ADAPTERS, FAMILIES, load_model, wrap

__all__ = [
    "ADAPTERS",
    "FAMILIES",
    "Adapter",
    "AudioFlamingo3Adapter",
    "Gemma3nAdapter",
    "Phi4MultimodalAdapter",
    "Qwen2AudioAdapter",
    "load_model",
    "wrap",
]
