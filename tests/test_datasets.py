"""Public data sets' label files (tests/fixtures/datasets, each in its published layout) with synthesized
audio: ``scenes import --format`` → ``bench run`` → ``bench summary``, repeats and overlaps kept."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import SR, run_cli
from wheretolisten.errors import DataError, OptionError
from wheretolisten.scenes import load_manifest
from wheretolisten.scenes.datasets import (
    audioset_names,
    import_dataset,
    read_audiogrounding,
    read_castella,
    read_tacos,
)

FIXTURES = Path(__file__).parent / "fixtures" / "datasets"
# (onset, offset, tone Hz) of the sounds each fixture annotates: one sound repeats, two overlap.
CLIP_A = [(0.5, 1.5, 600.0), (1.2, 2.6, 220.0), (3.5, 4.5, 600.0)]
CLIP_B = [(0.3, 1.3, 1500.0), (2.0, 3.5, 350.0), (3.0, 4.0, 1500.0)]
CAR = [(1.0, 2.0, 900.0), (4.0, 5.0, 900.0), (0.0, 3.0, 200.0)]
DOOR = [(1.0, 2.0, 400.0), (3.0, 4.0, 400.0), (3.0, 5.0, 2000.0)]
#: format → (label file, extra options, {audio file: (duration, sounds)}); names follow each set's layout.
CASES: dict[str, tuple[str, list[str], dict[str, tuple[float, list[tuple[float, float, float]]]]]] = {
    "desed": ("strong.tsv", [], {"clip_a.wav": (5.0, CLIP_A), "clip_b.wav": (5.0, CLIP_B)}),
    "audiogrounding": (
        "test.json",
        [],
        {"Yx0dog00000.wav": (5.0, CLIP_A), "Yx0bell0000.wav": (5.0, CLIP_B)},
    ),
    # TACOS names .mp3 files: converted copies with the same stem are found
    "tacos": ("annotations_strong.csv", [], {"1001.wav": (5.0, CLIP_A), "1002.flac": (5.0, CLIP_B)}),
    "audioset-strong": (
        "audioset_eval_strong.tsv",
        ["--label-map", str(FIXTURES / "audioset-strong" / "mid_to_display_name.tsv")],
        {"Yx0dogAAAAAA_30000.wav": (5.0, CLIP_A), "Yx0bellBBBBB_10.000_20.000.wav": (5.0, CLIP_B)},
    ),
    "castella": ("test.json", [], {"x0carCCCCCC.wav": (6.0, CAR), "Yx0doorDDDDD.wav": (6.0, DOOR)}),
}


def synth(path: Path, duration: float, sounds: list[tuple[float, float, float]], seed: int) -> None:
    """Quiet noise with an amplitude-modulated tone over each annotated interval."""
    t = np.arange(int(round(duration * SR))) / SR
    x = np.random.default_rng(seed).standard_normal(t.size) * 0.003
    for on, off, hz in sounds:
        m = (t >= on) & (t < off)
        x[m] += 0.3 * np.sin(2 * np.pi * hz * (t[m] - on)) * (0.6 + 0.4 * np.sin(2 * np.pi * 5 * (t[m] - on)))
    sf.write(path, x.astype(np.float32), SR)


def audio_for(fmt: str, root: Path) -> Path:
    folder = root / "audio"
    folder.mkdir()
    for seed, (name, (duration, sounds)) in enumerate(CASES[fmt][2].items()):
        synth(folder / name, duration, sounds, seed)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(CASES))
def test_import_run_summary(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each format: repeated and overlapping events kept; a query with several intervals is asked once,
    its rows list every interval; the shipped model runs the default conditions; the summary reads them."""
    labels, extra, _ = CASES[fmt]
    audio, scenes = audio_for(fmt, tmp_path), tmp_path / "scenes"
    code, out, err = run_cli(
        monkeypatch,
        capsys,
        "scenes",
        "import",
        "--format",
        fmt,
        "--labels",
        FIXTURES / fmt / labels,
        "--audio",
        audio,
        "--out",
        scenes,
        *extra,
    )
    assert code == 0, err
    assert "wrote 2 scenes" in out and "2 with a query of several intervals" in out
    loaded = load_manifest(scenes)
    assert all(s.overlaps for s in loaded)
    for s in loaded:
        queries = [e.query for e in s.events]
        assert len(s.events) == 3 and len(set(queries)) == 2  # one query has two intervals
        ordered = sorted((e.onset_s, e.offset_s) for e in s.events)
        assert any(b[0] < a[1] for a, b in itertools.pairwise(ordered))  # an overlap

    results = tmp_path / "results.jsonl"
    code, _, err = run_cli(
        monkeypatch, capsys, "bench", "run", scenes, "--out", results, "--queries", "all", "--no-progress"
    )
    assert code == 0, err
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(rows) == 2 * 2 * 6  # 2 scenes × 2 queries × the 6 default conditions
    several = [r for r in rows if "gt_events" in r]
    assert len(several) == 2 * 6 and all(len(r["gt_events"]) == 2 for r in several)
    assert all(r["gt"] in r["gt_events"] for r in several)

    code, out, err = run_cli(monkeypatch, capsys, "bench", "summary", results)
    assert code == 0, err
    assert "| steered | 4 |" in out and "| direct | 4 |" in out


