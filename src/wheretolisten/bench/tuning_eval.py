"""Scoring a tuning grid on the dev scenes: one line per scene in ``tuning.jsonl`` (resumable, shardable).

Every point of every tunable condition is scored on a scene from a few batches.
One batch gives the instruction vectors (at every candidate layer) and the prompted attention of every
template; one batch per steered-layer set gives every α and vector at once. Readout layers and peak rules
are aggregations of the same probed attention, so they cost no model run.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..answers import parse_time_answer
from ..errors import DataError
from ..metrics import hit, iou
from ..progress import progress
from ..readout import Readout, apply_rule
from ..records import open_jsonl, read_jsonl
from ..shards import Shard, shard_files, shard_of, shard_path
from ..vectors import SteeringVector
from .baselines import energy_prediction
from .conditions import ask_when
from .controls import norm_matched
from .inputs import select_events
from .protocol_file import STEERING
from .tuning import Point, peak_rule, scoring_rule
from .unit import Unit

if TYPE_CHECKING:
    from ..engine import Engine, Run
    from ..models.base import Adapter
    from ..scenes import Scene
    from .config import BenchConfig

Scores = list[list[float]]
TUNING_NAME = "tuning.jsonl"
#: The first key of every tuning line (how an unfinished line of ours is recognized).
TUNING_FIRST_KEY = "scene_id"


def _score(r: Readout, gt: tuple[float, float]) -> list[float]:
    return [float(hit(r.peak_s, gt)), round(iou(r.interval_s, gt), 4)]


class _Profiles:
    """Profiles of one probe run aggregated over readout-layer subsets, cached."""

    def __init__(self, engine: Engine, run: Run) -> None:
        self.engine, self.run = engine, run
        self.cache: dict[tuple[int, tuple[int, ...]], np.ndarray] = {}

    def __call__(self, row: int, layers: tuple[int, ...]) -> np.ndarray:
        if (row, layers) not in self.cache:
            self.cache[(row, layers)] = self.engine.profile(self.run, row, list(layers))
        return self.cache[(row, layers)]


def _read(
    cond: str, point: Point, cfg: BenchConfig, base: np.ndarray, steered: np.ndarray, token_s: float
) -> Readout:
    rule = scoring_rule(peak_rule(cond, point, cfg), cfg)
    return apply_rule(rule, Readout(None, None, None), token_s, base.size, (base, steered))


def _restrict(vector: SteeringVector, layers: Sequence[int]) -> SteeringVector:
    return SteeringVector({layer: vector.directions[layer] for layer in layers}, dict(vector.metadata))


def _key(condition: str, item: int, point: Point) -> tuple[str, int, tuple[int, ...], float]:
    """Which steered row a point reads: the audio-contrast vector does not depend on the templates."""
    return (condition, item, () if condition == "audio-steered" else point.templates, point.alpha)


def score_scene(
    adapter: Adapter,
    scene: Scene,
    manifest_dir: Path,
    config: BenchConfig,
    points: Mapping[str, Sequence[Point]],
) -> list[dict[str, Any]]:
    """Per queried event: ``{"query", "scores": {condition: [[hit, IoU] per point]}}``."""
    unit = Unit(adapter, scene, manifest_dir, config)
    events = select_events(scene, config)
    gts = [(e.onset_s, e.offset_s) for _, e in events]
    scores: dict[str, list[Scores]] = {}
    if any(c in (*STEERING, "prompted") for c in points):
        scores.update(_model_scores(unit, [k for k, _ in events], gts, points))
    if "energy" in points:
        rate = scene.sample_rate
        preds = [energy_prediction(unit.native, rate, p.window_s) for p in points["energy"]]
        scores["energy"] = [[_score(r, gt) for r in preds] for gt in gts]
    if "direct" in points:
        scores["direct"] = [[] for _ in gts]
        for p in points["direct"]:
            asker = Unit(adapter, scene, manifest_dir, replace(config, direct_prompt=p.prompt))
            for i, (_, event) in enumerate(events):
                parsed = parse_time_answer(ask_when(asker, event.query), scene.duration_s)
                r = Readout(None, None, None) if parsed is None else Readout(sum(parsed) / 2, parsed, None)
                scores["direct"][i].append(_score(r, gts[i]))
    return [
        {"query": e.query, "scores": {c: scores[c][i] for c in points}} for i, (_, e) in enumerate(events)
    ]


def _model_scores(
    unit: Unit, indices: list[int], gts: list[tuple[float, float]], points: Mapping[str, Sequence[Point]]
) -> dict[str, list[Scores]]:
    """Scores of the prompted and steering conditions' points for the queried events ``indices``."""
    adapter, cfg = unit.model, unit.config
    loc, token_s, every = cfg.loc, adapter.token_s, list(range(adapter.num_layers))
    steering = [c for c in points if c in STEERING]
    union = sorted({layer for c in steering for p in points[c] for layer in p.layers} or set(loc.layers))
    engine = unit.engine.derive(replace(loc, layers=union, probe_layers=every))
    queries = [unit.scene.events[k].query for k in indices]
    found = engine.vectors(queries)  # one batch: every template's rows, every layer's attention
    assert found.run is not None
    first, rows_of = found.run, found.query_rows

    def vector(i: int, chosen: Sequence[int]) -> SteeringVector:
        return engine.instruction_vector(found, i, chosen)

    out: dict[str, list[Scores]] = {}
    if "prompted" in points:
        prof = _Profiles(engine, first)
        out["prompted"] = [
            [
                _score(
                    _read(
                        "prompted", p, cfg, prof(0, p.readout), prof(rows[p.templates[0]], p.readout), token_s
                    ),
                    gt,
                )
                for p in points["prompted"]
            ]
            for rows, gt in zip(rows_of, gts, strict=True)
        ]
    if not steering:
        return out
    audio = [unit.audio_vector(k, engine) for k in indices] if set(steering) - {"steered"} else []
    for c in steering:
        out[c] = [[[] for _ in points[c]] for _ in gts]
    for layers in sorted({p.layers for c in steering for p in points[c]}):
        sub = engine.derive(replace(loc, layers=list(layers), probe_layers=every))
        rows: dict[tuple[str, int, tuple[int, ...], float], int] = {}
        vectors: list[SteeringVector] = []
        alphas: list[float] = []
        for c in steering:
            for p in points[c]:
                if p.layers != layers:
                    continue
                for i in range(len(queries)):
                    key = _key(c, i, p)
                    if key in rows:
                        continue
                    if c == "steered":
                        v = vector(i, p.templates)
                    elif c == "audio-steered":
                        v = audio[i]
                    else:
                        v = norm_matched(
                            _restrict(audio[i], layers), _restrict(vector(i, p.templates), layers)
                        )
                    rows[key] = len(vectors) + 1
                    vectors.append(_restrict(v, layers))
                    alphas.append(p.alpha)
        prof = _Profiles(sub, sub.probe_run(vectors, alphas, every))
        for c in steering:
            for j, p in enumerate(points[c]):
                if p.layers != layers:
                    continue
                for i, gt in enumerate(gts):
                    row = rows[_key(c, i, p)]
                    read = _read(c, p, cfg, prof(0, p.readout), prof(row, p.readout), token_s)
                    out[c][i][j] = _score(read, gt)
    return out


