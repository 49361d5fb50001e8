"""The sweep's grid lines: keyed by everything they were computed from (a resume with other options or on
changed scenes is refused before anything runs), and one choice of setting for the sweep and its report."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from test_figures import one
from wheretolisten import figures, report
from wheretolisten.bench import bench_config
from wheretolisten.bench.runner import run_bench
from wheretolisten.bench.sweep import SweepPlan, sweep
from wheretolisten.errors import DataError
from wheretolisten.models import Adapter
from wheretolisten.scenes import ProceduralBank, load_manifest, make_scenes

pytestmark = pytest.mark.usefixtures("one_thread")
#: The module (``wheretolisten.bench.sweep`` as an attribute is the function).
sweep_module = importlib.import_module("wheretolisten.bench.sweep")


def write_jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def plan_of(
    scenes: Path, out: Path, queries: str = "target", alphas: tuple[float, ...] = (4.0,)
) -> SweepPlan:
    config = bench_config(queries=queries)
    return SweepPlan(load_manifest(scenes), scenes, [[1], [2]], alphas, 0.5, ["random"], config, out)


def test_a_resume_with_other_options_or_remade_scenes_is_refused_before_anything_runs(
    tmp_path: Path, adapters: dict[str, Adapter], monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = adapters["qwen2-audio"]
    scenes, out = tmp_path / "scenes", tmp_path / "sw"
    make_scenes(ProceduralBank(), 3, scenes, n_events=3, duration_s=4.0, seed=0, progress=False)
    out.mkdir()
    done = sweep(adapter, plan_of(scenes, out), show_progress=False)
    assert done.best is not None and len(done.grid) == 2
    files = {p.name: p.read_bytes() for p in out.iterdir()}

    computed: list[str] = []
    real_run_unit = sweep_module.run_unit

    def counting(*args: Any, **kwargs: Any) -> Any:
        computed.append("unit")
        return real_run_unit(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "run_unit", counting)
    assert sweep_module.sweep is sweep  # the module whose run_unit the sweep calls
    monkeypatch.setattr(sweep_module, "run_bench", lambda *a, **k: pytest.fail("the test split ran"))

    def refused(plan: SweepPlan, match: str) -> None:
        with pytest.raises(DataError, match=match) as raised:
            sweep(adapter, plan, show_progress=False)
        assert "\n" not in str(raised.value)
        assert not computed and {p.name: p.read_bytes() for p in out.iterdir()} == files
        with pytest.raises(DataError, match=match):
            sweep_module.check_resume(plan)  # needs no model: the CLI can ask before loading it

    # Every query of the dev scenes, not the target only: other lines (n was 2, would be 6).
    refused(plan_of(scenes, out, queries="all"), "other sweep options")
    # Another grid: refused up front, not after computing the new points (then at the test stage).
    refused(plan_of(scenes, out, alphas=(4.0, 8.0)), "other sweep options")
    # The same scene ids made again from another seed (results removed): other dev scenes.
    (out / "results.jsonl").unlink()
    files.pop("results.jsonl")
    remade = tmp_path / "remade"
    make_scenes(ProceduralBank(), 3, remade, n_events=3, duration_s=4.0, seed=7, progress=False)
    assert [s.scene_id for s in load_manifest(remade)] == [s.scene_id for s in load_manifest(scenes)]
    shutil.rmtree(scenes)
    shutil.copytree(remade, scenes)
    refused(plan_of(scenes, out), "other dev scenes")

    lines = [json.loads(line) for line in files["sweep.jsonl"].decode().splitlines()]
    assert [line["grid_index"] for line in lines] == [0, 1]  # grid order, for a report of shard files
    assert len({(line["scenes_hash"], line["options_hash"]) for line in lines}) == 1


def test_the_report_names_and_outlines_the_setting_the_sweep_chooses(tmp_path: Path) -> None:
    """Equal hit rates: the sweep's tie-break (IoU, then grid order) picks the second line; the report's text
    and the heatmap's outline follow it, not the first maximum."""
    grid = [
        {"layers": [1], "alpha": 2.0, "hit_rate": 50.0, "iou": 0.1},
        {"layers": [2], "alpha": 2.0, "hit_rate": 50.0, "iou": 0.3},
        {"layers": [1], "alpha": 4.0, "hit_rate": 50.0, "iou": 0.3},
        {"layers": [2], "alpha": 4.0, "hit_rate": 20.0, "iou": 0.9},
    ]
    results = sweep_results(tmp_path)
    write_jsonl(tmp_path / "sweep.jsonl", grid)
    page = report.render_report(report.load_inputs(results), per_group=0, n_boot=50)
    assert "best dev hit rate 50.0% at layers 2, α = 2" in page

    assert sweep_module.best_point(grid) == 1  # the one rule, which the report used
    box = one(figures.draw_sweep(grid, chosen=1), "sweep:best")
    assert (box.get_x(), box.get_y()) == (-0.5, 0.5)  # α 2 (column 0), layers 2 (row 1)
    assert not figures.draw_sweep(grid).findobj(lambda a: a.get_gid() == "sweep:best")  # only when given
    with pytest.raises(ValueError, match="two sweep rows"):
        figures.draw_sweep([*grid, {"layers": [2], "alpha": 2.0, "hit_rate": 0.0}])