def test_readers_keep_every_interval() -> None:
    ag = read_audiogrounding(FIXTURES / "audiogrounding" / "test.json")
    assert [(a.onset_s, a.offset_s, a.query) for a in ag["Yx0dog00000.wav"]] == [
        (0.5, 1.5, "a dog barks"),
        (3.5, 4.5, "a dog barks"),
        (1.2, 2.6, "a man speaks"),
    ]
    tacos = read_tacos(FIXTURES / "tacos" / "annotations_strong.csv")
    assert sorted(tacos) == ["1001.mp3", "1002.mp3"] and len(tacos["1002.mp3"]) == 3
    castella = read_castella(FIXTURES / "castella" / "test.json")
    assert [(a.onset_s, a.query) for a in castella["x0carCCCCCC"]][:2] == [
        (4.0, "A car horn blares"),
        (1.0, "A car horn blares"),
    ]
    assert audioset_names("abc_30000") == ["abc_30000", "Yabc_30000", "Yabc_30.000_40.000"]


def test_merged_repeats_and_single(tmp_path: Path) -> None:
    """A label's own overlapping intervals merge; --single skips clips that repeat or overlap."""
    audio = tmp_path / "audio"
    audio.mkdir()
    synth(audio / "a.wav", 4.0, [(0.5, 1.5, 500.0)], 0)
    synth(audio / "b.wav", 4.0, [(0.5, 1.5, 500.0)], 1)
    tsv = tmp_path / "s.tsv"
    tsv.write_text(
        "filename\tonset\toffset\tevent_label\n"
        "a.wav\t0.5\t1.5\tDog\na.wav\t1.0\t2.0\tDog\na.wav\t5.0\t6.0\tCat\nb.wav\t0.5\t1.5\tDog\n"
    )
    report = import_dataset("desed", tsv, audio, tmp_path / "out")
    a = report.scenes[0]
    assert [(e.onset_s, e.offset_s) for e in a.events] == [(0.5, 2.0)] and not a.overlaps
    assert "after the clip" in report.skipped["a.wav: Cat"]
    single = import_dataset("desed", tsv, audio, tmp_path / "single", single=True)
    assert [s.scene_id for s in single.scenes] == ["b"] and "more than once" in single.skipped["a.wav"]


def test_bad_label_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"audio_id": "a.wav", "phrases": [{"phrase": "x", "segments": [[2.0, 1.0]]}]}]')
    with pytest.raises(DataError, match="item 0 phrase 0: needs 0 <= onset < offset"):
        read_audiogrounding(bad)
    csv = tmp_path / "t.csv"
    csv.write_text("file,caption,onset,offset\n")
    with pytest.raises(DataError, match="header must name filename, text, onset, offset"):
        read_tacos(csv)
    with pytest.raises(OptionError, match="needs label_map"):
        import_dataset(
            "audioset-strong",
            FIXTURES / "audioset-strong" / "audioset_eval_strong.tsv",
            tmp_path,
            tmp_path / "o",
        )
    code, _, err = run_cli(
        monkeypatch, capsys, "scenes", "import", "--format", "wav", "--labels", csv, "--audio", tmp_path,
        "--out", tmp_path / "o",
    )  # fmt: skip
    assert code == 2 and "unknown --format 'wav'" in err and "Traceback" not in err
    code, _, err = run_cli(
        monkeypatch, capsys, "scenes", "import", "--format", "castella", "--labels", bad, "--audio",
        tmp_path, "--out", tmp_path / "o",
    )  # fmt: skip
    assert code == 2 and "needs 'yid'" in err and not (tmp_path / "o" / "manifest.jsonl").exists()
