"""Temporal attention probe: how much attention chosen query positions pay to each audio token.

Two implementations share one interface:

* ``fast`` (default): a function registered with transformers' ``AttentionInterface`` (with the matching
  mask function) computes each layer's output with SDPA, and only the requested attention rows
  (queries × all keys) explicitly, so no T×T probability matrix is ever materialized.
* ``eager``: the reference: transformers' eager attention with ``output_attentions=True``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from .errors import OptionError
from .positions import last_positions
from .prefix_attention import PREFIX_KWARG, SharedPrefix, attend, picked_softmax, probe_rows
from .settings import ProbeMethod, check_layers

if TYPE_CHECKING:
    from .models.base import Adapter

#: Name under which the probing attention function is registered with transformers.
ATTN_NAME = "wheretolisten_probe"
#: Keyword argument that carries a :class:`ProbeRequest` from ``model(...)`` down to attention.
PROBE_KWARG = "wtl_probe"


@dataclass
class ProbeRequest:
    """Which layers and query rows to record during one forward pass; filled in place."""

    layers: frozenset[int]
    query_index: torch.Tensor  # [batch, rows] positions on the forward's query axis
    rows: dict[int, torch.Tensor] = field(default_factory=dict)  # layer -> [batch, heads, rows, keys]


def attention_rows(
    query: torch.Tensor,
    key: torch.Tensor,
    attention_mask: torch.Tensor | None,
    query_index: torch.Tensor,
    scaling: float,
) -> torch.Tensor:
    """Softmax attention probabilities of the selected query rows, in float32, GQA-aware.

    query: [B, H, Q, D]; key: [B, Hkv, K, D]; query_index: [B, R]. Returns [B, H, R, K].
    Head h reads key/value head h // (H / Hkv), as transformers' ``repeat_kv`` does.
    """
    batch, heads, q_len, dim = query.shape
    kv_heads, k_len = key.shape[1], key.shape[2]
    n_rep = heads // kv_heads
    rows = query_index.shape[1]
    gather_idx = query_index[:, None, :, None].expand(batch, heads, rows, dim)
    q = query.gather(2, gather_idx).float().reshape(batch, kv_heads, n_rep * rows, dim)
    scores = torch.matmul(q, key.float().transpose(-1, -2)) * scaling
    scores = scores.view(batch, heads, rows, k_len)
    return picked_softmax(scores, attention_mask, query_index, q_len)


def probe_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """SDPA for the layer output, plus the requested attention rows when a probe request is present."""
    request: ProbeRequest | None = kwargs.pop(PROBE_KWARG, None)
    prefix: SharedPrefix | None = kwargs.pop(PREFIX_KWARG, None)
    layer = getattr(module, "layer_idx", None)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    if prefix is not None:  # suffix rows over a shared prefix read in place (wheretolisten.prefix_attention)
        out = attend(module, query, key, value, attention_mask, prefix, scale, kwargs)
        if request is not None and layer in request.layers:
            request.rows[int(layer)] = probe_rows(
                query, key, attention_mask, request.query_index, prefix, int(layer), scale
            )
        return out, None
    out, _ = sdpa_attention_forward(
        module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
    )
    if request is not None and layer in request.layers:
        request.rows[int(layer)] = attention_rows(query, key, attention_mask, request.query_index, scale)
    return out, None


def register() -> str:
    """Register the probing attention and its (SDPA) mask function with transformers; idempotent."""
    AttentionInterface.register(ATTN_NAME, probe_attention_forward)
    AttentionMaskInterface.register(ATTN_NAME, sdpa_mask)
    return ATTN_NAME


register()


def install(adapter: Adapter) -> None:
    """Make the language model's attention the probing one (idempotent; SDPA output when not probing).

    Called by everything that probes, so an adapter built by the models layer needs no setup.
    """
    if getattr(adapter.text_config, "_attn_implementation", None) != ATTN_NAME:
        adapter.set_text_attention(register())


@contextmanager
def text_attention(adapter: Adapter, implementation: str) -> Iterator[None]:
    """Temporarily switch the language model's attention implementation (the audio tower is untouched)."""
    previous = adapter.text_config._attn_implementation
    adapter.set_text_attention(implementation)
    try:
        yield
    finally:
        adapter.set_text_attention(previous)


@dataclass
class TemporalAttention:
    """Attention from query rows to the audio tokens of each batch row.

    ``per_row[b]`` has shape [layers, heads, rows, audio_tokens_b]; ``layers`` names the layer axis.
    """

    layers: list[int]
    per_row: list[torch.Tensor]
    audio_index: list[torch.Tensor]


def _audio_columns(
    adapter: Adapter, input_ids: torch.Tensor, rows_by_layer: dict[int, torch.Tensor], layers: Sequence[int]
) -> TemporalAttention:
    stacked = torch.stack([rows_by_layer[layer] for layer in layers], dim=1)  # [B, L, H, R, K]
    audio = adapter.audio_mask(input_ids)
    per_row, index = [], []
    for b in range(input_ids.shape[0]):
        cols = torch.nonzero(audio[b], as_tuple=False).squeeze(-1)
        per_row.append(stacked[b][..., cols.to(stacked.device)].cpu())
        index.append(cols.cpu())
    return TemporalAttention(list(layers), per_row, index)


@torch.no_grad()
def temporal_attention(
    adapter: Adapter,
    batch: dict[str, torch.Tensor],
    layers: Sequence[int] | None = None,
    query_index: torch.Tensor | None = None,
    method: ProbeMethod = "fast",
) -> TemporalAttention:
    """Run one forward pass and return attention from the query rows (default: last token) to audio."""
    chosen = list(range(adapter.num_layers)) if layers is None else check_layers(adapter, layers)
    if query_index is None:
        query_index = last_positions(batch["attention_mask"])[:, None]
    query_index = query_index.to(batch["input_ids"].device)
    if method == "fast":
        install(adapter)
        request = ProbeRequest(frozenset(chosen), query_index)
        adapter.model(**batch, use_cache=False, **{PROBE_KWARG: request})
        rows = request.rows
    elif method == "eager":
        with text_attention(adapter, "eager"):
            out = adapter.model(**batch, use_cache=False, output_attentions=True)
        rows = {}
        for layer in chosen:
            att = out.attentions[layer]
            b, h, _, k = att.shape
            idx = query_index[:, None, :, None].expand(b, h, query_index.shape[1], k)
            rows[layer] = att.gather(2, idx).float()
    else:
        raise OptionError(f"unknown probe method {method!r}; choose 'fast' or 'eager'")
    missing = [layer for layer in chosen if layer not in rows]
    if missing:
        raise RuntimeError(
            f"the probe recorded no attention for layers {missing}: is the language model's attention "
            f"implementation '{ATTN_NAME}'?"
        )
    return _audio_columns(adapter, batch["input_ids"], rows, chosen)
