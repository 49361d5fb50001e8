"""Small test utilities shared across test modules."""

from __future__ import annotations

import numpy as np

SR = 16000


def noise(seconds: float, seed: int = 0, amplitude: float = 0.1) -> np.ndarray:
    """Deterministic white noise, float32 mono at 16 kHz."""
    return (np.random.default_rng(seed).standard_normal(int(round(seconds * SR))) * amplitude).astype(
        np.float32
    )
