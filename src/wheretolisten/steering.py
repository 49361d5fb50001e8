"""Reading and writing the residual stream with forward hooks: removable handles and a context manager.

Reading (to build a vector) and writing (to steer) use the same hook point, the output of a decoder
layer, and the same :class:`~wheretolisten.positions.PositionTable`. Steering has one representation:
per batch row a vector (or none) and a strength α, added at the positions of a boolean mask; new tokens
of a generation are steered when the positions continue in generation (last, text, all).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .audio import check_min_length
from .errors import OptionError
from .positions import Positions, PositionTable
from .prompts import MAX_PROMPT_CHARS, PROBE_PROMPT, check_text_length
from .settings import (
    MAX_ALPHA,
    check_alpha,
    check_alphas,
    check_layers,
)
from .vectors import SteeringVector

if TYPE_CHECKING:
    from .models.base import Adapter


@contextmanager
def hooked() -> Iterator[list[Any]]:
    """A list for hook handles whose every handle is removed on exit, also when registering a later hook
    failed (a refused argument must not leave earlier hooks on the model)."""
    handles: list[Any] = []
    try:
        yield handles
    finally:
        for h in handles:
            h.remove()


# ---- reading ------------------------------------------------------------------------------------


def record_residual(
    adapter: Adapter, layers: Sequence[int], mask: torch.Tensor, out: dict[int, torch.Tensor]
) -> list[Any]:
    """Hook ``layers`` to store, per row, the mean decoder-layer output over ``mask``'s positions in ``out``.

    Returns the handles; the caller runs the forward pass and removes them.
    """
    weights = mask.float() / mask.float().sum(dim=1, keepdim=True).clamp_min(1.0)
    handles = []
    for layer in check_layers(adapter, layers):

        def hook(_module: torch.nn.Module, _args: Any, output: Any, layer: int = layer) -> None:
            hidden = adapter.layer_hidden(output).float()
            out[layer] = torch.einsum("bt,btd->bd", weights.to(hidden.device), hidden)

        handles.append(adapter.decoder_layers[layer].register_forward_hook(hook))
    return handles


@torch.no_grad()
def read_residual(
    adapter: Adapter,
    batch: dict[str, torch.Tensor],
    layers: Sequence[int],
    positions: str | Positions = Positions.LAST,
) -> dict[int, torch.Tensor]:
    """Mean residual-stream activation (decoder-layer output) over the selected positions, per row.

    Returns layer -> [batch, hidden] in float32.
    """
    table = PositionTable.for_prompts(adapter, batch["input_ids"], batch["attention_mask"])
    captured: dict[int, torch.Tensor] = {}
    handles = record_residual(adapter, layers, table.mask(positions), captured)
    try:
        adapter.model(**batch, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return captured


# ---- writing ------------------------------------------------------------------------------------


class SteeringHandle:
    """Removable hooks that add ``alpha * direction`` to the residual stream; also a context manager."""

    def __init__(self, handles: list[Any]) -> None:
        self._handles = handles
        self._removed = self._in_block = False

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        self._removed = True

    def __enter__(self) -> SteeringHandle:
        """The hooks are live from :func:`add_steering` on; a handle serves one with-block: entering it
        again (nested, or after its block removed the hooks) would steer nothing, so it is refused."""
        if self._in_block or self._removed:
            state = "is already in a with-block" if self._in_block else "was removed (its with-block ended)"
            raise OptionError(f"this steering handle {state}; call steering(...) again for another")
        self._in_block = True
        return self

    def __exit__(self, *exc: object) -> None:
        self._in_block = False
        self.remove()


def _check_entries(vectors: Sequence[object]) -> None:
    """Each row's entry is a SteeringVector or None (a path or a tensor is one OptionError line, not an
    AttributeError from inside the hooks)."""
    for i, v in enumerate(vectors):
        if v is not None and not isinstance(v, SteeringVector):
            raise OptionError(
                f"vector {i} must be a SteeringVector (SteeringVector.load(path)) or None, got "
                f"{type(v).__name__}"
            )


def _check_vectors(adapter: Adapter, vectors: Sequence[SteeringVector | None], layers: list[int]) -> None:
    for v in vectors:
        if v is not None:
            v.check_fits(adapter, layers)


def hook_layers(
    adapter: Adapter,
    vectors: Sequence[SteeringVector | None],
    alphas: torch.Tensor,
    mask: torch.Tensor,
    layers: Sequence[int] | None = None,
    in_generation: bool = False,
    prompt_ids: torch.Tensor | None = None,
) -> list[Any]:
    """Hook decoder layers to add ``alphas[b] * direction_b`` at ``mask[b, t]``; return the handles.

    ``vectors`` has one entry per row (None: not steered). On forward passes longer than the mask
    (generation without a cache) or shorter (a cached decoding step), the new positions get
    ``alphas[b]`` when ``in_generation``, else nothing. ``prompt_ids`` (the batch the mask was made
    from): every forward of the model must run those prompts (then any generated tokens) or be a decoding
    step on a filled cache; another batch is refused (OptionError) instead of being steered at positions
    that are not its own. A decoding step is checked by its rows and a cache at least as long as the
    prompts (its contents are not compared), a forward given embeddings only by their rows and length.
    """
    n_rows, prompt_len = mask.shape
    if len(vectors) != n_rows or alphas.numel() != n_rows:
        raise OptionError(f"got {len(vectors)} vectors and {alphas.numel()} alphas for {n_rows} rows")
    if not bool(torch.isfinite(alphas).all()) or bool((alphas.abs() > MAX_ALPHA).any()):
        raise OptionError(f"steering strengths α must be finite numbers within ±{MAX_ALPHA:g}")
    _check_entries(vectors)
    present = [v for v in vectors if v is not None]
    wanted = layers if layers is not None else sorted({layer for v in present for layer in v.layers})
    chosen = check_layers(adapter, wanted)
    _check_vectors(adapter, vectors, chosen)
    alphas = alphas.float().to(mask.device)
    weight = mask.float() * alphas[:, None]
    decode = alphas if in_generation else torch.zeros_like(alphas)

    handles = []
    for layer in chosen:
        zero = torch.zeros(adapter.hidden_size)
        directions = torch.stack([v.directions[layer].float() if v is not None else zero for v in vectors])

        def hook(
            _module: torch.nn.Module, _args: Any, output: Any, directions: torch.Tensor = directions
        ) -> Any:
            hidden = adapter.layer_hidden(output)
            if hidden.shape[0] != n_rows:
                raise RuntimeError(
                    f"steering was set up for a batch of {n_rows} rows but the model ran {hidden.shape[0]}"
                )
            seq = hidden.shape[1]
            if seq == prompt_len:
                w = weight
            elif seq > prompt_len:  # generation without a cache: the prompt again, then generated text
                w = torch.cat([weight, decode[:, None].expand(n_rows, seq - prompt_len)], dim=1)
            else:  # a decoding step with a KV cache: every new position is generated text
                w = decode[:, None].expand(n_rows, seq)
            d = directions.to(device=hidden.device, dtype=hidden.dtype)
            steered = hidden + w.to(hidden.device, hidden.dtype)[:, :, None] * d[:, None, :]
            return adapter.with_layer_hidden(output, steered)

        handles.append(adapter.decoder_layers[layer].register_forward_hook(hook))
    if prompt_ids is not None:
        handles.append(adapter.model.register_forward_pre_hook(_same_batch(prompt_ids), with_kwargs=True))
    return handles


def _expanded(ids: torch.Tensor, prompt_ids: torch.Tensor) -> bool:
    """Whether ``ids`` are ``prompt_ids`` with each row repeated k > 1 times (beams, several sequences)."""
    rows, length = prompt_ids.shape
    if ids.dim() != 2 or ids.shape[0] <= rows or ids.shape[0] % rows or ids.shape[1] < length:
        return False
    repeated = prompt_ids.to(ids.device).repeat_interleave(ids.shape[0] // rows, dim=0)
    return bool(torch.equal(ids[:, :length], repeated))


def _same_batch(prompt_ids: torch.Tensor) -> Any:
    """A model pre-hook refusing a forward that neither starts with ``prompt_ids`` nor continues a cache."""
    rows, length = prompt_ids.shape

    def other(ran: str) -> OptionError:
        return OptionError(
            f"this steering handle was set up for another batch ({rows} prompts of {length} tokens; "
            f"the model ran {ran}): call steering(...) with the batch you run"
        )

    def check(_module: torch.nn.Module, args: Any, kwargs: Any) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        past = kwargs.get("cache", kwargs.get("past_key_values"))  # transformers' new name, then the old
        getter = getattr(past, "get_seq_length", None)
        cached = int(getter()) if callable(getter) else 0
        if cached > 0:  # a decoding step: new tokens after the prompts already in the cache
            new = ids if isinstance(ids, torch.Tensor) else kwargs.get("inputs_embeds")
            if cached < length or (isinstance(new, torch.Tensor) and new.shape[0] != rows):
                steps = rows if new is None else new.shape[0]
                raise other(f"a decoding step of {steps} rows on a cache of {cached} tokens")
            return
        if not isinstance(ids, torch.Tensor):  # embeddings only: their rows and length, not their tokens
            embeds = kwargs.get("inputs_embeds")
            if isinstance(embeds, torch.Tensor) and (embeds.shape[0] != rows or embeds.shape[1] < length):
                raise other(f"embeddings of {tuple(embeds.shape[:2])}")
            return
        same = (
            ids.dim() == 2
            and ids.shape[0] == rows
            and ids.shape[1] >= length
            and torch.equal(ids[:, :length], prompt_ids.to(ids.device))
        )
        if not same and _expanded(ids, prompt_ids):
            raise OptionError(
                f"the model ran {ids.shape[0]} rows for the {rows} prompts this steering handle was set up "
                "for (beam search or several sequences per prompt?): steer generation with num_beams=1 "
                "and one sequence per prompt"
            )
        if not same:
            raise other(str(tuple(ids.shape)))

    return check


def row_alphas(
    alpha: float | Sequence[float], rows: Sequence[bool] | torch.Tensor | None, n_rows: int
) -> torch.Tensor:
    """Per-row strengths: ``alpha`` (one or one per row), zero where ``rows`` is False."""
    if isinstance(alpha, torch.Tensor):
        alpha = alpha.detach().cpu().numpy()
    alphas = torch.as_tensor(check_alphas(alpha, "alpha"), dtype=torch.float32)  # "1" and True were taken
    if alphas.numel() == 1:
        alphas = alphas.expand(n_rows)
    if alphas.numel() != n_rows:
        raise OptionError(f"got {alphas.numel()} alphas for {n_rows} rows")
    return alphas * row_selection(rows, n_rows).float()


def row_selection(rows: object, n_rows: int) -> torch.Tensor:
    """Which rows are steered: all for None, else exactly one bool per row (Python's or numpy's, in a
    list, a 1-D numpy array or a bool tensor). Anything else is one OptionError line: ``[False]`` would
    broadcast to every row, a number or a string would be read as its truth value, and a wrong length
    would fail deep inside torch."""
    if rows is None:
        return torch.ones(n_rows, dtype=torch.bool)
    flags: list[object] | None = None
    if isinstance(rows, torch.Tensor):
        flags = rows.detach().cpu().tolist() if rows.dtype == torch.bool and rows.ndim == 1 else None
    elif isinstance(rows, np.ndarray):
        flags = rows.tolist() if rows.dtype == np.bool_ and rows.ndim == 1 else None
    elif isinstance(rows, Sequence) and not isinstance(rows, (str, bytes)):
        flags = list(rows) if all(isinstance(f, (bool, np.bool_)) for f in rows) else None
    if flags is None or len(flags) != n_rows:
        raise OptionError(f"rows must be one True or False per row ({n_rows} here), got {rows!r}")
    return torch.tensor([bool(f) for f in flags], dtype=torch.bool)


def add_steering(
    adapter: Adapter,
    vector: SteeringVector | Sequence[SteeringVector | None],
    alpha: float | Sequence[float],
    batch: dict[str, torch.Tensor],
    positions: str | Positions = Positions.LAST,
    rows: Sequence[bool] | torch.Tensor | None = None,
    layers: Sequence[int] | None = None,
) -> SteeringHandle:
    """Hook the decoder layers so that forward passes on ``batch`` (and generation from it) are steered.

    ``vector``: one for every row, or one per row (None: unsteered); ``alpha``: one strength or one per
    row; ``rows``: which rows are steered (default all). Positions are resolved per row from the real
    tokens, so left or right padding gives the same result as running each row alone. During generation
    with a KV cache, new tokens are steered when ``positions`` is last, text or all.
    """
    try:
        spec = Positions.parse(positions)
    except ValueError as exc:
        raise OptionError(str(exc)) from None
    if not isinstance(batch, Mapping) or "input_ids" not in batch or "attention_mask" not in batch:
        raise OptionError("batch must be adapter.encode(...)'s output, with input_ids and attention_mask")
    if vector is None or (not isinstance(vector, SteeringVector) and not isinstance(vector, (list, tuple))):
        raise OptionError(f"vector must be a SteeringVector or one per row, got {type(vector).__name__}")
    input_ids, attention_mask = batch["input_ids"], batch["attention_mask"]
    n_rows = input_ids.shape[0]
    vectors = [vector] * n_rows if isinstance(vector, SteeringVector) else list(vector)
    _check_entries(vectors)
    mask = PositionTable.for_prompts(adapter, input_ids, attention_mask).mask(spec)
    alphas = row_alphas(alpha, rows, n_rows).to(input_ids.device)
    first = next((v for v in vectors if v is not None), None)
    chosen = layers if layers is not None else (first.layers if first is not None else None)
    return SteeringHandle(
        hook_layers(adapter, vectors, alphas, mask, chosen, spec.continues_in_generation, input_ids)
    )


#: ``with steering(adapter, vec, alpha, batch): model(**batch)``: :func:`add_steering`'s handle is a context
#: manager that removes the hooks on exit, even on error.
steering = add_steering


@torch.no_grad()
def steered_generate(
    adapter: Adapter,
    audio: np.ndarray,
    vector: SteeringVector,
    alpha: float,
    prompt: str = PROBE_PROMPT,
    positions: str | Positions = Positions.LAST,
    layers: Sequence[int] | None = None,
    max_new_tokens: int = 64,
    steer_new_tokens: bool = True,
) -> tuple[str, str]:
    """Greedy answers to ``prompt`` on ``audio`` without and with steering, from one batch of two rows.

    With ``steer_new_tokens`` (and positions last, text or all) steering holds through generation with
    the KV cache; without it only the prompt is steered and the answer is the model's own continuation.
    """
    if not isinstance(vector, SteeringVector):  # e.g. a path: load it first
        raise OptionError(
            f"vector must be a SteeringVector (SteeringVector.load(path)), got {type(vector).__name__}"
        )
    if not isinstance(prompt, str) or not prompt.strip():
        raise OptionError(f"prompt must be a non-empty string, got {prompt!r}")
    check_text_length(prompt, MAX_PROMPT_CHARS, "the prompt")
    if (
        isinstance(max_new_tokens, bool)
        or not isinstance(max_new_tokens, (int, np.integer))
        or max_new_tokens < 1
    ):
        raise OptionError(f"max_new_tokens must be a whole number >= 1, got {max_new_tokens!r}")
    alpha = check_alpha(alpha)
    try:
        spec = Positions.parse(positions)
    except ValueError as exc:
        raise OptionError(f"positions: {exc}") from None
    chosen = check_layers(adapter, layers if layers is not None else vector.layers)
    vector.check_fits(adapter, chosen)
    if getattr(audio, "ndim", None) == 1:  # the front ends fail inside on a clip of 0 or 1 samples
        check_min_length(audio.shape[0] / adapter.sample_rate, "audio")
    batch = adapter.encode([audio, audio], [prompt, prompt])
    pad = adapter.tokenizer.pad_token_id
    mask = PositionTable.for_prompts(adapter, batch["input_ids"], batch["attention_mask"]).mask(spec)
    alphas = row_alphas(alpha, [False, True], 2).to(mask.device)
    in_generation = steer_new_tokens and spec.continues_in_generation
    handles = hook_layers(adapter, [vector, vector], alphas, mask, chosen, in_generation, batch["input_ids"])
    with SteeringHandle(handles):
        out = adapter.model.generate(
            **batch, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, pad_token_id=pad
        )
    new = out[:, batch["input_ids"].shape[1] :]
    base, steered = (str(adapter.tokenizer.decode(row, skip_special_tokens=True)).strip() for row in new)
    return base, steered
