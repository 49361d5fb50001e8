"""Annotated real recordings (DESED-style TSV) become a manifest the benchmark runs on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf

from helpers import noise, run_cli
from wheretolisten.errors import DataError, OutputError
from wheretolisten.scenes import load_manifest
from wheretolisten.scenes.annotations import (
    default_query,
    import_annotations,
    read_annotations,
    read_query_map,
)

TSV = """filename\tonset\toffset\tevent_label
good.wav\t5.0\t6.5\tDog
good.wav\t0.5\t2.0\tAlarm_bell_ringing
good.wav\t3.0\t4.0\tSpeech
two.wav\t1.0\t2.0\tSpeech
two.wav\t4.0\t7.5\tBlender
overlap.wav\t1.0\t3.0\tDog
overlap.wav\t2.5\t4.0\tSpeech
repeat.wav\t1.0\t2.0\tDog
repeat.wav\t4.0\t5.0\tDog
missing.wav\t1.0\t2.0\tDog
"""


@pytest.fixture
def recordings(tmp_path: Path) -> tuple[Path, Path]:
    audio = tmp_path / "audio"
    audio.mkdir()
    for seed, name in enumerate(("good.wav", "two.wav", "overlap.wav", "repeat.wav")):
        sf.write(audio / name, noise(8.0, seed=seed), 16000)
    tsv = tmp_path / "strong.tsv"
    tsv.write_text(TSV)
    return tsv, audio


def test_import_keeps_clips_that_fit_and_says_why_others_do_not(
    tmp_path: Path, recordings: tuple[Path, Path]
) -> None:
    tsv, audio = recordings
    kept = import_annotations(tsv, audio, tmp_path / "all", {"Dog": "a dog barking"})
    assert [s.scene_id for s in kept.scenes] == ["good", "overlap", "repeat", "two"]  # real clips overlap
    assert [s.overlaps for s in kept.scenes] == [False, True, True, False] and set(kept.skipped) == {
        "missing.wav"
    }
    repeat = kept.scenes[2]
    assert [(e.onset_s, e.query) for e in repeat.events] == [(1.0, "a dog barking"), (4.0, "a dog barking")]
    report = import_annotations(tsv, audio, tmp_path / "out", {"Dog": "a dog barking"}, single=True)
    assert [s.scene_id for s in report.scenes] == ["good", "two"]
    assert set(report.skipped) == {"overlap.wav", "repeat.wav", "missing.wav"}
    assert "overlap" in report.skipped["overlap.wav"] and "more than once" in report.skipped["repeat.wav"]
    assert "cannot read" in report.skipped["missing.wav"]
    scenes = load_manifest(tmp_path / "out")  # the manifest validates (paths relative to it)
    good = scenes[0]
    assert [(e.label, e.position, e.query) for e in good.events] == [
        ("Alarm_bell_ringing", "first", "alarm bell ringing"),
        ("Speech", "middle", "speech"),
        ("Dog", "last", "a dog barking"),
    ]
    assert good.duration_s == pytest.approx(8.0) and good.sample_rate == 16000
    assert [s.target for s in scenes] == [0, 1]
    assert (tmp_path / "out" / "events.tsv").read_text().count("\n") == 1 + 5


def test_bad_annotation_files(tmp_path: Path) -> None:
    weak = tmp_path / "weak.tsv"
    weak.write_text("filename\tonset\toffset\tevent_label\na.wav\t\t\tDog\n")
    with pytest.raises(DataError, match="line 2 has no numeric onset"):
        read_annotations(weak)
    bad_header = tmp_path / "h.tsv"
    bad_header.write_text("file\tstart\tend\tlabel\n")
    with pytest.raises(DataError, match="header must name"):
        read_annotations(bad_header)
    with pytest.raises(DataError, match="does not exist"):
        read_annotations(tmp_path / "none.tsv")
    assert default_query("Alarm_bell_ringing") == "alarm bell ringing"


def test_non_utf8_annotations_and_query_maps_are_one_line(tmp_path: Path) -> None:
    tsv = tmp_path / "latin.tsv"
    tsv.write_bytes("filename\tonset\toffset\tevent_label\nx.wav\t1\t2\tCaf\u00e9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.tsv is not UTF-8") as caught:
        read_annotations(tsv)
    assert "\n" not in str(caught.value)
    names = tmp_path / "q.json"
    names.write_bytes('{"Dog": "un chien qui aboie \u00e0 c\u00f4t\u00e9"}'.encode("latin-1"))
    with pytest.raises(DataError, match=r"q\.json is not UTF-8"):
        read_query_map(names)


def test_import_checks_its_output_before_reading_anything(
    tmp_path: Path, recordings: tuple[Path, Path]
) -> None:
    tsv, audio = recordings
    blocker = tmp_path / "taken"
    blocker.write_text("a file")
    with pytest.raises(OutputError, match="not a directory"):
        import_annotations(tmp_path / "missing.tsv", audio, blocker)  # the output is refused first
    assert blocker.read_text() == "a file"
    inside = tmp_path / "events.tsv"  # the TSV is where the import would write its events.tsv
    inside.write_text(tsv.read_text())
    with pytest.raises(OutputError, match="also an input"):
        import_annotations(inside, audio, tmp_path)
    assert inside.read_text() == tsv.read_text() and not (tmp_path / "manifest.jsonl").exists()
    empty = tmp_path / "none.tsv"
    empty.write_text("filename\tonset\toffset\tevent_label\nabsent.wav\t1\t2\tDog\n")
    assert import_annotations(empty, audio, tmp_path / "unmade").manifest is None
    assert not (tmp_path / "unmade").exists()  # nothing fits: nothing is written


def test_cli_import_then_bench(
    tmp_path: Path,
    recordings: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tsv, audio = recordings
    names = tmp_path / "q.json"
    names.write_text(json.dumps({"Dog": "a dog barking"}))
    out = tmp_path / "scenes"
    code, stdout, err = run_cli(
        monkeypatch, capsys, "scenes", "import", "--tsv", tsv, "--audio", audio, "--out", out,
        "--queries", names, "--single",
    )  # fmt: skip
    assert code == 0, err
    assert "skipped overlap.wav: events 'Dog' and 'Speech' overlap" in stdout
    assert stdout.strip().endswith("(3 skipped; 0 with a query of several intervals)")
    assert "wrote 2 scenes" in stdout
    results = tmp_path / "r.jsonl"
    code, _, err = run_cli(
        monkeypatch, capsys, "bench", "run", out, "--conditions", "random,energy", "--queries", "all",
        "--out", results, "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(rows) == 2 * (3 + 2) and {r["query"] for r in rows} >= {"a dog barking", "blender"}
    (tmp_path / "none.tsv").write_text("filename\tonset\toffset\tevent_label\nx.wav\t1\t2\tDog\n")
    code, _, err = run_cli(
        monkeypatch, capsys, "scenes", "import", "--tsv", tmp_path / "none.tsv", "--audio", audio,
        "--out", tmp_path / "o2",
    )  # fmt: skip
    assert code == 2 and "no annotated clip could be imported" in err


def test_import_says_what_is_wrong_with_its_inputs_and_output(tmp_path: Path) -> None:
    """A missing audio folder, a folder given as the label file, and an output that already holds scenes
    (an earlier import's too) are each named as such, in one line."""
    audio = tmp_path / "audio"
    audio.mkdir()
    sf.write(audio / "a.wav", noise(1.0, seed=0), 16000)
    tsv = tmp_path / "strong.tsv"
    tsv.write_text("filename\tonset\toffset\tevent_label\na.wav\t0.2\t0.6\tDog\n")
    with pytest.raises(DataError, match=r"audio folder .*nowhere does not exist"):
        import_annotations(tsv, tmp_path / "nowhere", tmp_path / "out0")
    with pytest.raises(DataError, match="is a directory; give the label file itself"):
        import_annotations(audio, audio, tmp_path / "out1")
    assert import_annotations(tsv, audio, tmp_path / "out").manifest is not None
    with pytest.raises(OutputError, match=r"already holds manifest\.jsonl, events\.tsv;"):
        import_annotations(tsv, audio, tmp_path / "out")
    assert import_annotations(tsv, audio, tmp_path / "out", overwrite=True).manifest is not None
