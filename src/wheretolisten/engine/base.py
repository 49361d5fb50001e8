"""The engine interface: for one clip, instruction vectors for queries and profiles for (vectors, α).

An engine runs batches of prompts on one clip with the settings of a :class:`~wheretolisten.settings.
Resolved` (steered layers and positions, read positions, probe layers). Its one primitive,
:meth:`Engine.run`, is what the implementations differ in (the shared-prefix session, or whole
prompts); vectors, profiles, per-layer Δ and prompted attention are built on it once, here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from ..prompts import as_queries
from ..readout import aggregate
from ..session import Run
from ..vectors import SteeringVector, mean_difference

if TYPE_CHECKING:
    from ..models.base import Adapter
    from ..settings import Resolved


@dataclass(frozen=True)
class Rows:
    """One logical batch of prompts on the clip: what each row reads, probes and is steered with."""

    prompts: Sequence[str]
    read_layers: Sequence[int] = ()
    probe_layers: Sequence[int] = ()
    vectors: Sequence[SteeringVector | None] | None = None
    alphas: Sequence[float] | None = None

    def chunk(self, which: slice) -> Rows:
        """The rows ``which`` of this batch."""
        return Rows(
            self.prompts[which],
            self.read_layers,
            self.probe_layers,
            None if self.vectors is None else self.vectors[which],
            None if self.alphas is None else list(self.alphas)[which],
        )


@dataclass
class VectorPass:
    """Pass 1 for some queries: their instruction vectors and the unsteered, prompted attention."""

    vectors: list[SteeringVector]
    #: Attention under each query's first instructed prompt ("Listen for {query}."), no steering.
    prompted: list[np.ndarray]
    #: Attention under the probe prompt computed alongside (the prompted baseline).
    prompted_base: np.ndarray
    #: The batch they came from (None: gathered from several), each query's instructed rows in it and the
    #: neutral rows: :meth:`Engine.instruction_vector` rebuilds a vector from some of the templates.
    run: Run | None = None
    queries: list[str] = field(default_factory=list)
    query_rows: list[list[int]] = field(default_factory=list)
    neutral_rows: list[int] = field(default_factory=list)


class Engine(ABC):
    """Prompts on one clip: vectors for queries, attention profiles for steering vectors and strengths."""

    name: ClassVar[str]

    def __init__(self, adapter: Adapter, clip: np.ndarray, config: Resolved) -> None:
        self.adapter = adapter
        self.clip = clip
        self.config = config

    def run(
        self,
        prompts: Sequence[str],
        read_layers: Sequence[int] = (),
        probe_layers: Sequence[int] = (),
        vectors: Sequence[SteeringVector | None] | None = None,
        alphas: Sequence[float] | None = None,
    ) -> Run:
        """Run ``prompts`` on the clip in one logical batch.

        Residuals are read at ``config.read_positions`` of ``read_layers``; the last token's attention
        to the audio is probed at ``probe_layers``; row i is steered with ``vectors[i]`` (None: not) at
        ``config.positions`` of ``config.layers`` with strength ``alphas[i]``.
        """
        return self.run_rows(Rows(prompts, read_layers, probe_layers, vectors, alphas))

    @abstractmethod
    def run_rows(self, rows: Rows) -> Run:
        """:meth:`run` of ``rows``: the one primitive the engines implement."""

    def derive(self, config: Resolved) -> Engine:
        """An engine of the same kind for the same clip with other settings (e.g. other steered layers)."""
        return type(self)(self.adapter, self.clip, config)

    # ---- built on run --------------------------------------------------------------------------------
    def time_axis(self, n_tokens: int) -> np.ndarray:
        """Start time in seconds of each audio token of this clip."""
        return self.adapter.time_axis(n_tokens)

    def profile(self, run: Run, row: int, layers: Sequence[int] | None = None) -> np.ndarray:
        """Row ``row``'s attention over the audio, aggregated over ``layers`` (default: the probe layers)."""
        chosen = list(self.config.probe_layers if layers is None else layers)
        stacked = torch.stack([run.attention[layer][row] for layer in chosen])[:, :, None, :]
        # Tokens of the encoder's padding past the clip's end (if the family keeps any) are left out.
        covered = self.adapter.clip_audio_tokens(self.clip.size)
        if covered is not None:
            stacked = stacked[..., :covered]
        return aggregate(stacked, self.config.normalize)

    def vectors(self, queries: Sequence[str], prompted: bool = True) -> VectorPass:
        """One batch: the probe prompt, the neutral prompts and every query's instructed prompts.

        Each query's vector is the mean over paraphrases of (instructed − neutral) residuals; with
        ``prompted`` the same batch gives the unsteered attention under the first instructed prompt.
        """
        prompts, query_rows = self.vector_prompts(queries, prompted)
        cfg = self.config
        run = self.run(prompts, cfg.layers, cfg.probe_layers if prompted else ())
        return self.vector_pass(run, queries, query_rows, prompted)

    def vector_prompts(self, queries: Sequence[str], prompted: bool) -> tuple[list[str], list[list[int]]]:
        """The prompts of :meth:`vectors` (probe prompt if ``prompted``, neutral, then every query's
        instructed ones) and each query's rows among them."""
        cfg = self.config
        queries = as_queries(queries)  # the same refusal as every entry point's, for direct engine callers
        prompts = [cfg.prompt, *cfg.neutral_templates] if prompted else list(cfg.neutral_templates)
        query_rows: list[list[int]] = []
        for q in queries:
            start = len(prompts)
            prompts.extend(t.format(query=q) for t in cfg.instructed_templates)
            query_rows.append(list(range(start, len(prompts))))
        return prompts, query_rows

    def vector_pass(
        self, run: Run, queries: Sequence[str], query_rows: list[list[int]], prompted: bool
    ) -> VectorPass:
        """The vectors (and prompted attention) from the run of :meth:`vector_prompts`' prompts."""
        first = 1 if prompted else 0  # the probe prompt's row: the prompted baseline
        neutral_rows = list(range(first, first + len(self.config.neutral_templates)))
        base = self.profile(run, 0) if prompted else np.zeros(0)
        found = VectorPass([], [], base, run, list(queries), query_rows, neutral_rows)
        for i, rows in enumerate(query_rows):
            found.vectors.append(self.instruction_vector(found, i))
            found.prompted.append(self.profile(run, rows[0]) if prompted else np.zeros(0))
        return found

    def instruction_vector(
        self, found: VectorPass, index: int, templates: Sequence[int] | None = None
    ) -> SteeringVector:
        """Query ``index`` of ``found``: the mean over its instructed prompts (all, or the template indices
        ``templates``) of (instructed − neutral) residuals. Every instruction vector is built here."""
        if found.run is None:
            raise ValueError("this vector pass holds no batch to build vectors from")
        rows = found.query_rows[index]
        chosen = rows if templates is None else [rows[t] for t in templates]
        meta = self.vector_metadata(found.queries[index], templates)
        return mean_difference(found.run.residual, chosen, found.neutral_rows, meta)

    def contrast_vector(self, plus: str, minus: str, metadata: dict[str, Any]) -> SteeringVector:
        """(``plus`` − ``minus``) residuals of two prompts on this clip, at the steered layers."""
        return mean_difference(self.residual([plus, minus]), [0], [1], metadata)

    def vector_metadata(self, query: str, templates: Sequence[int] | None = None) -> dict[str, Any]:
        """What a saved instruction vector records about how it was built (from ``templates``: all)."""
        cfg = self.config
        instructed = list(cfg.instructed_templates)
        return {
            "kind": "instruction",
            "model": self.adapter.name,
            "family": self.adapter.family,
            "query": query,
            "positions": cfg.read_positions.value,
            "instructed_templates": instructed if templates is None else [instructed[t] for t in templates],
            "neutral_templates": list(cfg.neutral_templates),
        }

    def residual(
        self, prompts: Sequence[str], layers: Sequence[int] | None = None
    ) -> dict[int, torch.Tensor]:
        """Mean residuals at the read positions of ``layers`` (default: the steered layers), per prompt."""
        return self.run(prompts, list(self.config.layers if layers is None else layers)).residual

    def audio_vector(self, without: Engine, query: str | None = None) -> SteeringVector:
        """(this clip − the ``without`` clip) residuals under the probe prompt: an audio-contrast vector."""
        cfg = self.config
        present, absent = self.residual([cfg.prompt]), without.residual([cfg.prompt])
        acts = {layer: torch.cat([present[layer], absent[layer]]) for layer in cfg.layers}
        meta = {
            "kind": "audio",
            "model": self.adapter.name,
            "family": self.adapter.family,
            "query": query,
            "positions": cfg.read_positions.value,
            "prompt": cfg.prompt,
        }
        return mean_difference(acts, [0], [1], meta)

    def attention(self, prompts: Sequence[str]) -> list[np.ndarray]:
        """Unsteered attention profiles of ``prompts`` (aggregated over the probe layers)."""
        run = self.run(prompts, probe_layers=self.config.probe_layers)
        return [self.profile(run, i) for i in range(len(prompts))]

    def profiles(
        self, vectors: Sequence[SteeringVector], alphas: Sequence[float] | float | None = None
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """The unsteered probe row and one row per vector, steered with its α, from one batch.

        Base and steered rows are computed alike, so α = 0 gives a Δ of exactly zero.
        """
        run = self.probe_run(vectors, alphas, self.config.probe_layers)
        rows = [self.profile(run, i) for i in range(len(vectors) + 1)]
        return rows[0], rows[1:]

    def layer_deltas(self, vector: SteeringVector, alpha: float | None, layers: Sequence[int]) -> np.ndarray:
        """Δ of each of ``layers`` alone ([layers, tokens]); layers up to the first steered one are exactly
        zero."""
        run = self.probe_run([vector], alpha, layers)
        return np.stack([self.profile(run, 1, [layer]) - self.profile(run, 0, [layer]) for layer in layers])

    def probe_run(
        self, vectors: Sequence[SteeringVector], alphas: Sequence[float] | float | None, layers: Sequence[int]
    ) -> Run:
        """One batch: the unsteered probe row, then one row per vector steered with its α; attention probed
        at ``layers`` (aggregate any subset of them with :meth:`profile`)."""
        prompts, rows, values = self.probe_rows(vectors, alphas)
        return self.run(prompts, probe_layers=layers, vectors=rows, alphas=values)

    def probe_rows(
        self, vectors: Sequence[SteeringVector], alphas: Sequence[float] | float | None = None
    ) -> tuple[list[str], list[SteeringVector | None], list[float]]:
        """The rows of :meth:`probe_run`: the probe prompt unsteered, then once per vector with its α."""
        if alphas is None:
            alphas = self.config.alpha
        values = [float(alphas)] * len(vectors) if isinstance(alphas, (int, float)) else list(alphas)
        prompts = [self.config.prompt] * (len(vectors) + 1)
        return prompts, [None, *vectors], [0.0, *values]
