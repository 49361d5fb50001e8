"""Tests for the benchmark runner: conditions, resumable append-only results, summary, sweep, bad input."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpers import CORE_FAMILIES
from helpers import run_cli as cli
from wheretolisten.bench import (
    CONDITIONS,
    BenchConfig,
    bench_config,
    energy_prediction,
    erase_event,
    parse_conditions,
    run_unit,
    split_dev_test,
)
from wheretolisten.errors import DataError, WTLError
from wheretolisten.localize import LocalizeConfig, prepare_audio, prompted_profiles
from wheretolisten.models import Adapter, wrap
from wheretolisten.models.tiny import build_tiny_model, make_tiny_model
from wheretolisten.probe import temporal_attention
from wheretolisten.readout import aggregate, apply_rule
from wheretolisten.records.runs import check_one_run
from wheretolisten.scenes import Event, ProceduralBank, load_manifest, make_scenes

pytestmark = pytest.mark.usefixtures("one_thread")

FAMILIES = CORE_FAMILIES
ALL = ",".join(CONDITIONS)
MODEL_OPTS = ("--device", "cpu", "--dtype", "float32", "--no-progress")


# ---- fixtures and helpers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scenes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench_scenes")
    make_scenes(ProceduralBank(), 3, out, n_events=3, duration_s=10.0, seed=0, progress=False)
    return out


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bench_models")
    return {family: make_tiny_model(family, root / family, seed=0) for family in FAMILIES}


@pytest.fixture(scope="module")
def tiny_adapters() -> dict[str, Adapter]:
    return {family: wrap(*build_tiny_model(family, seed=0), name=f"tiny-{family}") for family in FAMILIES}


def read_rows(path: Path) -> list[dict[str, Any]]:
    text = path.read_text()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def without_timing(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows]


def keys(rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(r["scene_id"], r["query"], r["condition"]) for r in rows]


def assert_one_error_line(code: int, err: str, *needles: str) -> None:
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("wheretolisten: error:")
    for needle in needles:
        assert needle in lines[0], lines[0]


# ---- the whole pipeline through the CLI ---------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_run_and_summary_all_conditions(
    family: str,
    scenes_dir: Path,
    model_dirs: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "results.jsonl"
    model = str(model_dirs[family])
    code, stdout, err = cli(
        monkeypatch,
        capsys,
        "bench",
        "run",
        scenes_dir,
        "--model",
        model,
        "--conditions",
        ALL,
        "--out",
        out,
        *MODEL_OPTS,
    )
    assert code == 0, err
    assert "wrote 18 rows" in stdout
    rows = read_rows(out)
    scenes = load_manifest(scenes_dir)
    assert len(rows) == len(scenes) * len(CONDITIONS)
    assert len(set(keys(rows))) == len(rows)
    by_scene = {s.scene_id: s for s in scenes}
    for r in rows:
        scene = by_scene[r["scene_id"]]
        target = scene.target_event
        assert (r["query"], r["label"], r["position"]) == (target.query, target.label, target.position)
        assert r["gt"] == [target.onset_s, target.offset_s]
        assert r["duration_s"] == scene.duration_s and r["is_target"] is True
        assert len(r["config_hash"]) == 12 and isinstance(r["config"], dict) and r["elapsed_s"] >= 0
        if r["condition"] in ("random", "energy"):
            assert r["model"] is None
        else:
            assert r["model"] == model
        if r["peak_s"] is not None:
            assert 0.0 <= r["peak_s"] <= r["duration_s"]
        if r["interval_s"] is not None:
            start, end = r["interval_s"]
            assert 0.0 <= start <= end <= r["duration_s"] + 1e-9
        if r["condition"] in ("steered", "prompted", "audio-steered"):
            for name in ("attn_share", "attn_share_base"):
                assert 0.0 < r[name] < 1.0
            for name in ("attn_entropy", "attn_entropy_base"):
                assert 0.0 < r[name] <= 1.0
            assert r["peak_s"] is not None and r["interval_s"][0] <= r["peak_s"] <= r["interval_s"][1]
        else:
            assert "attn_share" not in r
        if r["condition"] == "direct":
            assert isinstance(r["parse_failed"], bool) and isinstance(r["answer"], str)
            assert (r["peak_s"] is None) == r["parse_failed"]
    # Different conditions are really different computations.
    steered = {r["scene_id"]: r for r in rows if r["condition"] == "steered"}
    audio = {r["scene_id"]: r for r in rows if r["condition"] == "audio-steered"}
    assert any(steered[k]["attn_share"] != audio[k]["attn_share"] for k in steered)

    code, stdout, err = cli(monkeypatch, capsys, "bench", "summary", out)
    assert code == 0, err
    for cond in CONDITIONS:
        assert f"| {cond} |" in stdout
    assert "random (expected)" in stdout
    assert "Hit rate by target position" in stdout and "Paired tests vs steered" in stdout

    code, stdout, err = cli(monkeypatch, capsys, "bench", "summary", out, "--format", "csv")
    assert code == 0, err
    table = list(csv.DictReader(io.StringIO(stdout.split("\n\n")[0])))
    by_cond = {row["condition"]: row for row in table}
    assert set(CONDITIONS) <= set(by_cond) and "random (expected)" in by_cond
    for cond in CONDITIONS:
        group = [r for r in rows if r["condition"] == cond]
        hits = [r["peak_s"] is not None and r["gt"][0] <= r["peak_s"] <= r["gt"][1] for r in group]
        assert by_cond[cond]["n"] == str(len(group))
        assert float(by_cond[cond]["hit_rate"]) == pytest.approx(100 * np.mean(hits), abs=0.01)
        assert by_cond[cond]["hit_rate_ci_lo"] != ""
    items = [r for r in rows if r["condition"] == "random"]
    expected = 100 * np.mean([(r["gt"][1] - r["gt"][0]) / r["duration_s"] for r in items])
    assert float(by_cond["random (expected)"]["hit_rate"]) == pytest.approx(expected, abs=0.01)


def test_killed_run_resumes_to_the_uninterrupted_result(
    scenes_dir: Path,
    model_dirs: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = str(model_dirs["audioflamingo3"])
    common = ("--model", model, "--conditions", ALL, *MODEL_OPTS)
    full = tmp_path / "full.jsonl"
    assert cli(monkeypatch, capsys, "bench", "run", scenes_dir, "--out", full, *common)[0] == 0
    part = tmp_path / "part.jsonl"
    code, _, err = cli(monkeypatch, capsys, "bench", "run", scenes_dir, "--out", part, "--limit=2", *common)
    assert code == 0, err
    done = part.read_bytes()
    assert len(done.splitlines()) == 2 * len(CONDITIONS)
    # The kill: the next unit's write was cut half-way through a line.
    next_line = full.read_bytes().splitlines()[2 * len(CONDITIONS)]
    with part.open("ab") as handle:
        handle.write(next_line[: len(next_line) // 2])

    code, stdout, err = cli(monkeypatch, capsys, "bench", "run", scenes_dir, "--out", part, *common)
    assert code == 0, err
    assert "1 scenes run, 2 already done" in stdout
    assert part.read_bytes().startswith(done)
    resumed = read_rows(part)
    assert len(set(keys(resumed))) == len(resumed)
    assert without_timing(resumed) == without_timing(read_rows(full))

    # Nothing left to do: a third run writes nothing.
    before = part.read_bytes()
    code, stdout, _ = cli(monkeypatch, capsys, "bench", "run", scenes_dir, "--out", part, *common)
    assert code == 0 and "wrote 0 rows" in stdout and part.read_bytes() == before


def test_resume_refuses_another_configuration(
    scenes_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.jsonl"
    code, _, err = cli(monkeypatch, capsys, "bench", "run", scenes_dir, "--conditions=random", "--out", out)
    assert code == 0, err
    before = out.read_bytes()
    code, _, err = cli(
        monkeypatch, capsys, "bench", "run", scenes_dir, "--conditions", "random", "--seed", "1", "--out", out
    )
    assert_one_error_line(code, err, str(out), "another configuration")
    assert out.read_bytes() == before


def test_an_option_no_chosen_condition_reads_is_refused(
    scenes_dir: Path,
    model_dirs: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Options the chosen conditions never read (their rows' settings, so their hash, are the same with
    another value) were accepted and ignored: refused now, after the model loads when a condition runs
    one (their values are resolved against it), before anything is written; read ones still run."""
    out = tmp_path / "r.jsonl"
    model = ("--model", str(model_dirs["qwen2-audio"]))
    for args, unread in (
        (("--conditions", "steered,random", "--top-k", "2", *model), "--top-k"),
        (("--conditions", "steered", "--direct-prompt", "Say {query}.", *model), "--direct-prompt"),
        (("--conditions", "steered", "--seed", "3", *model), "--seed"),
        (("--conditions", "energy-det", "--min-score", "2"), "--min-score"),
        (("--conditions", "random", "--alpha", "3", *model), "--alpha, --model"),
    ):
        code, _, err = cli(monkeypatch, capsys, "bench", "run", scenes_dir, "--out", out, "--limit=1", *args)
        assert_one_error_line(code, err, unread, "not read by the conditions")
        assert not out.exists()
    code, _, err = cli(
        monkeypatch,
        capsys,
        "bench",
        "run",
        scenes_dir,
        "--out",
        out,
        "--limit=1",
        "--conditions",
        "steered,random",
        "--seed",
        "3",
        "--alpha",
        "4",
        "--layers",
        "1",
        *model,
    )
    assert code == 0, err