def grid_hash(points: Mapping[str, Sequence[Point]], model: str, dev_hash: str) -> str:
    """What a tuning line was computed for: the grid, the model and the dev scenes."""
    blob = json.dumps(
        {
            "points": {c: [p.to_json() for p in ps] for c, ps in points.items()},
            "model": model,
            "dev": dev_hash,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _lines(out: Path, key: str) -> dict[str, dict[str, Any]]:
    """Tuning lines of every shard file in ``out``, by scene id; lines of another grid are refused."""
    found: dict[str, dict[str, Any]] = {}
    for path in shard_files(out / TUNING_NAME):
        rows, _ = read_jsonl(path, first_key=TUNING_FIRST_KEY, what="tuning file")
        for i, line in enumerate(rows, start=1):
            if line.get("grid") != key:
                raise DataError(
                    f"{path}: line {i} was computed for another grid, model or dev split; use another --out"
                )
            found[str(line["scene_id"])] = line
    return found


def tune(
    adapter: Adapter,
    scenes: Sequence[Scene],
    manifest_dir: str | os.PathLike[str],
    config: BenchConfig,
    points: Mapping[str, Sequence[Point]],
    out_dir: str | os.PathLike[str],
    shard: Shard | None = None,
    show_progress: bool = True,
) -> dict[str, dict[str, Any]]:
    """Score every point on this shard's dev scenes not yet in ``out_dir``; every line found, by scene id."""
    out = Path(out_dir)
    dev_hash = hashlib.sha256("\n".join(s.scene_id for s in scenes).encode()).hexdigest()[:12]
    key = grid_hash(points, adapter.name, dev_hash)
    path = shard_path(out / TUNING_NAME, shard)
    root = Path(manifest_dir)
    with open_jsonl(path, first_key=TUNING_FIRST_KEY, what="tuning file") as (append, _):
        found = _lines(out, key)
        todo = [s for s in shard_of(scenes, shard) if s.scene_id not in found]
        with progress(len(todo), "tuning (dev)", show_progress, unit="scene") as advance:
            for scene in todo:
                items = score_scene(adapter, scene, root, config, points)
                line = {"scene_id": scene.scene_id, "grid": key, "model": adapter.name, "items": items}
                append([line])
                found[scene.scene_id] = line
                advance(1, scene.scene_id)
    return _lines(out, key)


__all__ = ["TUNING_NAME", "grid_hash", "score_scene", "tune"]
