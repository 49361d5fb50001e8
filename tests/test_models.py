from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from helpers import CORE_FAMILIES, noise
from wheretolisten.errors import ModelError
from wheretolisten.models import FAMILIES as REGISTERED
from wheretolisten.models import Adapter, AudioFlamingo3Adapter, Qwen2AudioAdapter, load_model, wrap
from wheretolisten.models.tiny import build_tiny_model
from wheretolisten.probe import ATTN_NAME, install

FAMILIES = CORE_FAMILIES


def test_registry_picks_adapter_by_model_type(adapters: dict[str, Adapter]) -> None:
    assert isinstance(adapters["qwen2-audio"], Qwen2AudioAdapter)
    assert isinstance(adapters["audioflamingo3"], AudioFlamingo3Adapter)
    for a in adapters.values():
        install(a)  # what every probing call does first (the models layer knows nothing of the probe)
        assert a.language_model.config._attn_implementation == ATTN_NAME
        # The audio tower keeps plain SDPA: only the decoder is probed.
        assert a.audio_tower.config._attn_implementation == "sdpa"


def test_decoder_layers_are_the_language_models_not_the_encoders() -> None:
    # An encoder deeper than the decoder, as in AF3: a regex over module names would pick the wrong stack.
    model, processor = build_tiny_model("audioflamingo3", size={"enc_layers": 6, "layers": 3})
    a = wrap(model, processor)
    assert a.num_layers == 3
    assert a.decoder_layers is model.model.language_model.layers
    assert len(a.audio_tower.layers) == 6
    assert type(a.decoder_layers[0]).__name__ == "Qwen2DecoderLayer"


def test_af3_tiny_uses_grouped_query_attention(adapters: dict[str, Adapter]) -> None:
    cfg = adapters["audioflamingo3"].language_model.config
    assert cfg.num_key_value_heads < cfg.num_attention_heads
    cfg = adapters["qwen2-audio"].language_model.config
    assert cfg.num_key_value_heads == cfg.num_attention_heads


def test_prompt_structure_matches_the_real_templates(adapters: dict[str, Adapter]) -> None:
    q = adapters["qwen2-audio"].render_prompt("Describe the audio.")
    assert q == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>\nDescribe the audio.<|im_end|>\n<|im_start|>assistant\n"
    )
    f = adapters["audioflamingo3"].render_prompt("Describe the audio.")
    assert f == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "<sound>Describe the audio.<|im_end|>\n<|im_start|>assistant\n"
    )


@pytest.mark.parametrize("family", list(FAMILIES))
def test_time_axis_of_a_12s_clip(adapters: dict[str, Adapter], family: str) -> None:
    a = adapters[family]
    batch = a.encode([noise(12.0)], ["Describe the audio."])
    n_audio = int(a.audio_mask(batch["input_ids"]).sum())
    assert n_audio == 300
    assert a.window_token_counts(12 * 16000) == [300]
    t = a.time_axis(n_audio)
    assert t[0] == 0.0 and t[1] == pytest.approx(0.04) and t[-1] == pytest.approx(11.96)


def test_af3_time_axis_continues_across_windows(adapters: dict[str, Adapter]) -> None:
    a = adapters["audioflamingo3"]
    assert a.window_token_counts(75 * 16000) == [750, 750, 375]
    batch = a.encode([noise(75.0)], ["Describe the audio."])
    assert batch["input_features"].shape[0] == 3  # three 30-s windows
    assert int(a.audio_mask(batch["input_ids"]).sum()) == 1875
    t = a.time_axis(1875)
    assert t[750] == pytest.approx(30.0) and t[1500] == pytest.approx(60.0) and t[-1] == pytest.approx(74.96)


def test_qwen2_audio_refuses_audio_longer_than_its_window(adapters: dict[str, Adapter]) -> None:
    with pytest.raises(ModelError, match="at most 30 s"):
        adapters["qwen2-audio"].encode([noise(31.0)], ["Describe the audio."])


def test_af3_refuses_more_than_ten_minutes(adapters: dict[str, Adapter]) -> None:
    with pytest.raises(ModelError, match="at most 600 s"):
        adapters["audioflamingo3"].check_duration(600.5)


def test_instruction_span_covers_exactly_the_instruction(adapter: Adapter) -> None:
    batch = adapter.encode([noise(2.0), noise(3.0)], ["Listen for the dog barking.", "Describe the audio."])
    for row, text in zip(
        batch["input_ids"], ["Listen for the dog barking.", "Describe the audio."], strict=True
    ):
        start, end = adapter.instruction_span(row)
        assert adapter.tokenizer.decode(row[start:end]) == text


