"""Nothing is lost: foreign files survive, stale results are refused, kills resume, modes follow the umask."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import SR, noise, run_cli
from wheretolisten.scenes import ProceduralBank, make_scenes

RUN = ("bench", "run", "--conditions", "random,energy", "--no-progress")


@pytest.fixture()
def scenes(tmp_path: Path) -> Path:
    make_scenes(ProceduralBank(), 3, tmp_path / "scenes", seed=0, progress=False)
    return tmp_path / "scenes"


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    "content", [b'{"lr": 0.001}', b"my notes, no newline", b"line one\nline two\n", b"{\n"]
)
def test_a_file_that_is_not_results_is_never_erased(
    content: bytes,
    scenes: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """bench run --out and localize --jsonl used to truncate a file without a trailing newline."""
    target = tmp_path / "params.json"
    target.write_bytes(content)
    code, _, err = run_cli(monkeypatch, capsys, *RUN[:2], scenes, *RUN[2:], "--out", target)
    assert code == 2 and "params.json" in one_line(err)
    assert target.read_bytes() == content
    wav = scenes / "audio" / "scene_00000.wav"
    code, _, err = run_cli(monkeypatch, capsys, "localize", wav, "-q", "a siren", "--jsonl", target)
    assert code == 2 and "params.json" in one_line(err)
    assert target.read_bytes() == content


def test_results_are_refused_when_the_scenes_changed(
    scenes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.jsonl"
    assert run_cli(monkeypatch, capsys, *RUN[:2], scenes, *RUN[2:], "--out", out)[0] == 0
    before = out.read_bytes()
    # The same ids, other content (duration): the old rows are stale, not done.
    make_scenes(ProceduralBank(), 3, scenes, duration_s=8.0, seed=0, progress=False, overwrite=True)
    code, _, err = run_cli(monkeypatch, capsys, *RUN[:2], scenes, *RUN[2:], "--out", out)
    assert code == 2 and "another version of scene" in one_line(err)
    assert out.read_bytes() == before
    # Regenerated as they were, plus more scenes: only the new scenes run.
    make_scenes(ProceduralBank(), 5, scenes, seed=0, progress=False, overwrite=True)
    code, stdout, err = run_cli(monkeypatch, capsys, *RUN[:2], scenes, *RUN[2:], "--out", out)
    assert code == 0, err
    assert "2 scenes run, 3 already done" in stdout
    assert out.read_bytes().startswith(before)


def test_rows_of_other_scenes_of_the_same_ids_are_never_pooled_or_drawn(
    scenes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Scene ids are names: scenes made again with another seed reuse them. Rows computed on one scene set
    are refused beside rows of the other (their keys need not collide: other conditions here) and against
    the other's manifest; the report's gallery drew the manifest's events and audio for them."""
    other = tmp_path / "other"
    make_scenes(ProceduralBank(), 3, other, seed=1, progress=False)
    a, b, page = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "r.html"
    for folder, condition, out in ((scenes, "random", a), (other, "energy", b)):
        argv = (*RUN[:2], folder, "--conditions", condition, "--no-progress", "--out", out)
        assert run_cli(monkeypatch, capsys, *argv)[0] == 0
    for argv in (("bench", "summary", a, b), ("report", a, b, "--out", page)):
        code, _, err = run_cli(monkeypatch, capsys, *argv)
        assert code == 2 and "another version of scene 'scene_00000'" in one_line(err), err
    code, _, err = run_cli(
        monkeypatch, capsys, "report", a, "--scenes", other, "--out", page, "--no-progress"
    )
    assert code == 2 and "scene 'scene_00000'" in one_line(err) and str(other) in err
    assert not page.exists()
    code, _, err = run_cli(
        monkeypatch, capsys, "report", a, "--scenes", scenes, "--out", page, "--no-progress"
    )
    assert code == 0 and page.exists(), err


