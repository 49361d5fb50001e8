"""Equal tuning: every tunable condition's grid, scored on the same dev scenes, and the choice per condition.

Each tunable condition (``protocol_file.TUNABLE``) has a grid of points (steered layers, α, readout layers,
templates, peak rule; a window for energy, a question for direct), at most ``budget`` points each, scored on
the same dev scenes (``tuning_eval``); the best point of a condition has the highest dev hit rate, then IoU,
then comes first in grid order.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import OptionError
from ..readout import ReadoutRule
from ..settings import default_probe_layers
from .config import BenchConfig
from .protocol_file import STEERING, Protocol

if TYPE_CHECKING:
    from ..models.base import Adapter


@dataclass(frozen=True)
class Point:
    """One grid point; a condition uses its own fields (steering: layers, alpha, readout, templates, peak)."""

    layers: tuple[int, ...] = ()
    alpha: float = 0.0
    readout: tuple[int, ...] = ()
    templates: tuple[int, ...] = ()
    peak: str = "delta"
    window_s: float = 0.0
    prompt: str = ""

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Point:
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)


def auto_layers(num_layers: int) -> list[tuple[int, ...]]:
    """Four single layers spread over the lower half of the decoder (0, n/6, n/3, n/2, deduplicated)."""
    picks = sorted({min(num_layers - 1, round(num_layers * f)) for f in (0.0, 1 / 6, 1 / 3, 1 / 2)})
    return [(layer,) for layer in picks]


def readout_options(layers: Sequence[int], mode: str) -> list[tuple[int, ...]]:
    """``singles+all``: all ``layers`` and each alone; ``ranges``: every contiguous range of them."""
    ordered = list(layers)
    if mode == "ranges":
        return [tuple(ordered[a : b + 1]) for a in range(len(ordered)) for b in range(a, len(ordered))]
    return [tuple(ordered)] + ([(x,) for x in ordered] if len(ordered) > 1 else [])


def _check_templates(templates: Sequence[Sequence[int]], count: int, condition: str, one: bool) -> None:
    for t in templates:
        if not t or any(not 0 <= i < count for i in t) or (one and len(t) != 1):
            what = "one index" if one else "indices"
            raise OptionError(
                f"protocol: grids.{condition}.templates: {list(t)} must be {what} in 0..{count - 1}"
            )


def grid_points(protocol: Protocol, condition: str, adapter: Adapter, config: BenchConfig) -> list[Point]:
    """The points of ``condition`` evaluated on dev: its grid, or a seeded subset of ``budget`` points."""
    grid, n = protocol.grid(condition), adapter.num_layers
    count = len(config.loc.instructed_templates)
    if condition in STEERING:
        _check_templates(grid.templates, count, condition, one=False)
        sets = [tuple(s) for s in grid.layers] or auto_layers(n)
        points = [
            Point(tuple(s), float(a), r, tuple(t), p)
            for s in sets
            for a in grid.alphas
            for r in readout_options(default_probe_layers(n, list(s)), grid.readout)
            for t in grid.templates
            for p in grid.peaks
        ]
    elif condition == "prompted":
        _check_templates(grid.templates, count, condition, one=True)
        options = readout_options(range(n), grid.readout)
        points = [
            Point(readout=r, templates=tuple(t), peak=p)
            for r in options
            for t in grid.templates
            for p in grid.peaks
        ]
    elif condition == "energy":
        points = [Point(window_s=float(w)) for w in grid.windows_s]
    elif condition == "direct":
        points = [Point(prompt=str(q)) for q in grid.prompts]
    else:
        raise OptionError(f"condition {condition!r} has no tuning grid")
    if not points:
        raise OptionError(f"protocol: the grid of {condition!r} is empty")
    if len(points) <= protocol.budget:
        return points
    rng = np.random.default_rng([protocol.seed, zlib.crc32(condition.encode())])
    return [points[i] for i in sorted(rng.choice(len(points), protocol.budget, replace=False))]


def point_config(condition: str, point: Point, config: BenchConfig) -> BenchConfig:
    """The benchmark settings of ``condition`` at ``point`` (``config`` resolved); its peak rule is in
    :func:`peak_rule`."""
    loc, templates = config.loc, list(config.loc.instructed_templates)
    if condition in STEERING:
        chosen = [templates[i] for i in point.templates]
        loc = replace(
            loc,
            layers=list(point.layers),
            probe_layers=list(point.readout),
            alpha=point.alpha,
            instructed_templates=chosen,
        )
        return replace(config, localize=loc)
    if condition == "prompted":
        return replace(
            config,
            localize=replace(loc, probe_layers=list(point.readout)),
            prompted_template=templates[point.templates[0]],
        )
    if condition == "energy":
        return replace(config, energy_window_s=point.window_s)
    if condition == "direct":
        return replace(config, direct_prompt=point.prompt)
    return config


def peak_rule(condition: str, point: Point, config: BenchConfig) -> ReadoutRule:
    """Where ``condition`` reads its peak at ``point`` (profile conditions: Δ or log ratio; else its own)."""
    if condition in (*STEERING, "prompted"):
        return ReadoutRule(peak=point.peak, peak_smooth_s=config.loc.smooth_s)
    return ReadoutRule()


def scoring_rule(rule: ReadoutRule, config: BenchConfig) -> ReadoutRule:
    """``rule``'s peak with the default interval (threshold at the settings' fraction), for dev scores."""
    loc = config.loc
    return replace(rule, interval="threshold", fraction=loc.fraction, smooth_s=loc.smooth_s)


def choose(
    points: Mapping[str, Sequence[Point]], lines: Sequence[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per condition: the best point (dev hit rate, then IoU, then grid order) and the grid's dev scores."""
    chosen: dict[str, dict[str, Any]] = {}
    for cond, pts in points.items():
        scores = np.asarray([item["scores"][cond] for line in lines for item in line["items"]], dtype=float)
        hit, iou = scores[..., 0].mean(axis=0), scores[..., 1].mean(axis=0)
        best = max(range(len(pts)), key=lambda i: (hit[i], iou[i], -i))
        chosen[cond] = {
            "point": pts[best].to_json(),
            "dev_hit_rate": 100.0 * float(hit[best]),
            "dev_iou": float(iou[best]),
            "dev_items": int(scores.shape[0]),
            "grid_points": len(pts),
            "grid": [
                {**p.to_json(), "hit_rate": 100.0 * float(h), "iou": float(u)}
                for p, h, u in zip(pts, hit, iou, strict=True)
            ],
        }
    return chosen


__all__ = [
    "Point",
    "auto_layers",
    "choose",
    "grid_points",
    "peak_rule",
    "point_config",
    "readout_options",
    "scoring_rule",
]
