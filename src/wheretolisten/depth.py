"""Passes that stop at the deepest decoder layer they read: the layers above it cannot change what is read.

A localization pass reads residuals at the steered layers and the last token's attention at the probe
layers; every value it keeps is computed by the time the deepest of those layers has run. A model that
steers at layer 1 and probes layer 4 of 6 needs 2 of its 6 layers for the vector pass and 5 for the probe
pass, and its shared prefix keeps keys and values for 5. :func:`run_to_depth` stops a forward there:
a hook on the deepest layer needed raises once that layer has run, and the context manager catches it.
A pass that needs every layer stops there too, before the final norm and the language-model head: their
logits (prefix tokens × vocabulary: a 30-s Qwen2-Audio clip's ~770 prefix tokens × 156,032 × 2 bytes,
~240 MB in bf16) are never read. The output of a stopped forward is never returned, so callers read what
their hooks and caches collected.

A pass that only fills a cache (the shared prefix of :mod:`wheretolisten.session`) needs even less of its
deepest layer: its keys and values, not its attention output or MLP. :class:`KeysCache` stops the forward
as soon as that layer has stored them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
from transformers import DynamicCache

if TYPE_CHECKING:
    from .models.base import Adapter


class _DepthReached(Exception):
    """Raised by the pre-hook of the first decoder layer a pass does not need; never leaves this module."""


def needed_depth(*layer_lists: Iterable[int] | None) -> int:
    """How many decoder layers (from the first) a pass reading or writing at these layers must run."""
    deepest = max((layer for layers in layer_lists if layers for layer in layers), default=-1)
    return deepest + 1


class KeysCache(DynamicCache):
    """A cache that ends the forward (inside :func:`run_to_depth`) once decoder layer ``depth - 1`` has stored
    its keys and values: a pass that only fills the cache never needs that layer's output."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        self.depth = depth

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the layer's keys and values as ``DynamicCache`` does; stop after the deepest layer's."""
        out = super().update(key_states, value_states, layer_idx, *args, **kwargs)
        if layer_idx >= self.depth - 1:
            raise _DepthReached
        return out


def _stop(_module: Any, _args: Any, _output: Any) -> None:
    raise _DepthReached


@contextmanager
def run_to_depth(adapter: Adapter, depth: int | None) -> Iterator[None]:
    """Run the body's forward through decoder layers ``0 .. depth-1`` only, then stop (``depth`` at least
    ``num_layers``: every layer, but not the final norm and head; None: the whole model, output included).

    With an int ``depth`` the body must not use the model's return value: a stopped forward returns
    nothing. Hooks registered before this one on the layers that ran have fired as in a whole pass; keys
    and values of those layers are in the cache.
    """
    if depth is None:
        yield
        return
    if depth < 1:
        raise ValueError(f"a pass must run at least one decoder layer, got depth {depth}")
    last = min(depth, adapter.num_layers) - 1
    handle = adapter.decoder_layers[last].register_forward_hook(_stop)
    try:
        yield
    except _DepthReached:
        pass
    finally:
        handle.remove()
