"""The image processor of a tiny model whose real processor also holds one (Gemma 3n, Phi-4-multimodal).

The real image processors need torchvision and audio never reaches them: transformers' PIL SigLIP image
processor stands in, so the tiny processors build and save without torchvision.
"""

from __future__ import annotations

from typing import Any

from transformers import SiglipImageProcessorPil


def with_image_stand_in(processor_class: Any, tokenizer: Any, chat_template: str, **audio: Any) -> Any:
    """``processor_class`` around ``tokenizer``, its chat template and its audio front end (``audio``: the
    processor's keyword for it and an instance), with the PIL image processor."""
    return processor_class(
        image_processor=SiglipImageProcessorPil(), tokenizer=tokenizer, chat_template=chat_template, **audio
    )
