"""The dev study of interval readouts: every candidate rule scored on the dev rows, the best per condition.

The dev rows carry their profiles (``save_profiles``); each candidate keeps the condition's dev-chosen peak
and changes only the interval: the condition's own, a threshold on smoothed Δ (fraction × smoothing), a
window centred on the peak, the audio's own active span around the peak (``intervals.snap_span``; by
default the adaptive one, against the local background and inside Δ's interval: ``adaptive_snap``), or Δ's
interval with each edge moved to the audio's nearest onset or offset (``intervals.snap_edges``). The
best rule by mean dev IoU is the condition's benchmark readout; the best of each family is recorded beside
it for comparison. The study also measures why the half-height interval is short (widths, the attention
at the clip's edges, where misses land by target position).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import load_audio
from ..intervals import energy_db
from ..metrics import hit, iou
from ..readout import Readout, ReadoutRule, apply_rule
from ..scenes import Scene
from .protocol_file import IntervalGrid

#: Rule families: the condition's own interval, Δ's extent (threshold), a fixed width at the peak (window),
#: the audio's own span around the peak (snap), Δ's extent with its edges moved to the audio's (edges).
FAMILIES = ("own", "threshold", "window", "snap", "edges")


def candidates(peak: ReadoutRule, grid: IntervalGrid, has_profile: bool) -> list[tuple[str, ReadoutRule]]:
    """(family, rule) candidates with ``peak``'s peak: own interval first (it wins ties)."""
    out = [("own", replace(peak, interval="native"))]
    # Δ's threshold intervals, one per (fraction, smoothing); the adaptive snap stays inside them
    thresholds = [(f, s) for f in grid.fractions for s in grid.smooths_s]
    if has_profile:
        out += [
            ("threshold", replace(peak, interval="threshold", fraction=f, smooth_s=s)) for f, s in thresholds
        ]
    out += [("window", replace(peak, interval="window", window_s=w)) for w in grid.windows_s]
    for local in grid.locals_s:
        # adaptive snap sits near Δ's threshold interval, and edges moves that interval's edges: one
        # candidate per (fraction, smoothing, reach) with a profile
        adaptive = local > 0 and has_profile
        within = thresholds if adaptive else [(0.5, 0.2)]
        reaches = grid.reaches_s if adaptive else (0.5,)
        for kind in ("snap", "edges") if adaptive else ("snap",):
            rule = replace(peak, interval=kind, local_s=local)
            out += [
                (kind, replace(rule, margin_db=m, bridge_s=b, fraction=f, smooth_s=s, reach_s=r))
                for m in grid.margins_db
                for b in grid.bridges_s
                for f, s in within
                for r in reaches
            ]
    return out


