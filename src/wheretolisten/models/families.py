"""The names of the families this package serves, readable without torch.

``make-tiny-model --family`` refuses an unknown name before torch is imported; whether a known family can
run here (its optional packages) is the registry's answer, after. ``registry.KNOWN`` is the source of the
families; a test keeps this tuple equal to it.
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
