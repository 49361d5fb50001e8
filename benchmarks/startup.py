"""How long the command line takes before it answers: errors first, then the shipped model's demo.

Prints one JSON object: the median wall time (s) of each command over ``--repeats`` runs, the exit code,
and the machine (CPU count, load average, Python, torch, transformers). Argument and file errors must
come back well under a second: they are checked before torch is imported. The last four lines time the
imports alone: those any command running the shipped model needs (torch, then transformers' Qwen2-Audio
class), the floor under the model commands' start-up; then the Qwen2-Audio adapter alone against the
registry of every family (what importing only the family in use could save).

    python benchmarks/startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

#: What any command that runs the shipped model must import, timed alone: the floor under its start-up.
FLOOR = {
    "python -c 'import torch'": "import torch",
    "python -c 'from transformers import Qwen2AudioForConditionalGeneration'": (
        "from transformers import Qwen2AudioForConditionalGeneration"
    ),
    # one family's adapter against the registry of all: what a lazy registry could save
    "python -c 'import wheretolisten.models.qwen2_audio'": "import wheretolisten.models.qwen2_audio",
    "python -c 'import wheretolisten.models.registry'": "import wheretolisten.models.registry",
}


def timed(args: list[str], repeats: int, python: str | None = None) -> dict[str, object]:
    """Median wall time and the exit code of ``wheretolisten ARGS`` (or of ``python -c PYTHON``)."""
    times, code = [], 0
    command = [sys.executable, "-c", python] if python else [sys.executable, "-m", "wheretolisten", *args]
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env={**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9"},  # a closed port: no hub
        )
        times.append(time.perf_counter() - started)
        code = done.returncode
    return {"median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3), "exit": code}


def in_process(clip: Path, repeats: int) -> dict[str, object]:
    """Median wall time of ``localize()`` in this process with the shipped model already loaded (the call
    alone: imports, model loading and the first call's warm-up are outside it), with the threads the
    command line would pick for it."""
    from wheretolisten.localize import localize
    from wheretolisten.organism import load_organism
    from wheretolisten.threads import apply_threads, resolve_threads

    adapter = load_organism(device="cpu")
    threads = apply_threads(resolve_threads(None, sum(p.numel() for p in adapter.model.parameters())))
    localize(adapter, clip, "a siren")
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        localize(adapter, clip, "a siren")
        times.append(time.perf_counter() - started)
    return {"median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3), "threads": threads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-model", action="store_true", help="Skip the commands that load the model.")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "clip.wav"
        import numpy as np
        import soundfile as sf

        sf.write(wav, (np.random.default_rng(0).standard_normal(16000 * 3) * 0.1).astype("float32"), 16000)
        silent = Path(tmp) / "silent.wav"
        sf.write(silent, np.zeros(16000 * 2, dtype="float32"), 16000)
        loc = ["localize", str(wav), "-q", "a siren"]
        long_clip = Path(tmp) / "long.wav"  # longer than the shipped model's 10 s
        sf.write(long_clip, np.zeros(16000 * 20, dtype="float32") + 0.1, 16000)
        cases = {
            # checked before torch is imported (tests/test_prechecks.py asserts it)
            "localize: --start 6 --end 3": [*loc, "--start", "6", "--end", "3"],
            "localize: --start past the end": [*loc, "--start", "9"],
            "localize: silent audio": ["localize", str(silent), "-q", "a siren"],
            "localize: --layers 99": [*loc, "--layers", "99"],
            "localize: mistyped model folder": [*loc, "--model", str(Path(tmp) / "modle")],
            "localize: folder without a model": [*loc, "--model", tmp],
            "localize: hub id, hub unreachable": [*loc, "--model", "nobody/not-a-model"],
            "localize: --json in a missing folder": [*loc, "--json", "/nonexistent_dir/x.json"],
            "generate: a file too long for the model": ["generate", str(long_clip), "-q", "a siren"],
            "plot-alpha: a file too long for the model": [
                "plot-alpha",
                str(long_clip),
                "-q",
                "a siren",
                "--out",
                str(Path(tmp) / "a.png"),
            ],
            "--version": ["--version"],
            "--help": ["--help"],
            "localize: missing audio file": ["localize", str(Path(tmp) / "missing.wav"), "-q", "a siren"],
            "localize: reversed --layers": ["localize", str(wav), "-q", "a siren", "--layers", "12-8"],
            "localize: --json is the input": ["localize", str(wav), "-q", "a siren", "--json", str(wav)],
            "bench run: missing scenes": [
                "bench",
                "run",
                str(Path(tmp) / "nope"),
                "--out",
                str(Path(tmp) / "r.jsonl"),
            ],
        }
        clip10 = Path(tmp) / "clip10.wav"
        sf.write(
            clip10, (np.random.default_rng(1).standard_normal(16000 * 10) * 0.1).astype("float32"), 16000
        )
        if not opts.no_model:
            cases["env"] = ["env"]
            cases["localize (shipped model, 3-s clip)"] = ["localize", str(wav), "-q", "a siren"]
            cases["localize (shipped model, 10-s clip)"] = ["localize", str(clip10), "-q", "a siren"]
            cases["demo"] = ["demo"]
        results = {
            name: timed(args, opts.repeats if "demo" not in name else 1) for name, args in cases.items()
        }
        if not opts.no_model:
            results["python localize() on a 10-s clip, model loaded"] = in_process(clip10, opts.repeats)
            for name, code in FLOOR.items():
                results[name] = timed([], opts.repeats, python=code)
    print(
        json.dumps(
            {
                "benchmark": "startup",
                "machine": {
                    "cpus": os.cpu_count(),
                    "load_average_1min": round(os.getloadavg()[0], 2),
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "torch": metadata.version("torch"),
                    "transformers": metadata.version("transformers"),
                },
                "repeats": opts.repeats,
                "commands": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
