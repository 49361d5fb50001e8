"""Choose steering layers and α on a dev split, then run the conditions on the held-out split only.

Grid points are appended to ``sweep.jsonl`` (resumable); ties are broken by mean IoU, then grid order
(:func:`best_point`, which the report uses too). Every line carries the sweep's key (:class:`SweepKey`:
the dev scenes' content and the sweep's options): a folder holds one sweep, and a rerun with other
options or on changed scenes is refused before anything is computed (:func:`check_resume`).
Sharded (``K/N``), each process evaluates every N-th grid point; once all are in, each runs every N-th
held-out scene.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError, OptionError
from ..progress import Advance, progress
from ..records import ResultRow, open_jsonl, read_jsonl
from ..records.layout import RESULTS_NAME
from ..records.runs import other_model
from ..records.sweep import SWEEP_FIRST_KEY, SWEEP_NAME
from ..scenes import Scene
from ..settings import LocalizeConfig, check_layers, default_probe_layers, resolve
from ..shards import Shard, shard_files, shard_of, shard_path
from .conditions import REGISTRY, parse_conditions
from .config import BenchConfig, config_hash
from .runner import RunReport, run_bench, run_unit

if TYPE_CHECKING:
    from ..models.base import Adapter


def split_dev_test(scenes: Sequence[Scene], dev_fraction: float) -> tuple[list[Scene], list[Scene]]:
    """Deterministic split by a hash of the scene id (stable when scenes are added); both parts non-empty."""
    if not 0.0 < dev_fraction < 1.0:
        raise OptionError(f"dev_fraction must be between 0 and 1, got {dev_fraction}")
    if len(scenes) < 2:
        raise DataError("a sweep needs at least 2 scenes (one for dev, one for test)")
    ranked = sorted(scenes, key=lambda s: hashlib.sha256(s.scene_id.encode()).hexdigest())
    n_dev = min(len(scenes) - 1, max(1, round(dev_fraction * len(scenes))))
    dev_ids = {s.scene_id for s in ranked[:n_dev]}
    return [s for s in scenes if s.scene_id in dev_ids], [s for s in scenes if s.scene_id not in dev_ids]


@dataclass
class SweepReport:
    """The grid results on dev, the chosen setting, and the held-out run.

    With a shard whose grid share is done while other shards' grid points are still missing, ``best``
    and ``run`` are None and ``missing`` counts the points to wait for.
    """

    grid: list[dict[str, Any]]
    best: dict[str, Any] | None
    dev_ids: list[str]
    test_ids: list[str]
    run: RunReport | None
    missing: int = 0
    results_path: Path | None = None
    #: Units resubmitted over the whole sweep, grid and held-out split (on Ray; 0 locally).
    units_retried: int = 0


def _grid_point(
    layers: Sequence[int], alpha: float, config: BenchConfig, adapter: Adapter
) -> tuple[BenchConfig, str]:
    """One grid point's settings: the given layers and α, probe layers every layer after the first steered
    one (so grid points differ only in what the grid varies), the rest as the run's."""
    given = config.localize.given() if isinstance(config.localize, LocalizeConfig) else {}
    chosen = check_layers(adapter, layers)
    loc = LocalizeConfig(
        **{
            **given,
            "layers": chosen,
            "alpha": alpha,
            "probe_layers": default_probe_layers(adapter.num_layers, chosen),
        }
    )
    cfg = replace(config, localize=resolve(adapter, loc))
    return cfg, config_hash("steered", REGISTRY["steered"].settings(cfg))


@dataclass(frozen=True)
class SweepKey:
    """What every grid line of a sweep is computed from besides its model and its point's steered settings
    (``config_hash``): the dev scenes, by id and content, and the sweep's options (the grid, the queries,
    positions, seed and every other benchmark setting). Lines of another key are never resumed into."""

    #: Hash of the dev scenes' ids and content hashes (events and audio): scenes made again with the same
    #: ids are other scenes.
    scenes: str
    #: Hash of the layers grid, the α values and the run's settings as given (``BenchConfig``).
    options: str


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _dev_hash(dev: Sequence[Scene]) -> str:
    """The dev split by scene id (its content is in :attr:`SweepKey.scenes`)."""
    return _short_hash("\n".join(s.scene_id for s in dev))


def sweep_key(plan: SweepPlan, dev: Sequence[Scene]) -> SweepKey:
    """The key of the plan's grid lines on the ``dev`` scenes (needs no model: reads the dev audio)."""
    scenes = "\n".join(f"{s.scene_id} {s.content_hash(plan.manifest_dir)}" for s in dev)
    options = {
        "layers_grid": [[int(x) for x in layers] for layers in plan.layers_grid],
        "alphas": [float(a) for a in plan.alphas],
        "config": asdict(plan.config),
    }
    return SweepKey(_short_hash(scenes), _short_hash(json.dumps(options, sort_keys=True, default=str)))


