"""The benchmark commands' shared flags, and the refusal of a flag that no chosen condition reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import OptionError
from ..settings import MAX_SHIFTS
from .groups import DetectionFlags, DeviceFlags
from .options import MkdirOpt, ProgressOpt, Queries

if TYPE_CHECKING:
    from ..bench.conditions import Condition
    from ..bench.config import BenchConfig
    from ..models.base import Adapter

ScenesArg = Annotated[
    Path, typer.Argument(help="Scenes: a manifest.jsonl or the directory holding one.", metavar="SCENES")
]
ConditionsOpt = Annotated[
    str,
    typer.Option(
        help="Comma-separated: steered, prompted, audio-steered, direct, random, energy; audio-steered-norm; "
        "controls random-vector, wrong-query, absent-class, neutral-contrast, negative; for every "
        "occurrence in long recordings: steered-det, energy-det, random-det."
    ),
]
QueriesOpt = Annotated[
    Queries,
    typer.Option(help="target (the scene's target event), all (every event) or classes (each class once)."),
]
QueryOpt = Annotated[
    str | None,
    typer.Option("--query", "-q", help="Ask this query (an event's query text or label) in every scene."),
]
SeedOpt = Annotated[int, typer.Option(help="Seed of the random baseline and of the event-erasing noise.")]
ShardOpt = Annotated[
    str | None,
    typer.Option(
        help="Run shard K of N (e.g. 0/4): every N-th scene from K, so N processes or GPUs split the work."
    ),
]
ALL_CONDITIONS = "steered,prompted,audio-steered,direct,random,energy"


@dataclass(frozen=True)
class AskFlags:
    """--conditions, --queries and --query: the conditions run on each scene and which of its events are
    asked (``bench run`` and ``bench sweep`` take them together)."""

    conditions: ConditionsOpt = ALL_CONDITIONS
    queries: QueriesOpt = Queries.target
    query: QueryOpt = None


@dataclass(frozen=True)
class BenchFlags(DeviceFlags):
    """--device/--dtype, --progress and --mkdir: where a benchmark command runs the model, whether it
    shows progress, whether it makes missing folders of its outputs (every benchmark command takes them)."""

    progress: ProgressOpt = True
    mkdir: MkdirOpt = False


def check_read(
    conds: list[Condition],
    given: dict[str, Any],
    found_by: DetectionFlags,
    model: str | None,
    bench: BenchFlags,
    adapter: Adapter | None = None,
) -> None:
    """Refuse options that no chosen condition would read (their rows would not differ): the settings of
    ``bench_config`` (``bench.conditions.unread_options``, on the settings resolved for ``adapter``, which
    the conditions that run a model need: without it only model-free conditions are checked), the
    model's flags when no condition runs a model, --save-profiles when none has a profile."""
    from dataclasses import replace

    from ..bench.conditions import unread_options
    from ..bench.config import bench_config

    needs_model = any(c.needs_model for c in conds)
    unused = []
    if adapter is not None or not needs_model:

        def other(**changes: Any) -> BenchConfig:
            return bench_config(**{**given, **changes}).resolved(adapter)

        # Each given option set to another value: an option some condition reads changes its settings.
        layers, alpha, shifts, prompt = (given[k] for k in ("layers", "alpha", "shifts", "direct_prompt"))
        found = found_by
        variants = {
            "--layers": layers is not None and other(layers=[0] if layers != [0] else [1]),
            "--alpha": alpha is not None and other(alpha=alpha / 2 if alpha else 1.0),
            "--shifts": shifts is not None and other(shifts=shifts % MAX_SHIFTS + 1),
            "--positions": given["positions"] is not None
            and other(positions="all" if given["positions"] != "all" else "last"),
            "--direct-prompt": prompt is not None and other(direct_prompt=prompt + " Answer."),
            "--seed": given["seed"] != 0 and other(seed=given["seed"] + 1),
            "--segment-s": found.segment_s is not None
            and other(windows=replace(found, segment_s=found.segment_s + 1).windows()),
            "--overlap-s": found.overlap_s is not None
            and other(windows=replace(found, overlap_s=found.overlap_s / 2).windows()),
            "--top-k": found.top_k is not None
            and other(detection=replace(found, top_k=found.top_k + 1).detection()),
            "--min-score": found.min_score is not None
            and other(detection=replace(found, min_score=found.min_score + 1).detection()),
            "--min-gap-s": found.min_gap_s is not None
            and other(detection=replace(found, min_gap_s=found.min_gap_s + 1).detection()),
            "--detect-edges/--no-detect-edges": found.detect_edges is not None
            and other(detection=replace(found, detect_edges=not found.detect_edges).detection()),
        }
        unused += unread_options(conds, other(), {k: v for k, v in variants.items() if v})
    if adapter is None and not needs_model:
        flags = (("--model", model is not None), ("--device", bench.device != "auto"))
        unused += [flag for flag, set_ in (*flags, ("--dtype", bench.dtype != "auto")) if set_]
    if adapter is None and given["save_profiles"] and not any(c.has_profile for c in conds):
        unused.append("--save-profiles")
    if unused:
        names = ", ".join(c.name for c in conds)
        raise OptionError(
            f"{', '.join(unused)}: not read by the conditions {names}; drop it or add one that is"
        )
