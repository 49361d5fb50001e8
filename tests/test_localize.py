from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from helpers import CORE_FAMILIES, noise, run_cli
from wheretolisten.localize import LocalizeConfig, default_layers, default_probe_layers, localize
from wheretolisten.models import Adapter
from wheretolisten.steering import SteeringVector

FAMILIES = CORE_FAMILIES


def test_default_layers() -> None:
    assert default_layers(32) == [10, 11, 12, 13, 14, 15]
    assert default_layers(28) == [9, 10, 11, 12, 13]
    assert default_layers(4) == [1]
    assert default_probe_layers(4, [1]) == [2, 3]
    assert default_probe_layers(4, [3]) == [3]


def test_alpha_zero_leaves_the_profile_unchanged_and_alpha_changes_it(adapter: Adapter) -> None:
    clip = noise(4.0)
    zero = localize(adapter, clip, "a siren", LocalizeConfig(alpha=0.0))
    np.testing.assert_array_equal(zero.profile.delta, 0.0)
    assert zero.peak_s is None
    moved = localize(adapter, clip, "a siren", LocalizeConfig(alpha=8.0))
    assert np.abs(moved.profile.delta).max() > 0
    np.testing.assert_allclose(moved.profile.base, zero.profile.base, atol=1e-9)
    assert moved.peak_s is not None and 0 <= moved.peak_s <= 4.0
    assert moved.interval_s[0] <= moved.peak_s <= moved.interval_s[1]
    assert len(moved.profile.time_s) == 100


