"""Steering vectors: build them from instructions or from audio, apply them with hooks, save them.

A vector is a per-layer direction in the language model's residual stream (the output of a decoder
layer). Reading (for building) and writing (for steering) use the same hook point and the same
:class:`~wheretolisten.positions.Positions` specification.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .errors import DataError, ModelError
from .positions import Positions, position_mask

if TYPE_CHECKING:
    from .models.base import Adapter

#: Instructed paraphrases; ``{query}`` is the sound to listen for ("the dog barking").
INSTRUCTED_TEMPLATES = (
    "Listen for {query}.",
    "Focus on the sound of {query}.",
    "Pay attention to {query}.",
)
#: Neutral prompts with no target; the same instruction slot, no sound named.
NEUTRAL_TEMPLATES = (
    "Describe the audio.",
    "What do you hear?",
    "Listen to the recording.",
)
#: The prompt the model reads while being steered (and for the unsteered baseline).
PROBE_PROMPT = "Describe the audio."

FORMAT_VERSION = 1


def check_layers(adapter: Adapter, layers: Sequence[int]) -> list[int]:
    """Sorted unique decoder-layer indices, each within range."""
    n = adapter.num_layers
    out = sorted(set(int(x) for x in layers))
    if not out:
        raise ModelError("no layers given")
    bad = [x for x in out if not 0 <= x < n]
    if bad:
        raise ModelError(f"layer {bad[0]} is out of range: the language model has layers 0..{n - 1}")
    return out


@dataclass
class SteeringVector:
    """One direction per decoder layer plus the metadata needed to reproduce it."""

    directions: dict[int, torch.Tensor]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def layers(self) -> list[int]:
        return sorted(self.directions)

    def norms(self) -> dict[int, float]:
        return {layer: float(v.float().norm()) for layer, v in self.directions.items()}

    def scaled(self, factor: float) -> SteeringVector:
        """The same directions times ``factor`` (metadata kept): α folded into the vector."""
        return SteeringVector({k: v * factor for k, v in self.directions.items()}, dict(self.metadata))

    def cosine(self, other: SteeringVector) -> dict[int, float]:
        """Cosine similarity with ``other`` at every layer both have (NaN where a direction is zero)."""
        out = {}
        for layer in sorted(set(self.directions) & set(other.directions)):
            a, b = self.directions[layer].float().ravel(), other.directions[layer].float().ravel()
            if a.numel() != b.numel():
                raise DataError(f"layer {layer}: the vectors have {a.numel()} and {b.numel()} dimensions")
            denom = float(a.norm() * b.norm())
            out[layer] = float(a @ b) / denom if denom > 0 else float("nan")
        return out

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``path`` (.safetensors) and ``path.json``; both atomically, no pickle."""
        target = Path(path)
        if target.suffix != ".safetensors":
            target = target.with_suffix(".safetensors")
        target.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            **self.metadata,
            "layers": self.layers,
            "norms": self.norms(),
            "format_version": FORMAT_VERSION,
        }
        tensors = {
            f"layer.{layer}": v.detach().float().cpu().contiguous() for layer, v in self.directions.items()
        }
        header = {"wheretolisten": json.dumps(meta, sort_keys=True)}
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        os.close(fd)
        save_file(tensors, tmp, metadata=header)
        os.replace(tmp, target)
        _atomic_write_text(target.with_suffix(".json"), json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SteeringVector:
        """Read a vector written by :meth:`save` (the metadata travels inside the safetensors header)."""
        source = Path(path)
        if not source.exists():
            raise DataError(f"{source}: no such steering-vector file")
        try:
            from safetensors import safe_open

            with safe_open(str(source), framework="pt") as handle:
                header = handle.metadata() or {}
            tensors = load_file(str(source))
        except Exception as exc:
            raise DataError(f"{source}: not a readable safetensors file ({exc})") from None
        meta = json.loads(header.get("wheretolisten", "{}"))
        directions = {int(k.split(".", 1)[1]): v for k, v in tensors.items() if k.startswith("layer.")}
        return cls(directions, meta)


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


# ---- reading ------------------------------------------------------------------------------------


def _layer_output(output: Any) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


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
            hidden = _layer_output(output).float()
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
    mask = position_mask(adapter, batch["input_ids"], batch["attention_mask"], positions)
    captured: dict[int, torch.Tensor] = {}
    handles = record_residual(adapter, layers, mask, captured)
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

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> SteeringHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def hook_layers(
    adapter: Adapter,
    vectors: Sequence[SteeringVector | None],
    weight: torch.Tensor,
    layers: Sequence[int] | None = None,
    decode_scale: torch.Tensor | None = None,
) -> list[Any]:
    """Hook decoder layers to add ``weight[b, t] * direction_b`` to the residual stream; return the handles.

    ``vectors`` has one entry per batch row (None: that row is not steered); ``weight`` is [rows, prompt_len].
    On forward passes of another length (generation), rows get ``decode_scale[b]`` at every new position.
    """
    n_rows, prompt_len = weight.shape
    if len(vectors) != n_rows:
        raise ValueError(f"got {len(vectors)} vectors for {n_rows} rows")
    present = [v for v in vectors if v is not None]
    wanted = layers if layers is not None else sorted({layer for v in present for layer in v.layers})
    chosen = check_layers(adapter, wanted)
    for v in present:
        missing = [layer for layer in chosen if layer not in v.directions]
        if missing:
            raise ModelError(f"the steering vector has no direction for layer {missing[0]}")
        sizes = {int(v.directions[layer].numel()) for layer in chosen}
        if sizes != {adapter.hidden_size}:
            built_for = v.metadata.get("model", "another model")
            raise ModelError(
                f"the steering vector has {min(sizes)} dimensions but {adapter.name} has hidden size "
                f"{adapter.hidden_size}: it was built for {built_for}"
            )
    decode = decode_scale if decode_scale is not None else torch.zeros(n_rows, device=weight.device)

    handles = []
    for layer in chosen:
        zero = torch.zeros(adapter.hidden_size)
        directions = torch.stack([v.directions[layer].float() if v is not None else zero for v in vectors])

        def hook(
            _module: torch.nn.Module, _args: Any, output: Any, directions: torch.Tensor = directions
        ) -> Any:
            hidden = _layer_output(output)
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
            if isinstance(output, tuple):
                return (steered, *output[1:])
            return steered

        handles.append(adapter.decoder_layers[layer].register_forward_hook(hook))
    return handles


def add_steering(
    adapter: Adapter,
    vector: SteeringVector,
    alpha: float | Sequence[float],
    batch: dict[str, torch.Tensor],
    positions: str | Positions = Positions.LAST,
    rows: Sequence[bool] | torch.Tensor | None = None,
    layers: Sequence[int] | None = None,
) -> SteeringHandle:
    """Hook the decoder layers so that forward passes on ``batch`` (and generation from it) are steered.

    ``alpha`` may be one value or one per row; ``rows`` selects which batch rows are steered (default all).
    Positions are resolved per row from the real tokens, so left or right padding gives the same result
    as running each row alone. During generation with a KV cache, the newly generated tokens are
    steered when ``positions`` is last, text or all (they are text, and each is the newest last token).
    """
    spec = Positions.parse(positions)
    input_ids, attention_mask = batch["input_ids"], batch["attention_mask"]
    n_rows = input_ids.shape[0]
    mask = position_mask(adapter, input_ids, attention_mask, spec)
    row_sel = (
        torch.ones(n_rows, dtype=torch.bool) if rows is None else torch.as_tensor(rows, dtype=torch.bool)
    )
    alphas = torch.as_tensor(alpha, dtype=torch.float32).reshape(-1)
    if alphas.numel() == 1:
        alphas = alphas.expand(n_rows)
    if alphas.numel() != n_rows:
        raise ValueError(f"got {alphas.numel()} alphas for {n_rows} rows")
    scale = (alphas * row_sel.float()).to(input_ids.device)  # [B]
    decode = scale if spec.continues_in_generation else torch.zeros_like(scale)
    handles = hook_layers(
        adapter, [vector] * n_rows, mask.float() * scale[:, None], layers or vector.layers, decode
    )
    return SteeringHandle(handles)


@contextmanager
def steering(
    adapter: Adapter,
    vector: SteeringVector,
    alpha: float | Sequence[float],
    batch: dict[str, torch.Tensor],
    positions: str | Positions = Positions.LAST,
    rows: Sequence[bool] | torch.Tensor | None = None,
) -> Iterator[SteeringHandle]:
    """``with steering(adapter, vec, alpha, batch): model(**batch)``: hooks removed on exit, even on error."""
    handle = add_steering(adapter, vector, alpha, batch, positions, rows)
    try:
        yield handle
    finally:
        handle.remove()


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
) -> tuple[str, str]:
    """Greedy answers to ``prompt`` on ``audio`` without and with steering, from one batch of two rows.

    Steering holds through generation with the KV cache (new tokens are steered when ``positions`` is
    last, text or all), so the second answer is what the steered model says.
    """
    batch = adapter.encode([audio, audio], [prompt, prompt])
    pad = adapter.tokenizer.pad_token_id
    with add_steering(adapter, vector, alpha, batch, positions, rows=[False, True], layers=layers):
        out = adapter.model.generate(
            **batch, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, pad_token_id=pad
        )
    new = out[:, batch["input_ids"].shape[1] :]
    base, steered = (str(adapter.tokenizer.decode(row, skip_special_tokens=True)).strip() for row in new)
    return base, steered


