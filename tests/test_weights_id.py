"""What tells checkpoints apart in results: ``checkpoint.weights_fingerprint`` (hashed whole up to
``FULL_HASH_BYTES``, by sampled blocks beyond)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import wheretolisten.models.checkpoint as checkpoint
from wheretolisten.models.checkpoint import weights_fingerprint
from wheretolisten.organism import default_model_path


def _copy(tmp_path: Path, name: str) -> Path:
    return Path(shutil.copytree(default_model_path(), tmp_path / name))


def _flip(path: Path, at: int) -> None:
    """Change one byte of the folder's weight file at offset ``at`` (negative: from the end)."""
    (weights,) = checkpoint.weight_files(path)
    data = bytearray(weights.read_bytes())
    data[at] ^= 0xFF
    weights.write_bytes(bytes(data))


def test_a_copy_keeps_the_print_and_one_changed_byte_changes_it(tmp_path: Path) -> None:
    shipped = weights_fingerprint(default_model_path())
    assert weights_fingerprint(_copy(tmp_path, "copy")) == shipped  # a moved or copied folder
    changed = _copy(tmp_path, "changed")
    _flip(changed, -12345)  # one weight's byte, hashed whole (the folder is far under 2 GB)
    assert weights_fingerprint(changed) != shipped
    other_config = _copy(tmp_path, "config")
    (other_config / "config.json").write_text((other_config / "config.json").read_text() + " ")
    assert weights_fingerprint(other_config) != shipped


def test_above_the_whole_hash_size_sampled_blocks_tell_weights_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond FULL_HASH_BYTES only sampled blocks are read: a change inside one is seen, one between them
    is not (the limitation the README states)."""
    monkeypatch.setattr(checkpoint, "FULL_HASH_BYTES", 1)
    monkeypatch.setattr(checkpoint, "SAMPLES_PER_FILE", 4)
    monkeypatch.setattr(checkpoint, "SAMPLE_BYTES", 1024)
    shipped = weights_fingerprint(default_model_path())
    first_block = _copy(tmp_path, "first")
    _flip(first_block, 100)
    assert weights_fingerprint(first_block) != shipped
    between = _copy(tmp_path, "between")
    (weights,) = checkpoint.weight_files(between)
    _flip(between, weights.stat().st_size // 6)  # between the first and the second of 4 blocks
    assert weights_fingerprint(between) == shipped
