#!/usr/bin/env python
"""Recordings of any length: seconds of audio localized per second and peak memory against length.

Writes a synthetic recording of each length (a -45 dB noise floor with a procedural siren, bell or knock
every 20 s; written in one-minute chunks, so the script itself never holds it whole) and localizes
"a siren" in it, printing one JSON line per length after a line with the machine, its load and versions.

Shipped model (default, CPU): each length runs the command line as a user would,
``wheretolisten localize REC.wav -q "a siren" --json OUT --tsv OUT.tsv``, in its own process; peak RSS
is that process's (``wait4``), and a 10-s run gives the fixed cost (start-up, model) to subtract.

    python benchmarks/long_perf.py --minutes 1,10,60

Random-weight full-size architectures on a GPU (``--size full``, as ``perf.py`` builds them), in this
process: time and the CUDA allocator's peak beyond the weights for each family.

    python benchmarks/long_perf.py --device cuda --size full --minutes 60
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
SR = 16000
EVENT_EVERY_S = 20.0
LABELS = ("siren", "bell", "knock")


def write_recording(path: Path, minutes: float, seed: int = 0) -> list[tuple[float, float, str]]:
    """A synthetic recording written chunk by chunk; returns its (onset, offset, label) events."""
    from wheretolisten.scenes import ProceduralBank

    bank, rng = ProceduralBank(), np.random.default_rng(seed)
    total = int(round(minutes * 60 * SR))
    chunk = 60 * SR
    events = []
    with sf.SoundFile(str(path), "w", SR, 1, "PCM_16") as out:
        for first in range(0, total, chunk):
            n = min(chunk, total - first)
            x = rng.standard_normal(n) * 0.05 * 10 ** (-45 / 20)
            t0 = first / SR
            for k in range(int(np.ceil(t0 / EVENT_EVERY_S)), int((t0 + n / SR) // EVENT_EVERY_S) + 1):
                onset = k * EVENT_EVERY_S + 3.0
                length = 2.0
                a = int(round((onset - t0) * SR))
                if a < 0 or a + int(length * SR) > n:
                    continue
                label = LABELS[k % len(LABELS)]
                y = np.asarray(bank.render(label, rng, SR, length), dtype=np.float64)[: int(length * SR)]
                x[a : a + y.size] += y * 0.05 / np.sqrt(np.mean(y**2))
                events.append((onset, onset + length, label))
            out.write(x.astype(np.float32))
    return events


def environment(device: str) -> dict[str, Any]:
    import torch
    import transformers

    return {
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "cpus": os.cpu_count(),
        "load_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }


def run_cli(wav: Path, out: Path) -> dict[str, Any]:
    """``wheretolisten localize`` in its own process: wall seconds and that process's peak RSS."""
    command = [sys.executable, "-m", "wheretolisten", "localize", str(wav), "-q", "a siren"]
    command += ["--json", str(out), "--tsv", str(out.with_suffix(".tsv")), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    threads = policy_threads(env)
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if status != 0:
        raise SystemExit(f"localize failed: {stderr[-2000:]}")
    return {"seconds": seconds, "peak_rss_gib": usage.ru_maxrss / 2**20, "threads": threads}


def policy_threads(env: dict[str, str]) -> str:
    """The torch threads the command is about to take (the thread policy's choice for the shipped model at
    this moment's load, or what an environment variable sets), so each line records it."""
    from wheretolisten.models.checkpoint import parameter_count
    from wheretolisten.organism import default_model_path
    from wheretolisten.threads import resolve_threads

    choice = resolve_threads(None, parameter_count(default_model_path()), env)
    return (
        f"{choice.threads} ({choice.reason})"
        if choice.threads is not None
        else f"torch's own ({choice.reason})"
    )


def detection_summary(out: Path, events: list[tuple[float, float, str]]) -> dict[str, Any]:
    from wheretolisten.metrics import event_f1

    data = json.loads(out.read_text())
    found = data["detections"]
    sirens = [e for e in events if e[2] == "siren"]
    pred = [
        {"filename": "r", "onset": d["onset_s"], "offset": d["offset_s"], "event_label": "s"} for d in found
    ]
    ref = [{"filename": "r", "onset": a, "offset": b, "event_label": "s"} for a, b, _ in sirens]
    onset = event_f1(pred, ref, 0.2, 0.2, evaluate_offset=False)
    return {
        "windows": len(data["windows"]["spans_s"]) if "windows" in data else 1,
        "tokens": len(data["profile"]["delta"]),
        "detections": len(found),
        "sirens": len(sirens),
        "onset_f1": round(onset["f1"], 3),
        "json_mib": round(out.stat().st_size / 2**20, 2),
    }


def organism_runs(minutes: list[float], workdir: Path) -> None:
    base_wav = workdir / "ten_seconds.wav"
    write_recording(base_wav, 10 / 60)
    base = run_cli(base_wav, workdir / "base.json")
    print(json.dumps({"audio_s": 10.0, **base, "note": "fixed cost: start-up, model, one clip"}), flush=True)
    for m in minutes:
        wav = workdir / f"rec_{m:g}min.wav"
        events = write_recording(wav, m)
        out = workdir / f"rec_{m:g}min.json"
        got = run_cli(wav, out)
        audio_s = m * 60
        line = {
            "audio_s": audio_s,
            **got,
            "audio_s_per_s": audio_s / got["seconds"],
            "audio_s_per_s_after_startup": audio_s / max(1e-9, got["seconds"] - base["seconds"]),
            "rss_beyond_10s_run_gib": got["peak_rss_gib"] - base["peak_rss_gib"],
            **detection_summary(out, events),
        }
        print(json.dumps(line), flush=True)
        wav.unlink()


def architecture_runs(args: argparse.Namespace, minutes: list[float], workdir: Path) -> None:
    """Random-weight architectures in this process (``perf.build``): time and peak memory."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from perf import build, peak_memory, sync

    from wheretolisten.long import localize_long

    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype or ("bfloat16" if device.type == "cuda" else "float32"))
    for family in args.families.split(","):
        adapter = build(family, args.size, device, dtype)
        weights = sum(p.numel() * p.element_size() for p in adapter.model.parameters()) / 2**30
        for m in minutes:
            wav = workdir / f"rec_{m:g}min.wav"
            if not wav.exists():
                write_recording(wav, m)
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
            sync(device)
            start = time.perf_counter()
            (result,) = localize_long(adapter, wav, ["a siren"], show_progress=False)
            sync(device)
            seconds = time.perf_counter() - start
            line = {
                "family": family,
                "size": args.size,
                "dtype": str(dtype),
                "audio_s": m * 60,
                "seconds": seconds,
                "audio_s_per_s": m * 60 / seconds,
                "windows": len(result.windows),
                "segment_s": result.segment_s,
                "tokens": int(result.profile.delta.size),
                "weights_gib": weights,
                "peak_mem_gib": peak_memory(device),
                "beyond_weights_gib": peak_memory(device) - weights if device.type == "cuda" else None,
            }
            print(json.dumps(line), flush=True)
        del adapter
        if device.type == "cuda":
            torch.cuda.empty_cache()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", default="1,10,60", help="comma-separated recording lengths in minutes")
    p.add_argument("--device", default="cpu")
    p.add_argument("--size", choices=["tiny", "full"], default=None, help="random-weight architectures")
    p.add_argument("--families", default="qwen2-audio,audioflamingo3")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default=None)
    p.add_argument("--workdir", type=Path, default=None, help="where the recordings go (default: a temp dir)")
    args = p.parse_args()
    minutes = [float(m) for m in args.minutes.split(",") if m.strip()]
    print(json.dumps({"env": environment(args.device), "minutes": minutes}), flush=True)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        if args.size is None:
            organism_runs(minutes, Path(tmp))
        else:
            architecture_runs(args, minutes, Path(tmp))
    print(json.dumps({"load_1_5_15_after": [round(x, 2) for x in os.getloadavg()]}), flush=True)


if __name__ == "__main__":
    main()
