"""Outputs that are not plain files: a named pipe or a device is refused (a rename put a regular file in
its place, /dev/null included), and a symbolic link is written through (the link stays)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from wheretolisten.errors import OutputError
from wheretolisten.files import check_output, write_atomic


def test_a_pipe_is_refused_and_stays_a_pipe(tmp_path: Path) -> None:
    pipe = tmp_path / "out.json"
    os.mkfifo(pipe)
    for write in (lambda: write_atomic(pipe, "{}"), lambda: check_output(pipe)):
        with pytest.raises(OutputError, match="not a regular file"):
            write()
        assert stat.S_ISFIFO(pipe.stat().st_mode)
    with pytest.raises(OutputError, match="not a regular file"):
        check_output("/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_link_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    check_output(link)
    write_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "new" and link.read_text() == "new"
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "made.json")
    write_atomic(dangling, "x")  # the link's target is created, the link kept
    assert dangling.is_symlink() and (tmp_path / "made.json").read_text() == "x"
    far = tmp_path / "far.json"
    far.symlink_to(tmp_path / "sub" / "made.json")
    with pytest.raises(OutputError, match="whose folder does not exist"):
        write_atomic(far, "x")
    assert not (tmp_path / "sub").exists()


def test_localize_output_never_replaces_its_vectors_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``localize --vector vz.safetensors --json vz.json`` replaced the metadata vector build had written
    beside the vector (an input of the command)."""
    import soundfile as sf
    import torch

    from helpers import SR, noise, run_cli
    from wheretolisten.vectors import SteeringVector

    sf.write(tmp_path / "clip.wav", noise(2.0, seed=1), SR)
    vector = SteeringVector({1: torch.ones(160)}, {"query": "a siren"}).save(tmp_path / "vz")
    meta = tmp_path / "vz.json"
    before = meta.read_text()
    code, _, err = run_cli(
        monkeypatch, capsys, "localize", tmp_path / "clip.wav", "--vector", vector, "--json", meta
    )
    assert code == 2 and "also an input" in err and meta.read_text() == before
