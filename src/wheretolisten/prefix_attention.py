"""Suffix rows attending to a shared prefix read in place: no per-row copy of the prefix's keys and values.

A shared-prefix pass (:mod:`wheretolisten.session`) runs many short suffixes (instructions, probe rows) on
top of one clip's (or a few clips') cached audio prefix. A plain KV cache needs the prefix's keys and values
once per row (an expanded or gathered copy, then concatenated with the row's own keys at every layer):
memory and copies grow with rows × prefix. Here the cache holds only the suffixes' keys
(:func:`suffix_cache`, whose layers report the prefix's length so that positions and masks are those of the
whole prompt), and the attention function splits each row's softmax over two key blocks: the prefix of its
clip, shared by every row of that clip (one matrix product per clip, rows stacked on the query axis), and the
row's own suffix. The two blocks are joined exactly (one maximum, one denominator), so the result is the
softmax over the whole prompt, up to float rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from .errors import ModelError

#: Keyword argument that carries a :class:`SharedPrefix` from ``model(...)`` down to attention.
PREFIX_KWARG = "wtl_prefix"
#: Attention arguments that change the scores (logit soft-capping, attention sinks, position bias): the
#: in-place attention does not apply them, so a layer that passes one is refused.
UNSERVED_EXTRAS = ("softcap", "s_aux", "sinks", "position_bias")
#: What a refusal tells the user: the way round a model the shared prefix cannot serve.
USE_FULL = "the shared prefix cannot serve this model exactly; run it with LocalizeConfig(engine='full')"


@dataclass
class SharedPrefix:
    """The prefix's keys and values per decoder layer ([clips, kv heads, prefix, dim]) and each suffix row's
    clip; the attention of a pass that carries it reads the prefix from here, not from the cache."""

    layers: list[tuple[torch.Tensor, torch.Tensor]]
    clips: torch.Tensor  # [rows]: the clip whose prefix row i attends to
    length: int  # prefix tokens: every layer must hold all of them
    groups: list[tuple[int, torch.Tensor]] = field(init=False)  # (clip, its rows), in clip order

    def __post_init__(self) -> None:
        where = self.clips.to(self.layers[0][0].device)
        self.groups = [(int(c), torch.nonzero(where == c).squeeze(-1)) for c in torch.unique(where)]
        sizes = {int(members.numel()) for _, members in self.groups}
        # Rows in equal consecutive blocks, one per clip in clip order (a batch of windows builds them so).
        self._blocked = len(sizes) == 1 and bool(
            torch.equal(
                torch.cat([members for _, members in self.groups]),
                torch.arange(where.numel(), device=where.device),
            )
        )

    def blocked(self, rows: int) -> bool:
        """Whether the ``rows`` suffix rows come in equal consecutive blocks per clip (one computation)."""
        return self._blocked and rows == int(self.clips.numel())

    def keys_values(self, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoder ``layer``'s prefix keys and values, checked to cover the whole prefix (ModelError)."""
        if not 0 <= layer < len(self.layers):
            raise ModelError(f"the shared prefix holds no keys for decoder layer {layer}: {USE_FULL}")
        keys, values = self.layers[layer]
        if keys.shape[-2] != self.length or values.shape[-2] != self.length:
            raise ModelError(
                f"decoder layer {layer} holds {keys.shape[-2]} of the prefix's {self.length} keys: {USE_FULL}"
            )
        return keys, values


class _SuffixLayer(DynamicLayer):
    """A cache layer that stores only the suffix's keys and values but counts the prefix before them, so the
    model places the suffix after the prefix (positions, mask sizes) as with a whole cache."""

    def __init__(self, prefix_len: int) -> None:
        super().__init__()
        self.prefix_len = prefix_len

    def get_seq_length(self) -> int:
        """Prefix and stored suffix tokens."""
        return self.prefix_len + super().get_seq_length()


def suffix_cache(prefix_len: int, layers: int) -> DynamicCache:
    """A cache for one suffix pass over a prefix of ``prefix_len`` tokens held by a :class:`SharedPrefix`."""
    cache = DynamicCache()
    cache.layers = [_SuffixLayer(prefix_len) for _ in range(layers)]
    return cache


def allowed_keys(
    mask: torch.Tensor | None, rows: int, q_len: int, k_len: int, device: torch.device
) -> torch.Tensor:
    """The attention mask as booleans [rows, 1 or heads, q_len, k_len] (True: may attend); None is causal
    attention with the queries at the end of the keys (transformers passes None only where it means that)."""
    if mask is None:
        offset = k_len - q_len
        keys = torch.arange(k_len, device=device)[None, :]
        queries = torch.arange(q_len, device=device)[:, None]
        return (keys <= queries + offset)[None, None].expand(rows, 1, q_len, k_len)
    if mask.dtype != torch.bool:  # an additive float mask: very negative means masked
        mask = mask > torch.finfo(mask.dtype).min / 2
    return mask.expand(rows, -1, q_len, k_len)


