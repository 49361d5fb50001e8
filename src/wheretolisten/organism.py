"""The shipped default model: a small audio-language model with a real pretrained ear, for trying the method.

What it is: the exact ``Qwen2AudioForConditionalGeneration`` architecture with OpenAI Whisper base's
encoder as its audio tower (MIT licence; converted by ``organism/convert_whisper.py``, frozen; 10-s
window, one audio token per 40 ms) and a small Qwen2 decoder trained in this repository on CPU
(``organism/train.py``, log in ``organism/train.log``) on varied synthetic scenes: the 8 classes of
:class:`~wheretolisten.scenes.ProceduralBank` and 25 words and phrases spoken by espeak-ng, with overlaps,
level spread and backgrounds, asked direct questions about them ("When does a siren start and end?").

What it is not: Qwen2-Audio. It knows only the sounds and texts its ``wheretolisten.json`` declares
(``wheretolisten env`` lists them; ``localize`` warns about other queries), accepts at most 10 s per
window, and its numbers (``organism/evaluate.py``) say nothing about a real LALM. Its steering settings,
chosen on dev scenes, live only in ``assets/organism/wheretolisten.json``.

Scene seeds: training scenes are ``scene_seed(TRAIN_SEED_BASE, k)`` for k = 0, 1, …; the dev set used to
choose layers and alpha is ``scene_seed(DEV_SEED_BASE, i)``; held-out test scenes are
``scene_seed(TEST_SEED_BASE, i)``, the seeds that ``scenes.make_scenes(..., seed=0)`` uses, and the
evaluation sets of ``organism/evaluate.py`` use their own seeds. The bases differ, so streams do not overlap.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ModelError

if TYPE_CHECKING:
    from .models.base import Adapter

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


def load_organism(device: str | None = "auto", dtype: str | None = "auto") -> Adapter:
    """Load the shipped organism; its dev-chosen steering settings come from its ``wheretolisten.json``."""
    from .models import load_model

    return load_model(default_model_path(), device=device, dtype=dtype)