def test_encode_pads_on_the_requested_side(adapter: Adapter) -> None:
    clips = [noise(2.0), noise(4.0)]
    left = adapter.encode(clips, ["Describe the audio."] * 2, padding_side="left")
    right = adapter.encode(clips, ["Describe the audio."] * 2, padding_side="right")
    assert left["attention_mask"][0, 0] == 0 and left["attention_mask"][0, -1] == 1
    assert right["attention_mask"][0, 0] == 1 and right["attention_mask"][0, -1] == 0
    assert torch.equal(left["attention_mask"].sum(1), right["attention_mask"].sum(1))


def test_unknown_model_type(tmp_path: Path, tiny_dirs: dict[str, Path]) -> None:
    target = tmp_path / "m"
    shutil.copytree(tiny_dirs["qwen2-audio"], target)
    cfg = json.loads((target / "config.json").read_text())
    cfg["model_type"] = "llama"
    (target / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="unknown model type 'llama'"):
        load_model(target, device="cpu")


def test_model_dir_without_processor(tmp_path: Path, tiny_dirs: dict[str, Path]) -> None:
    target = tmp_path / "m"
    target.mkdir()
    for name in ("config.json", "model.safetensors", "generation_config.json"):
        shutil.copy(tiny_dirs["audioflamingo3"] / name, target / name)
    with pytest.raises(ModelError, match="no tokenizer here"):
        load_model(target, device="cpu")


def test_missing_model_dir() -> None:
    with pytest.raises(ModelError, match="no such model directory"):
        load_model("./does/not/exist", device="cpu")


def test_cli_env_describes_the_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    import torch
    import transformers
    from packaging.version import Version

    from helpers import run_cli

    code, stdout, err = run_cli(monkeypatch, capsys, "env", "--json")
    assert code == 0, err
    info = json.loads(stdout)
    # The installed distribution's version may lack the build's local part (PyPI: 2.14.1, torch.__version__:
    # 2.14.1+cu130), so the public versions are compared.
    assert Version(info["torch"]).public == Version(torch.__version__).public
    assert info["transformers"] == transformers.__version__
    assert info["cuda"] == torch.version.cuda
    chosen = info["threads_for_shipped_model"]
    assert chosen.split(" ")[0].isdigit() or chosen.startswith("torch's own (from OMP_NUM_THREADS")
    assert info["torch_build"].startswith(
        f"CUDA {torch.version.cuda}" if torch.version.cuda else ("ROCm", "CPU")
    )
    assert info["families"] == sorted(REGISTERED) and info["shipped_model"].endswith("organism")
    # what a query to the shipped model may name, from its wheretolisten.json
    assert "a bell ringing" in info["shipped_model_sounds"]
    assert "someone saying 'seven'" in info["shipped_model_speech"]
    # and the settings it declares (localize and detection), as its wheretolisten.json has them
    declared = json.loads((Path(info["shipped_model"]) / "wheretolisten.json").read_text())
    assert info["shipped_model_settings"]["shifts"] == str(declared["localize"]["shifts"])
    assert info["shipped_model_settings"]["detect_min_score"] == str(declared["detect"]["min_score"])
    assert info["shipped_model_settings"]["interval"] == declared["localize"]["interval"] == "edges"
    assert info["shipped_model_settings"]["detect_smooth_s"] == str(declared["detect"]["smooth_s"])
    code, stdout, _ = run_cli(monkeypatch, capsys, "env")
    assert code == 0 and f"transformers: {transformers.__version__}" in stdout.splitlines()
    lines = stdout.splitlines()
    assert any(line.startswith("shipped_model_sounds: a steady tone, a siren") for line in lines)


@pytest.mark.parametrize(
    ("version", "cuda", "hip", "shown"),
    [
        ("2.14.1+cu130", "13.0", None, "CUDA 13.0 (2.14.1+cu130)"),
        ("2.13.0+cpu", None, None, "CPU only (2.13.0+cpu)"),
        ("2.14.1", None, "6.3.4", "ROCm 6.3.4 (2.14.1)"),
    ],
)
def test_env_names_the_torch_build(version: str, cuda: str | None, hip: str | None, shown: str) -> None:
    from wheretolisten.cli.tools import torch_build

    assert torch_build(version, cuda, hip) == shown


def test_version_and_module_entry_point(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import subprocess
    import sys

    from helpers import run_cli
    from wheretolisten import __version__

    code, stdout, _ = run_cli(monkeypatch, capsys, "--version")
    assert code == 0 and stdout.strip() == f"wheretolisten {__version__}"
    command = [sys.executable, "-m", "wheretolisten", "--version"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == f"wheretolisten {__version__}"
