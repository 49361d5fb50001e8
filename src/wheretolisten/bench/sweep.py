"""Choose steering layers and α on a dev split, then run the conditions on the held-out split only.

Grid points are appended to ``sweep.jsonl`` (resumable); ties are broken by mean IoU, then grid order.
Sharded (``K/N``), each process evaluates every N-th grid point; once all are in, each runs every N-th
held-out scene.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError, OptionError
from ..progress import Advance, progress
from ..records import ResultRow, open_jsonl, read_jsonl
from ..records.layout import RESULTS_NAME
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


def _grid_lines(
    lines: Sequence[dict[str, Any]], path: Path, model: str, dev_hash: str
) -> dict[str, dict[str, Any]]:
    """Grid points already evaluated, by config hash; lines from another model or dev split are refused."""
    out: dict[str, dict[str, Any]] = {}
    for i, line in enumerate(lines, start=1):
        if line.get("model") != model or line.get("dev_hash") != dev_hash:
            raise DataError(
                f"{path}: line {i} was computed with another model or dev split; use another out folder"
            )
        out[str(line.get("config_hash"))] = line
    return out


def _all_grid_lines(out: Path, model: str, dev_hash: str) -> dict[str, dict[str, Any]]:
    """Grid points evaluated by any run or shard in ``out`` (sweep.jsonl and sweep.K-of-N.jsonl)."""
    found: dict[str, dict[str, Any]] = {}
    for path in shard_files(out / SWEEP_NAME):
        rows, _ = read_jsonl(path, first_key=SWEEP_FIRST_KEY, what="sweep file")
        found.update(_grid_lines(rows, path, model, dev_hash))
    return found


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


def grid_points(
    adapter: Adapter, layers_grid: Sequence[Sequence[int]], alphas: Sequence[float], config: BenchConfig
) -> list[Point]:
    """Every (layers, α) of the grid, in grid order, resolved for ``adapter``."""
    return [_grid_point(layers, alpha, config, adapter) for layers in layers_grid for alpha in alphas]


def _grid_line(
    cfg: BenchConfig, h: str, rows: Sequence[ResultRow], n_dev: int, dev_hash: str, model: str
) -> dict[str, Any]:
    """The sweep line of one grid point: its steered hit rate and IoU on the dev scenes."""
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
) -> SweepReport:
    """The sweep's bookkeeping, whoever computes: resume the grid, choose, run the held-out split."""
    out = Path(out_dir)
    sweep_path = shard_path(out / SWEEP_NAME, shard)
    dev_hash = hashlib.sha256("\n".join(s.scene_id for s in dev).encode()).hexdigest()[:12]
    with open_jsonl(sweep_path, first_key=SWEEP_FIRST_KEY, what="sweep file") as (append, existing):
        _grid_lines(existing, sweep_path, model, dev_hash)  # refuse a file of another run first
        by_hash = _all_grid_lines(out, model, dev_hash)
        todo = [(cfg, h) for cfg, h in shard_of(points, shard) if h not in by_hash]
        with progress(len(todo) * len(dev), "sweep (dev)", show_progress, unit="scene") as advance:
            for cfg, h, rows in evaluate(todo, advance):
                line = _grid_line(cfg, h, rows, len(dev), dev_hash, model)
                append([line])
                by_hash[h] = line
    by_hash.update(_all_grid_lines(out, model, dev_hash))  # other shards may have finished meanwhile
    dev_ids, test_ids = [s.scene_id for s in dev], [s.scene_id for s in test]
    missing = sum(h not in by_hash for _, h in points)
    if missing:
        grid_done = [by_hash[h] for _, h in points if h in by_hash]
        return SweepReport(grid_done, None, dev_ids, test_ids, None, missing)
    grid = [by_hash[h] for _, h in points]
    best_i = max(range(len(grid)), key=lambda i: (grid[i]["hit_rate"], grid[i]["iou"], -i))
    results_path = shard_path(out / RESULTS_NAME, shard)
    report = run_test(points[best_i][0], shard_of(test, shard), results_path)
    return SweepReport(grid, grid[best_i], dev_ids, test_ids, report, 0, results_path)


def sweep(
    adapter: Adapter, plan: SweepPlan, show_progress: bool = True, shard: Shard | None = None
) -> SweepReport:
    """Pick (layers, alpha) by steered hit rate on dev, then run the plan's conditions on the test split only.

    Writes ``sweep.jsonl`` (one line per grid point, resumable) and ``results.jsonl`` (test rows).
    Ties are broken by mean IoU, then by grid order. With ``shard`` K/N, this process evaluates every N-th
    grid point (into ``sweep.K-of-N.jsonl``); once every shard's points are in ``plan.out_dir`` it runs every
    N-th test scene (into ``results.K-of-N.jsonl``). Until then it returns with ``missing`` > 0: rerun
    it when the other shards are done (finished points are not recomputed).
    """
    names, dev, test = check_sweep(plan)
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

    return run_sweep(points, adapter.name, dev, test, plan.out_dir, evaluate, run_test, show_progress, shard)
