"""Per-family adapters, the registry that picks one by ``config.model_type``, and tiny model builders.

The names below are imported on first use, so that ``wheretolisten.models.checkpoint`` and
``wheretolisten.models.hub`` (the checks made before a model is loaded) do not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
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

#: Public name -> the submodule that defines it.
_WHERE = {
    "ADAPTERS": "registry",
    "FAMILIES": "registry",
    "load_model": "registry",
    "wrap": "registry",
    "Adapter": "base",
    "AudioFlamingo3Adapter": "audioflamingo3",
    "Gemma3nAdapter": "gemma3n",
    "GraniteSpeechAdapter": "granite_speech",
    "MusicFlamingoAdapter": "musicflamingo",
    "Phi4MultimodalAdapter": "phi4_multimodal",
    "Qwen2AudioAdapter": "qwen2_audio",
    "Qwen2_5OmniAdapter": "qwen2_5_omni",
    "Qwen3OmniMoeAdapter": "qwen3_omni_moe",
    "VoxtralAdapter": "voxtral",
}


__getattr__ = lazy_exports(__name__, _WHERE)


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
