"""Small test utilities shared across test modules."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from wheretolisten import cli

SR = 16000
#: The families of the paper: the general suite runs on these (every family: tests/test_families.py).
CORE_FAMILIES = ("qwen2-audio", "audioflamingo3")


def tones(seconds: float, sounds: list[tuple[float, float]], seed: int = 0) -> np.ndarray:
    """Quiet noise (about -50 dB) with a 900-Hz tone over each (onset, offset) in seconds, hard edges."""
    clip = np.random.default_rng(seed).standard_normal(int(seconds * SR)) * 0.003
    t = np.arange(clip.size) / SR
    for onset, offset in sounds:
        inside = (t >= onset) & (t < offset)
        clip[inside] += 0.3 * np.sin(2 * np.pi * 900 * t[inside])
    return clip.astype(np.float32)


def noise(seconds: float, seed: int = 0, amplitude: float = 0.1) -> np.ndarray:
    """Deterministic white noise, float32 mono at 16 kHz."""
    return (np.random.default_rng(seed).standard_normal(int(round(seconds * SR))) * amplitude).astype(
        np.float32
    )


def run_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str | Path
) -> tuple[int, str, str]:
    """Run ``wheretolisten ARGS`` in-process through ``main``; return (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["wheretolisten", *map(str, args)])
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    out, err = capsys.readouterr()
    return code, out, err


def read_json(path: Path) -> dict[str, Any]:
    """A committed results file (a JSON object)."""
    return dict(json.loads(path.read_text()))


def flat_text(path: Path) -> str:
    """A document's text with every run of whitespace made one space (sentences wrap anywhere)."""
    return " ".join(path.read_text().split())


def hit_cell(entry: dict[str, Any]) -> str:
    """A held-out table cell: hit % with its 95 % Wilson interval, as organism/compare.py writes it."""
    lo, hi = entry["ci95"]
    return f"{100 * entry['hit_rate']:.1f} ({100 * lo:.0f}–{100 * hi:.0f})"


def parameter_count(weights: Path) -> int:
    """How many parameters a safetensors file holds, from its header (no torch)."""
    from safetensors import safe_open

    with safe_open(str(weights), framework="numpy") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118 (not iterable)
