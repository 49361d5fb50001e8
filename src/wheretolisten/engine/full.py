"""The whole-prompt engine: every prompt runs with its audio, in batches (the reference path).

Needed for the eager probe and for reads at positions inside the audio prefix; otherwise the shared
engine gives the same readouts (tested) at a fraction of the cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from ..positions import PositionTable
from ..probe import temporal_attention
from ..steering import hook_layers, record_residual, row_alphas
from ..vectors import SteeringVector
from .base import Engine, Run

#: Whole prompts per forward pass (each carries the clip's full audio block).
ROWS_PER_PASS = 8


class FullEngine(Engine):
    """Encodes (clip, prompt) pairs and runs them whole, with residual, steering and probe hooks."""

    name: ClassVar[str] = "full"

    def run(
        self,
        prompts: Sequence[str],
        read_layers: Sequence[int] = (),
        probe_layers: Sequence[int] = (),
        vectors: Sequence[SteeringVector | None] | None = None,
        alphas: Sequence[float] | None = None,
    ) -> Run:
        parts = []
        for start in range(0, len(prompts), ROWS_PER_PASS):
            chunk = slice(start, start + ROWS_PER_PASS)
            parts.append(
                self._run_batch(
                    prompts[chunk],
                    read_layers,
                    probe_layers,
                    None if vectors is None else vectors[chunk],
                    None if alphas is None else list(alphas)[chunk],
                )
            )
        return Run(
            {layer: torch.cat([p.residual[layer] for p in parts]) for layer in parts[0].residual},
            {layer: torch.cat([p.attention[layer] for p in parts]) for layer in parts[0].attention},
        )

    @torch.no_grad()
    def _run_batch(
        self,
        prompts: Sequence[str],
        read_layers: Sequence[int],
        probe_layers: Sequence[int],
        vectors: Sequence[SteeringVector | None] | None,
        alphas: Sequence[float] | None,
    ) -> Run:
        adapter, cfg = self.adapter, self.config
        batch = adapter.encode([self.clip] * len(prompts), list(prompts))
        table = PositionTable.for_prompts(adapter, batch["input_ids"], batch["attention_mask"])
        residual: dict[int, torch.Tensor] = {}
        handles: list[Any] = []
        if read_layers:
            handles.extend(record_residual(adapter, read_layers, table.mask(cfg.read_positions), residual))
        if vectors is not None and any(v is not None for v in vectors):
            strengths = row_alphas(list(alphas) if alphas is not None else 0.0, None, len(prompts))
            mask = table.mask(cfg.positions)
            handles.extend(hook_layers(adapter, vectors, strengths.to(mask.device), mask, cfg.layers))
        attention: dict[int, torch.Tensor] = {}
        try:
            if probe_layers:
                probed = temporal_attention(adapter, batch, probe_layers, method=cfg.probe)
                rows = torch.stack(
                    [r[:, :, 0, :] for r in probed.per_row], dim=1
                )  # [layers, rows, heads, audio]
                attention = {layer: rows[i] for i, layer in enumerate(probed.layers)}
            else:
                adapter.model(**batch, use_cache=False)
        finally:
            for h in handles:
                h.remove()
        return Run({k: v.cpu() for k, v in residual.items()}, attention)
