#!/usr/bin/env python
"""How localization cost grows with audio length and with the number of queries per clip.

Random-weight tiny models on CPU by default (``--size full`` on a GPU uses the full-size architectures of
``perf.py``). Prints one JSON line per (family, engine, clip length, queries) with milliseconds per clip and
per clip-query; the shared-prefix engine ("shared") is compared with running every prompt whole ("full").

    python benchmarks/scaling.py --device cpu
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from perf import QUERIES, build, sync

from wheretolisten.localize import LocalizeConfig, localize_many


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--size", choices=["tiny", "full"], default=None)
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default=None)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    device = torch.device(args.device)
    size = args.size or ("full" if device.type == "cuda" else "tiny")
    dtype = getattr(torch, args.dtype or ("bfloat16" if device.type == "cuda" else "float32"))
    rng = np.random.default_rng(0)
    grids = {"qwen2-audio": [5.0, 10.0, 20.0, 30.0], "audioflamingo3": [30.0, 60.0, 120.0, 300.0, 600.0]}
    for family, lengths in grids.items():
        adapter = build(family, size, device, dtype)
        localize_many(adapter, (0.1 * rng.standard_normal(16000)).astype(np.float32), QUERIES[:1])  # warm-up
        for seconds in lengths:
            clip = (0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)
            for n_queries in (1, 3, 6):
                for engine in ("shared", "full"):
                    if engine == "full" and (seconds > 120 or n_queries > 3):
                        continue  # the whole-prompt path is only a reference; keep the run short
                    config = LocalizeConfig(engine=engine)
                    times = []
                    for _ in range(args.repeats):
                        sync(device)
                        start = time.perf_counter()
                        localize_many(adapter, clip, QUERIES[:n_queries], config)
                        sync(device)
                        times.append(time.perf_counter() - start)
                    best = min(times)
                    print(
                        json.dumps(
                            {
                                "family": family,
                                "engine": engine,
                                "audio_s": seconds,
                                "queries": n_queries,
                                "ms_per_clip": round(1000 * best, 1),
                                "ms_per_clip_query": round(1000 * best / n_queries, 1),
                                "device": str(device),
                                "size": size,
                                "dtype": str(dtype),
                            }
                        ),
                        flush=True,
                    )


if __name__ == "__main__":
    main()
