"""Sharded runs: N processes split scenes (or grid points) and their files merge into the one-piece result."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import run_cli
from wheretolisten.bench import split_dev_test
from wheretolisten.errors import DataError, WTLError
from wheretolisten.metrics import summarize
from wheretolisten.models.tiny import make_tiny_model
from wheretolisten.records import merge_rows
from wheretolisten.report import load_inputs
from wheretolisten.scenes import ProceduralBank, load_manifest, make_scenes
from wheretolisten.shards import parse_shard, shard_files, shard_of, shard_path

MODEL_OPTS = ("--device", "cpu", "--dtype", "float32", "--no-progress")


@pytest.fixture(scope="module")
def scenes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("shard_scenes")
    make_scenes(ProceduralBank(), 6, out, n_events=3, duration_s=8.0, seed=3, progress=False)
    return out


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model("qwen2-audio", tmp_path_factory.mktemp("shard_model") / "m", seed=0)


def rows_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def comparable(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Rows by key, without the timing field (the only one that differs between runs)."""
    return {
        (r["scene_id"], r["query"], r["condition"]): {k: v for k, v in r.items() if k != "elapsed_s"}
        for r in rows
    }


def test_parse_shard() -> None:
    assert parse_shard(None) is None
    assert parse_shard("0/1") == (0, 1) and parse_shard("3/4") == (3, 4)
    for bad in ("4/4", "-1/2", "1/0", "a/b", "1", "1/2/3"):
        with pytest.raises(WTLError, match="shard"):
            parse_shard(bad)


@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_shard_is_refused_not_taken_as_no_shard(empty: str) -> None:
    # an unset variable in a launch script (--shard "$SHARD") would otherwise run every scene in each of
    # the N processes, each appending the whole benchmark
    with pytest.raises(WTLError, match=r"shard .* is empty"):
        parse_shard(empty)


def test_bench_run_refuses_an_empty_shard_before_torch(tmp_path: Path) -> None:
    make_scenes(ProceduralBank(), 1, tmp_path / "scenes", progress=False)
    script = (
        "import sys\nfrom wheretolisten import cli\ntry:\n    cli.main(sys.argv[1:])\n"
        "except SystemExit as exc:\n    print(exc.code, 'torch' in sys.modules)\n"
    )
    args = ["bench", "run", "scenes", "--conditions", "random", "--out", "r.jsonl", "--shard", ""]
    done = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.split() == ["2", "False"], done.stdout + done.stderr  # refused, torch not imported
    assert "--shard is empty" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r.jsonl").exists()


@given(st.integers(0, 40), st.integers(1, 9))
def test_shards_are_disjoint_and_cover_everything(length: int, n: int) -> None:
    items = list(range(length))
    parts = [shard_of(items, (k, n)) for k in range(n)]
    assert sorted(x for part in parts for x in part) == items
    assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1
    assert shard_of(items, None) == items


def test_shard_paths(tmp_path: Path) -> None:
    base = tmp_path / "results.jsonl"
    assert shard_path(base, None) == base
    assert shard_path(base, (1, 4)).name == "results.1-of-4.jsonl"
    assert shard_files(base) == []
    for k in (1, 0):
        shard_path(base, (k, 2)).write_text("")
    (tmp_path / "results-old.jsonl").write_text("")
    assert [p.name for p in shard_files(base)] == ["results.0-of-2.jsonl", "results.1-of-2.jsonl"]
    base.write_text("")
    assert shard_files(base)[0] == base


def test_merge_drops_repeats_and_refuses_mixed_runs() -> None:
    row = {"scene_id": "s", "query": "q", "condition": "steered", "config_hash": "h", "model": "m"}
    other = {**row, "scene_id": "t"}
    merged, dropped = merge_rows([(Path("a"), [row, other]), (Path("b"), [dict(row)])])
    assert merged == [row, other] and dropped == 1
    with pytest.raises(DataError, match=r"a and b both hold scene_id 's'.*config_hash"):
        merge_rows([(Path("a"), [row]), (Path("b"), [{**row, "config_hash": "other"}])])


def test_merge_reads_a_row_without_weights_as_unknown_weights() -> None:
    """A shard written before rows recorded their weights repeats a row of a newer shard: the same work,
    counted once (was refused as another run); rows that both record weights must agree on them."""
    old = {"scene_id": "s", "query": "q", "condition": "steered", "config_hash": "h", "model": "m"}
    new = {**old, "computed_with": {"weights": "sha256:1", "dtype": "float32"}}
    merged, dropped = merge_rows([(Path("a"), [old]), (Path("b"), [new])])
    assert merged == [old] and dropped == 1
    assert merge_rows([(Path("a"), [new]), (Path("b"), [old])])[1] == 1
    other = {**old, "computed_with": {"weights": "sha256:2", "dtype": "float32"}}
    with pytest.raises(DataError, match=r"a and b both hold .*computed_with"):
        merge_rows([(Path("a"), [new]), (Path("b"), [other])])


