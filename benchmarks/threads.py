#!/usr/bin/env python
"""CPU threads: ``localize`` on a long recording at several thread counts, idle and under load.

For each condition (``idle``: the machine as found; ``busy``: one CPU-burning process per usable core
started ``--warmup-s`` before, so that the load average has risen) it runs, each in its own process as a
user would, ``wheretolisten localize REC.wav -q "a siren" --json OUT --no-progress`` with ``--threads N``
for every N of ``--threads`` and once with the default policy (no --threads, OMP_NUM_THREADS and
WHERETOLISTEN_THREADS unset). Prints JSON lines: the machine first, then one per run with its wall
seconds, the thread count the policy would choose at that moment, the load average when it started
(idle runs first wait, up to ``--settle-s``, for it to fall below 0.3: a run just after another would
see that one's load, and the policy counts a core busy from 0.5), and whether its detections are
identical to the first run's; last, per condition, the default's time over the best fixed setting's.

    python benchmarks/threads.py --minutes 20 --threads 1,2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from long_perf import write_recording  # noqa: E402


def machine() -> dict[str, Any]:
    from importlib import metadata

    from wheretolisten.threads import physical_cores, usable_cpus

    cpus = usable_cpus()
    return {
        "benchmark": "threads",
        "cpus": os.cpu_count(),
        "usable_cpus": len(cpus),
        "physical_cores": physical_cores(cpus),
        "load_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": metadata.version("torch"),
        "transformers": metadata.version("transformers"),
    }


def run(wav: Path, out: Path, threads: int | None) -> dict[str, Any]:
    """One ``localize`` process: wall seconds and a digest of its detections."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "WHERETOLISTEN_THREADS")}
    env["PYTHONPATH"] = str(ROOT / "src")
    command = [sys.executable, "-m", "wheretolisten", "localize", str(wav), "-q", "a siren"]
    command += ["--json", str(out), "--no-progress", *(["--threads", str(threads)] if threads else [])]
    from wheretolisten.threads import resolve_threads

    model_parameters = policy_parameters()
    chosen = resolve_threads(threads, model_parameters, env).threads
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"localize failed: {done.stderr[-2000:]}")
    found = json.loads(out.read_text())["detections"]
    digest = hashlib.sha256(json.dumps(found, sort_keys=True).encode()).hexdigest()[:16]
    return {
        "threads": threads or "default",
        "threads_used": chosen,
        "seconds": round(seconds, 2),
        "detections": len(found),
        "digest": digest,
    }


def policy_parameters() -> int:
    """The shipped model's parameter count, read from its safetensors headers (no torch needed)."""
    from wheretolisten.models.checkpoint import parameter_count
    from wheretolisten.organism import default_model_path

    return parameter_count(default_model_path())


def burners(count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` processes that each keep one core busy until killed."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def settle(limit_s: float, below: float = 0.3) -> float:
    """Wait until the 1-minute load average is below ``below`` (at most ``limit_s``); seconds waited."""
    start = time.perf_counter()
    while os.getloadavg()[0] >= below and time.perf_counter() - start < limit_s:
        time.sleep(2.0)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--threads", default="1,2", help="fixed thread counts to compare with the default")
    p.add_argument("--conditions", default="idle,busy")
    p.add_argument("--warmup-s", type=float, default=30.0, help="burn this long before the busy runs")
    p.add_argument(
        "--settle-s",
        type=float,
        default=120.0,
        help="idle runs: wait (at most this long) until the 1-minute load average is below 0.3, so that "
        "each run starts on an idle machine rather than just after the previous run (the policy counts a "
        "core busy from a load of 0.5)",
    )
    args = p.parse_args()
    counts = [int(t) for t in args.threads.split(",") if t.strip()]
    print(json.dumps({**machine(), "minutes": args.minutes, "model_parameters": policy_parameters()}))
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "rec.wav"
        write_recording(wav, args.minutes)
        reference = None
        for condition in args.conditions.split(","):
            procs = burners(len(os.sched_getaffinity(0))) if condition == "busy" else []
            try:
                if procs:
                    time.sleep(args.warmup_s)
                times: dict[str, float] = {}
                for threads in [*counts, None]:
                    waited = settle(args.settle_s) if condition == "idle" else 0.0
                    start_load = round(os.getloadavg()[0], 2)
                    line = run(wav, Path(tmp) / "out.json", threads)
                    line.update(settled_s=round(waited, 1), load_at_start=start_load)
                    reference = reference or line["digest"]
                    line.update(
                        condition=condition,
                        identical=line["digest"] == reference,
                        load_1min=round(os.getloadavg()[0], 2),
                    )
                    times[str(line["threads"])] = line["seconds"]
                    print(json.dumps(line), flush=True)
            finally:
                for proc in procs:
                    proc.kill()
                    proc.wait()
            best = min(v for k, v in times.items() if k != "default")
            print(
                json.dumps({"condition": condition, "default_over_best": round(times["default"] / best, 2)})
            )


if __name__ == "__main__":
    main()
