"""Detections with edges (``DetectConfig(edges=True)``): each detection's onset and offset moved to the
audio's nearest onset or offset, and a detection whose moved span overlaps a stronger one's dropped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import SR, run_cli, tones
from wheretolisten.detections import DetectConfig, Detection, detect, snap_to_audio
from wheretolisten.errors import OptionError
from wheretolisten.intervals import energy_db
from wheretolisten.localize import LocalizeConfig, localize
from wheretolisten.long import localize_long
from wheretolisten.models import Adapter
from wheretolisten.windows import WindowConfig

TOKEN = 0.04


def _level(
    n: int, sounds: list[tuple[float, float]], quiet: float = -60.0, loud: float = -10.0
) -> np.ndarray:
    """A level per token: ``quiet`` dB with ``loud`` dB over each (onset, offset) in seconds."""
    level = np.full(n, quiet)
    for a, b in sounds:
        level[int(round(a / TOKEN)) : int(round(b / TOKEN))] = loud
    return level + np.random.default_rng(0).normal(0, 0.5, n)


def test_the_setting_is_the_models_then_off_and_only_written_when_on() -> None:
    assert DetectConfig().filled().edges is False
    assert DetectConfig().filled({"detect": {"edges": True}}).edges is True
    assert DetectConfig(edges=False).filled({"detect": {"edges": True}}).edges is False
    assert "edges" not in DetectConfig().filled().to_json()  # older settings keep their JSON and hashes
    assert DetectConfig(edges=True).filled().to_json()["edges"] is True
    with pytest.raises(OptionError, match=r"detect\.edges"):
        DetectConfig().filled({"detect": {"edges": "yes"}})
    with pytest.raises(OptionError, match="edges"):
        DetectConfig(edges=1)  # type: ignore[arg-type]


def test_edges_move_to_the_sound_and_one_sound_is_one_detection() -> None:
    """A sound at 4.0–6.0 s whose Δ rose in two bumps (4.4–4.9 and 5.3–5.8 s): one detection, on the
    sound's onset and offset; a bump over silence far from any sound keeps Δ's edges."""
    n = 500
    score = np.zeros(n)
    for a, b, height in ((4.4, 4.9, 5.0), (5.3, 5.8, 4.0), (15.0, 15.6, 3.0)):
        score[int(a / TOKEN) : int(b / TOKEN)] = height
    cfg = DetectConfig(min_score=1.0, smooth_s=0.0, fraction=0.5, min_gap_s=0.0)
    found = detect(score, TOKEN, cfg)
    assert len(found) == 3  # Δ alone: the sound twice
    level = _level(n, [(4.0, 6.0)])
    moved = snap_to_audio(found, score, level, TOKEN, cfg)
    assert [(d.onset_s, d.offset_s) for d in moved] == [(4.0, 6.0), (15.0, 15.6)]
    assert [d.score for d in moved] == [found[0].score, found[2].score]


def test_the_onset_stays_without_an_onset_in_reach_and_the_offset_is_the_sounds_end() -> None:
    """Δ's detection at 10.0–10.8 s inside a sound of 8.0–14.0 s: the sound's onset lies beyond the 1-s
    reach, so the onset stays Δ's; the peak lies in the sound, so the offset is the sound's end. Over
    silence, with no sound anywhere near, both edges stay."""
    n = 500
    level = _level(n, [(8.0, 14.0)])
    score = np.zeros(n)
    score[250:270] = 3.0
    cfg = DetectConfig(smooth_s=0.0)
    assert snap_to_audio([Detection(10.0, 10.8, 3.0)], score, level, TOKEN, cfg) == [
        Detection(10.0, 14.0, 3.0)
    ]
    quiet = _level(n, [])
    assert snap_to_audio([Detection(10.0, 10.8, 3.0)], score, quiet, TOKEN, cfg) == [
        Detection(10.0, 10.8, 3.0)
    ]


def test_long_recordings_snap_on_the_whole_files_level(adapter: Adapter, tmp_path: Path) -> None:
    """Windowed detections with edges are the stitched score's detections moved on the file's level."""
    wav = tmp_path / "long.wav"
    audio = tones(25.0, [(3.0, 4.5), (9.5, 11.0), (19.0, 21.0)])
    sf.write(wav, audio, SR)
    det = DetectConfig(min_score=0.0, edges=True)
    cfg = LocalizeConfig(alpha=8.0, layers=[1])
    (result,) = localize_long(adapter, wav, ["a siren"], cfg, windows=WindowConfig(10.0, 3.0), detection=det)
    assert result.detection.edges is True and result.detections
    level = energy_db(audio, SR, adapter.token_s, result.score.size)
    plain = detect(result.score, adapter.token_s, result.detection)
    assert result.detections == snap_to_audio(plain, result.score, level, adapter.token_s, result.detection)
    clip = localize(adapter, audio[: 8 * SR], "a siren", cfg, sample_rate=SR, detection=det)
    level = energy_db(audio[: 8 * SR], SR, adapter.token_s, clip.profile.base.size)
    plain = detect(clip.score_curve(), adapter.token_s, clip.detection)
    assert clip.detections == snap_to_audio(plain, clip.score_curve(), level, adapter.token_s, clip.detection)


def test_cli_detect_edges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wav, out = tmp_path / "clip.wav", tmp_path / "out.json"
    sf.write(wav, tones(10.0, [(2.0, 3.8)]), SR)
    args = ("localize", wav, "-q", "a steady tone", "--detect-edges", "--min-score", "0", "--json", out)
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    data = json.loads(out.read_text())
    assert data["detection"]["edges"] is True
    assert data["detections"] and data["detections"][0]["onset_s"] == pytest.approx(2.0, abs=0.041)


def test_an_overlapping_sound_carries_the_offset_with_it() -> None:
    """The known limitation (docs/long.md): the audio's extent is not the queried sound's. A sound at
    4.0–6.0 s overlapped by another from 5.5 to 9.0 s is one run of active audio: the offset runs to 9.0."""
    n = 500
    level = _level(n, [(4.0, 6.0), (5.5, 9.0)])
    score = np.zeros(n)
    score[110:125] = 3.0  # Δ rose over 4.4–5.0 s
    found = [Detection(4.4, 5.0, 3.0)]
    assert snap_to_audio(found, score, level, TOKEN, DetectConfig(smooth_s=0.0)) == [Detection(4.0, 9.0, 3.0)]
