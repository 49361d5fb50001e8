from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import SR, noise, run_cli
from wheretolisten.bench.protocol_file import load_protocol
from wheretolisten.errors import DataError, OutputError
from wheretolisten.scenes import get_bank, import_annotations, load_manifest, make_scenes
from wheretolisten.scenes.datasets import import_dataset


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


def _one_error_line(code: int, err: str) -> str:
    """The single stderr line of a refusal (exit 2, no traceback)."""
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("wheretolisten: error:"), err
    return lines[0]


def _label_bank(root: Path) -> Path:
    """A two-label folder bank, one short noise clip per label."""
    for seed, label in enumerate(("dog", "cat")):
        (root / label).mkdir(parents=True)
        sf.write(root / label / "a.wav", noise(1.0, seed=seed), SR)
    return root


@pytest.mark.parametrize("where", ["bank", "inside", "label", "around"])
def test_scenes_make_refuses_an_out_in_or_around_its_bank(
    tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # scenes written into the bank would come back as an "audio" class of it (or as sounds of a label)
    bank = _label_bank(tmp_path / "sounds" / "bank")
    out = {
        "bank": bank,
        "inside": bank / "scenes",
        "label": bank / "dog",
        "around": tmp_path / "sounds",
    }[where]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, _, err = run_cli(
        monkeypatch, capsys, "scenes", "make", "--bank", bank, "--out", out, "--n", "1", "--events", "2",
        "--mkdir", "--no-progress",
    )  # fmt: skip
    line = _one_error_line(code, err)
    assert "--out" in line and f"input folder {bank}" in line
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written


def test_make_scenes_refuses_an_out_dir_among_its_banks_folders(tmp_path: Path) -> None:
    bank = get_bank(f"procedural+folder:{_label_bank(tmp_path / 'bank')}:labels=dog")
    with pytest.raises(OutputError, match="lies inside the input folder"):
        make_scenes(bank, 1, tmp_path / "bank" / "dog" / "scenes", n_events=2, progress=False)
    assert make_scenes(bank, 1, tmp_path / "apart", n_events=2, progress=False)  # beside it is fine


@pytest.mark.parametrize("spec", ["", "  ", "folder:", "esc50:", "esc50::folds=1"])
def test_scenes_make_refuses_an_empty_bank(
    tmp_path: Path, spec: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # an empty bank (or folder) was the current folder: its sub-folders became sound classes
    monkeypatch.chdir(_label_bank(tmp_path / "here"))
    code, _, err = run_cli(
        monkeypatch, capsys, "scenes", "make", "--bank", spec, "--out", tmp_path / "o", "--n", "1",
        "--events", "2", "--no-progress",
    )  # fmt: skip
    assert "empty" in _one_error_line(code, err)
    assert not (tmp_path / "o").exists()


def test_an_empty_bank_in_a_protocol_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `bank = ""` in a protocol file reaches the same parser
    monkeypatch.chdir(_label_bank(tmp_path / "here"))
    protocol = load_protocol(_write(tmp_path / "p.toml", 'bank = ""\n'))
    with pytest.raises(DataError, match="bank '' is empty"):
        get_bank(protocol.bank)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def annotated(tmp_path: Path) -> tuple[Path, Path]:
    """A DESED label file (Dog and Cat in a.wav) and its audio folder."""
    (tmp_path / "audio").mkdir()
    sf.write(tmp_path / "audio" / "a.wav", noise(6.0), SR)
    labels = _write(
        tmp_path / "l.tsv",
        "filename\tonset\toffset\tevent_label\na.wav\t1.0\t2.0\tDog\na.wav\t4.0\t5.0\tCat\n",
    )
    return labels, tmp_path / "audio"


def test_scenes_import_refuses_to_replace_its_query_map(
    tmp_path: Path,
    annotated: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # --overwrite replaces earlier scenes, never a file the command was pointed at as an input
    labels, audio = annotated
    out = tmp_path / "out"
    queries = _write(out / "manifest.jsonl", '{"Dog": "a dog barking"}\n')
    code, _, err = run_cli(
        monkeypatch, capsys, "scenes", "import", "--labels", labels, "--audio", audio, "--out", out,
        "--queries", queries, "--overwrite",
    )  # fmt: skip
    assert "also an input" in _one_error_line(code, err)
    assert queries.read_text() == '{"Dog": "a dog barking"}\n' and not (out / "events.tsv").exists()
    with pytest.raises(OutputError, match="also an input"):  # the library call, given the file
        import_dataset("desed", labels, audio, out, queries, overwrite=True)
    assert queries.read_text() == '{"Dog": "a dog barking"}\n'


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"Dog": ""}, "the query of label 'Dog' is empty"),
        ({"Dog": " \t"}, "the query of label 'Dog' is empty"),
        ({"Dog": "a dog", "Nope": "x"}, "label 'Nope' occurs in no annotation"),
    ],
)
def test_scenes_import_refuses_an_empty_query_or_an_unused_label(
    tmp_path: Path,
    annotated: tuple[Path, Path],
    mapping: dict[str, str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # an empty query was written to the manifest (refused only once a model had loaded, or run as ""
    # without one); a label no annotation uses was ignored, its intended rewrite silently lost
    labels, audio = annotated
    queries = _write(tmp_path / "q.json", json.dumps(mapping))
    code, _, err = run_cli(
        monkeypatch, capsys, "scenes", "import", "--labels", labels, "--audio", audio, "--out",
        tmp_path / "out", "--queries", queries,
    )  # fmt: skip
    assert message in _one_error_line(code, err)
    assert not (tmp_path / "out").exists()
    with pytest.raises(DataError, match=message):  # a map given as a mapping is checked the same
        import_annotations(labels, audio, tmp_path / "lib", mapping)
    assert not (tmp_path / "lib").exists()


def test_scenes_import_with_a_query_map_of_used_labels(
    tmp_path: Path,
    annotated: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    labels, audio = annotated
    queries = _write(tmp_path / "q.json", '{"Dog": "a dog barking"}')
    code, _, err = run_cli(
        monkeypatch, capsys, "scenes", "import", "--labels", labels, "--audio", audio, "--out",
        tmp_path / "out", "--queries", queries,
    )  # fmt: skip
    assert code == 0, err
    events = load_manifest(tmp_path / "out")[0].events
    assert [(e.label, e.query) for e in events] == [("Dog", "a dog barking"), ("Cat", "cat")]
