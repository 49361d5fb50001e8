"""The names of the families this package serves and what their files say, readable without torch.

``make-tiny-model --family`` refuses an unknown name before torch is imported; whether a known family can
run here (its optional packages) is the registry's answer, after. ``registry.KNOWN`` is the source of the
families; tests keep these tables equal to it. The command line reads them to refuse a file too long for
the model before loading it (``checkpoint.audio_limit_s``).
"""

from __future__ import annotations

#: Every served family, in the registry's order.
NAMES: tuple[str, ...] = (
    "qwen2-audio",
    "audioflamingo3",
    "musicflamingo",
    "qwen2.5-omni",
    "qwen3-omni",
    "voxtral",
    "granite-speech",
    "gemma3n",
    "phi4-multimodal",
)

#: The ``model_type`` of each family's checkpoints (``config.json``), as the registry maps them to adapters.
MODEL_TYPES: dict[str, str] = {
    "qwen2_audio": "qwen2-audio",
    "audioflamingo3": "audioflamingo3",
    "musicflamingo": "musicflamingo",
    "qwen2_5_omni_thinker": "qwen2.5-omni",
    "qwen2_5_omni": "qwen2.5-omni",
    "qwen3_omni_moe_thinker": "qwen3-omni",
    "qwen3_omni_moe": "qwen3-omni",
    "voxtral": "voxtral",
    "granite_speech": "granite-speech",
    "gemma3n": "gemma3n",
    "phi4_multimodal": "phi4-multimodal",
}

#: Each family's longest clip in seconds (``Adapter.max_audio_s``); a loaded model may take less.
MAX_AUDIO_S: dict[str, float] = {
    "qwen2-audio": 30.0,
    "audioflamingo3": 600.0,
    "musicflamingo": 1200.0,
    "qwen2.5-omni": 300.0,
    "qwen3-omni": 2400.0,
    "voxtral": 2400.0,
    "granite-speech": 13056.0,
    "gemma3n": 30.0,
    "phi4-multimodal": 300.0,
}

#: Families whose loaded model takes at most its feature extractor's ``chunk_length`` seconds.
LIMITED_BY_CHUNK: frozenset[str] = frozenset({"qwen2-audio", "qwen2.5-omni"})
