#!/usr/bin/env python
"""Long recordings: windows one after another against windows in batches, shipped model, one process.

Writes a synthetic recording (``long_perf.write_recording``), loads the shipped model once and runs
``long.localize_long(..., batch_windows=1)`` (sequential) and ``batch_windows=None`` (batches sized by
memory) alternately, ``--repeats`` times each, at each thread count of ``--threads``. Prints JSON lines:
the machine first, then one per run (wall seconds, windows, detections, whether the detections equal the
sequential run's), then per thread count the median speed-up. With ``--profile``, one more run of each
path under cProfile at the last thread count: the seconds spent in the matrix kernels (linear layers,
attention, convolutions), which batching does not remove (larger matrices may use the cores better), the
seconds spent building audio prefixes (``session.ClipSession``: processor, audio tower, decoder), and
the speed-up batching would reach if it removed everything else: the median unprofiled sequential time
over the batched run's kernel time (cProfile slows the many small calls of the sequential path more, so
its profiled time is not used).

    python benchmarks/windows_batch.py --minutes 20 --threads 1,2 --repeats 2 [--shifts 1] [--profile]
        [--copies-per-batch 16,32,64]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from long_perf import environment, write_recording

#: cProfile names of the torch kernels that do the model's arithmetic (a batch does not reduce their work).
KERNELS = {
    "linear": "<built-in method torch._C._nn.linear>",
    "attention": "<built-in method torch._C._nn.scaled_dot_product_attention>",
    "conv1d": "<built-in method torch.conv1d>",
}
#: cProfile names of the copies a pass makes (key/value copies per row, the rotary embedding's joins).
COPIES = {
    "cat": "<built-in method torch.cat>",
    "index_select": "<method 'index_select' of 'torch._C.TensorBase' objects>",
}


def kernel_seconds(profile: cProfile.Profile, names: dict[str, str] = KERNELS) -> dict[str, float]:
    """Seconds of each of ``names`` in ``profile`` (their own time)."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    out = dict.fromkeys(names, 0.0)
    for (_, _, name), (_, _, tottime, _, _) in stats.items():
        for key, label in names.items():
            if name == label:
                out[key] += tottime
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--threads", default="1")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--shifts", type=int, default=None, help="default: the shipped model's own")
    p.add_argument("--profile", action="store_true", help="also profile one run of each path")
    p.add_argument(
        "--copies-per-batch",
        default=None,
        help="also time the batched path at the last thread count with at most these many clips (shifted "
        "copies) per batch, e.g. 16,32,64 (engine.batch.MAX_WINDOWS_PER_BATCH, 16 by default)",
    )
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
        if args.copies_per_batch:
            import wheretolisten.engine.batch as batching

            shipped = batching.MAX_WINDOWS_PER_BATCH
            try:
                for copies in (int(c) for c in args.copies_per_batch.split(",")):
                    batching.MAX_WINDOWS_PER_BATCH = copies
                    start = time.perf_counter()
                    (result,) = localize_long(adapter, wav, ["a siren"], config)
                    line = {
                        "path": "batched",
                        "copies_per_batch": copies,
                        # fewer copies than two windows' run each window on its own (the sequential path)
                        "windows_per_batch": max(1, copies // resolve(adapter, config).shifts),
                        "threads": torch.get_num_threads(),
                        "seconds": round(time.perf_counter() - start, 2),
                        "identical_detections": result.detections == reference.detections,
                        "load_1min": round(os.getloadavg()[0], 2),
                    }
                    print(json.dumps(line), flush=True)
            finally:
                batching.MAX_WINDOWS_PER_BATCH = shipped
        if args.profile:
            found: dict[str, dict[str, float]] = {}
            for name, batch in (("sequential", 1), ("batched", None)):
                profile = cProfile.Profile()
                start = time.perf_counter()
                profile.enable()
                localize_long(adapter, wav, ["a siren"], config, batch_windows=batch)
                profile.disable()
                found[name] = {"seconds": time.perf_counter() - start, **kernel_seconds(profile)}
                kernels = sum(found[name][k] for k in KERNELS)
                copies = kernel_seconds(profile, COPIES)
                stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
                features = sum(  # transformers' log-mel features, all calls (cumulative)
                    cum
                    for (_, _, fn), (_, _, _, cum, _) in stats.items()
                    if fn == "_torch_extract_fbank_features"
                )
                prefixes = sum(  # the audio prefixes (processor, tower, decoder): ClipSession(...) calls
                    cum
                    for (path, _, fn), (_, _, _, cum, _) in stats.items()
                    if fn == "__init__" and path.endswith(os.path.join("wheretolisten", "session.py"))
                )
                print(
                    json.dumps(
                        {
                            "profile": name,
                            "threads": torch.get_num_threads(),
                            "seconds": round(found[name]["seconds"], 2),
                            "kernel_seconds": {k: round(found[name][k], 2) for k in KERNELS},
                            "copy_seconds": {k: round(v, 2) for k, v in copies.items()},
                            "feature_extraction_seconds": round(features, 2),
                            "prefix_seconds": round(prefixes, 2),
                            "kernel_share": round(kernels / found[name]["seconds"], 3),
                            "load_1min": round(os.getloadavg()[0], 2),
                        }
                    ),
                    flush=True,
                )
            batched_kernels = sum(found["batched"][k] for k in KERNELS)
            bound = statistics.median(times["sequential"]) / batched_kernels
            print(json.dumps({"speedup_bound_if_only_kernels_remained": round(bound, 2)}))


if __name__ == "__main__":
    main()