def test_fast_and_eager_localize_agree(adapter: Adapter) -> None:
    clip = noise(3.0, seed=3)
    fast = localize(adapter, clip, "a bell ringing", LocalizeConfig(alpha=8.0, probe="fast"))
    eager = localize(adapter, clip, "a bell ringing", LocalizeConfig(alpha=8.0, probe="eager"))
    np.testing.assert_allclose(fast.profile.steered, eager.profile.steered, atol=1e-6)
    np.testing.assert_allclose(fast.profile.delta, eager.profile.delta, atol=1e-6)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_cli_localize_end_to_end(
    tmp_path: Path,
    tiny_dirs: dict[str, Path],
    family: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wav = tmp_path / "clip.wav"
    sf.write(wav, noise(12.0), 16000)
    out = tmp_path / "r.json"
    code, stdout, err = run_cli(
        monkeypatch,
        capsys,
        "localize",
        wav,
        "--query",
        "the dog barking",
        "--model",
        tiny_dirs[family],
        "--alpha",
        "8",
        "--layers",
        "1",
        "--device",
        "cpu",
        "--json",
        out,
        "--save-vector",
        tmp_path / "v",
    )
    assert code == 0, err
    assert "peak" in stdout and " s" in stdout
    data = json.loads(out.read_text())
    assert data["query"] == "the dog barking"
    assert data["audio"] == {"path": str(wav), "duration_s": 12.0, "sample_rate": 16000}
    prof = data["profile"]
    assert len(prof["time_s"]) == len(prof["base"]) == len(prof["steered"]) == len(prof["delta"]) == 300
    assert prof["time_s"][1] == pytest.approx(0.04)
    np.testing.assert_allclose(np.array(prof["steered"]) - prof["base"], prof["delta"])
    assert data["config"]["layers"] == [1] and data["config"]["alpha"] == 8.0
    assert data["interval_s"][0] <= data["peak_s"] <= data["interval_s"][1]
    assert (tmp_path / "v.safetensors").exists()


def test_cli_localize_with_a_saved_vector(
    tmp_path: Path,
    tiny_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--vector reuses a saved vector (its query and layers): the same profile as the run that built it."""
    wav = tmp_path / "clip.wav"
    sf.write(wav, noise(6.0, seed=4), 16000)
    model = tiny_dirs["audioflamingo3"]
    common = ["--model", model, "--alpha", "8", "--device", "cpu", "--positions", "audio"]
    code, _, err = run_cli(
        monkeypatch, capsys, "localize", wav, "-q", "a siren", "--layers", "2", *common,
        "--json", tmp_path / "built.json", "--save-vector", tmp_path / "v",
    )  # fmt: skip
    assert code == 0, err
    code, stdout, err = run_cli(
        monkeypatch, capsys, "localize", wav, "--vector", tmp_path / "v.safetensors", *common,
        "--json", tmp_path / "reused.json",
    )  # fmt: skip
    assert code == 0, err
    assert stdout.startswith("'a siren':")
    built = json.loads((tmp_path / "built.json").read_text())
    reused = json.loads((tmp_path / "reused.json").read_text())
    assert reused["config"]["layers"] == [2]
    assert np.abs(built["profile"]["delta"]).max() > 0
    np.testing.assert_allclose(reused["profile"]["delta"], built["profile"]["delta"], atol=1e-6)

    SteeringVector({2: torch.ones(7)}, {"model": "some-other-model", "query": "a siren"}).save(
        tmp_path / "wrong"
    )
    code, _, err = run_cli(
        monkeypatch, capsys, "localize", wav, "--vector", tmp_path / "wrong.safetensors", *common
    )
    assert code == 2
    assert err.strip().count("\n") == 0 and "hidden size" in err and "some-other-model" in err
    code, _, err = run_cli(monkeypatch, capsys, "localize", wav, *common)
    assert code == 2 and "--query" in err


def test_cli_localize_several_queries_in_one_pass(
    tmp_path: Path,
    tiny_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Repeated --query: one line and one numbered file per query, each as if run alone."""
    wav = tmp_path / "clip.wav"
    sf.write(wav, noise(5.0, seed=8), 16000)
    common = ["--model", tiny_dirs["qwen2-audio"], "--alpha", "8", "--layers", "1", "--device", "cpu"]
    code, stdout, err = run_cli(
        monkeypatch, capsys, "localize", wav, "-q", "a siren", "-q", "a bell ringing", *common,
        "--json", tmp_path / "r.json", "--save-vector", tmp_path / "v.safetensors",
    )  # fmt: skip
    assert code == 0, err
    lines = stdout.splitlines()
    assert lines[0].startswith("'a siren':") and lines[1].startswith("'a bell ringing':")
    assert not (tmp_path / "r.json").exists()
    for i, q in enumerate(["a siren", "a bell ringing"], start=1):
        many = json.loads((tmp_path / f"r.{i}.json").read_text())
        assert many["query"] == q and (tmp_path / f"v.{i}.safetensors").exists()
        code, _, err = run_cli(
            monkeypatch, capsys, "localize", wav, "-q", q, *common, "--json", tmp_path / "one.json"
        )
        assert code == 0, err
        one = json.loads((tmp_path / "one.json").read_text())
        assert np.abs(one["profile"]["delta"]).max() > 0
        np.testing.assert_allclose(many["profile"]["delta"], one["profile"]["delta"], atol=1e-6)
    code, _, err = run_cli(
        monkeypatch, capsys, "localize", wav, "-q", "a", "-q", "b", "--vector", tmp_path / "v.1.safetensors",
        *common,
    )  # fmt: skip
    assert code == 2 and "at most one --query" in err


def test_cli_localize_several_files_into_a_resumable_jsonl(
    tmp_path: Path,
    tiny_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Several files: one line each, --jsonl appends (file, query) rows, a rerun skips them, a bad file
    is reported and skipped with exit status 2."""
    files = []
    for i in range(3):
        files.append(tmp_path / f"c{i}.wav")
        sf.write(files[-1], noise(3.0, seed=20 + i), 16000)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio")
    log = tmp_path / "runs.jsonl"
    common = ["-q", "a siren", "-q", "a bell", "--model", tiny_dirs["audioflamingo3"], "--alpha", "8"]
    common += ["--device", "cpu", "--no-progress", "--jsonl", log]
    code, stdout, err = run_cli(monkeypatch, capsys, "localize", files[0], broken, files[1], *common)
    assert code == 2
    errors = err.strip().splitlines()
    assert errors[0].startswith(f"wheretolisten: error: {broken}:")
    assert "1 of 3 audio files failed" in errors[-1]
    assert stdout.count(f"{files[0]}: 'a siren': ") == 1 and stdout.count(f"{files[1]}: 'a bell'") == 1
    first = log.read_bytes()
    rows = [json.loads(line) for line in first.splitlines()]
    assert [(r["audio"]["path"], r["query"]) for r in rows] == [
        (str(f), q) for f in files[:2] for q in ("a siren", "a bell")
    ]
    # Resume: the two done files are skipped, the new one is appended; nothing else changes.
    code, stdout, err = run_cli(monkeypatch, capsys, "localize", *files, *common)
    assert code == 0, err
    assert str(files[0]) not in stdout and f"{files[2]}: 'a siren'" in stdout
    assert "2 file(s) already in" in stdout
    after = log.read_bytes()
    assert after.startswith(first) and len(after.splitlines()) == 6
    one = json.loads(after.splitlines()[4])
    code, _, err = run_cli(
        monkeypatch, capsys, "localize", files[2], "-q", "a siren", "--model", tiny_dirs["audioflamingo3"],
        "--alpha", "8", "--device", "cpu", "--json", tmp_path / "alone.json",
    )  # fmt: skip
    assert code == 0, err
    alone = json.loads((tmp_path / "alone.json").read_text())
    np.testing.assert_allclose(one["profile"]["delta"], alone["profile"]["delta"], atol=1e-6)
    # Another configuration into the same file is refused; per-file outputs need one file.
    code, _, err = run_cli(monkeypatch, capsys, "localize", *files, *common, "--alpha", "2")
    assert code == 2 and "another model or configuration" in err
    code, _, err = run_cli(monkeypatch, capsys, "localize", *files, *common, "--json", tmp_path / "x.json")
    assert code == 2 and "use --jsonl" in err


def test_cli_alpha_zero_gives_zero_delta(
    tmp_path: Path,
    tiny_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wav = tmp_path / "clip.wav"
    sf.write(wav, noise(3.0), 16000)
    out = tmp_path / "r.json"
    code, stdout, _ = run_cli(
        monkeypatch,
        capsys,
        "localize",
        wav,
        "-q",
        "x",
        "--model",
        tiny_dirs["qwen2-audio"],
        "--alpha",
        "0",
        "--json",
        out,
    )
    assert code == 0
    data = json.loads(out.read_text())
    assert set(data["profile"]["delta"]) == {0.0}
    assert data["peak_s"] is None and "flat" in stdout


def _write(path: Path, kind: str) -> Path:
    if kind == "corrupt":
        path.write_bytes(b"RIFF....garbage")
    elif kind == "empty":
        sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    elif kind == "nan":
        sf.write(path, np.full(8000, np.nan, dtype=np.float32), 16000, subtype="FLOAT")
    elif kind == "silent":
        sf.write(path, np.zeros(8000, dtype=np.float32), 16000)
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "no such file"),
        ("corrupt", "cannot read audio"),
        ("empty", "empty"),
        ("nan", "NaN"),
        ("silent", "silent"),
    ],
)
def test_cli_bad_audio(
    tmp_path: Path,
    tiny_dirs: dict[str, Path],
    kind: str,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wav = _write(tmp_path / "x.wav", kind)
    code, _, err = run_cli(
        monkeypatch, capsys, "localize", wav, "-q", "x", "--model", tiny_dirs["qwen2-audio"]
    )
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wheretolisten: error:") and message in lines[0]
    assert "Traceback" not in err


def test_cli_bad_model_and_layer(
    tmp_path: Path,
    tiny_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wav = tmp_path / "a.wav"
    sf.write(wav, noise(2.0), 16000)
    cfg_only = tmp_path / "unknown"
    cfg_only.mkdir()
    (cfg_only / "config.json").write_text(json.dumps({"model_type": "whisper-but-not"}))
    cases = [
        (["--model", tmp_path / "nope"], "no such model directory"),
        (["--model", cfg_only], "model"),
        (["--model", tiny_dirs["audioflamingo3"], "--layers", "99"], "out of range"),
        (["--model", tiny_dirs["audioflamingo3"], "--layers", "a-b"], "cannot parse --layers"),
        (["--model", tiny_dirs["audioflamingo3"], "--probe", "magic"], "'magic' is not one of"),
        (["--model", tiny_dirs["audioflamingo3"], "--positions", "middle"], "'middle' is not one of"),
    ]
    for extra, message in cases:
        code, _, err = run_cli(monkeypatch, capsys, "localize", wav, "-q", "x", *extra)
        assert code != 0, extra
        lines = err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (extra, err)


def test_cli_make_tiny_model_and_help(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        monkeypatch,
        capsys,
        "make-tiny-model",
        "--family",
        "audioflamingo3",
        "--out",
        tmp_path / "m",
        "--seed",
        "3",
    )
    assert code == 0 and (tmp_path / "m" / "model.safetensors").exists()
    assert (tmp_path / "m" / "processor_config.json").exists() or (
        tmp_path / "m" / "preprocessor_config.json"
    ).exists()
    code, _, err = run_cli(monkeypatch, capsys, "make-tiny-model", "--family", "gpt", "--out", tmp_path / "g")
    assert code != 0 and "unknown family" in err
    code, out, _ = run_cli(monkeypatch, capsys, "localize", "--help")
    assert code == 0 and "--query" in out and "--alpha" in out


def test_checkpoint_recommended_settings_are_defaults_and_options_override_them(
    tmp_path: Path,
    tiny_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import shutil

    model_dir = tmp_path / "m"
    shutil.copytree(tiny_dirs["audioflamingo3"], model_dir)
    (model_dir / "wheretolisten.json").write_text(json.dumps({"localize": {"layers": [2], "alpha": 6.0}}))
    wav = tmp_path / "a.wav"
    sf.write(wav, noise(2.0), 16000)
    out = tmp_path / "r.json"
    code, _, err = run_cli(
        monkeypatch, capsys, "localize", wav, "-q", "x", "--model", model_dir, "--json", out
    )
    assert code == 0, err
    cfg = json.loads(out.read_text())["config"]
    assert cfg["layers"] == [2] and cfg["alpha"] == 6.0 and cfg["probe_layers"] == [3]
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "localize",
        wav,
        "-q",
        "x",
        "--model",
        model_dir,
        "--json",
        out,
        "--alpha",
        "1",
        "--layers",
        "1",
    )
    cfg = json.loads(out.read_text())["config"]
    assert cfg["layers"] == [1] and cfg["alpha"] == 1.0 and cfg["probe_layers"] == [2, 3]
    (model_dir / "wheretolisten.json").write_text("{not json")
    code, _, err = run_cli(monkeypatch, capsys, "localize", wav, "-q", "x", "--model", model_dir)
    assert code != 0 and "wheretolisten.json" in err


def test_demo_prints_a_table(
    tmp_path: Path,
    tiny_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_cli(
        monkeypatch,
        capsys,
        "demo",
        "--model",
        tiny_dirs["qwen2-audio"],
        "--alpha",
        "8",
        "--out-dir",
        tmp_path / "d",
    )
    assert code == 0, err
    assert "ground truth" in out and "events localized" in out
    assert len(list((tmp_path / "d").glob("demo_*.png"))) == 4  # one per event, and all in one


@pytest.mark.parametrize(("engine", "positions"), [("shared", "last"), ("full", "last"), ("shared", "audio")])
def test_alpha_sweep_rows_are_localize_at_each_alpha(adapter: Adapter, engine: str, positions: str) -> None:
    from dataclasses import replace

    from wheretolisten.localize import alpha_sweep

    clip = noise(3.0, seed=9)
    cfg = LocalizeConfig(layers=[1], engine=engine, positions=positions)
    sweep = alpha_sweep(adapter, clip, "a siren", [0.0, 4.0, 8.0], cfg, 16000)
    assert sweep.deltas.shape == (3, 75) and sweep.alphas == [0.0, 4.0, 8.0]
    assert not sweep.deltas[0].any() and sweep.readouts[0].peak_s is None  # α = 0: nothing moves
    for i, alpha in ((1, 4.0), (2, 8.0)):
        alone = localize(adapter, clip, "a siren", replace(cfg, alpha=alpha), 16000)
        np.testing.assert_allclose(sweep.deltas[i], alone.profile.delta, atol=1e-6)
        assert np.abs(alone.profile.delta).max() > 1e-8
    with pytest.raises(ValueError, match="at least one"):
        alpha_sweep(adapter, clip, "a siren", [], cfg, 16000)


def test_cli_plot_alpha(
    tmp_path: Path,
    tiny_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wav = tmp_path / "clip.wav"
    sf.write(wav, noise(3.0, seed=2), 16000)
    args = ["plot-alpha", wav, "-q", "a siren", "--model", tiny_dirs["qwen2-audio"], "--device", "cpu"]
    code, stdout, err = run_cli(monkeypatch, capsys, *args, "--alphas", "0,2,8", "--out", tmp_path / "a.png")
    assert code == 0, err
    lines = stdout.splitlines()
    assert lines[0] == "α = 0: no attention shift (Δ is flat)"
    assert lines[1].startswith("α = 2: peak") and lines[2].startswith("α = 8: peak")
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    code, _, err = run_cli(monkeypatch, capsys, *args, "--alphas", "x", "--out", tmp_path / "b.png")
    assert code == 2 and "--alphas" in err


def test_out_of_memory_is_one_line(
    tmp_path: Path,
    tiny_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A GPU out-of-memory error (torch.OutOfMemoryError) ends the command with one line, exit 3."""
    import wheretolisten.long as loc  # where the CLI's localize_file calls it

    def too_big(*_args: object, **_kwargs: object) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore details")

    monkeypatch.setattr(loc, "localize", too_big)
    wav = tmp_path / "clip.wav"
    sf.write(wav, noise(2.0), 16000)
    model = ["--model", tiny_dirs["qwen2-audio"], "--device", "cpu"]
    code, _, err = run_cli(monkeypatch, capsys, "localize", wav, "-q", "x", *model)
    assert code == 3
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "out of memory (CUDA out of memory. Tried to allocate 2.00 GiB)" in lines[0]


def test_the_readme_shows_what_the_demo_prints(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Quickstart's demo table is the shipped model's output, row for row (peaks, intervals, hits)."""
    monkeypatch.setenv("COLUMNS", "120")
    code, out, err = run_cli(monkeypatch, capsys, "demo")
    assert code == 0, err
    printed = [[cell.strip() for cell in line.split("│")[1:-1]] for line in out.splitlines() if "│" in line]
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("where does organism listen?", 1)[1].split("```", 1)[0]
    title = "where does organism listen?" + block.splitlines()[0]
    assert title.strip() in out
    rows = [line.split() for line in block.splitlines()[2:] if line.strip()]
    assert len(rows) == len(printed) == 3
    for words, cells in zip(rows, printed, strict=True):
        assert " ".join(words) == " ".join(" ".join(cells).split()), (words, cells)


def test_an_empty_query_is_one_option_error(adapter: Adapter) -> None:
    """The library refuses a blank query before any pass (the prompts would name no sound at all)."""
    from wheretolisten.errors import OptionError
    from wheretolisten.localize import localize_many

    clip = noise(2.0, seed=3)
    with pytest.raises(OptionError, match="query is empty"):
        localize(adapter, clip, "   ", sample_rate=16000)
    with pytest.raises(OptionError, match="query is empty"):
        localize_many(adapter, clip, ["a siren", ""], sample_rate=16000)


def test_a_jsonl_log_is_not_resumed_on_other_weights_or_precision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The log's lines were matched by the model's name: other weights saved in the same folder, or
    --dtype bfloat16, skipped files as done with float32 lines. Lines record ``computed_with`` now; the
    same weights in another folder still resume."""
    from wheretolisten.models.tiny import make_tiny_model

    model = make_tiny_model("qwen2-audio", tmp_path / "m", seed=0)
    wav, log = tmp_path / "a.wav", tmp_path / "log.jsonl"
    sf.write(wav, noise(2.0, seed=3), 16000)
    common = ("localize", wav, "-q", "a siren", "--jsonl", log, "--device", "cpu", "--no-progress")
    assert run_cli(monkeypatch, capsys, *common, "--model", model)[0] == 0
    (line,) = [json.loads(x) for x in log.read_text().splitlines()]
    assert line["computed_with"]["dtype"] == "float32"
    code, _, err = run_cli(monkeypatch, capsys, *common, "--model", model, "--dtype", "bfloat16")
    assert code == 2 and "other weights or precision" in err
    make_tiny_model("qwen2-audio", tmp_path / "m", seed=1, overwrite=True)
    code, _, err = run_cli(monkeypatch, capsys, *common, "--model", model)
    assert code == 2 and "other weights or precision" in err
    moved = make_tiny_model("qwen2-audio", tmp_path / "elsewhere", seed=0)
    code, stdout, err = run_cli(monkeypatch, capsys, *common, "--model", moved)
    assert code == 0 and "1 file(s) already in" in stdout, err


def test_cli_refuses_layers_a_saved_vector_lacks_before_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``localize --vector V --layers 3`` with no layer 3 in V was refused only after the model loaded
    (and its prefixes ran), by the model's check, worded otherwise."""
    sf.write(tmp_path / "clip.wav", noise(2.0, seed=1), 16000)
    vector = SteeringVector({1: torch.ones(160)}, {"query": "a siren"}).save(tmp_path / "v")
    code, _, err = run_cli(
        monkeypatch, capsys, "localize", tmp_path / "clip.wav", "--vector", vector, "--layers", "3"
    )
    assert code == 2 and "has no direction for layer 3 (it has layers 1)" in err, err