def test_a_resume_on_other_weights_or_precision_is_refused(
    scenes_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rows were keyed by the model's name only: other weights saved in the same folder, or --dtype
    bfloat16, resumed a float32 run and mixed their rows into it. Rows now record the weights and the
    precision (``computed_with``) and such a resume is refused before anything runs; the same weights
    under another name (a moved folder) resume."""
    model = make_tiny_model("qwen2-audio", tmp_path / "m", seed=0)
    out = tmp_path / "r.jsonl"
    args = ("bench", "run", scenes_dir, "--out", out, "--conditions", "steered,random", "--no-progress")
    assert cli(monkeypatch, capsys, *args, "--model", model, "--limit=1")[0] == 0
    rows = read_rows(out)
    steered = next(r for r in rows if r["condition"] == "steered")
    assert steered["computed_with"]["dtype"] == "float32"
    assert str(steered["computed_with"]["weights"]).startswith("sha256:")
    assert "computed_with" not in next(r for r in rows if r["condition"] == "random")
    before = out.read_bytes()
    code, _, err = cli(monkeypatch, capsys, *args, "--model", model, "--limit=2", "--dtype", "bfloat16")
    assert_one_error_line(code, err, "bfloat16", "--dtype")
    make_tiny_model("qwen2-audio", tmp_path / "m", seed=1, overwrite=True)  # other weights, same folder
    code, _, err = cli(monkeypatch, capsys, *args, "--model", model, "--limit=2")
    assert_one_error_line(code, err, "other weights saved under the name")
    assert out.read_bytes() == before
    moved = make_tiny_model("qwen2-audio", tmp_path / "elsewhere", seed=0)
    code, stdout, err = cli(monkeypatch, capsys, *args, "--model", moved, "--limit=2")
    assert code == 0 and "1 already done" in stdout, err
    check_one_run(read_rows(out), str(out))  # one run although its rows name two folders (summary, report)
    code, _, err = cli(monkeypatch, capsys, "bench", "summary", out)
    assert code == 0, err
    other = dict(steered, scene_id="other", computed_with={**steered["computed_with"], "dtype": "bfloat16"})
    with pytest.raises(DataError, match="different weights or precision"):  # pooled by summary, report
        check_one_run([steered, other], "r.jsonl")
    check_one_run([{k: v for k, v in steered.items() if k != "computed_with"}, other], "r.jsonl")  # older


def test_model_free_conditions_need_no_model(
    scenes_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a model was loaded for model-free conditions")

    monkeypatch.setattr("wheretolisten.models.load_model", refuse)
    monkeypatch.setattr("wheretolisten.models.registry.load_model", refuse)
    runs = {}
    for name, seed in (("a", "0"), ("b", "0"), ("c", "7")):
        out = tmp_path / f"{name}.jsonl"
        code, _, err = cli(
            monkeypatch,
            capsys,
            "bench",
            "run",
            scenes_dir,
            "--conditions",
            "random,energy",
            "--queries",
            "all",
            "--seed",
            seed,
            "--out",
            out,
        )
        assert code == 0, err
        runs[name] = read_rows(out)
    rows = runs["a"]
    scenes = {s.scene_id: s for s in load_manifest(scenes_dir)}
    assert len(rows) == 3 * 3 * 2 and all(r["model"] is None for r in rows)
    assert without_timing(rows) == without_timing(runs["b"])  # seeded: reruns agree
    random_a = [r["peak_s"] for r in rows if r["condition"] == "random"]
    assert random_a != [r["peak_s"] for r in runs["c"] if r["condition"] == "random"]
    for r in rows:
        assert 0.0 <= r["peak_s"] <= r["duration_s"]
        start, end = r["interval_s"]
        assert 0.0 <= start <= end <= r["duration_s"]
        if r["condition"] == "energy":  # the loudest second overlaps one of the events
            assert end - start == pytest.approx(1.0)
            assert any(e.onset_s < end and start < e.offset_s for e in scenes[r["scene_id"]].events)
    assert len({r["query"] for r in rows if r["scene_id"] == "scene_00000"}) == 3


# ---- conditions in isolation -----------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_prompted_readout_is_instructed_minus_neutral(
    family: str, tiny_adapters: dict[str, Adapter], scenes_dir: Path
) -> None:
    adapter = tiny_adapters[family]
    scene = load_manifest(scenes_dir)[0]
    query = scene.target_event.query
    clip, _ = prepare_audio(adapter, scene.audio_path(scenes_dir))
    cfg = LocalizeConfig().resolved(adapter)
    assert cfg.probe_layers is not None

    profile = prompted_profiles(adapter, clip, query, cfg)
    assert np.max(np.abs(profile.delta)) > 1e-6

    # Each prompt alone (no padding) gives the same two profiles as the padded two-row batch.
    alone = {}
    for name, prompt in (("neutral", cfg.prompt), ("instructed", f"Listen for {query}.")):
        attn = temporal_attention(adapter, adapter.encode([clip], [prompt]), cfg.probe_layers)
        alone[name] = aggregate(attn.per_row[0])
    np.testing.assert_allclose(profile.base, alone["neutral"], atol=1e-5)
    np.testing.assert_allclose(profile.steered, alone["instructed"], atol=1e-5)

    # The row's readout is of instructed − neutral, not the reverse.
    (row,) = run_unit(adapter, scene, scenes_dir, ["prompted"], BenchConfig())
    n, token_s = profile.base.size, adapter.token_s
    forward = apply_rule(cfg.readout, None, token_s, n, (profile.base, profile.steered))
    reverse = apply_rule(cfg.readout, None, token_s, n, (profile.steered, profile.base))
    assert row["peak_s"] == forward.peak_s != reverse.peak_s

    # Identical prompts: no difference, no prediction.
    same = prompted_profiles(adapter, clip, query, cfg, template=cfg.prompt)
    assert np.max(np.abs(same.delta)) < 1e-9
    assert apply_rule(cfg.readout, None, token_s, n, (same.base, same.steered)).peak_s is None


def test_energy_finds_the_loud_window() -> None:
    sr = 1000
    audio = np.random.default_rng(0).standard_normal(10 * sr) * 0.01
    audio[6200:6800] += np.random.default_rng(1).standard_normal(600)
    readout = energy_prediction(audio, sr, window_s=1.0)
    assert readout.interval_s is not None and readout.peak_s is not None
    start, end = readout.interval_s
    assert end - start == pytest.approx(1.0)
    assert start <= 6.2 and end >= 6.8
    assert 6.0 <= readout.peak_s <= 7.0


def test_erase_event_uses_the_gap_noise_floor() -> None:
    sr = 1000
    rng = np.random.default_rng(0)
    clip = (rng.standard_normal(10 * sr) * 0.001).astype(np.float32)
    events = [
        Event("a", 1.0, 3.0, (0.0, 3.3), (1.0, 3.0), "first", "a"),
        Event("b", 4.0, 6.0, (3.3, 6.6), (4.0, 6.0), "middle", "b"),
    ]
    clip[1000:3000] += 0.5
    clip[4000:6000] += np.sin(np.arange(2000)).astype(np.float32)
    out = erase_event(clip, sr, events, 1, np.random.default_rng(5))
    np.testing.assert_array_equal(out[:4000], clip[:4000])
    np.testing.assert_array_equal(out[6000:], clip[6000:])
    erased_rms = float(np.sqrt(np.mean(out[4000:6000] ** 2)))
    assert erased_rms == pytest.approx(0.001, rel=0.15)
    again = erase_event(clip, sr, events, 1, np.random.default_rng(5))
    np.testing.assert_array_equal(out, again)
    # No gap at all: the event becomes zeros.
    whole = [Event("a", 0.0, 10.0, (0.0, 10.0), (0.0, 10.0), "first", "a")]
    assert not np.any(erase_event(clip, sr, whole, 0, np.random.default_rng(0)))


def test_split_is_deterministic_disjoint_and_order_free(scenes_dir: Path) -> None:
    scenes = load_manifest(scenes_dir)
    dev, test = split_dev_test(scenes, 0.5)
    dev2, test2 = split_dev_test(list(reversed(scenes)), 0.5)
    assert {s.scene_id for s in dev} == {s.scene_id for s in dev2}
    assert {s.scene_id for s in test} == {s.scene_id for s in test2}
    assert dev and test and not {s.scene_id for s in dev} & {s.scene_id for s in test}
    assert len(dev) + len(test) == len(scenes)
    with pytest.raises(DataError):
        split_dev_test(scenes[:1], 0.5)


def test_parse_conditions() -> None:
    assert parse_conditions("steered, random,steered") == ["steered", "random"]
    with pytest.raises(WTLError, match="bogus"):
        parse_conditions("steered,bogus")


# ---- bad input through the CLI ---------------------------------------------------------------------------


def _copy_scenes(scenes_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(scenes_dir, tmp_path / "scenes"))


def test_missing_wav(
    scenes_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scenes = _copy_scenes(scenes_dir, tmp_path)
    (scenes / "audio" / "scene_00001.wav").unlink()
    out = tmp_path / "r.jsonl"
    code, _, err = cli(monkeypatch, capsys, "bench", "run", scenes, "--conditions", "random", "--out", out)
    assert_one_error_line(code, err, "line 2", "scene_00001.wav")
    assert not out.exists()


def test_unreadable_wav(
    scenes_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scenes = _copy_scenes(scenes_dir, tmp_path)
    (scenes / "audio" / "scene_00002.wav").write_bytes(b"not a wav")
    out = tmp_path / "r.jsonl"
    code, _, err = cli(monkeypatch, capsys, "bench", "run", scenes, "--conditions", "energy", "--out", out)
    assert_one_error_line(code, err, "scene_00002")
    assert not out.exists()


def test_overlapping_ground_truth(
    scenes_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scenes = _copy_scenes(scenes_dir, tmp_path)
    manifest = scenes / "manifest.jsonl"
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    first, second = rows[2]["events"][0], rows[2]["events"][1]
    second["onset_s"] = first["offset_s"] - 0.3
    second["active"][0] = second["onset_s"]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "r.jsonl"
    code, _, err = cli(monkeypatch, capsys, "bench", "run", scenes, "--conditions", "random", "--out", out)
    assert_one_error_line(code, err, "line 3", "overlapping")
    assert not out.exists()


def test_query_not_in_scene(
    scenes_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.jsonl"
    code, _, err = cli(
        monkeypatch,
        capsys,
        "bench",
        "run",
        scenes_dir,
        "--conditions",
        "random",
        "--query",
        "a dog barking",
        "--out",
        out,
    )
    assert_one_error_line(code, err, "scene_0000", "'a dog barking'")
    assert not out.exists()
    # A query present in the scene works, by label or by query text.
    scene = load_manifest(scenes_dir)[0]
    label = scene.events[1].label
    code, _, err = cli(
        monkeypatch,
        capsys,
        "bench",
        "run",
        scenes_dir,
        "--conditions",
        "random",
        "--query",
        label,
        "--limit",
        "1",
        "--out",
        out,
    )
    assert code == 0, err
    assert [r["label"] for r in read_rows(out)] == [label]


def test_unknown_condition(
    scenes_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.jsonl"
    args = ("bench", "run", scenes_dir, "--conditions", "steered,bogus", "--out", out)
    code, _, err = cli(monkeypatch, capsys, *args)
    assert_one_error_line(code, err, "'bogus'")
    assert not out.exists()


def test_corrupt_line_in_the_middle_of_results(
    scenes_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.jsonl"
    run = ("bench", "run", scenes_dir, "--conditions", "random,energy", "--out", out)
    assert cli(monkeypatch, capsys, *run, "--limit", "2")[0] == 0
    lines = out.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1][:20] + b"\n"
    out.write_bytes(b"".join(lines))
    before = out.read_bytes()
    code, _, err = cli(monkeypatch, capsys, *run)
    assert_one_error_line(code, err, str(out), "line 2")
    assert out.read_bytes() == before
    code, _, err = cli(monkeypatch, capsys, "bench", "summary", out)
    assert_one_error_line(code, err, str(out), "line 2")


def test_summary_of_a_missing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(monkeypatch, capsys, "bench", "summary", tmp_path / "nope.jsonl")
    assert_one_error_line(code, err, "nope.jsonl")


# ---- sweep -------------------------------------------------------------------------------------------------


def test_sweep_picks_on_dev_and_runs_on_test_only(
    scenes_dir: Path,
    model_dirs: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "sweep"
    args = (
        "bench",
        "sweep",
        scenes_dir,
        "--model",
        model_dirs["audioflamingo3"],
        "--layers-grid",
        "1;2;1,2",
        "--alphas",
        "2,8",
        "--dev-fraction",
        "0.5",
        "--conditions",
        "steered,random",
        "--out",
        out,
        *MODEL_OPTS,
    )
    code, stdout, err = cli(monkeypatch, capsys, *args)
    assert code == 0, err
    grid = read_rows(out / "sweep.jsonl")
    assert [(g["layers"], g["alpha"]) for g in grid] == [
        ([1], 2.0),
        ([1], 8.0),
        ([2], 2.0),
        ([2], 8.0),
        ([1, 2], 2.0),
        ([1, 2], 8.0),
    ]
    scenes = load_manifest(scenes_dir)
    dev, test = split_dev_test(scenes, 0.5)
    assert all(g["n"] == len(dev) for g in grid)
    best = max(range(len(grid)), key=lambda i: (grid[i]["hit_rate"], grid[i]["iou"], -i))
    assert f"chose layers {grid[best]['layers']} alpha {grid[best]['alpha']:g}" in stdout

    rows = read_rows(out / "results.jsonl")
    assert {r["scene_id"] for r in rows} == {s.scene_id for s in test}
    assert len(rows) == 2 * len(test)
    for r in rows:
        if r["condition"] == "steered":
            assert r["config"]["layers"] == grid[best]["layers"]
            assert r["config"]["alpha"] == grid[best]["alpha"]

    # Rerunning resumes: nothing is recomputed or appended.
    before = ((out / "sweep.jsonl").read_bytes(), (out / "results.jsonl").read_bytes())
    code, _, err = cli(monkeypatch, capsys, *args)
    assert code == 0, err
    assert ((out / "sweep.jsonl").read_bytes(), (out / "results.jsonl").read_bytes()) == before


def test_saved_profiles_are_the_readout_inputs(scenes_dir: Path, tiny_adapters: dict[str, Adapter]) -> None:
    adapter = tiny_adapters["qwen2-audio"]
    scene = load_manifest(scenes_dir / "manifest.jsonl")[0]
    plain = run_unit(adapter, scene, scenes_dir, ["steered", "prompted"], bench_config(alpha=8.0))
    rows = run_unit(
        adapter, scene, scenes_dir, ["steered", "prompted"], bench_config(alpha=8.0, save_profiles=True)
    )
    for row, ref in zip(rows, plain, strict=True):
        prof = row.pop("profile")
        assert "profile" not in ref
        assert len(prof["time_s"]) == len(prof["delta"]) == 250
        np.testing.assert_allclose(np.array(prof["steered"]) - prof["base"], prof["delta"], atol=1e-6)
        assert row["peak_s"] == ref["peak_s"]


def test_direct_prompt_option() -> None:
    assert bench_config(direct_prompt="When is {query}?").direct_prompt == "When is {query}?"
    assert bench_config().direct_prompt is None and "{query}" in bench_config().question
    with pytest.raises(WTLError, match="must contain"):
        bench_config(direct_prompt="When?")


def test_steering_positions_option(
    scenes_dir: Path,
    model_dirs: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--positions reaches the steered rows and their config hash, and equals localize at those positions."""
    from wheretolisten.localize import localize
    from wheretolisten.models import load_model

    out = tmp_path / "r.jsonl"
    args = ("bench", "run", scenes_dir, "--model", model_dirs["qwen2-audio"], "--conditions", "steered")
    code, _, err = cli(monkeypatch, capsys, *args, "--positions", "audio", "--out", out, *MODEL_OPTS)
    assert code == 0, err
    rows = read_rows(out)
    assert {r["config"]["positions"] for r in rows} == {"audio"}
    adapter = load_model(model_dirs["qwen2-audio"], device="cpu", dtype="float32")
    scene = load_manifest(scenes_dir)[0]
    row = next(r for r in rows if r["scene_id"] == scene.scene_id)
    alone = localize(adapter, scene.audio_path(scenes_dir), row["query"], LocalizeConfig(positions="audio"))
    assert row["peak_s"] == pytest.approx(alone.peak_s)
    code, _, err = cli(monkeypatch, capsys, *args, "--out", out, *MODEL_OPTS)  # last: another configuration
    assert_one_error_line(code, err, "another configuration")
    code, _, err = cli(monkeypatch, capsys, *args, "--positions", "middle", "--out", tmp_path / "x.jsonl")
    assert_one_error_line(code, err, "'middle'", "--positions")
