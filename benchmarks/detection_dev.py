#!/usr/bin/env python
"""Choose the detection settings on dev scenes: the steered detector's and the energy detector's.

Runs the shipped model window by window on every scene of a dev manifest (``scenes make ... --seed 50000``,
never the held-out seed), keeps each query's stitched score curve, then scores detections for a grid of
(min_score, smooth_s, fraction) and, for the energy detector, of thresholds in dB. Each detector's setting
is the one with the best DCASE event-based F1 on onsets (collar 0.2 s: the steered detections mark where
an event starts, not how long it lasts); F1 on onsets and offsets is printed beside it. One JSON line per
grid point, then the best of each.

    python benchmarks/detection_dev.py DEV_SCENES [--model DIR] [--curves c.npz] [--reuse-curves c.npz]

``--curves`` keeps the stitched score curves (numpy ``.npz``, no pickle) so that other grids or rules can be
scored later without running the model again.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from wheretolisten.audio import load_audio
from wheretolisten.bench.detection import ENERGY_FRACTION, ENERGY_FRAME_S, ENERGY_SMOOTH_S, energy_curve
from wheretolisten.detections import DetectConfig, Detection, detect, snap_to_audio
from wheretolisten.intervals import energy_db
from wheretolisten.long import localize_long
from wheretolisten.metrics import event_f1
from wheretolisten.models import load_model
from wheretolisten.organism import load_organism
from wheretolisten.scenes import load_manifest

Item = tuple[str, str, list[tuple[float, float]]]  # scene, label, occurrences


def f1(found: dict[tuple[str, str], list[Detection]], items: list[Item], offsets: bool) -> dict[str, Any]:
    pred = [
        {"filename": s, "onset": d.onset_s, "offset": d.offset_s, "event_label": label}
        for s, label, _ in items
        for d in found[(s, label)]
    ]
    ref = [
        {"filename": s, "onset": a, "offset": b, "event_label": label}
        for s, label, gt in items
        for a, b in gt
    ]
    out = event_f1(pred, ref, 0.2, 0.2, evaluate_offset=offsets)
    return {"f1": round(out["f1"], 4), "detections": len(pred), "events": len(ref)}


def scored(found: dict[tuple[str, str], list[Detection]], items: list[Item]) -> dict[str, Any]:
    """F1 on onsets (the selection criterion of both detectors) and on onsets and offsets."""
    return {"onset": f1(found, items, False), "full": f1(found, items, True)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenes", type=Path)
    p.add_argument("--model", type=Path, default=None, help="checkpoint folder (default: the shipped model)")
    p.add_argument("--curves", type=Path, help="write each query's score curve here (.npz)")
    p.add_argument(
        "--reuse-curves",
        type=Path,
        help="score the curves a former run wrote with --curves (same scenes, same model) instead of "
        "running the model again",
    )
    p.add_argument(
        "--edges",
        action="store_true",
        help="also score every grid point with its detections' edges moved to the audio (DetectConfig.edges)",
    )
    args = p.parse_args()
    adapter = (
        load_organism(device="cpu", dtype="float32")
        if args.model is None
        else load_model(args.model, device="cpu", dtype="float32")
    )
    scenes = load_manifest(args.scenes)
    kept = dict(np.load(args.reuse_curves)) if args.reuse_curves else None
    if kept is not None:
        wanted = {f"{sc.scene_id}|{e.label}" for sc in scenes for e in sc.events}
        if wanted != set(kept):
            p.error(f"{args.reuse_curves} holds the curves of other scenes or queries than {args.scenes}")
    curves, energy, levels, items = {}, {}, {}, []
    for scene in scenes:
        path = scene.audio_path(args.scenes if args.scenes.is_dir() else args.scenes.parent)
        first = {e.label: e.query for e in reversed(scene.events)}
        if kept is None:
            results = localize_long(
                adapter, path, list(first.values()), detection=DetectConfig(min_score=0.0)
            )
            scores = [r.score for r in results]
        else:
            scores = [kept[f"{scene.scene_id}|{label}"] for label in first]
        for label, score in zip(first, scores, strict=True):
            curves[(scene.scene_id, label)] = score
            gt = [(e.onset_s, e.offset_s) for e in scene.events if e.label == label]
            items.append((scene.scene_id, label, gt))
        audio = load_audio(path, scene.sample_rate)[0]
        energy[scene.scene_id] = energy_curve(audio, scene.sample_rate)
        n_tokens = scores[0].size
        levels[scene.scene_id] = energy_db(audio, scene.sample_rate, adapter.token_s, n_tokens)
    if args.curves:
        np.savez(args.curves, **{f"{s}|{label}": c for (s, label), c in curves.items()})
    settings = adapter.recommended.get("localize", {})
    print(json.dumps({"model": adapter.name, "localize_settings": settings}), flush=True)
    best: dict[str, Any] = {}
    grid = itertools.product(
        [0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0],
        [0.2, 0.4, 0.6, 0.8],
        [0.15, 0.25, 0.35, 0.5],
        (False, True) if args.edges else (False,),
    )
    for min_score, smooth_s, fraction, edges in grid:
        cfg = DetectConfig(min_score=min_score, smooth_s=smooth_s, fraction=fraction, edges=edges)
        found = {}
        for key, curve in curves.items():
            found[key] = detect(curve, adapter.token_s, cfg)
            if edges:
                found[key] = snap_to_audio(found[key], curve, levels[key[0]], adapter.token_s, cfg)
        line = {
            "detector": "steered",
            **cfg.to_json(),
            "onset": f1(found, items, False),
            "full": f1(found, items, True),
        }
        print(json.dumps(line), flush=True)
        if line["onset"]["f1"] > best.get("steered", {"onset": {"f1": -1}})["onset"]["f1"]:
            best["steered"] = line
    for min_db in (20.0, 30.0, 35.0, 40.0, 45.0, 48.0, 51.0):
        cfg = DetectConfig(min_score=min_db, smooth_s=ENERGY_SMOOTH_S, fraction=ENERGY_FRACTION)
        by_scene = {s: detect(c, ENERGY_FRAME_S, cfg) for s, c in energy.items()}
        found = {(s, label): by_scene[s] for s, label, _ in items}
        line = {
            "detector": "energy",
            "min_db": min_db,
            "onset": f1(found, items, False),
            "full": f1(found, items, True),
        }
        print(json.dumps(line), flush=True)
        if line["onset"]["f1"] > best.get("energy", {"onset": {"f1": -1}})["onset"]["f1"]:
            best["energy"] = line
    print(json.dumps({"best": best, "scenes": len(scenes), "queries": len(items)}), flush=True)


if __name__ == "__main__":
    main()
