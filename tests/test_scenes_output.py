"""Writing a scenes directory: settings and outputs refused before anything is written, stale wavs
removed on regeneration (and nothing else), and the content hash that keys benchmark rows."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wheretolisten.errors import DataError, OutputError, WTLError
from wheretolisten.scenes import ProceduralBank, load_manifest, make_scenes, write_manifest
from wheretolisten.scenes.annotations import import_annotations

SR = 8000
DUR = 3.0


def _make(out: Path, n: int = 2, **kwargs: object) -> list:
    settings: dict = {"duration_s": DUR, "seed": 0, "sample_rate": SR, "progress": False, **kwargs}
    return make_scenes(ProceduralBank(), n, out, **settings)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


# ---- refused before anything is written -------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"n": 0}, "at least 1"),
        ({"n": -3}, "at least 1"),
        ({"n_events": 0}, "n_events"),
        ({"n_events": -1}, "n_events"),
        ({"duration_s": math.inf}, "duration_s"),
        ({"duration_s": math.nan}, "duration_s"),
        ({"duration_s": 0.0}, "duration_s"),
        ({"duration_s": -5.0}, "duration_s"),
        ({"sample_rate": 0}, "sample_rate"),
        ({"sample_rate": -8000}, "sample_rate"),
        ({"repeats": 0}, "repeats"),
    ],
)
def test_bad_settings_fail_in_one_line_and_write_nothing(
    tmp_path: Path, settings: dict[str, float], message: str
) -> None:
    out = tmp_path / "scenes"
    with pytest.raises(WTLError, match=message) as caught:
        _make(out, **settings)  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)
    assert not out.exists()


def _file_in_the_way(tmp_path: Path) -> Path:
    (tmp_path / "scenes").write_text("not a folder")
    return tmp_path / "scenes"


def _under_a_file(tmp_path: Path) -> Path:
    (tmp_path / "plain").write_text("a file")
    return tmp_path / "plain" / "scenes"


def _audio_is_a_file(tmp_path: Path) -> Path:
    (tmp_path / "scenes").mkdir()
    (tmp_path / "scenes" / "audio").write_text("a file")
    return tmp_path / "scenes"


@pytest.mark.parametrize("where", [_file_in_the_way, _under_a_file, _audio_is_a_file])
def test_unwritable_output_fails_before_writing(tmp_path: Path, where) -> None:
    out = where(tmp_path)
    before = _files(tmp_path)
    with pytest.raises(OutputError) as caught:
        _make(out)
    assert "\n" not in str(caught.value) and "scenes" in str(caught.value)
    assert _files(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_output_fails_before_writing(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="cannot write"):
            _make(locked / "scenes")
        with pytest.raises(OutputError, match="cannot write"):
            _make(locked)
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


# ---- regeneration -----------------------------------------------------------------------------------


def test_regenerating_removes_only_the_wavs_the_old_manifest_listed(tmp_path: Path) -> None:
    out = tmp_path / "scenes"
    _make(out, n=4)
    mine = {"audio/mine.wav", "audio/scene_00099.wav", "audio/scene_notes.txt", "notes.txt"}
    for name in mine:
        (out / name).write_bytes(b"the user's own file")
    with pytest.raises(OutputError, match=r"already holds manifest\.jsonl"):
        _make(out, n=2, duration_s=4.0, seed=5)  # scenes are replaced only when asked
    scenes = _make(out, n=2, duration_s=4.0, seed=5, overwrite=True)
    listed = {s.path for s in scenes}
    assert listed == {"audio/scene_00000.wav", "audio/scene_00001.wav"}
    assert _files(out) == listed | mine | {"manifest.jsonl", "events.tsv"}
    assert all((out / name).read_bytes() == b"the user's own file" for name in mine)
    assert load_manifest(out) == scenes
    assert sf.info(str(out / "audio" / "scene_00000.wav")).duration == pytest.approx(4.0)


def test_regenerating_over_a_broken_manifest_deletes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "scenes"
    _make(out, n=3)
    (out / "manifest.jsonl").write_bytes(b"\xff\xfe not a manifest\n")
    _make(out, n=1, overwrite=True)
    assert {"audio/scene_00001.wav", "audio/scene_00002.wav"} <= _files(out)


def test_regenerating_over_imported_recordings_keeps_them(tmp_path: Path) -> None:
    out = tmp_path / "scenes"
    (out / "audio").mkdir(parents=True)
    noise = 0.1 * np.random.default_rng(0).standard_normal(4 * SR).astype(np.float32)
    sf.write(out / "audio" / "scene_00007.wav", noise, SR)  # a recording named like a synthesized scene
    tsv = tmp_path / "strong.tsv"
    tsv.write_text("filename\tonset\toffset\tevent_label\nscene_00007.wav\t0.5\t1.5\tDog\n")
    assert import_annotations(tsv, out / "audio", out).manifest is not None
    recording = (out / "audio" / "scene_00007.wav").read_bytes()
    with pytest.raises(OutputError, match="already holds"):
        _make(out, n=1)
    _make(out, n=1, overwrite=True)
    assert (out / "audio" / "scene_00007.wav").read_bytes() == recording


# ---- content hash -----------------------------------------------------------------------------------


def test_content_hash_follows_the_content_not_the_file(tmp_path: Path) -> None:
    out = tmp_path / "scenes"
    scene = _make(out, n=1)[0]
    first = scene.content_hash(out)
    assert len(first) == 16 and int(first, 16) >= 0
    write_manifest(load_manifest(out), out)  # rewritten identically: the same content
    assert load_manifest(out)[0].content_hash(out) == first

    moved = json.loads((out / "manifest.jsonl").read_text())
    moved["events"][0]["onset_s"] += 0.001
    moved["events"][0]["active"][0] += 0.001
    (out / "manifest.jsonl").write_text(json.dumps(moved) + "\n")
    assert load_manifest(out)[0].content_hash(out) != first

    wav = out / scene.path
    data = bytearray(wav.read_bytes())
    data[-1] ^= 0x01  # one bit of the last sample
    wav.write_bytes(bytes(data))
    assert scene.content_hash(out) != first


def test_content_hash_ignores_names_and_needs_the_audio(tmp_path: Path) -> None:
    out = tmp_path / "scenes"
    scene = _make(out, n=1)[0]
    renamed = dataclasses.replace(scene, scene_id="other", seed=1, bank="elsewhere")
    assert renamed.content_hash(out) == scene.content_hash(out)
    (out / scene.path).unlink()
    with pytest.raises(DataError, match=r"scene_00000\.wav"):
        scene.content_hash(out)
