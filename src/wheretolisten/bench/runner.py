"""The benchmark runner: every scene unit not yet in the results file, appended atomically, resumable.

Rows are keyed by (scene, query, condition) and carry what they were computed from: the condition's
config hash, the model, and the scene's content hash. A rerun skips the units already in the file and
refuses rows that disagree (another configuration, model, or an edited scene), so a results file never
mixes runs. Each unit's rows are appended in one write with fsync: a kill leaves at most a torn last
line, dropped on resume.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..errors import WTLError
from ..progress import progress
from ..records import Appender, ResultRow, check_resumable, check_row, open_jsonl, row_key
from ..records.rows import RowKey
from ..records.runs import FIRST_KEY
from ..scenes import Scene
from . import controls  # noqa: F401  (registers the control conditions)
from .conditions import get_conditions
from .config import BenchConfig, config_hash
from .inputs import query_intervals, select_events
from .unit import Unit, outcome_fields, row_settings

if TYPE_CHECKING:
    from ..models.base import Adapter


def run_unit(
    adapter: Adapter | None,
    scene: Scene,
    manifest_dir: str | os.PathLike[str],
    conditions: Sequence[str],
    config: BenchConfig,
    scene_hash: str | None = None,
) -> list[ResultRow]:
    """All rows of one scene: every selected query × every condition. No side effects (no writes).

    ``adapter`` may be None when every condition is model-free. Rows come in (query, condition) order.
    """
    conds = get_conditions(check_needs_model(adapter is not None, conditions))
    cfg = config.resolved(adapter)
    unit = Unit(adapter, scene, Path(manifest_dir), cfg)
    events = select_events(scene, cfg)
    indices = [k for k, _ in events]
    token_s = adapter.token_s if adapter is not None else 0.04
    outcomes, seconds = {}, {}
    for cond in conds:
        started, shared_before = time.perf_counter(), unit.shared_s
        outcomes[cond.name] = cond.run(unit, indices)
        # Pass-1 time is charged evenly to the conditions that share it (below), not to the first caller.
        seconds[cond.name] = time.perf_counter() - started - (unit.shared_s - shared_before)
    sharing = [c.name for c in conds if c.shares_pass1]
    share = unit.shared_s / max(1, len(sharing))
    rows: list[ResultRow] = []
    made_with = adapter.computed_with if adapter is not None else None  # weights and precision
    for i, (index, event) in enumerate(events):
        gt = (event.onset_s, event.offset_s)
        for cond in conds:
            settings = row_settings(cond, cfg)
            elapsed = (seconds[cond.name] + (share if cond.name in sharing else 0.0)) / len(events)
            row: dict[str, Any] = {
                "scene_id": scene.scene_id,
                "query": event.query,
                "label": event.label,
                "condition": cond.name,
                "control": cond.control,
                "gt": [event.onset_s, event.offset_s],
                "gt_active": [event.active[0], event.active[1]],
                **({"gt_events": several} if (several := query_intervals(scene, index)) else {}),
                **outcome_fields(outcomes[cond.name][i], gt, cfg, token_s, unit),
                "duration_s": scene.duration_s,
                "position": event.position,
                "event_index": index,
                "is_target": index == scene.target,
                "model": adapter.name if cond.needs_model and adapter is not None else None,
                **({"computed_with": made_with} if cond.needs_model and made_with is not None else {}),
                "config_hash": config_hash(cond.name, settings),
                "config": settings,
                "elapsed_s": round(elapsed, 4),
            }
            if scene_hash is not None:
                row["scene_hash"] = scene_hash
            rows.append(cast(ResultRow, row))
    return rows


@dataclass
class RunReport:
    """What a run did: units computed, skipped, retried and failed, rows written, rows present at the end."""

    units_run: int
    units_skipped: int
    rows_written: int
    rows_total: int
    seconds: float
    #: Resubmissions of units whose worker died (Ray runs; 0 locally).
    units_retried: int = 0
    #: (scene id, why) of units given up on: not in the results file, computed again by a rerun.
    failed: list[tuple[str, str]] = field(default_factory=list)


def unit_keys(scene: Scene, conditions: Sequence[str], config: BenchConfig) -> list[RowKey]:
    """The row keys one unit produces."""
    return [(scene.scene_id, e.query, c) for _, e in select_events(scene, config) for c in conditions]


def run_hashes(conditions: Sequence[str], config: BenchConfig) -> dict[str, str]:
    """Config hash of each condition of a run (``config`` resolved)."""
    return {c.name: config_hash(c.name, row_settings(c, config)) for c in get_conditions(conditions)}


def check_needs_model(has_model: bool, conditions: Sequence[str]) -> list[str]:
    """The validated condition names; refuses conditions that need a model when there is none."""
    conds = get_conditions(conditions)
    needing = [c.name for c in conds if c.needs_model]
    if not has_model and needing:
        raise WTLError(f"conditions {', '.join(needing)} need a model (model=)")
    return [c.name for c in conds]


@dataclass(frozen=True)
class Todo:
    """One scene unit still to compute: the conditions with rows missing, and the keys to keep."""

    scene: Scene
    conditions: list[str]
    missing: frozenset[RowKey]
    scene_hash: str


class RunStore:
    """The one writer of a run: the units still to do; each unit's missing rows appended in one write."""

    def __init__(self, append: Appender, present: int, todo: list[Todo], skipped: int) -> None:
        self._append = append
        self._present = present
        self.todo = todo
        self.skipped = skipped
        self.units_run = 0
        self._started = time.perf_counter()

    def write(self, unit: Todo, rows: Sequence[ResultRow]) -> None:
        """Append the rows of ``unit`` that are not in the file yet (one write, fsync'd)."""
        self._append([r for r in rows if row_key(r) in unit.missing])
        self.units_run += 1

    def report(self, retried: int = 0, failed: Sequence[tuple[str, str]] = ()) -> RunReport:
        """What the run did so far."""
        written = self._append.written
        seconds = time.perf_counter() - self._started
        return RunReport(
            self.units_run, self.skipped, written, self._present + written, seconds, retried, list(failed)
        )


