"""Detection conditions on long scenes with repeated classes: rows, scores (cross-checked), summary."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpers import run_cli
from wheretolisten.bench import bench_config, run_bench, select_events
from wheretolisten.bench.detection import energy_detections, random_detections
from wheretolisten.detections import DetectConfig, Detection
from wheretolisten.metrics.detection import (
    counts,
    detection_f1,
    detection_psds,
    f1_difference,
    has_detections,
    psds_ci,
)
from wheretolisten.records import check_row, read_results
from wheretolisten.scenes import ProceduralBank, load_manifest, make_scenes
from wheretolisten.tables import summary_text

CONDITIONS = ["steered-det", "energy-det", "random-det"]


@pytest.fixture(scope="module")
def long_scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("long_scenes")
    make_scenes(ProceduralBank(), 2, out, 10, 30.0, seed=1, progress=False, repeats=2)
    return out


@pytest.fixture(scope="module")
def rows(long_scenes: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    from wheretolisten.organism import load_organism

    organism = load_organism(device="cpu", dtype="float32")
    scenes = load_manifest(long_scenes)
    out = tmp_path_factory.mktemp("results") / "r.jsonl"
    config = bench_config(queries="classes")
    report = run_bench(organism, scenes, long_scenes, CONDITIONS, config, out, show_progress=False)
    assert report.rows_written == 3 * sum(len({e.label for e in s.events}) for s in scenes)
    again = run_bench(organism, scenes, long_scenes, CONDITIONS, config, out, show_progress=False)
    assert again.rows_written == 0 and again.units_skipped == 2  # resumable like every condition
    loaded, _ = read_results([out])
    return [dict(r) for r in loaded]


def test_classes_mode_queries_each_label_once(long_scenes: Path) -> None:
    scene = load_manifest(long_scenes)[0]
    picked = select_events(scene, bench_config(queries="classes"))
    labels = [e.label for _, e in picked]
    assert len(labels) == len(set(labels)) == len({e.label for e in scene.events})
    for k, e in picked:  # the first event of each label
        assert all(other.label != e.label for other in scene.events[:k])


def test_rows_carry_every_occurrence_and_random_matches_the_count(rows: list[dict[str, Any]]) -> None:
    scenes = {r["scene_id"] for r in rows}
    assert len(scenes) == 2 and {r["condition"] for r in rows} == set(CONDITIONS)
    for r in rows:
        assert check_row(r) is None
        assert r["gt"] == r["gt_events"][0] and len(r["gt_events"]) >= 1
        assert all(d["onset_s"] <= d["offset_s"] for d in r["detections"])
    by = {(r["scene_id"], r["query"], r["condition"]): r for r in rows}
    for scene, query, cond in by:
        if cond == "random-det":
            steered = by[(scene, query, "steered-det")]["detections"]
            random = by[(scene, query, cond)]["detections"]
            assert sorted(d["score"] for d in random) == sorted(d["score"] for d in steered)
    assert all(r["model"] is None for r in rows if r["condition"] == "energy-det")
    repeated = [r for r in rows if len(r["gt_events"]) > 1]
    assert repeated, "the scenes repeat a class"


def test_event_f1_of_detection_rows_matches_sed_eval(rows: list[dict[str, Any]]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sed_eval = pytest.importorskip("sed_eval")
    for cond in CONDITIONS:
        group = [r for r in rows if r["condition"] == cond]
        labels = sorted({r["label"] for r in group})
        metric = sed_eval.sound_event.EventBasedMetrics(
            event_label_list=labels, t_collar=0.2, percentage_of_length=0.2
        )
        for scene in sorted({r["scene_id"] for r in group}):
            mine = [r for r in group if r["scene_id"] == scene]
            est = [
                {"filename": scene, "onset": d["onset_s"], "offset": d["offset_s"], "event_label": r["label"]}
                for r in mine
                for d in r["detections"]
            ]
            ref = [
                {"filename": scene, "onset": a, "offset": b, "event_label": r["label"]}
                for r in mine
                for a, b in r["gt_events"]
            ]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                metric.evaluate(reference_event_list=ref, estimated_event_list=est)
        tp, fp, fn = counts(group).counts.sum(axis=(0, 1))
        overall = metric.overall
        assert (tp, tp + fp, tp + fn) == (overall["Ntp"], overall["Nsys"], overall["Nref"])
        per_class = detection_f1(group, n_boot=200)["per_class"]
        for label in labels:
            theirs = metric.class_wise[label]
            if theirs["Nref"] + theirs["Nsys"]:
                expected = 2 * theirs["Ntp"] / (theirs["Nref"] + theirs["Nsys"])
                assert per_class[label] == pytest.approx(expected)


def test_detection_scores_and_summary(rows: list[dict[str, Any]]) -> None:
    assert has_detections(rows)
    assert not has_detections([{k: v for k, v in rows[0].items() if k != "detections"}])
    steered = [r for r in rows if r["condition"] == "steered-det"]
    f1 = detection_f1(steered, n_boot=300)
    assert 0.0 <= f1["f1"] <= 1.0 and f1["f1_ci"][0] <= f1["f1"] + 1e-12 <= f1["f1_ci"][1] + 2e-12
    pytest.importorskip("sed_scores_eval")
    perfect = [
        {**r, "detections": [{"onset_s": a, "offset_s": b, "score": 1.0} for a, b in r["gt_events"]]}
        for r in steered
    ]
    assert detection_psds(perfect) == pytest.approx(1.0)
    assert psds_ci(perfect, n_boot=3) == pytest.approx((1.0, 1.0))
    lo, hi = psds_ci(steered, n_boot=5, dtc=0.1, gtc=0.1)
    assert 0.0 <= lo <= hi <= 1.0
    assert detection_f1(perfect, n_boot=0)["f1"] == 1.0
    same = f1_difference(steered, steered, n_boot=200)
    assert same["diff"] == 0.0 and same["ci"] == [0.0, 0.0]
    better = f1_difference(perfect, steered, n_boot=200)
    assert better["diff"] == pytest.approx(1.0 - f1["f1"]) and better["ci"][0] > 0
    text = summary_text(rows, n_boot=200)
    assert "## Detection of every occurrence" in text and "PSDS" in text and "Onset F1 by query class" in text
    assert "## Detection F1 vs steered-det" in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_bench_cli_detection_options(
    long_scenes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "e.jsonl"
    args = ("bench", "run", long_scenes, "--conditions", "energy-det", "--queries", "classes", "--out", out)
    options = ("--energy-min-db", "20", "--top-k", "3", "--no-progress")
    code, stdout, err = run_cli(monkeypatch, capsys, *args, *options)
    assert code == 0, err
    loaded, _ = read_results([out])
    assert all(len(r["detections"]) <= 3 for r in loaded) and loaded[0]["config"]["min_db"] == 20.0
    code, stdout, err = run_cli(monkeypatch, capsys, "bench", "summary", out)
    assert code == 0 and "Detection of every occurrence" in stdout


def test_baseline_detectors() -> None:
    sr = 8000
    rng = np.random.default_rng(0)
    audio = rng.standard_normal(20 * sr) * 1e-3
    for onset in (3.0, 11.0):
        audio[int(onset * sr) : int((onset + 2) * sr)] += rng.standard_normal(2 * sr) * 0.3
    found = energy_detections(audio, sr, 20.0, DetectConfig(min_gap_s=1.0))
    assert sorted(round(d.onset_s) for d in found) == [3, 11]
    assert all(abs((d.offset_s - d.onset_s) - 2.0) < 0.4 for d in found)
    like = [Detection(1.0, 2.5, 4.0), Detection(7.0, 7.5, 3.0)]
    moved = random_detections(np.random.default_rng(1), like, 10.0)
    assert [d.score for d in moved] == [4.0, 3.0]
    assert [round(d.offset_s - d.onset_s, 6) for d in moved] == [1.5, 0.5]
    assert all(0.0 <= d.onset_s <= d.offset_s <= 10.0 for d in moved)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("detections", [{"onset_s": 2.0, "offset_s": 1.0, "score": 1.0}], "onset <= offset"),
        ("detections", [{"onset_s": 1.0}], "onset_s, offset_s, score"),
        ("detections", "x", "must be a list"),
        ("gt_events", [[3.0, 1.0]], "gt_events"),
    ],
)
def test_check_row_refuses_bad_detection_fields(field: str, value: Any, message: str) -> None:
    row = {"scene_id": "s", "query": "q", "condition": "c", "gt": [0.0, 1.0], "peak_s": None}
    row.update({"interval_s": None, "duration_s": 10.0, field: value})
    problem = check_row(row)
    assert problem is not None and message in problem


def test_the_checkpoints_detection_settings_enter_the_config_hash() -> None:
    """Resolved against a model, the steered detector's settings are the model's declared ones: rows made
    with other declared settings have another config hash, so a resumed run does not keep them."""
    from dataclasses import replace

    from wheretolisten.bench.runner import run_hashes
    from wheretolisten.organism import load_organism

    organism = load_organism(device="cpu", dtype="float32")
    config = bench_config(queries="classes")
    declared = organism.recommended["detect"]
    resolved = config.resolved(organism)
    assert {k: getattr(resolved.detection, k) for k in declared} == declared
    other = replace(
        config.resolved(organism), detection=DetectConfig(min_score=declared["min_score"] + 1).filled()
    )
    assert run_hashes(CONDITIONS, resolved)["steered-det"] != run_hashes(CONDITIONS, other)["steered-det"]
    given = bench_config(queries="classes", detection=DetectConfig(min_score=9.0)).resolved(organism)
    assert given.detection.min_score == 9.0


def test_psds_takes_overlapping_occurrences_of_a_class_as_one() -> None:
    """Free placement can overlap two occurrences of one class, and ``--queries all`` asks a class once per
    occurrence; sed_scores_eval refuses overlapping ground truth of one class, so it is joined first."""
    pytest.importorskip("sed_scores_eval")
    gt = [[10.4, 12.3], [12.0, 14.3], [30.0, 32.0]]
    row = {
        "scene_id": "s0",
        "label": "noise_burst",
        "query": "a burst of noise",
        "condition": "steered-det",
        "duration_s": 60.0,
        "gt": gt[0],
        "gt_events": gt,
        "detections": [
            {"onset_s": 10.4, "offset_s": 14.3, "score": 2.0},
            {"onset_s": 30.0, "offset_s": 32.0, "score": 1.5},
        ],
    }
    other = {
        **row,
        "label": "tone",
        "query": "a steady tone",
        "gt": [40.0, 42.0],
        "gt_events": [[40.0, 42.0]],
    }
    other["detections"] = [{"onset_s": 40.0, "offset_s": 42.0, "score": 1.0}]
    assert detection_psds([row, other]) == pytest.approx(1.0)
    assert detection_psds([row, {**row, "gt": gt[1]}, other]) == pytest.approx(1.0)  # the class asked twice
