"""The whole-prompt engine: every prompt runs with its audio, in batches (the reference path).

Needed for the eager probe and for reads at positions inside the audio prefix; otherwise the shared
engine gives the same readouts (tested) at a fraction of the cost.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from ..positions import PositionTable
from ..probe import temporal_attention
from ..session import Run
from ..steering import hook_layers, hooked, record_residual, row_alphas
from .base import Engine, Rows

#: Whole prompts per forward pass (each carries the clip's full audio block).
ROWS_PER_PASS = 8


class FullEngine(Engine):
    """Encodes (clip, prompt) pairs and runs them whole, with residual, steering and probe hooks."""

    name: ClassVar[str] = "full"

    def run_rows(self, rows: Rows) -> Run:
        return Run.chunked(len(rows.prompts), ROWS_PER_PASS, lambda chunk: self._run_batch(rows.chunk(chunk)))

    @torch.no_grad()
    def _run_batch(self, rows: Rows) -> Run:
        adapter, cfg = self.adapter, self.config
        prompts, read_layers, probe_layers = rows.prompts, rows.read_layers, rows.probe_layers
        vectors, alphas = rows.vectors, rows.alphas
        batch = adapter.encode([self.clip] * len(prompts), list(prompts))
        table = PositionTable.for_prompts(adapter, batch["input_ids"], batch["attention_mask"])
        residual: dict[int, torch.Tensor] = {}
        attention: dict[int, torch.Tensor] = {}
        with hooked() as handles:  # removed on exit, also when a hook's arguments are refused
            if read_layers:
                handles.extend(
                    record_residual(adapter, read_layers, table.mask(cfg.read_positions), residual)
                )
            if vectors is not None and any(v is not None for v in vectors):
                strengths = row_alphas(list(alphas) if alphas is not None else 0.0, None, len(prompts))
                mask = table.mask(cfg.positions)
                handles.extend(hook_layers(adapter, vectors, strengths.to(mask.device), mask, cfg.layers))
            if probe_layers:
                probed = temporal_attention(adapter, batch, probe_layers, method=cfg.probe)
                stacked = torch.stack(
                    [r[:, :, 0, :] for r in probed.per_row], dim=1
                )  # [layers, rows, heads, audio]
                attention = {layer: stacked[i] for i, layer in enumerate(probed.layers)}
            else:
                adapter.model(**batch, use_cache=False)
        return Run({k: v.cpu() for k, v in residual.items()}, attention)