def test_summary_does_not_depend_on_row_order(
    scenes_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.jsonl"
    code, _, err = run_cli(
        monkeypatch, capsys, "bench", "run", scenes_dir, "--conditions", "random,energy", "--queries", "all",
        "--out", out, "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    rows = rows_of(out)
    shuffled = list(rows)
    random.Random(1).shuffle(shuffled)
    assert shuffled != rows
    assert summarize(shuffled, n_boot=300) == summarize(rows, n_boot=300)


def test_sharded_bench_run_merges_into_the_one_piece_run(
    scenes_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("bench", "run", scenes_dir, "--conditions", "random,energy", "--queries", "all", "--no-progress")
    code, _, err = run_cli(monkeypatch, capsys, *args, "--out", tmp_path / "whole.jsonl")
    assert code == 0, err
    parts = [tmp_path / f"part{k}.jsonl" for k in range(3)]
    for k, part in enumerate(parts):
        code, stdout, err = run_cli(monkeypatch, capsys, *args, "--shard", f"{k}/3", "--out", part)
        assert code == 0, err
        assert "(2 scenes run" in stdout  # 6 scenes / 3 shards
    shard_rows = [rows_of(p) for p in parts]
    scene_sets = [{r["scene_id"] for r in rows} for rows in shard_rows]
    assert not (scene_sets[0] & scene_sets[1]) and not (scene_sets[1] & scene_sets[2])
    whole = rows_of(tmp_path / "whole.jsonl")
    assert comparable([r for rows in shard_rows for r in rows]) == comparable(whole)

    _, merged_summary, err = run_cli(monkeypatch, capsys, "bench", "summary", *parts)
    _, whole_summary, _ = run_cli(monkeypatch, capsys, "bench", "summary", tmp_path / "whole.jsonl")
    assert err == ""
    assert merged_summary == whole_summary and "random" in merged_summary
    inputs = load_inputs([*parts, parts[0]])  # a file given twice counts once, with a note
    assert len(inputs.rows) == len(whole) and any("counted once" in n for n in inputs.notes)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")  # e.g. a shard with no scenes: noted, not fatal beside the others
    inputs = load_inputs([*parts, empty])
    assert len(inputs.rows) == len(whole) and "empty.jsonl has no rows" in inputs.notes
    with pytest.raises(DataError, match="none of the 2 results files"):
        load_inputs([empty, empty])

    code, _, err = run_cli(monkeypatch, capsys, *args, "--shard", "3/3", "--out", tmp_path / "x.jsonl")
    assert code == 2 and "out of range" in err


def test_sharded_sweep_needs_every_grid_shard_then_splits_the_test_scenes(
    scenes_dir: Path,
    model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    common = (
        "bench", "sweep", scenes_dir, "--model", model_dir, "--layers-grid", "1;2", "--alphas", "2,8",
        "--conditions", "steered,random", *MODEL_OPTS,
    )  # fmt: skip
    out = tmp_path / "sharded"
    code, stdout, err = run_cli(monkeypatch, capsys, *common, "--out", out, "--shard", "0/2")
    assert code == 0, err
    assert "2 grid point(s) of other shards" in stdout
    assert len(rows_of(out / "sweep.0-of-2.jsonl")) == 2 and not list(out.glob("results*"))

    code, stdout, err = run_cli(monkeypatch, capsys, *common, "--out", out, "--shard", "1/2")
    assert code == 0, err
    assert "chose layers" in stdout and "results.1-of-2.jsonl" in stdout
    code, stdout, err = run_cli(monkeypatch, capsys, *common, "--out", out, "--shard", "0/2")
    assert code == 0, err
    assert "chose layers" in stdout and "results.0-of-2.jsonl" in stdout
    assert len(rows_of(out / "sweep.0-of-2.jsonl")) == 2  # its grid points were not recomputed

    whole = tmp_path / "whole"
    code, whole_stdout, err = run_cli(monkeypatch, capsys, *common, "--out", whole)
    assert code == 0, err
    chosen = whole_stdout.split(" (dev")[0]
    assert stdout.startswith(chosen)

    def grid_by_hash(paths: list[Path]) -> dict[str, dict[str, Any]]:
        return {line["config_hash"]: line for p in paths for line in rows_of(p)}

    assert grid_by_hash(shard_files(out / "sweep.jsonl")) == grid_by_hash([whole / "sweep.jsonl"])
    parts = [out / "results.0-of-2.jsonl", out / "results.1-of-2.jsonl"]
    _, test = split_dev_test(load_manifest(scenes_dir), 0.5)
    assert {r["scene_id"] for r in rows_of(parts[0])} == {s.scene_id for s in test[0::2]}
    merged = [r for p in parts for r in rows_of(p)]
    assert comparable(merged) == comparable(rows_of(whole / "results.jsonl"))
    assert len(load_inputs(parts).sweep) == 4  # the report finds every grid shard beside the results


def test_bench_summary_names_a_folder_given_as_the_results_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said "results file s4 does not exist" of a folder that exists."""
    (tmp_path / "s4").mkdir()
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(monkeypatch, capsys, "bench", "summary", "s4")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "results file s4 is a folder" in lines[0], err
