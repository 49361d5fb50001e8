"""A file of any length through the Python API: ``long.localize_file`` does what ``wheretolisten localize``
does (one clip, windows or many queries), with the same detections."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import SR, noise, run_cli
from wheretolisten.errors import AudioError, OptionError
from wheretolisten.localize import localize
from wheretolisten.long import localize_file
from wheretolisten.models import Adapter
from wheretolisten.organism import load_organism
from wheretolisten.results import LocalizeResult, WindowedResult
from wheretolisten.scenes import ProceduralBank, make_scene, scene_seed


@pytest.fixture(scope="module")
def organism() -> Adapter:
    return load_organism(device="cpu", dtype="float32")


def test_three_minutes_give_the_cli_detections(
    organism: Adapter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 3-minute scene with recurring sounds, two queries: the Python call and the CLI's --json agree."""
    seed = scene_seed(0, 3)
    scene, audio = make_scene(
        ProceduralBank(), np.random.default_rng(seed), "long", 8, 180.0, SR, seed=seed, repeats=3
    )
    wav = tmp_path / "three_minutes.wav"
    sf.write(wav, audio, SR)
    queries = list(dict.fromkeys(e.query for e in scene.events))[:2]
    # The model's own detection settings (wheretolisten.json), as the CLI uses them.
    api = localize_file(organism, wav, queries)
    assert [r.query for r in api] == queries
    assert all(isinstance(r, WindowedResult) for r in api)
    assert any(r.detections for r in api)
    out = tmp_path / "cli.json"
    args = ["localize", wav, *(a for q in queries for a in ("-q", q)), "--json", out, "--no-progress"]
    code, stdout, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    for i, result in enumerate(api, start=1):
        cli = json.loads(out.with_suffix(f".{i}.json").read_text())
        assert cli["query"] == result.query
        assert cli["detections"] == result.to_json()["detections"]
        assert cli["windows"] == result.to_json()["windows"]
    assert len(stdout.splitlines()) == len(queries)


def test_a_file_longer_than_one_clip_runs_in_windows(organism: Adapter, tmp_path: Path) -> None:
    """12 s on a 10-s model: ``localize`` refuses it naming its parameters, ``localize_file`` windows it;
    a span of one segment runs as one clip, as the CLI does."""
    wav = tmp_path / "twelve.wav"
    sf.write(wav, noise(12.0, seed=2), SR)
    with pytest.raises(AudioError, match=r"span=\(start_s, end_s\)"):
        localize(organism, wav, "a bell")
    (windowed,) = localize_file(organism, wav, "a bell")
    assert isinstance(windowed, WindowedResult) and len(windowed.windows) == 2
    (clip,) = localize_file(organism, wav, ["a bell"], span=(1.0, 11.0))
    assert isinstance(clip, LocalizeResult)
    assert clip.detections == localize(organism, wav, "a bell", span=(1.0, 11.0)).detections
    with pytest.raises(OptionError, match="one query"):
        localize_file(organism, wav, ["a bell", "a dog"], vector=clip.vector)
