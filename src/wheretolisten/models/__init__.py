"""Per-family adapters, the registry that picks one by ``config.model_type``, and tiny model builders."""

from .audioflamingo3 import AudioFlamingo3Adapter
from .base import Adapter
from .gemma3n import Gemma3nAdapter
from .granite_speech import GraniteSpeechAdapter
from .musicflamingo import MusicFlamingoAdapter
from .phi4_multimodal import Phi4MultimodalAdapter
from .qwen2_5_omni import Qwen2_5OmniAdapter
from .qwen2_audio import Qwen2AudioAdapter
from .qwen3_omni_moe import Qwen3OmniMoeAdapter
from .registry import ADAPTERS, FAMILIES, load_model, wrap
from .voxtral import VoxtralAdapter

__all__ = [
    "ADAPTERS",
    "FAMILIES",
    "Adapter",
    "AudioFlamingo3Adapter",
    "Gemma3nAdapter",
    "GraniteSpeechAdapter",
    "MusicFlamingoAdapter",
    "Phi4MultimodalAdapter",
    "Qwen2AudioAdapter",
    "Qwen2_5OmniAdapter",
    "Qwen3OmniMoeAdapter",
    "VoxtralAdapter",
    "load_model",
    "wrap",
]
