"""benchmarks/long_perf.py stays runnable: the GPU step's code path, rehearsed on tiny models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # end to end: run by the full suite and CI, skipped by -m "not slow"

ROOT = Path(__file__).resolve().parent.parent


def test_long_perf_on_tiny_architectures(tmp_path: Path) -> None:
    command = [sys.executable, str(ROOT / "benchmarks" / "long_perf.py"), "--size", "tiny", "--minutes", "1"]
    command += ["--workdir", str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0]["env"]["cpus"] and lines[0]["minutes"] == [1.0]
    runs = {line["family"]: line for line in lines[1:-1]}
    assert runs["qwen2-audio"]["windows"] == 3 and runs["qwen2-audio"]["segment_s"] == 30.0
    assert runs["audioflamingo3"]["windows"] == 1 and runs["audioflamingo3"]["tokens"] == 1500
    assert all(r["audio_s_per_s"] > 0 for r in runs.values()) and "load_1_5_15_after" in lines[-1]
