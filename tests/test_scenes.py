"""Tests for sound banks and controlled multi-event scene synthesis."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from wheretolisten.audio import AUDIO_SUFFIXES
from wheretolisten.errors import AudioError, DataError, OptionError
from wheretolisten.scenes import (
    ESC50Bank,
    Event,
    FolderBank,
    ProceduralBank,
    Scene,
    active_span,
    get_bank,
    load_manifest,
    make_scene,
    make_scenes,
    scene_seed,
)

SR = 8000
DUR = 3.0  # three 1 s slots: short enough to keep the suite fast


def _check_valid(scene: Scene, audio: np.ndarray) -> None:
    """Every structural guarantee of a synthesized scene."""
    n = len(scene.events)
    assert audio.dtype == np.float32
    assert len(audio) == round(scene.duration_s * scene.sample_rate)
    assert np.all(np.isfinite(audio))
    assert 0 < np.max(np.abs(audio)) < 0.99
    lead = audio[: int(scene.events[0].onset_s * scene.sample_rate)]
    assert len(lead) > 0 and np.std(lead) > 0  # the noise floor: never digitally silent
    assert len({e.label for e in scene.events}) == n
    assert [e.position for e in scene.events] == ["first", *["middle"] * (n - 2), "last"][:n]
    assert 0 <= scene.target < n
    for k, e in enumerate(scene.events):
        assert 0 <= e.slot[0] <= e.onset_s < e.offset_s <= e.slot[1] <= scene.duration_s
        assert e.onset_s <= e.active[0] < e.active[1] <= e.offset_s
        assert e.offset_s - e.onset_s >= 0.5 - 1e-3
        assert e.offset_s - e.onset_s < e.slot[1] - e.slot[0]
        if k:
            assert e.slot[0] == scene.events[k - 1].slot[1]
            assert e.onset_s - scene.events[k - 1].offset_s > 0  # a gap between consecutive events
        assert e.query


# ---- scenes ---------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_events=st.integers(1, 4), target=st.integers(0, 3))
def test_make_scene_valid_for_any_seed(seed: int, n_events: int, target: int) -> None:
    scene, audio = make_scene(
        ProceduralBank(),
        np.random.default_rng(seed),
        "s",
        n_events=n_events,
        duration_s=n_events * 1.0,
        sample_rate=SR,
        target=target % n_events,
    )
    _check_valid(scene, audio)
    assert scene.target == target % n_events


def test_event_audio_lies_in_its_placement() -> None:
    scene, audio = make_scene(ProceduralBank(), np.random.default_rng(3), "s", duration_s=DUR, sample_rate=SR)
    floor = float(np.sqrt(np.mean(audio[: int(scene.events[0].onset_s * SR)] ** 2)))
    for e in scene.events:
        seg = audio[int(e.active[0] * SR) : int(e.active[1] * SR)]
        assert np.sqrt(np.mean(seg**2)) > 30 * floor  # events stand well above the noise floor


def test_make_scene_rejects_bad_requests() -> None:
    bank = ProceduralBank()
    rng = np.random.default_rng(0)
    with pytest.raises(OptionError, match="n_events"):
        make_scene(bank, rng, "s", n_events=len(bank.labels) + 1, duration_s=20.0, sample_rate=SR)
    with pytest.raises(OptionError, match="too short"):
        make_scene(bank, rng, "s", n_events=3, duration_s=1.0, sample_rate=SR)
    with pytest.raises(OptionError, match="target"):
        make_scene(bank, rng, "s", n_events=3, duration_s=DUR, sample_rate=SR, target=3)


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_make_scenes_is_deterministic_and_balanced(tmp_path: Path) -> None:
    bank = ProceduralBank()
    a = make_scenes(bank, 6, tmp_path / "a", duration_s=DUR, seed=7, sample_rate=SR, progress=False)
    make_scenes(bank, 6, tmp_path / "b", duration_s=DUR, seed=7, sample_rate=SR, progress=False)
    files_a, files_b = _tree_bytes(tmp_path / "a"), _tree_bytes(tmp_path / "b")
    assert files_a == files_b
    assert set(files_a) == {"manifest.jsonl", "events.tsv", *(f"audio/scene_{i:05d}.wav" for i in range(6))}
    assert not [p for p in (tmp_path / "a").rglob("*.tmp")]  # no temp files left behind

    assert Counter(s.target for s in a) == {0: 2, 1: 2, 2: 2}
    assert Counter(s.target_event.position for s in a) == {"first": 2, "middle": 2, "last": 2}

    loaded = load_manifest(tmp_path / "a" / "manifest.jsonl")
    assert loaded == a
    for s in loaded:
        audio, sr = sf.read(s.audio_path(tmp_path / "a"), dtype="float32")
        assert sr == SR
        _check_valid(s, audio)
        assert s.seed == scene_seed(7, int(s.scene_id.split("_")[1]))
        assert s.bank == "procedural"

    rows = [json.loads(line) for line in (tmp_path / "a" / "manifest.jsonl").read_text().splitlines()]
    scene_keys = {"scene_id", "path", "duration_s", "sample_rate", "events", "target", "seed", "bank"}
    event_keys = {"label", "onset_s", "offset_s", "slot", "active", "position", "query"}
    assert set(rows[0]) == scene_keys and set(rows[0]["events"][0]) == event_keys

    tsv = (tmp_path / "a" / "events.tsv").read_text().splitlines()
    assert tsv[0] == "filename\tonset\toffset\tevent_label"
    assert len(tsv) == 1 + 6 * 3
    name, onset, offset, label = tsv[1].split("\t")
    assert (name, float(onset), float(offset), label) == (
        "scene_00000.wav",
        a[0].events[0].onset_s,
        a[0].events[0].offset_s,
        a[0].events[0].label,
    )


def test_different_seeds_differ_and_scene_i_ignores_n(tmp_path: Path) -> None:
    bank = ProceduralBank()
    make_scenes(bank, 2, tmp_path / "a", duration_s=DUR, seed=1, sample_rate=SR, progress=False)
    make_scenes(bank, 2, tmp_path / "b", duration_s=DUR, seed=2, sample_rate=SR, progress=False)
    make_scenes(bank, 3, tmp_path / "c", duration_s=DUR, seed=1, sample_rate=SR, progress=True)
    a, b, c = (_tree_bytes(tmp_path / d) for d in "abc")
    assert a["manifest.jsonl"] != b["manifest.jsonl"]
    assert a["audio/scene_00000.wav"] != b["audio/scene_00000.wav"]
    assert all(a[f"audio/scene_{i:05d}.wav"] == c[f"audio/scene_{i:05d}.wav"] for i in range(2))


def test_scene_round_trips_through_dict() -> None:
    scene, _ = make_scene(ProceduralBank(), np.random.default_rng(0), "s", duration_s=DUR, sample_rate=SR)
    again = Scene.from_dict(json.loads(json.dumps(scene.to_dict())))
    assert again == scene
    assert isinstance(again.events[0], Event) and isinstance(again.events[0].slot, tuple)
    assert Event.from_dict(scene.events[1].to_dict()) == scene.events[1]


# ---- procedural bank ------------------------------------------------------------------------------


def _features(x: np.ndarray, sr: int) -> np.ndarray:
    """Log spectral centroid, log bandwidth, log spectral flatness, frame-RMS variation."""
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2 + 1e-12
    freqs = np.fft.rfftfreq(len(x), 1 / sr)
    centroid = (freqs * power).sum() / power.sum()
    bandwidth = np.sqrt(((freqs - centroid) ** 2 * power).sum() / power.sum())
    flatness = np.exp(np.mean(np.log(power))) / np.mean(power)
    frames = x[: len(x) // 160 * 160].reshape(-1, 160)
    rms = np.sqrt((frames**2).mean(axis=1)) + 1e-9
    return np.array([np.log(centroid), np.log(bandwidth), np.log(flatness), rms.std() / rms.mean()])


def test_procedural_classes_render_distinct_non_silent_audio() -> None:
    bank = ProceduralBank()
    sr = 16000
    assert len(bank.labels) >= 8
    assert len({bank.query_text(label) for label in bank.labels}) == len(bank.labels)
    feats: dict[str, np.ndarray] = {}
    for label in bank.labels:
        rows = []
        for seed in range(5):
            x = bank.render(label, np.random.default_rng(seed), sr, 1.0)
            assert x.dtype == np.float32 and x.ndim == 1 and len(x) == sr
            assert np.all(np.isfinite(x)) and np.sqrt(np.mean(x**2)) > 1e-3
            rows.append(_features(x, sr))
        other = bank.render(label, np.random.default_rng(99), sr, 1.0)
        assert not np.array_equal(other, bank.render(label, np.random.default_rng(98), sr, 1.0))
        feats[label] = np.array(rows)
    # Nearest class-mean classification on simple features: the classes must be tellable apart.
    everything = np.concatenate(list(feats.values()))
    mu, sd = everything.mean(axis=0), everything.std(axis=0)
    means = {k: ((v - mu) / sd).mean(axis=0) for k, v in feats.items()}
    correct = sum(
        min(means, key=lambda m: float(np.linalg.norm(row - means[m]))) == label
        for label, v in feats.items()
        for row in (v - mu) / sd
    )
    assert correct >= 0.9 * len(everything)


def test_procedural_bank_respects_max_duration_and_low_rates() -> None:
    bank = ProceduralBank()
    for label in bank.labels:
        x = bank.render(label, np.random.default_rng(0), 8000, 0.55)
        assert len(x) == 4400 and np.all(np.isfinite(x)) and np.max(np.abs(x)) > 0
    with pytest.raises(DataError, match="no label"):
        bank.render("trumpet", np.random.default_rng(0), SR, 1.0)


def test_active_span_trims_silence() -> None:
    x = np.zeros(1000)
    x[300:600] = 1.0
    x[650:660] = 0.001  # -60 dB: below the -30 dB threshold
    assert active_span(x, 1000) == (300, 600)
    assert active_span(np.zeros(10), 1000) == (0, 0)


# ---- file banks -----------------------------------------------------------------------------------


def _noise_wav(path: Path, seconds: float, sr: int, channels: int = 1, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    data = 0.3 * rng.standard_normal((int(seconds * sr), channels)).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, sr)


def test_folder_bank(tmp_path: Path) -> None:
    _noise_wav(tmp_path / "dog_bark" / "a.wav", 2.0, 16000)
    _noise_wav(tmp_path / "door-knock" / "b.wav", 0.8, 44100, channels=2, seed=1)  # stereo 44.1 kHz
    _noise_wav(tmp_path / "rain" / "c.flac", 1.5, 22050, seed=2)
    (tmp_path / "rain" / "notes.txt").write_text("ignored")
    bank = get_bank(str(tmp_path))
    assert isinstance(bank, FolderBank)
    assert bank.labels == ["dog_bark", "door-knock", "rain"]
    assert bank.query_text("dog_bark") == "dog bark" and bank.query_text("door-knock") == "door knock"
    stereo = bank.render("door-knock", np.random.default_rng(0), SR, 5.0)
    assert stereo.dtype == np.float32 and stereo.ndim == 1
    assert abs(len(stereo) - int(0.8 * SR)) <= 2  # downmixed and resampled to 8 kHz
    crop = bank.render("dog_bark", np.random.default_rng(0), SR, 0.5)
    assert len(crop) == int(0.5 * SR)
    scene, audio = make_scene(bank, np.random.default_rng(1), "f", duration_s=DUR, sample_rate=SR)
    _check_valid(scene, audio)


def test_esc50_bank(tmp_path: Path) -> None:
    rows = [
        ("1-1-A-0.wav", 1, 0, "dog"),
        ("1-2-A-1.wav", 1, 1, "crackling_fire"),
        ("2-1-A-2.wav", 2, 2, "church_bells"),
        ("2-2-A-0.wav", 2, 0, "dog"),
    ]
    (tmp_path / "meta").mkdir()
    lines = ["filename,fold,target,category,esc10,src_file,take"]
    for k, (name, fold, target, cat) in enumerate(rows):
        lines.append(f"{name},{fold},{target},{cat},False,{k},A")
        _noise_wav(tmp_path / "audio" / name, 1.0, 44100, seed=k)
    (tmp_path / "meta" / "esc50.csv").write_text("\n".join(lines) + "\n")

    bank = get_bank(str(tmp_path))
    assert isinstance(bank, ESC50Bank)
    assert bank.labels == ["church_bells", "crackling_fire", "dog"]
    assert bank.query_text("crackling_fire") == "crackling fire"
    fold1 = get_bank(f"esc50:{tmp_path}:folds=1")
    assert fold1.labels == ["crackling_fire", "dog"]
    assert ESC50Bank(tmp_path, folds=[2]).files["dog"] == [tmp_path / "audio" / "2-2-A-0.wav"]
    assert ESC50Bank(tmp_path, categories=["dog"]).labels == ["dog"]
    x = bank.render("dog", np.random.default_rng(0), SR, 0.6)
    assert x.dtype == np.float32 and len(x) == int(0.6 * SR)
    scene, audio = make_scene(bank, np.random.default_rng(0), "e", duration_s=DUR, sample_rate=SR)
    _check_valid(scene, audio)
    with pytest.raises(DataError, match="unknown categor"):
        ESC50Bank(tmp_path, categories=["cat"])
    with pytest.raises(DataError, match="no clips"):
        ESC50Bank(tmp_path, folds=[5])


# ---- bad inputs -----------------------------------------------------------------------------------


def test_empty_bank_folders_raise(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=str(tmp_path)):
        FolderBank(tmp_path)  # no label folders
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match=str(tmp_path / "dog")):
        get_bank(str(tmp_path))  # a label folder without audio
    with pytest.raises(DataError, match="unknown bank"):
        get_bank(str(tmp_path / "missing"))


def test_esc50_without_csv_raises(tmp_path: Path) -> None:
    (tmp_path / "audio").mkdir()
    with pytest.raises(DataError, match=str(tmp_path / "meta" / "esc50.csv")):
        get_bank(f"esc50:{tmp_path}")
    with pytest.raises(DataError, match="folds"):
        get_bank(f"esc50:{tmp_path}:folds=a,b")


def test_esc50_csv_row_naming_missing_audio(tmp_path: Path) -> None:
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "esc50.csv").write_text(
        "filename,fold,target,category,esc10,src_file,take\n1-1-A-0.wav,1,0,dog,False,1,A\n"
    )
    with pytest.raises(DataError, match=r"line 2: audio file .*1-1-A-0.wav"):
        ESC50Bank(tmp_path)


@pytest.fixture(scope="module")
def manifest_rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("scenes")
    make_scenes(ProceduralBank(), 2, out, duration_s=DUR, seed=0, sample_rate=SR, progress=False)
    return out, (out / "manifest.jsonl").read_text().splitlines()


def _write_manifest(out: Path, lines: list[str]) -> Path:
    path = out / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_manifest_missing_wav_names_row(tmp_path: Path, manifest_rows: tuple[Path, list[str]]) -> None:
    out, lines = manifest_rows
    row = json.loads(lines[1])
    row["path"] = "audio/nope.wav"
    path = _write_manifest(out, [lines[0], json.dumps(row)])
    expected = r"bad.jsonl: line 2 \(scene 'scene_00001'\).*nope.wav does not exist"
    with pytest.raises(DataError, match=expected):
        load_manifest(path)


def test_manifest_overlap_names_row(manifest_rows: tuple[Path, list[str]]) -> None:
    out, lines = manifest_rows
    row = json.loads(lines[0])
    row["events"][1]["onset_s"] = row["events"][0]["offset_s"] - 0.1
    row["events"][1]["active"][0] = row["events"][1]["onset_s"]
    path = _write_manifest(out, [json.dumps(row)])
    with pytest.raises(DataError, match=r"line 1 \(scene 'scene_00000'\): overlapping ground truth"):
        load_manifest(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: "{not json", r"line 1 is not valid JSON"),
        (lambda r: json.dumps({k: v for k, v in r.items() if k != "events"}), r"missing field 'events'"),
        (
            lambda r: json.dumps({**r, "events": [{**r["events"][0], "offset_s": 99.0}, *r["events"][1:]]}),
            r"outside \[0, 3.0\]",
        ),
        (lambda r: json.dumps({**r, "target": 5}), r"target=5"),
        (lambda r: json.dumps({**r, "duration_s": "long"}), r"'duration_s' must be a finite number"),
    ],
)
def test_manifest_bad_rows(manifest_rows: tuple[Path, list[str]], edit, message: str) -> None:
    out, lines = manifest_rows
    path = _write_manifest(out, [edit(json.loads(lines[0]))])
    with pytest.raises(DataError, match=message):
        load_manifest(path)


def test_manifest_duplicate_ids_and_empty(manifest_rows: tuple[Path, list[str]]) -> None:
    out, lines = manifest_rows
    with pytest.raises(DataError, match=r"line 2 \(scene 'scene_00000'\): duplicate scene_id"):
        load_manifest(_write_manifest(out, [lines[0], lines[0]]))
    with pytest.raises(DataError, match="no scenes"):
        load_manifest(_write_manifest(out, [""]))
    with pytest.raises(DataError, match="does not exist"):
        load_manifest(out / "missing.jsonl")
    assert [s.scene_id for s in load_manifest(out)] == ["scene_00000", "scene_00001"]


def test_non_utf8_manifest_and_metadata_are_one_line(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_bytes('{"scene_id": "café"}\n'.encode("latin-1"))
    with pytest.raises(DataError, match=r"manifest\.jsonl is not UTF-8") as caught:
        load_manifest(manifest)
    assert "\n" not in str(caught.value)
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "esc50.csv").write_bytes("filename,fold,category\nä.wav,1,dog\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"esc50\.csv is not UTF-8"):
        ESC50Bank(tmp_path)


# ---- other audio formats in a bank folder -----------------------------------------------------------


def test_folder_bank_of_oga_and_mp3_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    root = tmp_path / "bank"  # apart from the scenes' folder: an output inside the bank is refused
    for label in ("dog", "rain", "wind"):
        (root / label).mkdir(parents=True)
        data = (0.3 * rng.standard_normal(int(1.5 * 16000))).astype(np.float32)
        sf.write(root / label / f"{label}.oga", data, 16000, format="OGG", subtype="VORBIS")
    if ".mp3" in AUDIO_SUFFIXES:
        sf.write(root / "wind" / "gust.mp3", data, 16000, format="MP3", subtype="MPEG_LAYER_III")
    bank = get_bank(str(root))
    assert isinstance(bank, FolderBank) and bank.labels == ["dog", "rain", "wind"]
    if ".mp3" in AUDIO_SUFFIXES:
        assert [p.name for p in bank.files["wind"]] == ["gust.mp3", "wind.oga"]
        assert len(bank.render("wind", np.random.default_rng(1), SR, 5.0)) > SR  # whichever file it drew
    scenes = make_scenes(bank, 2, tmp_path / "out", duration_s=DUR, seed=1, sample_rate=SR, progress=False)
    for scene in load_manifest(tmp_path / "out"):
        audio, _ = sf.read(scene.audio_path(tmp_path / "out"), dtype="float32")
        _check_valid(scene, audio)
    assert len(scenes) == 2


def test_unreadable_bank_file_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "bark.oga").write_bytes(b"OggS but not really")
    bank = get_bank(str(tmp_path))
    with pytest.raises(AudioError, match=r"bark\.oga: cannot read audio") as caught:
        bank.render("dog", np.random.default_rng(0), SR, 1.0)
    assert "\n" not in str(caught.value)
