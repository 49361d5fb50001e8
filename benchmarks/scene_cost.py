"""What one synthesized scene costs: ms per 10-s, 3-event scene for each set of scene options.

Prints one JSON object: for each option set, the first scene's time (espeak-ng cache emptied before
each set) and the median and max over ``--n`` scenes of successive seeds (in memory, no wav written;
the cache warms up along them, as it does when a scene set is made), plus the machine
(CPU count, load average, threads, Python, numpy, espeak-ng). Run it with one thread:

    OMP_NUM_THREADS=1 python benchmarks/scene_cost.py [--n 50] [--sample-rate 16000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from importlib import metadata

import numpy as np

from wheretolisten.scenes import SceneOptions, get_bank, make_scene, scene_seed
from wheretolisten.scenes.speech import speak

CASES: dict[str, tuple[str, SceneOptions]] = {
    "procedural, slots (default)": ("procedural", SceneOptions()),
    "procedural, free, levels, pink": (
        "procedural",
        SceneOptions(placement="free", max_overlap=0.3, level_db=(-20, 20), background="pink"),
    ),
    "procedural+speech, free, levels": (
        "procedural+speech",
        SceneOptions(placement="free", max_overlap=0.3, level_db=(-20, 20)),
    ),
    "procedural+speech, free, levels, babble": (
        "procedural+speech",
        SceneOptions(placement="free", max_overlap=0.3, level_db=(-20, 20), background="babble"),
    ),
    "procedural, free, sounds": ("procedural", SceneOptions(placement="free", background="sounds")),
}


def _espeak_version() -> str:
    try:
        done = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.SubprocessError):
        return "not installed"
    return done.stdout.split(" Data at")[0].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="Scenes per option set.")
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--duration", type=float, default=10.0)
    opts = parser.parse_args()
    results: dict[str, object] = {}
    for name, (spec, options) in CASES.items():
        bank = get_bank(spec)
        speak.cache_clear()  # every case starts cold (the cases share seeds, hence voices)
        times = []
        for i in range(opts.n):
            seed = scene_seed(0, i)
            started = time.perf_counter()
            make_scene(
                bank,
                np.random.default_rng(seed),
                f"scene_{i:05d}",
                n_events=3,
                duration_s=opts.duration,
                sample_rate=opts.sample_rate,
                seed=seed,
                options=options,
            )
            times.append(1000 * (time.perf_counter() - started))
        results[name] = {
            "first_ms": round(times[0], 1),
            "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1),
        }
    print(
        json.dumps(
            {
                "benchmark": "scene_cost",
                "scenes_per_case": opts.n,
                "duration_s": opts.duration,
                "n_events": 3,
                "sample_rate": opts.sample_rate,
                "results": results,
                "machine": {
                    "cpus": os.cpu_count(),
                    "load_avg": [round(x, 2) for x in os.getloadavg()],
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                    "python": platform.python_version(),
                    "numpy": metadata.version("numpy"),
                    "espeak_ng": _espeak_version(),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
