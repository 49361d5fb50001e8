"""The benchmark scripts stay runnable: a tiny perf run on CPU, and the shell scripts parse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # end to end: run by the full suite and CI, skipped by -m "not slow"

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


def test_perf_table_renders_the_measurements(tmp_path: Path) -> None:
    perf = [
        {"env": {"device": "NVIDIA H200", "torch": "2.11", "transformers": "5.17.0", "dtype": "bf16",
                 "size": "full"}},
        {
            "family": "qwen2-audio", "naive_ms_per_clip_query": 240.0, "optimized_ms_per_clip_query": 30.0,
            "speedup": 8.0, "peak_mem_gib_naive": 18.5, "peak_mem_gib_optimized": 17.2,
            "max_profile_diff": 1e-3, "same_peak_token": True, "same_readouts": True,
        },
        {
            "family": "audioflamingo3", "long_audio_s": 600.0, "audio_tokens": 15000, "queries": 3,
            "seconds": 0.9, "weights_gib": 15.4, "peak_mem_gib": 20.1, "beyond_weights_gib": 4.7,
        },
        {"speedup": 8.0, "same_readouts": True},
    ]  # fmt: skip
    (tmp_path / "perf.jsonl").write_text("".join(json.dumps(d) + "\n" for d in perf) + "Traceback: noise\n")
    command = [sys.executable, str(ROOT / "benchmarks" / "perf_table.py"), str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("Device: NVIDIA H200; torch 2.11, transformers 5.17.0")
    assert "| qwen2-audio | last token | 240.0 | 30.0 | **8.0×** | 18.50 / 17.20 | yes" in out
    assert "**4.70 GiB beyond the weights**" in out and "| overall | last token | | | **8.0×** |" in out
    empty = subprocess.run([*command[:2], str(tmp_path / "none")], capture_output=True, text=True)
    assert empty.returncode == 2 and "no perf.jsonl" in empty.stderr


def test_batch_invariance_script_agrees_with_the_adapters() -> None:
    command = [
        sys.executable, str(ROOT / "benchmarks" / "batch_invariance.py"),
        "--families", "qwen2-audio", "phi4-multimodal",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0]["size"] == "tiny"
    assert [row["family"] for row in lines[1:]] == ["qwen2-audio", "phi4-multimodal"]
    for row in lines[1:]:
        assert (row["relative_change"] < 1e-5) == row["batch_invariant"], row


def test_page_size_script_on_a_short_recording(tmp_path: Path) -> None:
    """benchmarks/page_size.py end to end on 15 s (the shipped model, headless Chromium)."""
    from browser import MISSING, chromium_paths

    if chromium_paths() is None:
        pytest.skip(MISSING)
    pytest.importorskip("selenium", reason=MISSING)
    command = [sys.executable, str(ROOT / "benchmarks" / "page_size.py"), "--minutes", "0.25"]
    command += ["--workdir", str(tmp_path)]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    run = lines[1]
    assert run["minutes"] == 0.25 and run["tokens"] == 375 and run["queries"] == 2
    assert 0 < run["linked_page_mb"] < run["page_mb"] and run["audio_duration_s"] == pytest.approx(
        15.0, abs=0.1
    )
    assert 0 < run["first_drawing_s"] < run["open_wall_s"] + 1


def test_batch_scaling_script_times_prefixes_per_clip() -> None:
    """benchmarks/batch_scaling.py on 2 clips, 1 and 2 per pass: one line per size, operators, the bound."""
    command = [sys.executable, str(ROOT / "benchmarks" / "batch_scaling.py"), "--sizes", "1,2"]
    command += ["--clips", "2", "--repeats", "1", "--ops", "3", "--threads", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines[0]["benchmark"] == "batch_scaling" and lines[0]["threads"] == 1
    assert lines[0]["decoder_depth"] >= 1 and lines[0]["clip_s"] == 10.0
    sizes = [line for line in lines if "clips_per_pass" in line]
    assert [s["clips_per_pass"] for s in sizes] == [1, 2] and all(s["ms_per_clip"] > 0 for s in sizes)
    profiled = [line for line in lines if "profiled_clips_per_pass" in line]
    assert [p["profiled_clips_per_pass"] for p in profiled] == [1, 2]
    assert all(len(p["self_ms_over_all_clips"]) == 3 for p in profiled)
    fastest = min(sizes, key=lambda s: s["ms_per_clip"])
    assert lines[-1]["best_clips_per_pass"] == fastest["clips_per_pass"]
    assert lines[-1]["prefix_gain_bound"] == pytest.approx(
        sizes[0]["ms_per_clip"] / fastest["ms_per_clip"], abs=0.02
    )


def test_batch_scaling_script_refuses_a_size_that_does_not_divide_the_clips() -> None:
    command = [sys.executable, str(ROOT / "benchmarks" / "batch_scaling.py"), "--sizes", "3", "--clips", "4"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "divide --clips" in done.stderr.strip().splitlines()[-1]
