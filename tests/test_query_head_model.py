"""The query-head ablation model of ``organism/whisper/`` is in the repository without its 40-MB encoder
shard; ``train.py assemble`` writes that shard from the two Whisper packages with the same header and tensor
bytes as the export wrote, and the assembled folder loads and localizes with its own dev-chosen settings."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from wheretolisten.errors import ModelError
from wheretolisten.models import whisper_ct2

REPO = Path(__file__).resolve().parents[1]
FOLDER = REPO / "organism" / "whisper" / "query_head"

try:
    whisper_ct2.locate()
except ModelError as exc:
    MISSING = str(exc)
else:
    MISSING = ""


def test_the_committed_folder_says_what_was_built_in() -> None:
    training = json.loads((FOLDER / "training.json").read_text())
    assert training["residual_stream_losses"] is True and training["steering_templates_trained"] is False
    assert training["query_head"] == {"weight": 0.5, "layer": 2} and training["steps_done"] == 3052
    index = json.loads((FOLDER / "model.safetensors.index.json").read_text())["weight_map"]
    assert set(index.values()) == {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}
    assert not (FOLDER / "model-00001-of-00002.safetensors").exists()  # never committed: assembled


@pytest.mark.slow
@pytest.mark.skipif(bool(MISSING), reason=f"Whisper base packages absent: {MISSING}")
def test_assembled_model_has_the_exported_encoder_and_localizes(tmp_path: Path, one_thread: None) -> None:
    spec = importlib.util.spec_from_file_location("whisper_train", REPO / "organism" / "whisper" / "train.py")
    assert spec is not None and spec.loader is not None
    train = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = train  # its dataclasses look their module up
    spec.loader.exec_module(train)
    folder = tmp_path / "model"
    shutil.copytree(FOLDER, folder)
    train.stage_assemble(folder, print)
    # the same header (as JSON: safetensors writes the metadata keys in hash-map order, so the raw bytes
    # of two writes may differ there) and the same tensor bytes as the shard the export wrote
    raw = (folder / "model-00001-of-00002.safetensors").read_bytes()
    size = struct.unpack("<Q", raw[:8])[0]
    assert json.loads(raw[8 : 8 + size]) == json.loads((FOLDER / "encoder_header.json").read_text())
    expected = (FOLDER / "encoder.sha256").read_text().split()[0]
    assert hashlib.sha256(raw[8 + size :]).hexdigest() == expected

    from wheretolisten.localize import localize
    from wheretolisten.models.registry import load_model
    from wheretolisten.scenes import ProceduralBank, make_scene, scene_seed

    adapter = load_model(str(folder), device="cpu")
    assert adapter.recommended["localize"] == {"layers": [0], "probe_layers": [1], "alpha": 2.0}
    seed = scene_seed(0, 0)
    scene, audio = make_scene(ProceduralBank(), np.random.default_rng(seed), "s", n_events=3, seed=seed)
    result = localize(adapter, audio, scene.events[0].query)
    assert 0.0 <= result.peak_s <= 10.0
