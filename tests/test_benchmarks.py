"""The benchmark scripts stay runnable: a tiny perf run on CPU, and the shell scripts parse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_perf_script_on_tiny_models() -> None:
    command = [
        sys.executable, str(ROOT / "benchmarks" / "perf.py"), "--device", "cpu", "--families", "qwen2-audio",
        "--clips", "1", "--clip-s", "2", "--queries", "2", "--long-minutes", "0", "--positions", "audio",
    ]  # fmt: skip
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0]["env"]["size"] == "tiny" and lines[0]["env"]["positions"] == "audio"
    family = lines[1]
    assert family["family"] == "qwen2-audio" and family["queries_per_clip"] == 2
    assert family["delta_not_flat"] and family["max_profile_diff"] <= 1e-6
    assert set(lines[-1]) == {"speedup", "same_readouts"} and lines[-1]["same_readouts"] is True


@pytest.mark.parametrize("script", ["gpu_session.sh", "fetch_device_wheels.sh"])
def test_shell_scripts_parse(script: str) -> None:
    done = subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
