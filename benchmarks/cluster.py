"""Units per second of ``bench run``: the local runner against Ray with 1 and 2 CPU workers.

Every run is the same command in a fresh process (``wheretolisten bench run SCENES --conditions ...``, the
shipped model, one torch thread per process), with ``--ray local --workers N`` for Ray. For each run:
the wall time of the whole command, the seconds spent on the units (the summary line's figure, from the
first unit to the last row written) and units per second over those; start-up = wall − units (imports,
model loading in every worker, Ray's start and stop). On Ray the units start as soon as one worker is
ready, so the others' start-up overlaps the first units; each Ray run is therefore repeated in this
process with the phases apart (every worker ready before the first unit), and Ray's start and stop are
also timed alone.
Prints one JSON object with the machine (CPU, load average before and after, versions).

    python benchmarks/cluster.py [--scenes 20] [--conditions steered,prompted] [--workers 1,2] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

SUMMARY = re.compile(r"wrote (\d+) rows \((\d+) scenes run.*rows in all, ([\d.]+) s")


def cpu_name() -> str:
    """The CPU's model name (Linux), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def bench_run(scenes: Path, out: Path, conditions: str, workers: int | None) -> dict[str, Any]:
    """One ``bench run`` in a fresh process: wall seconds, units, seconds on the units, units per second."""
    command = [sys.executable, "-m", "wheretolisten", "bench", "run", str(scenes), "--out", str(out),
               "--conditions", conditions, "--no-progress"]  # fmt: skip
    if workers is not None:
        command += ["--ray", "local", "--workers", str(workers)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    found = SUMMARY.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"bench run failed ({done.returncode}): {done.stderr[-2000:]}")
    units, seconds = int(found.group(2)), float(found.group(3))
    return {"wall_s": wall, "units": units, "units_s": seconds, "startup_s": wall - seconds}


def steady(scenes: Path, out: Path, conditions: str, workers: int) -> dict[str, Any]:
    """Ray in this process, the phases apart: start Ray, start every worker, run the units, stop."""
    import ray

    from wheretolisten.bench import RaySpec, bench_config, load_scenes, parse_conditions
    from wheretolisten.bench.cluster import ray_pool
    from wheretolisten.bench.cluster_pool import run_on_pool

    names, config = parse_conditions(conditions), bench_config()
    scene_list, root = load_scenes(scenes, config)
    started = time.perf_counter()
    ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    up = time.perf_counter()
    with ray_pool(RaySpec(workers=workers), names) as pool:
        assert pool.ready_all() == workers
        ready = time.perf_counter()
        cfg, model = pool.ask("describe", config)
        report = run_on_pool(pool, scene_list, root, names, cfg, model, out, False, print)
    done = time.perf_counter()
    ray.shutdown()
    return {
        "runner": "ray (phases apart)",
        "workers": workers,
        "units": report.units_run,
        "ray_init_s": round(up - started, 2),
        "workers_ready_s": round(ready - up, 2),
        "units_s": round(report.seconds, 2),
        "units_per_s": round(report.units_run / report.seconds, 2),
        "stop_s": round(time.perf_counter() - done, 2),
    }


def ray_start_stop() -> dict[str, float]:
    """Seconds to start a local Ray instance (every CPU, no dashboard) and to stop it, in this process."""
    import ray

    started = time.perf_counter()
    ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    up = time.perf_counter()
    ray.shutdown()
    return {"ray_init_s": round(up - started, 2), "ray_shutdown_s": round(time.perf_counter() - up, 2)}


def median_run(runs: list[dict[str, Any]], runner: str, workers: int) -> dict[str, Any]:
    """The median of repeated runs, rounded, with units per second over the units' seconds."""
    med = {k: statistics.median(r[k] for r in runs) for k in ("wall_s", "units_s", "startup_s")}
    units = runs[0]["units"]
    return {
        "runner": runner,
        "workers": workers,
        "units": units,
        **{k: round(v, 2) for k, v in med.items()},
        "units_per_s": round(units / med["units_s"], 2),
        "units_per_s_wall": round(units / med["wall_s"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=20)
    parser.add_argument("--conditions", default="steered,prompted")
    parser.add_argument("--workers", default="1,2", help="Ray worker counts to time, comma-separated.")
    parser.add_argument("--repeats", type=int, default=1)
    opts = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"  # one torch thread per process, here and in the workers
    from wheretolisten.scenes import ProceduralBank, make_scenes

    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        scenes = Path(tmp) / "scenes"
        make_scenes(ProceduralBank(), opts.scenes, scenes, 3, 10.0, seed=0, progress=False)
        plan: list[tuple[str, int | None]] = [("local", None)]
        plan += [("ray", int(n)) for n in opts.workers.split(",")]
        for runner, workers in plan:
            runs = [
                bench_run(scenes, Path(tmp) / f"{runner}-{workers}-{k}.jsonl", opts.conditions, workers)
                for k in range(opts.repeats)
            ]
            results.append(median_run(runs, runner, workers or 1))
            if runner == "ray" and workers is not None:
                apart = [
                    steady(scenes, Path(tmp) / f"apart-{workers}-{k}.jsonl", opts.conditions, workers)
                    for k in range(opts.repeats)
                ]
                results.append({k: statistics.median(r[k] for r in apart) if k != "runner" else v
                                for k, v in apart[0].items()})  # fmt: skip
    ray_alone = ray_start_stop()
    load_after = os.getloadavg()
    print(
        json.dumps(
            {
                "benchmark": "cluster",
                "machine": {
                    "device": f"cpu: {cpu_name()}",
                    "cpus": os.cpu_count(),
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in load_after],
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    **{p: metadata.version(p) for p in ("torch", "transformers", "ray")},
                },
                "model": "shipped organism",
                "scenes": opts.scenes,
                "conditions": opts.conditions,
                "repeats": opts.repeats,
                "runs": results,
                **ray_alone,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
