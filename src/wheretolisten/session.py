"""One clip, many prompts: compute the audio prefix once and run every prompt's suffix against its KV cache.

All prompts of a clip share everything up to the instruction: system turn, audio block (hundreds to
thousands of tokens). Steering at the last token (or inside the instruction) leaves that prefix untouched,
so the prefix's keys and values can be computed once and reused by the neutral, instructed and steered
prompts of every query. Only the short suffixes (instruction + assistant header) are run per prompt.

Steering that writes into the prefix (``audio``, ``text``, ``all`` positions) changes the prefix only from
the first steered layer on: below it the shared keys and values stay exact, so each steered row recomputes
the prefix from the cached hidden states entering that layer, not from the audio.

Sliding-window layers: the model's own cache keeps only the last ``window - 1`` keys of such a layer (and,
when layer 0 slides, reports the window as the past length). The prefix pass gets a cache of plain layers
instead, so every layer keeps every prefix key: the suffix pass sees the whole prefix on every layer, its
positions continue at the prefix length, and the model's sliding-window mask hides the keys outside each
query's window, exactly as in a whole prompt. :func:`check_prefix_cache` and a check on every probed row
refuse a cache or a pass that does not line up with the prefix, instead of reading shifted audio columns.

Depth: a session keeps the prefix's keys and values for its first ``depth`` decoder layers only (the prefix
pass stops once the deepest of them has stored its keys and values), and every suffix pass stops after the
deepest layer it reads or steers (:mod:`wheretolisten.depth`); a pass that needs deeper layers first
extends the prefix to every layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from transformers import DynamicCache

from .depth import KeysCache, needed_depth, run_to_depth
from .errors import ModelError, OptionError
from .models.base import cache_param
from .positions import SUFFIX_POSITIONS, Positions, PositionTable
from .prefix_attention import USE_FULL, SharedPrefix, forward_kwargs, suffix_cache
from .probe import PROBE_KWARG, ProbeRequest, install
from .settings import check_layers
from .steering import hook_layers, hooked, record_residual, row_alphas
from .vectors import SteeringVector

if TYPE_CHECKING:
    from .models.base import Adapter


@dataclass
class Run:
    """What one batch of prompts produced, per row (whole prompts or suffixes on a shared prefix alike)."""

    residual: dict[int, torch.Tensor]  # layer -> [rows, hidden]: mean output over the read positions
    attention: dict[int, torch.Tensor]  # layer -> [rows, heads, audio tokens]: last token's attention

    def rows(self, which: slice) -> Run:
        """The rows ``which`` of this run."""
        return Run(
            {k: v[which] for k, v in self.residual.items()}, {k: v[which] for k, v in self.attention.items()}
        )

    @staticmethod
    def chunked(n_rows: int, step: int, run: Callable[[slice], Run]) -> Run:
        """``run`` on consecutive chunks of at most ``step`` of ``n_rows`` rows, joined into one run."""
        parts = [run(slice(start, start + step)) for start in range(0, n_rows, step)]
        if len(parts) == 1:
            return parts[0]
        residual = {layer: torch.cat([p.residual[layer] for p in parts]) for layer in parts[0].residual}
        attention = {layer: torch.cat([p.attention[layer] for p in parts]) for layer in parts[0].attention}
        return Run(residual, attention)


@dataclass(frozen=True)
class _Plan:
    """What every chunk of one :meth:`ClipSession.run` reads, probes and steers (checked once)."""

    read_layers: list[int]
    read: Positions
    probe_layers: frozenset[int]
    steer: Positions
    steer_layers: list[int] | None  # sorted, unique, in range
    depth: int  # decoder layers the pass runs: up to the deepest it reads, probes or steers


KeysValues = list[tuple[torch.Tensor, torch.Tensor]]

#: Decoder attention kinds the session serves exactly (``Adapter.layer_types``); anything else is refused.
SERVED_LAYER_TYPES = frozenset({"full_attention", "sliding_attention"})


def check_prefix_cache(cache: Any, prefix_len: int, num_layers: int) -> KeysValues:
    """The first ``num_layers`` decoder layers' (keys, values) in ``cache``, each checked to hold all
    ``prefix_len`` prefix tokens.

    A cache that kept fewer (a sliding-window layer of the model's own cache) or lacks layers would shift
    the suffixes' positions and audio columns: it is refused (ModelError), never used.
    """
    layers = getattr(cache, "layers", None)
    if layers is None or len(layers) < num_layers:
        found = "no KV cache" if layers is None else f"a KV cache of {len(layers)} layers"
        raise ModelError(f"the prefix pass returned {found} for {num_layers} decoder layers: {USE_FULL}")
    out = []
    for index, layer in enumerate(layers[:num_layers]):
        keys, values = getattr(layer, "keys", None), getattr(layer, "values", None)
        if not (isinstance(keys, torch.Tensor) and isinstance(values, torch.Tensor)):
            raise ModelError(f"decoder layer {index} cached no keys for the prefix: {USE_FULL}")
        if keys.shape[-2] != prefix_len or values.shape[-2] != prefix_len:
            raise ModelError(
                f"decoder layer {index} ({type(layer).__name__}) kept {keys.shape[-2]} of the prefix's "
                f"{prefix_len} keys: {USE_FULL}"
            )
        out.append((keys, values))
    return out


#: Default memory for what one suffix pass adds per row: copies of the prefix's keys and values, or (read in
#: place) each row's attention scores over the prefix.
DEFAULT_CACHE_BUDGET_BYTES = 4 * 2**30
#: Suffix tokens assumed per row when bounding the in-place scores' memory (instructions are shorter).
SUFFIX_TOKENS_BOUND = 64


class ClipSession:
    """The shared audio prefix of one clip, computed once; run prompt suffixes against it.

    Suffix rows read the prefix's keys and values in place (``in_place``, the default:
    :mod:`wheretolisten.prefix_attention`), or from a copy per row (``in_place=False``, a plain KV cache:
    the reference the tests compare with). Rows are processed in chunks so that what each row adds (its
    copy, ~0.9 GB for a 10-min AF3 clip in bf16, or its attention scores over the prefix in place) stays
    within ``cache_budget_bytes``.

    Several clips of the same length (the windows of a long recording) can share one session: their
    prefixes run as one batch, and each suffix row names its clip (``run(..., clips=...)``).
    """

    def __init__(
        self,
        adapter: Adapter,
        clip: np.ndarray | Sequence[np.ndarray],
        cache_budget_bytes: int = DEFAULT_CACHE_BUDGET_BYTES,
        keep_hidden: Sequence[int] = (),
        depth: int | None = None,
        in_place: bool = True,
    ) -> None:
        """Run the prefix once; ``keep_hidden``: layers whose input states to keep for prefix steering;
        ``depth``: decoder layers whose keys and values to keep (None: all; deeper passes extend it);
        ``in_place``: suffix rows read the prefix without copies (False: a plain cache, copied per row)."""
        unserved = sorted(set(adapter.layer_types) - SERVED_LAYER_TYPES)
        if unserved:
            raise ModelError(f"{adapter.family} has {', '.join(unserved)} decoder layers: {USE_FULL}")
        self.adapter = adapter
        self.cache_budget_bytes = cache_budget_bytes
        self.in_place = in_place
        clips = [clip] if isinstance(clip, np.ndarray) else list(clip)
        if len({c.size for c in clips}) != 1:
            raise ValueError("the clips of one session must have the same number of samples")
        if len(clips) > 1 and keep_hidden:
            raise ValueError("steering inside the prefix runs one clip per session")
        self.clips = len(clips)
        install(adapter)
        first = adapter.encode(clips, ["A"] * len(clips))
        ids = first["input_ids"][0]
        if any(not torch.equal(row, ids) for row in first["input_ids"]):
            raise RuntimeError("clips of the same length gave different prompts")
        self.n_audio = int(adapter.audio_mask(first["input_ids"])[0].sum())
        self.prefix_len = adapter.instruction_span(ids)[0]
        self.prefix_ids = ids[: self.prefix_len]
        self.audio_columns = torch.nonzero(adapter.audio_mask(self.prefix_ids[None])[0]).squeeze(-1)
        if self.audio_columns.numel() != self.n_audio:
            raise RuntimeError("the shared prefix does not contain the whole audio block")
        self._cache_kwarg = cache_param(adapter.model.forward)
        self._inputs = {k: v for k, v in first.items() if k not in ("input_ids", "attention_mask")}
        self._hidden: dict[int, torch.Tensor] = {}
        kept = check_layers(adapter, keep_hidden) if keep_hidden else []
        self.depth = adapter.num_layers if depth is None else min(adapter.num_layers, max(1, depth))
        self.depth = max(self.depth, needed_depth(kept))
        self._fill_prefix(kept)
        self._suffixes: dict[str, list[int]] = {}

    def _fill_prefix(self, keep: Sequence[int]) -> None:
        """Run the prefix through ``self.depth`` layers and keep their keys and values (checked)."""
        # Plain cache layers, not the model's own (which truncates sliding-window layers): see the docstring.
        # The pass stops once the deepest kept layer has stored its keys and values (depth.KeysCache).
        given = KeysCache(self.depth)
        out = self._run_prefix(keep, given, self.depth)
        # A whole pass: the cache the model returns; a stopped one: the cache it filled.
        cache = given if out is None else getattr(out, "cache", None) or getattr(out, "past_key_values", None)
        self._layers = check_prefix_cache(cache, self.prefix_len, self.depth)
        self.prefix_bytes = (
            sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in self._layers)
            // self.clips
        )  # one clip's

    @torch.no_grad()
    def _run_prefix(self, keep: Sequence[int], cache: DynamicCache | None, depth: int | None = None) -> Any:
        """One forward over the prefix through ``depth`` layers (None: all), storing the hidden states
        entering each layer of ``keep``; the prefix's keys and values go into ``cache`` (None: no cache).
        Returns the model's output, or None when the pass stopped before the last layer."""
        handles = []
        for layer in keep:

            def hook(_module: torch.nn.Module, args: Any, kwargs: Any, layer: int = layer) -> None:
                hidden = args[0] if args else kwargs["hidden_states"]
                self._hidden[layer] = hidden.detach()

            handles.append(
                self.adapter.decoder_layers[layer].register_forward_pre_hook(hook, with_kwargs=True)
            )
        outputs = []
        try:
            with run_to_depth(self.adapter, depth):
                outputs.append(
                    self.adapter.model(
                        input_ids=self.prefix_ids[None].expand(self.clips, -1),
                        attention_mask=torch.ones_like(self.prefix_ids)[None].expand(self.clips, -1),
                        use_cache=cache is not None,
                        **({self._cache_kwarg: cache} if cache is not None else {}),
                        **self._inputs,
                    )
                )
        finally:
            for h in handles:
                h.remove()
        return outputs[0] if outputs else None

    def prefix_hidden(self, layer: int) -> torch.Tensor:
        """The prefix's hidden states entering decoder ``layer``, [1, prefix_len, hidden].

        Kept from the first pass when the layer was named in ``keep_hidden``; otherwise one more prefix
        forward computes them (and they are kept from then on).
        """
        if layer not in self._hidden:
            self._run_prefix([layer], None, layer + 1)
        return self._hidden[layer]

    def suffix_ids(self, prompt: str) -> list[int]:
        """Token ids of ``prompt`` after the shared prefix (checked against the prefix; tokenized once)."""
        if prompt not in self._suffixes:
            ids = self.adapter.prompt_ids(prompt, self.n_audio)
            if ids[: self.prefix_len] != self.prefix_ids.tolist():
                raise RuntimeError(f"prompt {prompt!r} does not start with the shared prefix")
            self._suffixes[prompt] = list(ids[self.prefix_len :])
        return self._suffixes[prompt]

    def _cache(self, rows: int, layers: int | None = None, clips: torch.Tensor | None = None) -> DynamicCache:
        """The shared prefix's keys and values for ``rows`` rows (row i: clip ``clips[i]``, default 0), for
        the first ``layers`` layers (all)."""
        cache = DynamicCache()
        for idx, (keys, values) in enumerate(self._layers[:layers]):
            if self.clips == 1:
                cache.update(keys.expand(rows, -1, -1, -1), values.expand(rows, -1, -1, -1), idx)
            else:
                where = torch.zeros(rows, dtype=torch.long) if clips is None else clips
                where = where.to(keys.device)
                cache.update(keys.index_select(0, where), values.index_select(0, where), idx)
        return cache

    def _bytes_per_row(self, copied: bool) -> int:
        """Memory one suffix row adds to a pass: its copy of the prefix's keys and values (``copied``), else
        its attention scores over the prefix read in place (float32, every head, up to
        :data:`SUFFIX_TOKENS_BOUND` tokens, with the exponentials)."""
        if copied:
            return max(1, self.prefix_bytes)
        heads = int(getattr(self.adapter.text_config, "num_attention_heads", 1) or 1)
        return 3 * 4 * heads * SUFFIX_TOKENS_BOUND * self.prefix_len

    @property
    def row_bytes(self) -> int:
        """Memory one suffix row adds to a pass that steers after the prefix (in place or copied)."""
        return self._bytes_per_row(not self.in_place)

    @property
    def rows_per_pass(self) -> int:
        """How many suffix rows one pass runs, given the cache budget (at least one)."""
        return max(1, self.cache_budget_bytes // self.row_bytes)

    def run(
        self,
        prompts: Sequence[str],
        read_layers: Sequence[int] = (),
        read_positions: str | Positions = Positions.LAST,
        probe_layers: Sequence[int] = (),
        vectors: Sequence[SteeringVector | None] | None = None,
        alpha: float | Sequence[float] = 0.0,
        steer_positions: str | Positions = Positions.LAST,
        steer_layers: Sequence[int] | None = None,
        clips: Sequence[int] | None = None,
    ) -> Run:
        """Run the suffixes of ``prompts`` on top of the cached prefix, in right-padded batches.

        ``vectors[i]`` (if given) is added to row i at ``steer_positions`` with strength ``alpha`` (one
        for all rows or one per row). ``clips[i]``: the clip of the session row i reads (default 0).
        Results are the same whatever the chunking (each row only attends to its prefix and itself).
        """
        read_spec, steer_spec = Positions.parse(read_positions), Positions.parse(steer_positions)
        if read_spec not in SUFFIX_POSITIONS:
            raise OptionError(
                f"reading at positions {read_spec.value!r} touches the shared prefix; use the full path"
            )
        if not prompts:
            raise OptionError("a pass needs at least one prompt")
        which = torch.tensor([0] * len(prompts) if clips is None else list(clips), dtype=torch.long)
        if which.numel() != len(prompts) or bool((which < 0).any() | (which >= self.clips).any()):
            raise ValueError(f"clips must name one of the session's {self.clips} clips per prompt")
        alphas = row_alphas(alpha, None, len(prompts))
        if vectors is not None and steer_spec not in SUFFIX_POSITIONS:
            # Every chunk recomputes the prefix from the same first layer, unsteered rows included, so
            # that base and steered rows are computed alike whichever chunk they land in.
            present = [v for v in vectors if v is not None]
            if present and steer_layers is None:
                steer_layers = sorted({x for v in present for x in v.layers})
        probed = frozenset(check_layers(self.adapter, probe_layers)) if probe_layers else frozenset()
        steering_at = None if steer_layers is None else check_layers(self.adapter, steer_layers)
        depth = needed_depth(read_layers, probed, steering_at if vectors is not None else None)
        if depth > self.depth:  # a pass deeper than the kept prefix: keep every layer from now on
            self.depth = self.adapter.num_layers
            self._fill_prefix([])
        plan = _Plan(list(read_layers), read_spec, probed, steer_spec, steering_at, max(1, depth))
        # Steering inside the prefix recomputes it per row (a copy each), in place or not.
        copied = not self.in_place or (vectors is not None and steer_spec not in SUFFIX_POSITIONS)
        step = max(1, self.cache_budget_bytes // self._bytes_per_row(copied))
        return Run.chunked(
            len(prompts),
            step,
            lambda chunk: self._run_batch(
                plan, prompts[chunk], None if vectors is None else vectors[chunk], alphas[chunk], which[chunk]
            ),
        )

    @torch.no_grad()
    def _run_batch(
        self,
        plan: _Plan,
        prompts: Sequence[str],
        vectors: Sequence[SteeringVector | None] | None,
        alphas: torch.Tensor,
        clips: torch.Tensor,
    ) -> Run:
        """One right-padded batch of suffixes on top of the cached prefix (row i on clip ``clips[i]``)."""
        adapter = self.adapter
        read_layers, read_spec, steer_spec, steer_layers = (
            plan.read_layers,
            plan.read,
            plan.steer,
            plan.steer_layers,
        )
        suffixes = [self.suffix_ids(p) for p in prompts]
        rows, width = len(suffixes), max(len(s) for s in suffixes)
        pad = adapter.tokenizer.pad_token_id or 0
        ids = torch.full((rows, width), pad, dtype=torch.long)
        mask = torch.zeros((rows, width), dtype=torch.long)
        for i, s in enumerate(suffixes):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        device = adapter.device
        ids, mask = ids.to(device), mask.to(device)
        table = PositionTable.for_suffixes(adapter, self.prefix_ids, suffixes, mask)
        full_mask = torch.cat([torch.ones(rows, self.prefix_len, dtype=torch.long, device=device), mask], 1)

        steered = vectors is not None and any(v is not None for v in vectors)
        if vectors is not None and steer_layers is not None and steer_spec not in SUFFIX_POSITIONS:
            if self.clips > 1:
                raise OptionError("steering inside the prefix runs one clip per session")
            cache = self._steered_prefix(list(vectors), alphas, steer_spec, steer_layers, plan.depth)
            shared = None
        elif self.in_place:  # the cache holds the suffixes only; attention reads the prefix from `shared`
            cache, shared = (
                suffix_cache(self.prefix_len, len(self._layers)),
                SharedPrefix(self._layers, clips, self.prefix_len),
            )
        else:
            cache, shared = self._cache(rows, clips=clips), None
        residual: dict[int, torch.Tensor] = {}
        steer_mask = table.mask(steer_spec)
        request = ProbeRequest(plan.probe_layers, table.last[:, None])
        with hooked() as handles:  # removed on exit, also when a hook's arguments are refused
            if read_layers:
                handles.extend(record_residual(adapter, read_layers, table.mask(read_spec), residual))
            if steered and bool(steer_mask.any()):
                assert vectors is not None
                handles.extend(
                    hook_layers(adapter, list(vectors), alphas.to(device), steer_mask, steer_layers)
                )
            with run_to_depth(adapter, plan.depth):
                adapter.model(
                    input_ids=ids,
                    attention_mask=full_mask,
                    use_cache=True,
                    **adapter.suffix_inputs(self.prefix_len, ids),
                    **{self._cache_kwarg: cache, PROBE_KWARG: request},
                    **forward_kwargs(shared),
                )
        seen = {layer: r.shape[-1] for layer, r in request.rows.items()}
        if any(n != self.prefix_len + width for n in seen.values()):  # the audio columns would shift
            raise ModelError(
                f"the suffix pass saw {seen} keys (layer: keys) for {self.prefix_len} prefix and {width} "
                f"suffix tokens: {USE_FULL}"
            )
        cols = self.audio_columns.to(device)
        attention = {layer: r[:, :, 0, :][..., cols].float().cpu() for layer, r in request.rows.items()}
        return Run({k: v.cpu() for k, v in residual.items()}, attention)

    def _steered_prefix(
        self,
        vectors: list[SteeringVector | None],
        alphas: torch.Tensor,
        spec: Positions,
        steer_layers: Sequence[int],
        depth: int,
    ) -> DynamicCache:
        """A cache whose prefix is steered per row: shared below the first steered layer, recomputed above.

        Steering adds to decoder-layer outputs, so layers below the first steered one see the unsteered
        prefix; from that layer on, each row runs the prefix again, from the kept hidden states, with its
        own vector added at ``spec``'s prefix positions, up to layer ``depth`` - 1. Unsteered rows go
        through the same recomputation, so base and steered rows of one batch are computed alike (α = 0
        gives identical rows).
        """
        adapter = self.adapter
        chosen = list(steer_layers)  # sorted and checked once per run (ClipSession.run)
        start, rows = chosen[0], len(vectors)
        cache = self._cache(rows, start)
        prefix = self.prefix_ids[None].expand(rows, -1)
        where = PositionTable.for_prompts(adapter, prefix, torch.ones_like(prefix)).mask(spec)
        hidden = self.prefix_hidden(start)  # before the hooks: it may run the (unsteered) prefix again
        handles = hook_layers(adapter, vectors, alphas.to(where.device), where, chosen)
        try:
            with run_to_depth(adapter, depth):
                adapter.run_decoder(start, hidden.expand(rows, -1, -1), cache)
        finally:
            for h in handles:
                h.remove()
        return cache
