"""A tiny model of a given class with seeded random weights, generating until its end-of-turn tokens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def seeded_model(model_class: Any, config: Any, seed: int, pad_token_id: int, eos_token_id: Any) -> Any:
    """``model_class(config)`` in eval mode, its weights drawn from ``seed``; generation pads and stops as
    given (``eos_token_id``: one id or a list). The caller's random state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config).eval()
    model.generation_config.pad_token_id = pad_token_id
    model.generation_config.eos_token_id = eos_token_id
    return model


def seeded_pair(
    model_class: Any,
    processor: Any,
    tiny_config: Callable[[Any, dict[str, int] | None], Any],
    seed: int,
    size: dict[str, int] | None,
) -> tuple[Any, Any]:
    """(model, processor) for a family whose config names its end-of-turn ids: the config that
    ``tiny_config`` makes from the processor's tokenizer and ``size``, then ``model_class`` seeded,
    generating until those ids."""
    tok = processor.tokenizer
    config = tiny_config(tok, size)
    eos = config.get_text_config().eos_token_id
    return seeded_model(model_class, config, seed, tok.pad_token_id, eos), processor