# ---- building -----------------------------------------------------------------------------------


def _mean_difference(
    acts: dict[int, torch.Tensor], positive: slice, negative: slice
) -> dict[int, torch.Tensor]:
    return {layer: a[positive].mean(0) - a[negative].mean(0) for layer, a in acts.items()}


def instruction_vector(
    adapter: Adapter,
    audio: np.ndarray,
    query: str,
    layers: Sequence[int],
    positions: str | Positions = Positions.LAST,
    instructed: Sequence[str] = INSTRUCTED_TEMPLATES,
    neutral: Sequence[str] = NEUTRAL_TEMPLATES,
) -> SteeringVector:
    """Mean over paraphrases of (instructed − neutral) residual activations on the same audio."""
    prompts_pos = [t.format(query=query) for t in instructed]
    prompts_neg = list(neutral)
    batch = adapter.encode([audio] * (len(prompts_pos) + len(prompts_neg)), prompts_pos + prompts_neg)
    acts = read_residual(adapter, batch, layers, positions)
    k = len(prompts_pos)
    directions = _mean_difference(acts, slice(0, k), slice(k, None))
    meta = {
        "kind": "instruction",
        "model": adapter.name,
        "family": adapter.family,
        "query": query,
        "positions": Positions.parse(positions).value,
        "instructed_templates": list(instructed),
        "neutral_templates": list(neutral),
    }
    return SteeringVector(directions, meta)


def audio_vector(
    adapter: Adapter,
    audio_with: np.ndarray,
    audio_without: np.ndarray,
    layers: Sequence[int],
    prompt: str = PROBE_PROMPT,
    positions: str | Positions = Positions.LAST,
    query: str | None = None,
) -> SteeringVector:
    """(with event − without event) residual activations under the same prompt: audio-based steering."""
    batch = adapter.encode([audio_with, audio_without], [prompt, prompt])
    acts = read_residual(adapter, batch, layers, positions)
    directions = _mean_difference(acts, slice(0, 1), slice(1, 2))
    meta = {
        "kind": "audio",
        "model": adapter.name,
        "family": adapter.family,
        "query": query,
        "positions": Positions.parse(positions).value,
        "prompt": prompt,
    }
    return SteeringVector(directions, meta)