@contextlib.contextmanager
def open_run(
    out: str | os.PathLike[str],
    conditions: Sequence[str],
    config: BenchConfig,
    model: str | None,
    scenes: Sequence[Scene],
    manifest_dir: str | os.PathLike[str],
    computed_with: Mapping[str, Any] | None = None,
) -> Iterator[RunStore]:
    """Open (or resume) a results file and select the units not in it yet; ``config`` resolved.

    Rows present (by scene, query, condition) are skipped; a torn last line is dropped first; rows of
    another configuration, model (its weights and precision: ``computed_with``) or scene content are
    refused before anything is computed.
    """
    conds = get_conditions(conditions)
    names = [c.name for c in conds]
    root = Path(manifest_dir)
    scene_hashes = {s.scene_id: s.content_hash(root) for s in scenes}
    model_free = frozenset(c.name for c in conds if not c.needs_model)
    hashes = run_hashes(names, config)
    with open_jsonl(out, check_row, FIRST_KEY, "results file") as (append, existing):
        done = check_resumable(existing, Path(out), hashes, model, scene_hashes, model_free, computed_with)
        todo: list[Todo] = []
        for scene in scenes:
            missing = frozenset(k for k in unit_keys(scene, names, config) if k not in done)
            if missing:
                wanted = [c for c in names if any(k[2] == c for k in missing)]
                todo.append(Todo(scene, wanted, missing, scene_hashes[scene.scene_id]))
        yield RunStore(append, len(existing), todo, len(scenes) - len(todo))


def run_bench(
    adapter: Adapter | None,
    scenes: Sequence[Scene],
    manifest_dir: str | os.PathLike[str],
    conditions: Sequence[str],
    config: BenchConfig,
    out: str | os.PathLike[str],
    show_progress: bool = True,
) -> RunReport:
    """Run every scene unit not already in ``out`` here, appending each unit's rows atomically (see
    :func:`open_run` for resuming)."""
    names = check_needs_model(adapter is not None, conditions)
    cfg = config.resolved(adapter)
    model = adapter.name if adapter is not None else None
    made_with = adapter.computed_with if adapter is not None else None
    with open_run(out, names, cfg, model, scenes, manifest_dir, made_with) as store:
        with progress(len(store.todo), "bench", show_progress, unit="scene") as advance:
            for unit in store.todo:
                scene = unit.scene
                store.write(
                    unit, run_unit(adapter, scene, manifest_dir, unit.conditions, cfg, unit.scene_hash)
                )
                advance(1, scene.scene_id)
        return store.report()
