"""Steering-vector files through the API: the name rule, what save may replace, strict metadata, and every
malformed file one DataError line (the command line shares the name rule and the replace check)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import save_file

from helpers import noise, run_cli
from wheretolisten.errors import DataError, OutputError
from wheretolisten.vectors import HEADER_KEY, SteeringVector


def vector(metadata: dict[str, object] | None = None) -> SteeringVector:
    return SteeringVector({1: torch.arange(8, dtype=torch.float32)}, metadata or {})


def test_save_refuses_a_users_json_beside_the_vector_unless_overwrite(tmp_path: Path) -> None:
    """save('results') replaced the user's results.json with vector metadata; a vector's own metadata
    is still replaced by a new save without overwrite."""
    notes = tmp_path / "results.json"
    notes.write_text('{"my": "precious results"}\n')
    with pytest.raises(OutputError, match=r"results\.json.*overwrite=True"):
        vector().save(tmp_path / "results")
    assert notes.read_text() == '{"my": "precious results"}\n'
    assert not (tmp_path / "results.safetensors").exists()
    assert vector().save(tmp_path / "results", overwrite=True) == tmp_path / "results.safetensors"
    assert json.loads(notes.read_text())["format_version"] == 1
    vector({"query": "again"}).save(tmp_path / "results.safetensors")  # its own metadata: replaced
    assert json.loads(notes.read_text())["query"] == "again"


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("dog", "dog.safetensors"),
        ("dog.safetensors", "dog.safetensors"),
        ("dog.v1", "dog.v1.safetensors"),
        ("run.2024.05", "run.2024.05.safetensors"),
    ],
)
def test_a_suffix_is_appended_never_replaced(tmp_path: Path, name: str, written: str) -> None:
    """save('dog.v1') wrote dog.safetensors and save('run.2024.05') run.2024.safetensors: two names
    could become one file. The CLI's vector_file follows the same rule."""
    from wheretolisten.cli.options import vector_file

    path = vector().save(tmp_path / name)
    assert path == tmp_path / written and path.is_file()
    assert path.with_suffix(".json").is_file()
    assert vector_file(tmp_path / name, "--out") == tmp_path / written


def test_metadata_is_a_dict_of_json_values(tmp_path: Path) -> None:
    """metadata=None was accepted and failed when saving; NaN was written as a bare NaN (invalid JSON);
    a numpy scalar was a raw json TypeError after the .safetensors file was already written."""
    with pytest.raises(DataError, match="metadata must be a dict"):
        SteeringVector({1: torch.ones(8)}, None)  # type: ignore[arg-type]
    for bad in (float("nan"), np.float32("inf")):
        with pytest.raises(DataError, match="NaN or infinity"):
            vector({"alpha": bad}).save(tmp_path / "bad")
    with pytest.raises(DataError, match="JSON values"):
        vector({"where": object()}).save(tmp_path / "bad")
    assert not list(tmp_path.iterdir())  # nothing written, not even the .safetensors
    path = vector({"alpha": np.float32(2.5), "n": np.int64(3), "ok": np.bool_(True)}).save(tmp_path / "np")
    meta = json.loads(path.with_suffix(".json").read_text())
    assert (meta["alpha"], meta["n"], meta["ok"]) == (2.5, 3, True)
    assert SteeringVector.load(path).metadata["n"] == 3


def write(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, object] | None = None) -> Path:
    save_file(tensors, str(path), metadata={HEADER_KEY: json.dumps(meta)} if meta is not None else None)
    return path


def test_malformed_vector_files_are_one_data_error(tmp_path: Path) -> None:
    """float8 was a NotImplementedError, layer.1 + layer.01 became one layer, format 99 and bool
    directions were read without a word."""
    f8 = write(tmp_path / "f8.safetensors", {"layer.1": torch.randn(8).to(torch.float8_e4m3fn)})
    with pytest.raises(DataError, match="float8"):
        SteeringVector.load(f8)
    boolean = write(tmp_path / "bool.safetensors", {"layer.1": torch.ones(8, dtype=torch.bool)})
    with pytest.raises(DataError, match="must be a float tensor"):
        SteeringVector.load(boolean)
    whole = write(tmp_path / "int.safetensors", {"layer.1": torch.ones(8, dtype=torch.int64)})
    with pytest.raises(DataError, match="must be a float tensor"):
        SteeringVector.load(whole)
    dup = write(tmp_path / "dup.safetensors", {"layer.1": torch.randn(8), "layer.01": torch.randn(8)})
    with pytest.raises(DataError, match="both layer 1"):
        SteeringVector.load(dup)
    newer = write(tmp_path / "v99.safetensors", {"layer.1": torch.randn(8)}, {"format_version": 99})
    with pytest.raises(DataError, match="newer than this wheretolisten reads"):
        SteeringVector.load(newer)
    odd = write(tmp_path / "v0.safetensors", {"layer.1": torch.randn(8)}, {"format_version": "1"})
    with pytest.raises(DataError, match="format_version must be a whole number"):
        SteeringVector.load(odd)
    with pytest.raises(DataError, match="must be a float tensor"):
        SteeringVector({1: torch.ones(8, dtype=torch.bool)})
    half = write(tmp_path / "half.safetensors", {"layer.2": torch.randn(8).half()}, {"format_version": 1})
    assert SteeringVector.load(half).layers == [2]


def test_load_takes_a_bytes_path(tmp_path: Path) -> None:
    """A bytes path was a pathlib TypeError; it is read like the str path (os.fsdecode)."""
    path = vector({"query": "a siren"}).save(tmp_path / "v")
    assert SteeringVector.load(bytes(path)).metadata["query"] == "a siren"
    assert vector().save(bytes(tmp_path / "w")) == tmp_path / "w.safetensors"


def test_cli_save_vector_writes_the_files_it_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--save-vector run.v1 with two queries: the check covered run.v1.1/.2.safetensors, but the files
    were written as run.1.safetensors and run.2.safetensors (numbered before the suffix rule)."""
    wav = tmp_path / "clip.wav"
    sf.write(wav, noise(3.0), 16000)
    args = ("localize", wav, "-q", "a siren", "-q", "a dog", "--save-vector", tmp_path / "run.v1")
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    written = sorted(p.name for p in tmp_path.glob("*.safetensors"))
    assert written == ["run.v1.1.safetensors", "run.v1.2.safetensors"]
