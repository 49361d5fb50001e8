"""Detections from a score curve: non-maximum suppression, thresholds, the TSV, and sed_eval reading it."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wheretolisten.detections import (
    TSV_HEADER,
    DetectConfig,
    Detection,
    detect,
    detections_json,
    score_curve,
    tsv_text,
)
from wheretolisten.errors import OptionError
from wheretolisten.metrics import event_f1

TOKEN = 0.04
RAW = DetectConfig(min_score=0.5, smooth_s=0.0, fraction=0.5, min_gap_s=1.0)


def _bumps(n: int, centres_heights: list[tuple[float, float]], width_s: float = 0.3) -> np.ndarray:
    t = (np.arange(n) + 0.5) * TOKEN
    return sum(h * np.exp(-0.5 * ((t - c) / width_s) ** 2) for c, h in centres_heights)


def _sed_eval() -> ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return pytest.importorskip("sed_eval")


def test_every_bump_is_one_detection_highest_first() -> None:
    curve = _bumps(1500, [(5.0, 4.0), (20.0, 9.0), (40.0, 6.0)])
    found = detect(curve, TOKEN, RAW)
    assert [round((d.onset_s + d.offset_s) / 2) for d in found] == [20, 40, 5]
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)
    assert found[0].score == pytest.approx(9.0, rel=1e-2)
    half = 0.3 * np.sqrt(2 * np.log(2))  # the interval: where the bump is above half its peak
    assert found[0].onset_s == pytest.approx(20 - half, abs=TOKEN) and found[0].offset_s == pytest.approx(
        20 + half, abs=TOKEN
    )


def test_min_gap_top_k_and_min_score() -> None:
    close = _bumps(500, [(5.0, 5.0), (6.2, 4.0)], width_s=0.15)
    assert len(detect(close, TOKEN, RAW)) == 2
    assert len(detect(close, TOKEN, DetectConfig(min_score=0.5, smooth_s=0, min_gap_s=1.5))) == 1
    curve = _bumps(1500, [(5.0, 4.0), (20.0, 9.0), (40.0, 6.0)])
    assert len(detect(curve, TOKEN, DetectConfig(min_score=0.5, smooth_s=0, top_k=2))) == 2
    assert [d.score > 5 for d in detect(curve, TOKEN, DetectConfig(min_score=5, smooth_s=0))] == [True, True]
    assert detect(-curve, TOKEN, RAW) == []  # a fall of attention is never a detection
    with pytest.raises(ValueError, match="not finite"):
        detect(np.array([np.nan]), TOKEN)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), threshold=st.floats(0.0, 3.0), top_k=st.integers(1, 8))
def test_a_higher_threshold_or_fewer_detections_keep_a_prefix(
    seed: int, threshold: float, top_k: int
) -> None:
    """Detections come highest first, so min_score = t and top_k = k keep a prefix of the full list."""
    curve = np.random.default_rng(seed).standard_normal(400)
    everything = detect(curve, TOKEN, DetectConfig(min_score=0.0, smooth_s=0.2))
    assert detect(curve, TOKEN, DetectConfig(min_score=threshold, smooth_s=0.2)) == [
        d for d in everything if d.score >= threshold
    ]
    assert detect(curve, TOKEN, DetectConfig(min_score=0.0, smooth_s=0.2, top_k=top_k)) == everything[:top_k]
    spans = sorted((d.onset_s, d.offset_s) for d in everything)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))  # never overlapping


def test_scores_are_in_units_of_the_uniform_share() -> None:
    share = np.full(250, 1 / 250)
    moved = share.copy()
    moved[100] += 2 / 250  # two uniform shares more attention on token 100
    np.testing.assert_allclose(score_curve(moved - share)[100], 2.0)
    np.testing.assert_allclose(score_curve(np.ones(10), n_tokens=20), 20.0)


def test_settings_are_checked_and_detections_shift() -> None:
    for bad in ({"top_k": 0}, {"min_score": np.nan}, {"min_gap_s": -1.0}, {"fraction": 2.0}):
        with pytest.raises(OptionError):
            DetectConfig(**bad)  # type: ignore[arg-type]
    d = Detection(1.0, 2.0, 3.0).shifted(60.0)
    assert (d.onset_s, d.offset_s, d.score) == (61.0, 62.0, 3.0)
    assert detections_json([d]) == [{"onset_s": 61.0, "offset_s": 62.0, "score": 3.0}]
    with pytest.raises(OptionError, match="tab"):
        tsv_text([("a\tb.wav", "x", [])])


def test_detections_of_repeated_events_are_scored_by_sed_eval(tmp_path: Path) -> None:
    """A synthetic recording with a siren three times: detections → TSV → sed_eval and event_f1 agree."""
    sed_eval = _sed_eval()
    truth = [(10.0, 12.0), (40.0, 43.0), (95.0, 96.5)]
    curve = np.zeros(3000)
    for onset, offset in truth:
        curve[int(onset / TOKEN) : int(offset / TOKEN)] = 5.0
    curve[int(70 / TOKEN) : int(71 / TOKEN)] = 4.0  # a false alarm
    found = detect(curve, TOKEN, DetectConfig(min_score=1.0, smooth_s=0.0))
    assert len(found) == 4
    tsv = tmp_path / "det.tsv"
    tsv.write_text(tsv_text([("rec.wav", "a siren", detections_json(found))]))
    assert tsv.read_text().splitlines()[0].split("\t") == list(TSV_HEADER)
    ref = tmp_path / "ref.tsv"
    ref.write_text(tsv_text([("rec.wav", "a siren", [{"onset_s": a, "offset_s": b} for a, b in truth])]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimated = sed_eval.io.load_event_list(str(tsv))
        reference = sed_eval.io.load_event_list(str(ref))
        metric = sed_eval.sound_event.EventBasedMetrics(
            event_label_list=["a siren"], t_collar=0.2, percentage_of_length=0.2
        )
        metric.evaluate(reference_event_list=reference, estimated_event_list=estimated)
    overall = metric.overall
    assert (overall["Nsys"], overall["Nref"], overall["Ntp"]) == (4, 3, 3)
    mine = event_f1(list(estimated), list(reference), 0.2, 0.2)
    assert (mine["tp"], mine["fp"], mine["fn"]) == (3, 1, 0)
    assert mine["f1"] == pytest.approx(metric.results_overall_metrics()["f_measure"]["f_measure"])
    sed_io = pytest.importorskip("sed_scores_eval.base_modules.io")
    events = sed_io.read_ground_truth_events(str(tsv))
    assert sorted(tuple(e) for e in events["rec"]) == sorted(
        (d.onset_s, d.offset_s, "a siren") for d in found
    )


def test_help_texts_show_the_code_defaults() -> None:
    from wheretolisten.cli.options import _check_defaults

    _check_defaults()


def test_onset_only_event_f1_matches_sed_eval() -> None:
    """``evaluate_offset=False`` (the onset F1 of the detection summary) is sed_eval's onset-only mode."""
    sed_eval = _sed_eval()
    ref = [
        {"filename": "a", "onset": 1.0, "offset": 6.0, "event_label": "x"},
        {"filename": "a", "onset": 9.0, "offset": 9.5, "event_label": "x"},
        {"filename": "b", "onset": 2.0, "offset": 3.0, "event_label": "y"},
    ]
    est = [
        {"filename": "a", "onset": 1.1, "offset": 1.9, "event_label": "x"},  # onset right, offset far off
        {"filename": "a", "onset": 9.5, "offset": 9.9, "event_label": "x"},  # onset outside the collar
        {"filename": "b", "onset": 2.0, "offset": 3.0, "event_label": "x"},  # wrong label
    ]
    metric = sed_eval.sound_event.EventBasedMetrics(
        event_label_list=["x", "y"], t_collar=0.2, evaluate_onset=True, evaluate_offset=False
    )
    for f in ("a", "b"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metric.evaluate(
                reference_event_list=[e for e in ref if e["filename"] == f],
                estimated_event_list=[e for e in est if e["filename"] == f],
            )
    mine = event_f1(est, ref, 0.2, 0.2, evaluate_offset=False)
    assert (
        (mine["tp"], mine["fp"], mine["fn"])
        == (1, 2, 2)
        == (
            metric.overall["Ntp"],
            metric.overall["Nsys"] - metric.overall["Ntp"],
            metric.overall["Nref"] - metric.overall["Ntp"],
        )
    )
    assert event_f1(est, ref, 0.2, 0.2)["tp"] == 0  # with offsets, the first match is lost


def test_strongest_names_the_best_candidate_below_the_threshold() -> None:
    from wheretolisten.detections import strongest

    curve = np.zeros(200)
    curve[50:60] = 2.0
    curve[120:125] = 1.0
    cfg = DetectConfig(min_score=3.5, smooth_s=0.0)
    assert detect(curve, 0.04, cfg) == []
    best = strongest(curve, 0.04, cfg)
    assert best is not None and best.score == 2.0 and (best.onset_s, best.offset_s) == (2.0, 2.4)
    assert strongest(np.zeros(10), 0.04, cfg) is None


def test_settings_not_given_are_the_models_then_the_packages() -> None:
    """None means "the model's": its ``wheretolisten.json`` ``detect`` section, else the package default;
    given values win; a declared value that is not a number is refused with its name."""
    package = DetectConfig().filled()
    assert (package.min_score, package.smooth_s, package.fraction) == (3.5, 0.6, 0.25)
    declared = {"detect": {"min_score": 2.0, "fraction": 0.35}}
    model = DetectConfig().filled(declared)
    assert (model.min_score, model.smooth_s, model.fraction) == (2.0, 0.6, 0.35)
    assert DetectConfig(min_score=3.0).filled(declared).min_score == 3.0
    with pytest.raises(OptionError, match=r"detect\.min_score"):
        DetectConfig().filled({"detect": {"min_score": "high"}})
    # detect() itself fills with the package defaults: a curve peaking at 3 is below 3.5.
    curve = _bumps(250, [(5.0, 3.0)])
    assert detect(curve, TOKEN) == [] and len(detect(curve, TOKEN, DetectConfig(min_score=2.0))) == 1


def test_the_shipped_model_detects_with_its_declared_settings() -> None:
    """``localize`` on the shipped model stores the detection settings its checkpoint declares (chosen on
    dev recordings at its 4 shifts, ``organism/detection_dev.jsonl``) unless others are given."""
    from wheretolisten.localize import localize
    from wheretolisten.organism import load_organism

    organism = load_organism(device="cpu", dtype="float32")
    declared = organism.recommended["detect"]
    rng = np.random.default_rng(7)
    clip = (rng.standard_normal(160_000) * 1e-3).astype(np.float32)
    clip[64_000:96_000] += np.sin(2 * np.pi * 900 * np.arange(32_000) / 16_000).astype(np.float32) * 0.1
    found = localize(organism, clip, "a steady tone", sample_rate=16_000)
    assert {k: getattr(found.detection, k) for k in declared} == declared
    given = localize(
        organism, clip, "a steady tone", sample_rate=16_000, detection=DetectConfig(min_score=9.0)
    )
    assert given.detection.min_score == 9.0 and given.detection.fraction == declared["fraction"]


def test_numpy_numbers_are_numbers_and_stored_plain() -> None:
    """np.float32(2.0) and np.int64(2) were refused as "must be a number"; a numpy top_k was stored as
    is and broke json.dumps of a result's settings. Booleans stay refused."""
    import json

    config = DetectConfig(
        top_k=np.int64(3),  # type: ignore[arg-type]
        min_score=np.float32(2.0),  # type: ignore[arg-type]
        min_gap_s=np.int64(2),  # type: ignore[arg-type]
        smooth_s=np.float64(0.5),
        fraction=np.float32(0.25),  # type: ignore[arg-type]
    )
    assert config == DetectConfig(top_k=3, min_score=2.0, min_gap_s=2.0, smooth_s=0.5, fraction=0.25)
    assert type(config.top_k) is int and type(config.min_score) is float and type(config.min_gap_s) is float
    assert json.loads(json.dumps(config.to_json()))["top_k"] == 3
    for bad in ({"min_score": np.bool_(True)}, {"top_k": np.bool_(True)}, {"top_k": np.float64(2.0)}):
        with pytest.raises(OptionError):
            DetectConfig(**bad)  # type: ignore[arg-type]