def _profile(row: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    p = row.get("profile")
    if not p or "base" not in p or "steered" not in p:
        return None
    return np.asarray(p["base"], dtype=float), np.asarray(p["steered"], dtype=float)


def _native(row: Mapping[str, Any]) -> Readout:
    interval = row.get("interval_s")
    return Readout(row.get("peak_s"), tuple(interval) if interval else None, None)


class Envelopes:
    """Each dev scene's energy on the token grid, loaded once."""

    def __init__(self, scenes: Mapping[str, Scene], manifest_dir: Path, token_s: float) -> None:
        self.scenes, self.root, self.token_s = scenes, manifest_dir, token_s
        self.cache: dict[tuple[str, int], np.ndarray] = {}

    def __call__(self, scene_id: str, n_tokens: int) -> np.ndarray:
        key = (scene_id, n_tokens)
        if key not in self.cache:
            scene = self.scenes[scene_id]
            audio = load_audio(scene.audio_path(self.root), scene.sample_rate)[0]
            self.cache[key] = energy_db(audio, scene.sample_rate, self.token_s, n_tokens)
        return self.cache[key]


def score_rules(
    rows: Sequence[Mapping[str, Any]], rules: Sequence[ReadoutRule], envelopes: Envelopes, token_s: float
) -> np.ndarray:
    """[rules, rows, 2]: hit and IoU of each rule on each row."""
    out = np.zeros((len(rules), len(rows), 2))
    for j, row in enumerate(rows):
        profile = _profile(row)
        n = profile[0].size if profile else math.ceil(float(row["duration_s"]) / token_s - 1e-9)
        env = envelopes(str(row["scene_id"]), n) if any(r.needs_envelope for r in rules) else None
        gt = (float(row["gt"][0]), float(row["gt"][1]))
        for i, rule in enumerate(rules):
            r = apply_rule(rule, _native(row), token_s, n, profile, env)
            out[i, j] = (hit(r.peak_s, gt), iou(r.interval_s, gt))
    return out


def choose_readout(
    rows: Sequence[Mapping[str, Any]],
    peak: ReadoutRule,
    grid: IntervalGrid,
    envelopes: Envelopes,
    token_s: float,
) -> dict[str, Any]:
    """The best rule by mean dev IoU, the best of each family, and every candidate's dev scores."""
    has_profile = all(_profile(r) is not None for r in rows)
    cands = candidates(peak, grid, has_profile)
    scores = score_rules(rows, [r for _, r in cands], envelopes, token_s)
    mean_iou, mean_hit = scores[..., 1].mean(axis=1), scores[..., 0].mean(axis=1)
    best = max(range(len(cands)), key=lambda i: (mean_iou[i], -i))
    family_best = {}
    for fam in dict.fromkeys(f for f, _ in cands):
        members = [i for i, (f, _) in enumerate(cands) if f == fam]
        family_best[fam] = max(members, key=lambda i: (mean_iou[i], -i))
    return {
        "chosen": cands[best][1].to_json(),
        "compare": [cands[i][1].to_json() for f, i in family_best.items() if i != best and f != "own"],
        "candidates": [
            {"family": f, "rule": r.name, "iou": float(u), "hit_rate": 100.0 * float(h)}
            for (f, r), u, h in zip(cands, mean_iou, mean_hit, strict=True)
        ],
        "n": len(rows),
    }


def extent_facts(rows: Sequence[Mapping[str, Any]], token_s: float) -> dict[str, Any]:
    """Why half-height intervals are short, and where misses land: widths, edges, misses by position."""
    with_profile = [r for r in rows if _profile(r) is not None]
    out: dict[str, Any] = {"n": len(rows)}
    if with_profile:
        gts = np.asarray([r["gt"][1] - r["gt"][0] for r in with_profile], dtype=float)
        own = np.asarray(
            [(r["interval_s"][1] - r["interval_s"][0]) if r["interval_s"] else 0.0 for r in with_profile]
        )
        bases = [_profile(r)[0] for r in with_profile]  # type: ignore[index]
        edge = max(1, int(round(0.2 / token_s)))
        out.update(
            median_event_s=float(np.median(gts)),
            median_half_height_s=float(np.median(own)),
            base_share_first_0_2s=float(np.mean([b[:edge].sum() / b.sum() for b in bases])),
            base_share_last_0_2s=float(np.mean([b[-edge:].sum() / b.sum() for b in bases])),
            uniform_share_0_2s=float(np.mean([edge / b.size for b in bases])),
        )
    by_position: dict[str, Any] = {}
    for pos in ("first", "middle", "last"):
        mine = [r for r in rows if r.get("position") == pos]
        misses = [r for r in mine if not hit(r["peak_s"], r["gt"])]
        distance = [
            min(abs(r["peak_s"] - r["gt"][0]), abs(r["peak_s"] - r["gt"][1]))
            for r in misses
            if r["peak_s"] is not None
        ]
        in_event = [
            any(a <= r["peak_s"] <= b for a, b in r.get("events") or [])
            for r in misses
            if r["peak_s"] is not None
        ]
        by_position[pos] = {
            "n": len(mine),
            "hit_rate": 100.0 * (1 - len(misses) / len(mine)) if mine else math.nan,
            "median_miss_distance_s": float(np.median(distance)) if distance else math.nan,
            "misses_in_another_event": 100.0 * float(np.mean(in_event)) if in_event else math.nan,
        }
    out["by_position"] = by_position
    return out


__all__ = ["FAMILIES", "Envelopes", "candidates", "choose_readout", "extent_facts", "score_rules"]
