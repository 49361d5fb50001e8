"""Interval rules under noise and over other sounds: the plain snap, the adaptive snap, Δ's own interval and
Δ's interval with its edges moved to the audio's (edges).

Procedural scenes (10 s, 3 events) are made once, then copies get a background mixed in: none, white noise
at −10 dBFS (RMS), or other sounds at −10 dBFS (another procedural scene of 6 events, its events' RMS at
−10 dBFS, overlapping the queried ones). The shipped model runs the steered condition (peak: largest
smoothed Δ) on each copy; every row records the interval of each rule, scored here against the queried
event (IoU; all queries and hits only). Until scene options land in ``scenes make``, the backgrounds are
mixed here with numpy.
Prints one JSON object with the machine, thread count, versions and the IoU of every rule per background.

    python benchmarks/snap_noise.py [--scenes 40] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

LEVEL_DBFS = -10.0


def background(kind: str, n: int, sample_rate: int, seed: int) -> np.ndarray:
    """The background of one clip: white noise, or another procedural scene, at LEVEL_DBFS RMS."""
    from wheretolisten.scenes import ProceduralBank, make_scene

    rms = 10 ** (LEVEL_DBFS / 20)
    rng = np.random.default_rng(seed)
    if kind == "white":
        return rms * rng.standard_normal(n)
    scene, audio = make_scene(ProceduralBank(), rng, "bg", 6, n / sample_rate, sample_rate, seed=seed)
    t = np.arange(n) / sample_rate
    active = np.zeros(n, dtype=bool)
    for e in scene.events:
        active |= (t >= e.onset_s) & (t < e.offset_s)
    return audio * (rms / max(1e-9, float(np.sqrt(np.mean(audio[active] ** 2)))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    import torch

    from wheretolisten.bench.config import BenchConfig
    from wheretolisten.bench.runner import run_bench
    from wheretolisten.metrics.rows import row_scores
    from wheretolisten.organism import load_organism
    from wheretolisten.readout import ReadoutRule
    from wheretolisten.scenes import ProceduralBank, load_manifest, make_scenes

    torch.set_num_threads(1)
    adapter = load_organism(device="cpu", dtype="float32")
    fractions = (0.1, 0.2, 0.3, 0.5)
    rules = {
        **{
            f"delta {f:g}": ReadoutRule(peak="delta", interval="threshold", fraction=f, smooth_s=0.2)
            for f in fractions
        },
        "snap plain +10 dB": ReadoutRule(peak="delta", interval="snap", margin_db=10.0, bridge_s=0.4),
        # the adaptive snap (+10 dB, bridge 0.4 s) and edges at the protocol's dev-chosen +6 dB, bridge 0.6 s
        **{
            f"{label} {f:g} reach {r:g}": ReadoutRule(
                peak="delta",
                interval=kind,
                margin_db=margin,
                bridge_s=bridge,
                local_s=2.0,
                fraction=f,
                smooth_s=0.2,
                reach_s=r,
            )
            for kind, label, margin, bridge, reaches in (
                ("snap", "snap adaptive in delta", 10.0, 0.4, (0.0, 0.5, 1.0)),
                ("edges", "edges of delta", 6.0, 0.6, (0.5, 1.0)),
            )
            for f in fractions
            for r in reaches
        },
    }
    names = {r.name: k for k, r in rules.items()}
    out: dict[str, Any] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        clean = Path(tmp) / "none"
        make_scenes(ProceduralBank(), args.scenes, clean, 3, 10.0, args.seed, progress=False)
        for kind in ("none", "white", "sounds"):
            root = clean
            if kind != "none":
                root = Path(tmp) / kind
                root.mkdir()
                (root / "audio").mkdir()
                for i, scene in enumerate(load_manifest(clean)):
                    audio, sr = sf.read(scene.audio_path(clean))
                    mixed = np.clip(audio + background(kind, audio.size, sr, 10_000 + i), -1.0, 1.0)
                    sf.write(root / scene.path, mixed, sr, subtype="PCM_16")
                (root / "manifest.jsonl").write_text((clean / "manifest.jsonl").read_text())
            scenes = load_manifest(root)
            config = BenchConfig(
                readout_rule=rules["delta 0.5"],
                compare_rules=tuple(r for k, r in rules.items() if k != "delta 0.5"),
            )
            results = Path(tmp) / f"{kind}.jsonl"
            run_bench(adapter, scenes, root, ["steered"], config, results, show_progress=False)
            rows = [json.loads(line) for line in results.read_text().splitlines()]
            hit = row_scores(rows)["hit"] > 0
            line: dict[str, Any] = {"queries": len(rows), "hit_rate": 100 * float(hit.mean())}
            for rule_name, interval_key in names.items():
                scored = [{**r, "interval_s": r["intervals"][rule_name]} for r in rows]
                iou = row_scores(scored)["iou"]
                widths = [(b - a) for a, b in (r["intervals"][rule_name] for r in rows)]
                line[interval_key] = {
                    "iou": round(float(iou.mean()), 3),
                    "iou_hits": round(float(iou[hit].mean()), 3) if hit.any() else None,
                    "median_width_s": round(float(np.median(widths)), 2),
                }
            out[kind] = line
    print(
        json.dumps(
            {
                "benchmark": "snap_noise",
                "scenes": args.scenes,
                "seed": args.seed,
                "background_dbfs": LEVEL_DBFS,
                "model": adapter.name,
                "machine": {
                    "cpu_count": os.cpu_count(),
                    "load_avg": os.getloadavg(),
                    "python": platform.python_version(),
                },
                "threads": torch.get_num_threads(),
                "versions": {
                    p: metadata.version(p) for p in ("torch", "transformers", "numpy", "wheretolisten")
                },
                "seconds": round(time.perf_counter() - started, 1),
                "results": out,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
