#!/usr/bin/env python
"""What one clip's shared audio prefix costs at each batch size: the ceiling of batched windows.

A long recording's windows (with their shifted copies) are batched for their audio prefix
(``session.ClipSession`` over several clips), which is most of a window's work (``windows_batch.py
--profile``). This script builds prefixes for ``--clips`` random 10-s clips, ``--sizes`` at a time, with
the shipped model and its own settings (the decoder depth its layers need), and prints JSON lines: the
machine first; per batch size the best of ``--repeats`` wall times per clip (processor, audio tower and
decoder together); then, with torch's profiler, the self time of each aten operator over the same clips
at the smallest and the largest size (``--ops``), so the matrix products, attention and elementwise
operators can be compared; last the ratio of the smallest size's cost per clip to the best size's, the
most that batching the prefix can gain on this machine.

    python benchmarks/batch_scaling.py [--sizes 1,2,4,8,16] [--clips 16] [--threads 2] [--ops 12]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from long_perf import environment


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1,2,4,8,16", help="clips per prefix pass (each divides --clips)")
    p.add_argument("--clips", type=int, default=16)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--ops", type=int, default=12, help="operators listed per profiled size (0: none)")
    args = p.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    if any(s < 1 or args.clips % s for s in sizes):
        p.error(f"each size must be >= 1 and divide --clips ({args.clips}), got {args.sizes}")
    import numpy as np
    import torch
    from torch.profiler import ProfilerActivity, profile

    from wheretolisten.depth import needed_depth
    from wheretolisten.organism import default_model_path, load_organism
    from wheretolisten.session import ClipSession
    from wheretolisten.settings import LocalizeConfig, resolve

    if args.threads:
        torch.set_num_threads(args.threads)
    adapter = load_organism(device="cpu")
    config = resolve(adapter, LocalizeConfig())
    depth = needed_depth(config.layers, config.probe_layers)
    seconds = adapter.max_audio_limit_s
    print(
        json.dumps(
            {
                "benchmark": "batch_scaling",
                **environment("cpu"),
                "threads": torch.get_num_threads(),
                "model": str(default_model_path()),
                "clip_s": seconds,
                "clips": args.clips,
                "decoder_depth": depth,
            }
        ),
        flush=True,
    )
    rng = np.random.default_rng(0)
    n = int(round(seconds * adapter.sample_rate))
    clips = [(rng.standard_normal(n) * 0.05).astype(np.float32) for _ in range(args.clips)]

    def prefixes(size: int) -> None:
        for first in range(0, args.clips, size):
            ClipSession(adapter, clips[first : first + size], depth=depth)

    per_clip = {}
    with torch.no_grad():
        prefixes(sizes[-1])  # warm-up
        for size in sizes:
            best = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                prefixes(size)
                best = min(best, time.perf_counter() - start)
            per_clip[size] = best / args.clips
            line = {
                "clips_per_pass": size,
                "ms_per_clip": round(1000 * per_clip[size], 2),
                "load_1min": round(os.getloadavg()[0], 2),
            }
            print(json.dumps(line), flush=True)
        if args.ops:
            for size in sorted({sizes[0], sizes[-1]}):
                with profile(activities=[ProfilerActivity.CPU]) as prof:
                    prefixes(size)
                ops = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[: args.ops]
                line = {
                    "profiled_clips_per_pass": size,
                    "self_ms_over_all_clips": {e.key: round(e.self_cpu_time_total / 1000, 1) for e in ops},
                }
                print(json.dumps(line), flush=True)
    best_size = min(per_clip, key=per_clip.__getitem__)
    print(
        json.dumps(
            {
                "best_clips_per_pass": best_size,
                "prefix_gain_bound": round(per_clip[sizes[0]] / per_clip[best_size], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