def _grid_lines(
    lines: Sequence[dict[str, Any]],
    path: Path,
    model: str | None,
    dev_hash: str,
    key: SweepKey | None,
    made_with: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Grid points already evaluated, by config hash; a line of another model (when given: its weights and
    precision where the line and ``made_with`` have them, else its name), dev split or sweep key is
    refused (one line naming what differs)."""
    out: dict[str, dict[str, Any]] = {}
    scenes, options = (key.scenes, key.options) if key is not None else (None, None)
    for i, line in enumerate(lines, start=1):
        if (other := other_model(line, model, made_with)) is not None:
            why = f"with {other}"
        elif line.get("dev_hash") != dev_hash:
            why = "on another dev split (other scene ids or dev fraction)"
        elif key is not None and "scenes_hash" not in line:
            why = "by an older version, which did not record its dev scenes' content and options"
        elif line.get("scenes_hash") != scenes:
            why = "on other dev scenes of the same ids (their events or audio changed since)"
        elif line.get("options_hash") != options:
            why = "with other sweep options (layers grid, alphas, queries, query, positions, seed, ...)"
        else:
            out[str(line.get("config_hash"))] = line
            continue
        raise DataError(
            f"{path}: line {i} was computed {why}; use another out folder, or the options and scenes it was "
            f"computed with"
        )
    return out


def _all_grid_lines(
    out: Path,
    model: str | None,
    dev_hash: str,
    key: SweepKey | None,
    made_with: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Grid points evaluated by any run or shard in ``out`` (sweep.jsonl and sweep.K-of-N.jsonl)."""
    found: dict[str, dict[str, Any]] = {}
    for path in shard_files(out / SWEEP_NAME):
        rows, _ = read_jsonl(path, first_key=SWEEP_FIRST_KEY, what="sweep file")
        found.update(_grid_lines(rows, path, model, dev_hash, key, made_with))
    return found


def _iou_rank(line: Mapping[str, Any]) -> float:
    iou = line.get("iou")
    if isinstance(iou, (int, float)) and not isinstance(iou, bool) and math.isfinite(iou):
        return float(iou)
    return -math.inf


def best_point(grid: Sequence[Mapping[str, Any]]) -> int:
    """Index of the setting a sweep chooses from its grid lines in grid order: the highest dev hit rate,
    ties broken by mean IoU, then by grid order (the one rule of ``bench sweep`` and of the report)."""
    if not grid:
        raise DataError("the sweep grid is empty: nothing to choose from")
    return max(range(len(grid)), key=lambda i: (float(grid[i]["hit_rate"]), _iou_rank(grid[i]), -i))


#: A grid point: its settings and the steered condition's config hash.
Point = tuple[BenchConfig, str]
#: Evaluates grid points on the dev scenes, advancing per scene; yields each point's rows once complete.
Evaluate = Callable[[list[Point], Advance], Iterator[tuple[BenchConfig, str, list[ResultRow]]]]
#: Runs the conditions with the chosen settings on test scenes into a results file.
RunTest = Callable[[BenchConfig, list[Scene], Path], RunReport]


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep runs, whichever runner runs it (:func:`sweep` here, ``cluster.sweep_ray`` on Ray): the
    scenes, the (layers, α) grid, the share of scenes that picks the setting, the conditions then run on
    the other scenes with the shared ``config``, and the folder of ``sweep.jsonl`` and ``results.jsonl``."""

    scenes: Sequence[Scene]
    manifest_dir: str | os.PathLike[str]
    layers_grid: Sequence[Sequence[int]]
    alphas: Sequence[float]
    dev_fraction: float
    conditions: Sequence[str]
    config: BenchConfig
    out_dir: str | os.PathLike[str]


def check_sweep(plan: SweepPlan) -> tuple[list[str], list[Scene], list[Scene]]:
    """The validated conditions and the dev and test splits (errors before anything is computed)."""
    if not plan.layers_grid or not plan.alphas:
        raise OptionError("the sweep grid is empty: give layers_grid and alphas")
    names = parse_conditions(plan.conditions)
    dev, test = split_dev_test(plan.scenes, plan.dev_fraction)
    return names, dev, test


def check_resume(
    plan: SweepPlan, model: str | None = None, made_with: Mapping[str, Any] | None = None
) -> SweepKey:
    """The plan's :class:`SweepKey`, after refusing every grid line in its folder that another sweep
    computed (other dev scenes or content, other options, another model when given): needs no model, so a
    resume that could not use the folder stops before the model loads and before anything is computed."""
    _, dev, _ = check_sweep(plan)
    key = sweep_key(plan, dev)
    _all_grid_lines(Path(plan.out_dir), model, _dev_hash(dev), key, made_with)
    return key


def grid_points(
    adapter: Adapter, layers_grid: Sequence[Sequence[int]], alphas: Sequence[float], config: BenchConfig
) -> list[Point]:
    """Every (layers, α) of the grid, in grid order, resolved for ``adapter``."""
    return [_grid_point(layers, alpha, config, adapter) for layers in layers_grid for alpha in alphas]


def _grid_line(
    cfg: BenchConfig,
    h: str,
    rows: Sequence[ResultRow],
    n_dev: int,
    dev_hash: str,
    model: str,
    key: SweepKey | None,
    index: int,
) -> dict[str, Any]:
    """The sweep line of one grid point: its steered hit rate and IoU on the dev scenes, its place in the
    grid (the last tie-break, also for a report of shard files) and what it was computed from."""
    from ..metrics import summarize

    s = summarize(rows, n_boot=200)[0]
    return {
        "layers": cfg.loc.layers,
        "probe_layers": cfg.loc.probe_layers,
        "alpha": cfg.loc.alpha,
        "n": s["n"],
        "hit_rate": s["hit_rate"],
        "iou": s["iou"],
        "dev_scenes": n_dev,
        "dev_hash": dev_hash,
        "model": model,
        "config_hash": h,
        "scenes_hash": key.scenes if key is not None else None,
        "options_hash": key.options if key is not None else None,
        "grid_index": index,
        **({"computed_with": rows[0]["computed_with"]} if rows and "computed_with" in rows[0] else {}),
    }


def run_sweep(
    points: Sequence[Point],
    model: str,
    dev: Sequence[Scene],
    test: Sequence[Scene],
    out_dir: str | os.PathLike[str],
    evaluate: Evaluate,
    run_test: RunTest,
    show_progress: bool = True,
    shard: Shard | None = None,
    key: SweepKey | None = None,
    made_with: Mapping[str, Any] | None = None,
) -> SweepReport:
    """The sweep's bookkeeping, whoever computes: resume the grid, choose, run the held-out split.

    ``key`` (:func:`check_resume`) is written into every line and required of every line resumed; None
    (a caller that does not pass it) keys the lines by model and dev scene ids only.
    """
    out = Path(out_dir)
    sweep_path = shard_path(out / SWEEP_NAME, shard)
    dev_hash = _dev_hash(dev)
    order = {h: i for i, (_, h) in enumerate(points)}
    with open_jsonl(sweep_path, first_key=SWEEP_FIRST_KEY, what="sweep file") as (append, existing):
        _grid_lines(existing, sweep_path, model, dev_hash, key, made_with)  # another run's file: refused
        by_hash = _all_grid_lines(out, model, dev_hash, key, made_with)
        todo = [(cfg, h) for cfg, h in shard_of(points, shard) if h not in by_hash]
        with progress(len(todo) * len(dev), "sweep (dev)", show_progress, unit="scene") as advance:
            for cfg, h, rows in evaluate(todo, advance):
                line = _grid_line(cfg, h, rows, len(dev), dev_hash, model, key, order[h])
                append([line])
                by_hash[h] = line
    by_hash.update(_all_grid_lines(out, model, dev_hash, key, made_with))  # other shards, finished meanwhile
    dev_ids, test_ids = [s.scene_id for s in dev], [s.scene_id for s in test]
    missing = sum(h not in by_hash for _, h in points)
    if missing:
        grid_done = [by_hash[h] for _, h in points if h in by_hash]
        return SweepReport(grid_done, None, dev_ids, test_ids, None, missing)
    grid = [by_hash[h] for _, h in points]
    best_i = best_point(grid)
    results_path = shard_path(out / RESULTS_NAME, shard)
    report = run_test(points[best_i][0], shard_of(test, shard), results_path)
    return SweepReport(grid, grid[best_i], dev_ids, test_ids, report, 0, results_path)


def sweep(
    adapter: Adapter, plan: SweepPlan, show_progress: bool = True, shard: Shard | None = None
) -> SweepReport:
    """Pick (layers, alpha) by steered hit rate on dev, then run the plan's conditions on the test split only.

    Writes ``sweep.jsonl`` (one line per grid point, resumable) and ``results.jsonl`` (test rows).
    Ties are broken by mean IoU, then by grid order. Grid lines in ``plan.out_dir`` of another sweep
    (:func:`check_resume`) are refused before anything is computed. With ``shard`` K/N, this process
    evaluates every N-th grid point (into ``sweep.K-of-N.jsonl``); once every shard's points are in
    ``plan.out_dir`` it runs every N-th test scene (into ``results.K-of-N.jsonl``). Until then it returns
    with ``missing`` > 0: rerun it when the other shards are done (finished points are not recomputed).
    """
    names, dev, test = check_sweep(plan)
    key = check_resume(plan, adapter.name, adapter.computed_with)
    points = grid_points(adapter, plan.layers_grid, plan.alphas, plan.config)

    def evaluate(todo: list[Point], advance: Advance) -> Iterator[tuple[BenchConfig, str, list[ResultRow]]]:
        for cfg, h in todo:
            rows: list[ResultRow] = []
            for scene in dev:
                rows.extend(run_unit(adapter, scene, plan.manifest_dir, ["steered"], cfg))
                advance(1, scene.scene_id)
            yield cfg, h, rows

    def run_test(cfg: BenchConfig, part: list[Scene], path: Path) -> RunReport:
        return run_bench(adapter, part, plan.manifest_dir, names, cfg, path, show_progress)

    return run_sweep(
        points,
        adapter.name,
        dev,
        test,
        plan.out_dir,
        evaluate,
        run_test,
        show_progress,
        shard,
        key,
        adapter.computed_with,
    )
