from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import run_cli


def test_scenes_make_writes_manifest_tsv_and_wavs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scenes"
    code, _, err = run_cli(monkeypatch, capsys, "scenes", "make", "--out", out, "--n", "3", "--seed", "4")
    assert code == 0, err
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(len(r["events"]) == 3 for r in rows)
    assert all((out / r["path"]).exists() for r in rows)
    tsv = (out / "events.tsv").read_text().splitlines()
    assert tsv[0] == "filename\tonset\toffset\tevent_label" and len(tsv) == 1 + 9


@pytest.mark.parametrize(
    ("bank", "message"),
    [("empty", "no label sub-folders"), ("esc50", "esc50.csv"), ("missing", "nowhere")],
)
def test_scenes_make_bad_banks(
    tmp_path: Path,
    bank: str,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = tmp_path / "bank"
    if bank == "empty":
        root.mkdir()
        spec = str(root)
    elif bank == "esc50":
        (root / "audio").mkdir(parents=True)
        (root / "meta").mkdir()
        spec = f"esc50:{root}"
    else:
        spec = str(tmp_path / "nowhere")
    code, _, err = run_cli(
        monkeypatch, capsys, "scenes", "make", "--out", tmp_path / "o", "--n", "2", "--bank", spec
    )
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1 and lines[0].startswith("wheretolisten: error:"), err
    assert message in lines[0]
    assert not (tmp_path / "o" / "manifest.jsonl").exists()


def test_scenes_make_with_a_folder_of_oga_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bank = tmp_path / "bank"
    rng = np.random.default_rng(0)
    for label in ("dog", "rain", "wind"):
        (bank / label).mkdir(parents=True)
        data = (0.3 * rng.standard_normal(16000)).astype(np.float32)
        sf.write(bank / label / "clip.oga", data, 16000, format="OGG", subtype="VORBIS")
    out = tmp_path / "scenes"
    code, _, err = run_cli(
        monkeypatch, capsys, "scenes", "make", "--out", out, "--n", "2", "--bank", bank,
        "--duration", "3", "--sample-rate", "8000",
    )  # fmt: skip
    assert code == 0, err
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize(
    ("option", "value"), [("--duration", "inf"), ("--events", "0"), ("--duration", "-1")]
)
def test_scenes_make_bad_settings_are_one_line_and_write_nothing(
    tmp_path: Path,
    option: str,
    value: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "o"
    code, _, err = run_cli(monkeypatch, capsys, "scenes", "make", "--out", out, "--n", "2", option, value)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("wheretolisten: error:"), err
    assert not out.exists()