def test_a_run_killed_anywhere_resumes_to_the_same_rows(
    scenes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cut the results file at random byte offsets (a kill mid-write), resume: the rows of a clean run."""
    full = tmp_path / "full.jsonl"
    assert run_cli(monkeypatch, capsys, *RUN[:2], scenes, *RUN[2:], "--out", full)[0] == 0
    data = full.read_bytes()
    expected = [{k: v for k, v in json.loads(line).items() if k != "elapsed_s"} for line in data.splitlines()]
    rng = np.random.default_rng(0)
    for cut in sorted({0, len(data) - 1, *rng.integers(1, len(data) - 1, size=8).tolist()}):
        part = tmp_path / f"part{cut}.jsonl"
        part.write_bytes(data[:cut])
        code, _, err = run_cli(monkeypatch, capsys, *RUN[:2], scenes, *RUN[2:], "--out", part)
        assert code == 0, (cut, err)
        rows = [
            {k: v for k, v in json.loads(line).items() if k != "elapsed_s"}
            for line in part.read_bytes().splitlines()
        ]
        key = lambda r: (r["scene_id"], r["query"], r["condition"])  # noqa: E731
        assert sorted(rows, key=key) == sorted(expected, key=key), cut
        assert len({key(r) for r in rows}) == len(rows)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_outputs_follow_the_umask(
    scenes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old = os.umask(0o027)
    try:
        expected = 0o666 & ~0o027
        out = tmp_path / "r.jsonl"
        assert run_cli(monkeypatch, capsys, *RUN[:2], scenes, *RUN[2:], "--out", out)[0] == 0
        wav = tmp_path / "clip.wav"
        sf.write(wav, noise(2.0), SR)
        code, _, err = run_cli(
            monkeypatch,
            capsys,
            "localize",
            wav,
            "-q",
            "a siren",
            "--json",
            tmp_path / "o.json",
            "--save-vector",
            tmp_path / "v",
        )
        assert code == 0, err
        make_scenes(ProceduralBank(), 1, tmp_path / "new", seed=0, progress=False)
        for path in (
            out,
            tmp_path / "o.json",
            tmp_path / "v.safetensors",
            tmp_path / "v.json",
            tmp_path / "new" / "manifest.jsonl",
        ):
            assert _mode(path) == expected, (path, oct(_mode(path)))
    finally:
        os.umask(old)


def test_ctrl_c_is_one_line_and_exit_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("wheretolisten.scenes.make_scenes", interrupted)
    code, _, err = run_cli(monkeypatch, capsys, "scenes", "make", "--out", tmp_path / "s", "--no-progress")
    assert code == 130 and "interrupted" in one_line(err)


def test_a_long_file_is_read_one_window_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shipped model takes 10 s: a 30-s 44.1-kHz file is never decoded whole, only window by window."""
    wav = tmp_path / "long.wav"
    sf.write(wav, np.tile(noise(1.0), 84), 44100)
    spans: list[int] = []
    real_read = sf.read

    def recording_read(*args: object, **kwargs: object) -> object:
        spans.append(int(kwargs.get("stop") or 10**12) - int(kwargs.get("start") or 0))  # type: ignore[call-overload]
        return real_read(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("soundfile.read", recording_read)
    code, out, err = run_cli(monkeypatch, capsys, "localize", wav, "-q", "a siren")
    assert code == 0, err
    assert len(spans) >= 3 and max(spans) <= 10 * 44100 + 1, spans
    assert "peak" in out


def test_a_truncated_wav_is_said_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = tmp_path / "cut.wav"
    sf.write(wav, noise(4.0), SR)
    data = wav.read_bytes()
    wav.write_bytes(data[: len(data) // 2])
    code, out, err = run_cli(monkeypatch, capsys, "localize", wav, "-q", "a siren")
    assert code == 0, err
    line = one_line(err)
    assert line.startswith("wheretolisten: warning:") and "truncated" in line and "4.00 s" in line
    assert "'a siren': " in out and "peak" in out


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_the_localize_resume_key_holds_everything_that_changes_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 25: another span or another --vector with the same -q used to be 'skipped'. Now: the same
    work is skipped, other work is computed and written as new lines, other settings are refused."""
    wav = tmp_path / "a.wav"
    sf.write(wav, noise(8.0, seed=5), SR)
    log = tmp_path / "l.jsonl"
    base = ("localize", wav, "-q", "a siren", "--no-progress", "--jsonl", log)
    code, _, err = run_cli(monkeypatch, capsys, *base, "--start", "0", "--end", "4")
    assert code == 0, err
    first = log.read_bytes()
    code, out, err = run_cli(monkeypatch, capsys, *base, "--start", "0", "--end", "4")
    assert code == 0 and "already in" in out and log.read_bytes() == first  # the same work: skipped
    code, out, err = run_cli(monkeypatch, capsys, *base, "--start", "3", "--end", "7")
    assert code == 0 and "already in" not in out, out
    second = log.read_bytes()
    assert second.startswith(first) and len(_lines(log)) == 2
    rows = _lines(log)
    assert [r["resume"]["span_s"] for r in rows] == [[0.0, 4.0], [3.0, 7.0]]  # type: ignore[index]
    # Another vector with the same query: new work.
    for name, query in (("v1", "a siren"), ("v2", "a dog")):
        code, _, err = run_cli(
            monkeypatch, capsys, "vector", "build", wav, "-q", query, "--out", tmp_path / name
        )
        assert code == 0, err
    with_vector = (*base, "--start", "0", "--end", "4", "--vector")
    assert run_cli(monkeypatch, capsys, *with_vector, tmp_path / "v1.safetensors")[0] == 0
    code, out, err = run_cli(monkeypatch, capsys, *with_vector, tmp_path / "v2.safetensors")
    assert code == 0 and "already in" not in out, (out, err)
    assert len(_lines(log)) == 4 and log.read_bytes().startswith(second)
    # The same path with other audio in it: new work.
    before = log.read_bytes()
    sf.write(wav, noise(8.0, seed=6), SR)
    code, out, err = run_cli(monkeypatch, capsys, *base, "--start", "0", "--end", "4")
    assert code == 0 and "already in" not in out
    assert len(_lines(log)) == 5 and log.read_bytes().startswith(before)
    # Another steering strength or window plan changes every line's configuration: refused, one line.
    before = log.read_bytes()
    for extra in (("--alpha", "7"), ("--segment-s", "3")):
        code, _, err = run_cli(monkeypatch, capsys, *base, "--start", "0", "--end", "4", *extra)
        assert code == 2 and "another model or configuration" in one_line(err), (extra, err)
        assert log.read_bytes() == before


def test_overwrite_replaces_what_the_command_did_not_create(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user's X.json beside --save-vector X, and a scenes manifest under scenes import --out, are kept
    unless --overwrite; a vector's own metadata .json is replaced by a new save without it."""
    wav = tmp_path / "clip.wav"
    sf.write(wav, noise(3.0), SR)
    notes = tmp_path / "v.json"
    notes.write_text('{"my": "notes"}\n')
    save = ("localize", wav, "-q", "a siren", "--save-vector", tmp_path / "v")
    code, _, err = run_cli(monkeypatch, capsys, *save)
    assert code == 2 and "--overwrite" in one_line(err)
    assert notes.read_text() == '{"my": "notes"}\n' and not (tmp_path / "v.safetensors").exists()
    assert run_cli(monkeypatch, capsys, *save, "--overwrite")[0] == 0
    assert "format_version" in json.loads(notes.read_text())
    assert run_cli(monkeypatch, capsys, *save)[0] == 0  # its own metadata: no --overwrite needed
    tsv = tmp_path / "strong.tsv"
    tsv.write_text("filename\tonset\toffset\tevent_label\nclip.wav\t0.5\t1.5\tdog\n")
    make_scenes(ProceduralBank(), 1, tmp_path / "scenes", seed=0, progress=False)
    manifest = tmp_path / "scenes" / "manifest.jsonl"
    before = manifest.read_bytes()
    args = ("scenes", "import", "--tsv", tsv, "--audio", tmp_path, "--out", tmp_path / "scenes")
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2 and "--overwrite" in one_line(err) and manifest.read_bytes() == before
    code, _, err = run_cli(monkeypatch, capsys, *args, "--overwrite")
    assert code == 0, err
    assert "desed:strong.tsv" in manifest.read_text()


def test_manifests_are_strict_json(tmp_path: Path) -> None:
    """A NaN reaching the manifest writer is refused, never written as a bare NaN."""
    from dataclasses import replace

    from wheretolisten.errors import DataError
    from wheretolisten.scenes import load_manifest
    from wheretolisten.scenes.manifest import write_manifest

    make_scenes(ProceduralBank(), 1, tmp_path / "s", seed=0, progress=False)
    scene = load_manifest(tmp_path / "s")[0]
    bad = replace(scene, duration_s=float("nan"))
    with pytest.raises(DataError, match="not finite"):
        write_manifest([bad], tmp_path / "t")
    assert not (tmp_path / "t" / "manifest.jsonl").exists()


def test_strict_json_writes_numpy_values_as_json_values() -> None:
    """numpy integers, booleans and arrays in a summary are numbers, booleans and lists, not their
    strings (``default=str`` once wrote ``"5"`` for ``np.int64(5)``); NaN and inf stay null."""
    from wheretolisten.records.documents import strict_json

    value = {
        "n": np.int64(5),
        "ok": np.bool_(True),
        "x": np.float32(0.5),
        "rows": np.array([1, 2]),
        "bad": [np.float64("nan"), float("inf")],
    }
    assert json.loads(strict_json(value)) == {
        "n": 5,
        "ok": True,
        "x": 0.5,
        "rows": [1, 2],
        "bad": [None, None],
    }


def test_no_output_replaces_the_manifest_a_command_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """report's --scenes and localize's ground truth for --plot/--html read a folder's manifest.jsonl: an
    output there is refused (it once replaced the manifest with the page), and the manifest is intact."""
    make_scenes(ProceduralBank(), 1, tmp_path / "s", seed=0, progress=False)
    manifest = tmp_path / "s" / "manifest.jsonl"
    before = manifest.read_bytes()
    results = tmp_path / "r.jsonl"
    results.write_text("")
    wav = tmp_path / "s" / "audio" / "scene_00000.wav"
    cases = [  # report's page must be an .html name, which a manifest is not
        (["report", results, "--out", manifest, "--scenes", tmp_path / "s"], "ending in .html"),
        (
            ["localize", wav, "-q", "a steady tone", "--plot", tmp_path / "p.png", "--json", manifest],
            "is also",
        ),
        (
            ["localize", wav, "-q", "a steady tone", "--html", tmp_path / "p.html", "--tsv", manifest],
            "is also",
        ),
    ]
    for args, why in cases:
        code, _, err = run_cli(monkeypatch, capsys, *args)
        assert code == 2 and why in err and len(err.strip().splitlines()) == 1, (args, err)
        assert manifest.read_bytes() == before


def test_scenes_make_and_make_tiny_model_replace_a_folder_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder holding a manifest or audio (scenes make) or anything (make-tiny-model: a checkpoint?)
    is refused without --overwrite, untouched; with it, the command writes."""
    mine = tmp_path / "mine"
    (mine / "audio").mkdir(parents=True)
    (mine / "audio" / "scene_00000.wav").write_bytes(b"my own recording")
    code, _, err = run_cli(monkeypatch, capsys, "scenes", "make", "--n", "1", "--out", mine, "--no-progress")
    assert code == 2 and "--overwrite" in err
    assert (mine / "audio" / "scene_00000.wav").read_bytes() == b"my own recording"
    made = tmp_path / "made"
    args = ["scenes", "make", "--n", "1", "--out", made, "--no-progress"]
    assert run_cli(monkeypatch, capsys, *args)[0] == 0
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2 and "already holds manifest.jsonl" in err
    assert run_cli(monkeypatch, capsys, *args, "--overwrite")[0] == 0
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    tiny = ["make-tiny-model", "--family", "qwen2-audio", "--out", model]
    code, _, err = run_cli(monkeypatch, capsys, *tiny)
    assert code == 2 and "--overwrite" in err and (model / "config.json").read_text() == "{}"
