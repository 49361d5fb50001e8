#!/usr/bin/env python
"""Long recordings: windows one after another against windows in batches, shipped model, one process.

Writes a synthetic recording (``long_perf.write_recording``), loads the shipped model once and runs
``long.localize_long(..., batch_windows=1)`` (sequential) and ``batch_windows=None`` (batches sized by
memory) alternately, ``--repeats`` times each, at each thread count of ``--threads``. Prints JSON lines:
the machine first, then one per run (wall seconds, windows, detections, whether the detections equal the
sequential run's), then per thread count the median speed-up.

    python benchmarks/windows_batch.py --minutes 20 --threads 1,2 --repeats 2 [--shifts 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from long_perf import environment, write_recording


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--threads", default="1")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--shifts", type=int, default=None, help="default: the shipped model's own")
    args = p.parse_args()
    import numpy as np
    import torch

    from wheretolisten.long import localize_long
    from wheretolisten.organism import default_model_path, load_organism

    print(
        json.dumps(
            {
                "benchmark": "windows_batch",
                **environment("cpu"),
                "model": str(default_model_path()),
                "minutes": args.minutes,
            }
        ),
        flush=True,
    )
    adapter = load_organism(device="cpu")
    from wheretolisten.settings import LocalizeConfig, resolve

    config = LocalizeConfig(shifts=args.shifts)
    print(json.dumps({"shifts": resolve(adapter, config).shifts}))
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "rec.wav"
        write_recording(wav, args.minutes)
        for threads in (int(t) for t in args.threads.split(",")):
            torch.set_num_threads(threads)
            times: dict[str, list[float]] = {"sequential": [], "batched": []}
            reference = None
            for _ in range(args.repeats):
                for name, batch in (("sequential", 1), ("batched", None)):
                    start = time.perf_counter()
                    (result,) = localize_long(adapter, wav, ["a siren"], config, batch_windows=batch)
                    seconds = time.perf_counter() - start
                    times[name].append(seconds)
                    if reference is None:
                        reference = result
                    same = result.detections == reference.detections
                    gap = float(np.abs(result.score - reference.score).max())
                    line = {
                        "path": name,
                        "threads": threads,
                        "seconds": round(seconds, 2),
                        "windows": len(result.windows),
                        "detections": len(result.detections),
                        "identical_detections": same,
                        "max_score_difference": gap,
                        "load_1min": round(os.getloadavg()[0], 2),
                    }
                    print(json.dumps(line), flush=True)
            speedup = statistics.median(times["sequential"]) / statistics.median(times["batched"])
            print(json.dumps({"threads": threads, "speedup_batched_over_sequential": round(speedup, 2)}))


if __name__ == "__main__":
    main()