def test_the_report_reads_only_the_lines_of_the_sweep_the_results_come_from(tmp_path: Path) -> None:
    """Lines of two sweeps in one file (an older version resumed with other options) hold the same
    (layers, α): the report keeps those of the sweep whose line has the results' steered config hash."""
    results = sweep_results(tmp_path)
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    steered = next(r["config_hash"] for r in rows if r["condition"] == "steered")
    common = {"model": rows[0]["model"], "dev_hash": "d", "scenes_hash": "s"}
    ours = [
        {"layers": [1], "alpha": 2.0, "hit_rate": 20.0, "iou": 0.1, "config_hash": "x1", "grid_index": 0},
        {"layers": [1], "alpha": 4.0, "hit_rate": 60.0, "iou": 0.1, "config_hash": steered, "grid_index": 1},
    ]
    other = [
        {"layers": [1], "alpha": 2.0, "hit_rate": 90.0, "iou": 0.5, "config_hash": "y1", "grid_index": 0},
        {"layers": [1], "alpha": 4.0, "hit_rate": 10.0, "iou": 0.5, "config_hash": "y2", "grid_index": 1},
    ]
    lines = [{**line, **common, "options_hash": "a"} for line in ours]
    lines += [{**line, **common, "options_hash": "b"} for line in other]
    write_jsonl(tmp_path / "sweep.jsonl", lines)
    inputs = report.load_inputs(results)
    page = report.render_report(inputs, per_group=0, n_boot=50)
    assert "2 grid points; best dev hit rate 60.0% at layers 1, α = 4" in page
    assert "2 line(s) of another sweep" in page
    assert report.sections.one_sweep(inputs.sweep, inputs.rows) == (lines[:2], 2)


def sweep_results(tmp_path: Path) -> Path:
    """A small results file with steered and random rows (the tiny model needs no weights file)."""
    from wheretolisten.models import wrap
    from wheretolisten.models.tiny import build_tiny_model

    scenes = tmp_path / "results_scenes"
    make_scenes(ProceduralBank(), 2, scenes, n_events=2, duration_s=4.0, seed=3, progress=False)
    adapter = wrap(*build_tiny_model("qwen2-audio", seed=0), name="tiny")
    out = tmp_path / "results.jsonl"
    config = bench_config(layers=[1], alpha=4.0)
    run_bench(adapter, load_manifest(scenes), scenes, ["steered", "random"], config, out, show_progress=False)
    return out


def test_a_resume_on_other_weights_or_precision_is_refused(
    tmp_path: Path, tiny_dirs: dict[str, Path]
) -> None:
    """Grid lines record the weights and precision of their rows: a resume in bfloat16, or on other
    weights under the same name, is refused before any point is computed; the same model resumes."""
    from wheretolisten.models import load_model

    scenes, out = tmp_path / "scenes", tmp_path / "sw"
    make_scenes(ProceduralBank(), 3, scenes, n_events=3, duration_s=4.0, seed=0, progress=False)
    out.mkdir()
    path = tiny_dirs["qwen2-audio"]
    first = load_model(path, device="cpu", dtype="float32")
    sweep(first, plan_of(scenes, out), show_progress=False)
    (line, *_) = [json.loads(x) for x in (out / "sweep.jsonl").read_text().splitlines()]
    assert line["computed_with"] == first.computed_with
    with pytest.raises(DataError, match="other weights or precision"):
        sweep(load_model(path, device="cpu", dtype="bfloat16"), plan_of(scenes, out), show_progress=False)
    first.weights_id = "sha256:0123456789abcdef"
    with pytest.raises(DataError, match="other weights or precision"):
        sweep(first, plan_of(scenes, out), show_progress=False)
    again = sweep(load_model(path, device="cpu", dtype="float32"), plan_of(scenes, out), show_progress=False)
    assert again.best is not None