def _blocks(x: torch.Tensor, groups: int, kv_heads: int) -> torch.Tensor:
    """[rows, heads, q, d] (rows in ``groups`` equal consecutive blocks) -> [groups, kv heads, rows per group,
    heads per kv head, q, d]: head h reads kv head h // per, as transformers' ``repeat_kv``."""
    rows, heads, q, d = x.shape
    return x.view(groups, rows // groups, kv_heads, heads // kv_heads, q, d).permute(0, 2, 1, 3, 4, 5)


def _mask_blocks(allowed: torch.Tensor, groups: int, kv_heads: int) -> torch.Tensor:
    """[rows, 1 or heads, q, k] -> broadcastable to [groups, kv heads, rows per group, per, q, k]."""
    rows, h, q, k = allowed.shape
    if h == 1:  # one mask for every head: broadcast, no copy per head
        return allowed.view(groups, rows // groups, 1, 1, q, k).transpose(1, 2)
    return allowed.reshape(groups, rows // groups, kv_heads, h // kv_heads, q, k).transpose(1, 2)


def _scores(
    q: torch.Tensor, keys_p: torch.Tensor, keys_s: torch.Tensor, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores over the prefix [g, kv, n, per, q, prefix] and over the row's own suffix [g, kv, n, per, q,
    suffix], in float32. q: [g, kv, n, per, q, d]; keys_p: [g, kv, prefix, d]; keys_s: [g, kv, n, suffix,
    d]."""
    g, kv, n, per, q_len, d = q.shape
    scaled = q.float() * scale  # the queries are far fewer than the scores: scale them, not the scores
    flat = scaled.reshape(g, kv, n * per * q_len, d)
    on_prefix = torch.matmul(flat, keys_p.float().transpose(-1, -2)).view(g, kv, n, per, q_len, -1)
    on_suffix = torch.matmul(scaled, keys_s.float()[:, :, :, None].transpose(-1, -2))
    return on_prefix, on_suffix


def _split(prefix: SharedPrefix, rows: int) -> list[tuple[torch.Tensor | None, list[int]]]:
    """The row blocks one computation each: all rows at once when they come in equal consecutive blocks per
    clip (a batch of windows: None, every group's clip), else one group at a time (its rows, [its clip])."""
    if prefix.blocked(rows):
        return [(None, [clip for clip, _ in prefix.groups])]
    return [(members, [clip]) for clip, members in prefix.groups]


def _take(x: torch.Tensor, members: torch.Tensor | None) -> torch.Tensor:
    """The rows ``members`` of ``x`` (all of them for None)."""
    return x if members is None else x.index_select(0, members)


def _prefix_of(tensor: torch.Tensor, clips: list[int]) -> torch.Tensor:
    """The prefixes of ``clips`` ([clips, ...]), without a copy when they are all of them in order."""
    if clips == list(range(tensor.shape[0])):
        return tensor
    return tensor.index_select(0, torch.tensor(clips, device=tensor.device))


def attend(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    prefix: SharedPrefix,
    scaling: float | None = None,
    extras: dict[str, Any] | None = None,
) -> torch.Tensor:
    """Attention output [rows, q, heads, dim] of suffix queries over their clip's prefix and their own keys.

    query: [rows, heads, q, dim]; key/value: [rows, kv heads, suffix, dim] (the suffix only);
    ``attention_mask`` covers prefix + suffix keys (as the model built it). ``extras``: the other keyword
    arguments the layer passed to its attention; those that change the scores (:data:`UNSERVED_EXTRAS`)
    are refused rather than ignored.
    """
    layer = int(getattr(module, "layer_idx", -1))
    unserved = sorted(k for k in UNSERVED_EXTRAS if (extras or {}).get(k) is not None)
    if unserved:
        raise ModelError(f"decoder layer {layer} passes {', '.join(unserved)} to its attention: {USE_FULL}")
    keys_p, values_p = prefix.keys_values(layer)
    rows, heads, q_len, dim = query.shape
    kv_heads, p_len = key.shape[1], prefix.length
    k_len = p_len + key.shape[2]
    if attention_mask is not None and attention_mask.shape[-1] != k_len:
        raise ModelError(
            f"decoder layer {layer}: the attention mask covers {attention_mask.shape[-1]} keys, the shared "
            f"prefix and the suffix {k_len}: {USE_FULL}"
        )
    scale = scaling if scaling is not None else dim**-0.5
    allowed = allowed_keys(attention_mask, rows, q_len, k_len, query.device)
    out = torch.empty(rows, q_len, heads, value.shape[-1], dtype=query.dtype, device=query.device)
    for members, clips in _split(prefix, rows):
        g = len(clips)
        q = _blocks(_take(query, members), g, kv_heads)  # [g, kv, n, per, q, d]
        own_k = _blocks(_take(key, members), g, kv_heads)[:, :, :, 0]  # [g, kv, n, suffix, d]
        own_v = _blocks(_take(value, members), g, kv_heads)[:, :, :, 0]
        ok = _mask_blocks(_take(allowed, members), g, kv_heads)
        on_prefix, on_suffix = _scores(q, _prefix_of(keys_p, clips), own_k, scale)
        on_prefix_ok = ok[..., :p_len]
        if not bool(on_prefix_ok.all()):  # only sliding windows hide prefix keys from suffix queries
            on_prefix.masked_fill_(~on_prefix_ok, float("-inf"))
        on_suffix.masked_fill_(~ok[..., p_len:], float("-inf"))
        top = torch.maximum(on_prefix.amax(-1, keepdim=True), on_suffix.amax(-1, keepdim=True))
        top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))  # a query with no key at all
        w_prefix, w_suffix = on_prefix.sub_(top).exp_(), on_suffix.sub_(top).exp_()  # fresh tensors
        total = (w_prefix.sum(-1, keepdim=True) + w_suffix.sum(-1, keepdim=True)).clamp_min(1e-30)
        _, kv, n, per, _, _ = w_prefix.shape
        mixed = torch.matmul(
            w_prefix.reshape(g, kv, n * per * q_len, p_len), _prefix_of(values_p, clips).float()
        ).view(g, kv, n, per, q_len, -1)
        mixed = (mixed + torch.matmul(w_suffix, own_v.float()[:, :, :, None])) / total
        result = mixed.permute(0, 2, 4, 1, 3, 5).reshape(g * n, q_len, heads, -1).to(out.dtype)
        if members is None:
            out.copy_(result)
        else:
            out.index_copy_(0, members, result)
    return out


def probe_rows(
    query: torch.Tensor,
    key: torch.Tensor,
    attention_mask: torch.Tensor | None,
    query_index: torch.Tensor,
    prefix: SharedPrefix,
    layer: int,
    scaling: float,
) -> torch.Tensor:
    """Softmax attention of the selected query rows over prefix + suffix keys, [rows, heads, picked, keys]
    in float32 (the in-place counterpart of ``probe.attention_rows``)."""
    keys_p = prefix.keys_values(layer)[0]
    rows, heads, q_len, dim = query.shape
    kv_heads, p_len = key.shape[1], prefix.length
    k_len = p_len + key.shape[2]
    picked = query_index.shape[1]
    chosen = query.gather(2, query_index[:, None, :, None].expand(rows, heads, picked, dim))
    scores = torch.empty(rows, heads, picked, k_len, dtype=torch.float32, device=query.device)
    for members, clips in _split(prefix, rows):
        g = len(clips)
        own_k = _blocks(_take(key, members), g, kv_heads)[:, :, :, 0]
        on_prefix, on_suffix = _scores(
            _blocks(_take(chosen, members), g, kv_heads), _prefix_of(keys_p, clips), own_k, scaling
        )
        both = torch.cat([on_prefix, on_suffix], dim=-1)  # [g, kv, n, per, picked, keys]
        both = both.permute(0, 2, 1, 3, 4, 5).reshape(-1, heads, picked, k_len)
        if members is None:
            scores.copy_(both)
        else:
            scores.index_copy_(0, members, both)
    return picked_softmax(scores, attention_mask, query_index, q_len)


def picked_softmax(
    scores: torch.Tensor, attention_mask: torch.Tensor | None, query_index: torch.Tensor, q_len: int
) -> torch.Tensor:
    """Softmax over the keys of the picked query rows' scores [rows, heads, picked, keys], with the keys
    the attention mask (:func:`allowed_keys`) hides from those queries left out."""
    rows, _, picked, k_len = scores.shape
    allowed = allowed_keys(attention_mask, rows, q_len, k_len, scores.device)
    allowed = allowed.gather(2, query_index[:, None, :, None].expand(rows, allowed.shape[1], picked, k_len))
    return torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)


def forward_kwargs(prefix: SharedPrefix | None) -> dict[str, Any]:
    """The keyword argument that hands ``prefix`` to the attention of one forward (none without one)."""
    return {} if prefix is None else {PREFIX_KWARG: prefix}
