"""The shipped default model: a small "model organism" for trying the method and for tests.

What it is: a ~3M-parameter audio-language model with the exact ``Qwen2AudioForConditionalGeneration``
architecture (Whisper-style encoder with conv stride 2 and average pooling, so one audio token per
40 ms; a Qwen2 decoder; Qwen2-Audio's chat template), trained from scratch on CPU in this repository
(``organism/train.py``, logs in ``organism/train.log`` and ``organism/train_stage2.log``) on procedural
scenes of the 8 classes of :class:`~wheretolisten.scenes.ProceduralBank`, with a 10-s encoder window, to
answer questions that require listening to particular events ("Listen for a siren." → "3.4 to 5.0
seconds."): first in quiet, then in a second stage on varied scenes (noise, babble and other sounds under
the events, overlaps, level spread).

What it is not: Qwen2-Audio, or any pretrained model. It knows only the 8 procedural classes and
the question forms it was trained on, accepts at most 10 s of audio, and its localization numbers
(``organism/evaluate.py``) say nothing about how the method behaves on a real LALM. Its steering and
detection settings, chosen on dev scenes (organism/README.md), live only in
``assets/organism/wheretolisten.json``.

Scene seeds: training scenes are ``scene_seed(TRAIN_SEED_BASE, k)`` for k = 0, 1, … (the second stage's
``scene_seed(TRAIN_SEED_BASE + 1, k)``); the dev set
used to choose layers and alpha is ``scene_seed(DEV_SEED_BASE, i)``; held-out test scenes (the
evaluation and ``tests/test_organism.py``) are ``scene_seed(TEST_SEED_BASE, i)``, the seeds that
``scenes.make_scenes(..., seed=0)`` uses. The three bases differ, so the streams do not overlap.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ModelError

if TYPE_CHECKING:
    import numpy as np

    from .models.base import Adapter
    from .scenes import Scene

#: Base seed of the training scenes (scene k is seeded by ``scene_seed(TRAIN_SEED_BASE, k)``).
TRAIN_SEED_BASE = 1_000_000
#: Base seed of the dev scenes on which layers and alpha were chosen.
DEV_SEED_BASE = 50_000
#: Base seed of the held-out test scenes (``make_scenes(..., seed=0)``).
TEST_SEED_BASE = 0

#: Files a usable organism directory must contain (weights: one file, or shards and their index).
REQUIRED_FILES = ("config.json", "processor_config.json")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")


def asset_dir() -> Path:
    """Where the organism's files live inside the installed package (they may be missing)."""
    return Path(str(resources.files("wheretolisten") / "assets" / "organism"))


def default_model_path() -> Path:
    """Directory of the shipped organism (weights, config, processor and its tuned ``wheretolisten.json``)."""
    root = asset_dir()
    missing = [name for name in REQUIRED_FILES if not (root / name).is_file()]
    if not any((root / name).is_file() for name in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES))
    if missing:
        raise ModelError(
            f"the shipped model organism is missing ({', '.join(missing)} not found in {root}); "
            "reinstall wheretolisten, retrain it with organism/train.py, or pass a model path explicitly"
        )
    return root


def demo_scene(seed: int = 0, sample_rate: int = 16000, max_s: float = 10.0) -> tuple[Scene, np.ndarray]:
    """The scene ``wheretolisten demo`` localizes: three procedural events in 10 s (or ``max_s`` if the
    model takes less), seeded by ``scene_seed(seed, 0)`` (``seed`` 0: the held-out test stream)."""
    import numpy as np

    from .scenes import ProceduralBank, make_scene, scene_seed

    rng = np.random.default_rng(scene_seed(seed, 0))
    duration = min(10.0, max_s)
    return make_scene(ProceduralBank(), rng, f"demo-{seed}", 3, duration, sample_rate, target=0, seed=seed)


def load_organism(device: str | None = "auto", dtype: str | None = "auto") -> Adapter:
    """Load the shipped organism; its dev-chosen steering settings come from its ``wheretolisten.json``."""
    from .models import load_model

    return load_model(default_model_path(), device=device, dtype=dtype)
