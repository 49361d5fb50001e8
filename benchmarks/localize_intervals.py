#!/usr/bin/env python
"""``localize``'s intervals on the shipped model: the threshold interval against ``--interval edges``.

Makes scene sets with ``wheretolisten scenes make`` (a dev set, 100 quiet three-event scenes at seed 50 000,
and the held-out sets of ``organism/evaluate_sets.py`` at their seeds plus ``--seed-offset``), localizes
every event's query of every scene once with the model's own settings but the threshold interval (half
the peak), and reads the interval of that one profile twice through ``results.read_times``: as it is and
with ``interval="edges"`` (``readout.EDGES``). Per query: IoU with the
queried sound (the best of its occurrences) and whether the peak lies inside one. Prints one JSON line for
the machine, then one per set: mean IoU of each interval, the mean paired difference with a 95 % bootstrap
interval (scenes resampled), in how many queries edges is at least as good, and the hit rate (the same
peak for both).

    python benchmarks/localize_intervals.py --out out/intervals [--sets dev,three] [--seed-offset 500]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "organism"))

from evaluate_sets import SETS  # noqa: E402  (the held-out sets of the organism's evaluation)
from long_perf import environment  # noqa: E402

#: The dev split of ``bench protocol`` (quiet three-event scenes at its dev seed).
DEV = ["--n", "100", "--events", "3", "--seed", "50000"]
HELD_OUT = ("single", "three", "white-10", "babble-10", "overlap")


def make_set(folder: Path, args: list[str], seed_offset: int) -> Path:
    """``scenes make`` into ``folder`` (kept and reused when its manifest exists); the manifest path."""
    manifest = folder / "manifest.jsonl"
    if not manifest.exists():
        args = list(args)
        if seed_offset:
            i = args.index("--seed")
            args[i + 1] = str(int(args[i + 1]) + seed_offset)
        command = [sys.executable, "-m", "wheretolisten", "scenes", "make", "--out", str(folder), *args]
        subprocess.run([*command, "--no-progress"], check=True, stdout=subprocess.DEVNULL)
    return manifest


def score_set(adapter: Any, manifest: Path) -> dict[str, Any]:
    """Both intervals of every event's query in the set; per-query IoUs and hits, grouped by scene."""
    from wheretolisten.audio import load_audio
    from wheretolisten.intervals import energy_db
    from wheretolisten.localize import LocalizeConfig, localize
    from wheretolisten.metrics.scores import hit, iou
    from wheretolisten.readout import EDGES
    from wheretolisten.results import read_times
    from wheretolisten.scenes import load_manifest

    threshold, edges, hits, scenes = [], [], [], []
    for s, scene in enumerate(load_manifest(manifest)):
        path = manifest.parent / scene.path
        clip, _ = load_audio(path, adapter.sample_rate)
        for query in dict.fromkeys(e.query for e in scene.events):
            truth = [(e.onset_s, e.offset_s) for e in scene.events if e.query == query]
            result = localize(adapter, path, query, LocalizeConfig(interval="threshold"))
            cfg = replace(result.config, interval="edges", fraction=EDGES.fraction)
            envelope = energy_db(clip, adapter.sample_rate, adapter.token_s, result.profile.base.size)
            score = result.score_curve()
            found, _ = read_times(
                result.profile, cfg, adapter.token_s, result.detection, 0.0, score, envelope
            )
            assert found.peak_s == result.peak_s  # one peak, two intervals
            threshold.append(max(iou(result.interval_s, gt) for gt in truth) if result.interval_s else 0.0)
            edges.append(max(iou(found.interval_s, gt) for gt in truth) if found.interval_s else 0.0)
            hits.append(any(hit(result.peak_s, gt) for gt in truth))
            scenes.append(s)
    return {"threshold": threshold, "edges": edges, "hits": hits, "scenes": scenes}


def summarize(name: str, found: dict[str, Any], seconds: float) -> dict[str, Any]:
    a, b = np.asarray(found["threshold"]), np.asarray(found["edges"])
    scenes = np.asarray(found["scenes"])
    diff = b - a
    ids = np.unique(scenes)
    per_scene = [diff[scenes == i] for i in ids]
    rng = np.random.default_rng(0)
    boot = []
    for _ in range(2000):
        pick = rng.integers(ids.size, size=ids.size)
        boot.append(np.concatenate([per_scene[i] for i in pick]).mean())
    return {
        "set": name,
        "queries": int(a.size),
        "scenes": int(ids.size),
        "iou_threshold": round(float(a.mean()), 4),
        "iou_edges": round(float(b.mean()), 4),
        "difference": round(float(diff.mean()), 4),
        "difference_ci95": [
            round(float(np.percentile(boot, 2.5)), 4),
            round(float(np.percentile(boot, 97.5)), 4),
        ],
        "edges_at_least_threshold": int((diff >= -1e-12).sum()),
        "hit_rate": round(100.0 * float(np.mean(found["hits"])), 1),
        "seconds": round(seconds, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder for the scene sets (reused when present)")
    p.add_argument("--sets", default=",".join(["dev", *HELD_OUT]))
    p.add_argument(
        "--seed-offset", type=int, default=0, help="added to every held-out set's seed (not dev's)"
    )
    args = p.parse_args()
    from wheretolisten.organism import default_model_path, load_organism

    print(
        json.dumps(
            {"benchmark": "localize_intervals", **environment("cpu"), "model": str(default_model_path())}
        )
    )
    adapter = load_organism(device="cpu")
    args.out.mkdir(parents=True, exist_ok=True)  # its own folder: `scenes make` refuses a missing parent
    for name in args.sets.split(","):
        offset = 0 if name == "dev" else args.seed_offset
        label = f"{name}+{offset}" if offset else name
        manifest = make_set(args.out / label, DEV if name == "dev" else SETS[name][0], offset)
        start = time.perf_counter()
        found = score_set(adapter, manifest)
        print(json.dumps(summarize(label, found, time.perf_counter() - start)), flush=True)


if __name__ == "__main__":
    main()
