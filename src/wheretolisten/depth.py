"""Passes that stop at the deepest decoder layer they read: the layers above it cannot change what is read.

A localization pass reads residuals at the steered layers and the last token's attention at the probe
layers; every value it keeps is computed by the time the deepest of those layers has run. The shipped
model steers at layer 1 and probes layer 4 of 6, so the vector pass needs 2 of its 6 layers, the probe
pass 5, and the shared prefix keeps keys and values for 5. :func:`run_to_depth` stops a forward there:
a pre-hook on the first layer not needed raises, and the context manager catches it. The output of a
stopped forward is never returned, so callers read what their hooks and caches collected.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models.base import Adapter


class _DepthReached(Exception):
    """Raised by the pre-hook of the first decoder layer a pass does not need; never leaves this module."""


def needed_depth(*layer_lists: Iterable[int] | None) -> int:
    """How many decoder layers (from the first) a pass reading or writing at these layers must run."""
    deepest = max((layer for layers in layer_lists if layers for layer in layers), default=-1)
    return deepest + 1


def _stop(_module: Any, _args: Any) -> None:
    raise _DepthReached


@contextmanager
def run_to_depth(adapter: Adapter, depth: int | None) -> Iterator[None]:
    """Run the body's forward through decoder layers ``0 .. depth-1`` only (None or ``num_layers``: all).

    The body must not use the model's return value: a stopped forward returns nothing. Hooks on the
    layers that ran have fired as in a whole pass; keys and values of those layers are in the cache.
    """
    if depth is None or depth >= adapter.num_layers:
        yield
        return
    if depth < 1:
        raise ValueError(f"a pass must run at least one decoder layer, got depth {depth}")
    handle = adapter.decoder_layers[depth].register_forward_pre_hook(_stop)
    try:
        yield
    except _DepthReached:
        pass
    finally:
        handle.remove()
