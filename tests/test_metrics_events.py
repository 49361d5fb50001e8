"""DCASE event-based F1 with collars; cross-checked against sed_eval when the ``[sed]`` extra is installed."""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from wheretolisten import metrics as m


def _sed_eval() -> ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # dcase_util imports the deprecated pkg_resources
        return pytest.importorskip("sed_eval")


def _ev(f: str, on: float, off: float, lab: str) -> dict[str, Any]:
    return {"filename": f, "onset": on, "offset": off, "event_label": lab}


def _sed_eval_counts(
    pred: list[dict[str, Any]], ref: list[dict[str, Any]], t_collar: float, pol: float
) -> tuple[int, int, int, Any]:
    """(tp, fp, fn, metric) of sed_eval's EventBasedMetrics, evaluated file by file."""
    labels = sorted({e["event_label"] for e in pred + ref})
    metric = _sed_eval().sound_event.EventBasedMetrics(
        event_label_list=labels,
        t_collar=float(t_collar),
        percentage_of_length=float(pol),
        evaluate_onset=True,
        evaluate_offset=True,
    )
    for f in sorted({e["filename"] for e in pred + ref}):
        metric.evaluate(
            reference_event_list=[e for e in ref if e["filename"] == f],
            estimated_event_list=[e for e in pred if e["filename"] == f],
        )
    o = metric.overall
    return int(o["Ntp"]), int(o["Nsys"] - o["Ntp"]), int(o["Nref"] - o["Ntp"]), metric


REF = [_ev("a", 1.0, 3.0, "dog"), _ev("a", 4.0, 5.0, "cat"), _ev("b", 0.5, 2.5, "car")]
CASES = {
    "exact": ([_ev("a", 1.0, 3.0, "dog"), _ev("a", 4.0, 5.0, "cat"), _ev("b", 0.5, 2.5, "car")], (3, 0, 0)),
    "onset_within_collar": ([_ev("a", 1.15, 3.0, "dog")], (1, 0, 2)),
    "onset_outside_collar": ([_ev("a", 1.3, 3.0, "dog")], (0, 1, 3)),
    # offset collar = max(0.2, 0.2 * 2 s) = 0.4 s for the dog
    "offset_within_length_collar": ([_ev("a", 1.0, 3.35, "dog")], (1, 0, 2)),
    "offset_outside_length_collar": ([_ev("a", 1.0, 3.5, "dog")], (0, 1, 3)),
    "wrong_label": ([_ev("a", 1.0, 3.0, "cat")], (0, 1, 3)),
    "missing": ([], (0, 0, 3)),
    "extra": ([*REF, _ev("b", 5.0, 6.0, "car")], (3, 1, 0)),
    "wrong_file": ([_ev("b", 1.0, 3.0, "dog")], (0, 1, 3)),
    "duplicate_counts_once": ([_ev("a", 1.0, 3.0, "dog"), _ev("a", 1.05, 3.0, "dog")], (1, 1, 2)),
    "several_files": (
        [_ev("a", 1.1, 3.1, "dog"), _ev("b", 0.6, 2.4, "car"), _ev("c", 0.0, 1.0, "dog")],
        (2, 1, 1),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_event_f1_crafted_counts(case: str) -> None:
    pred, (tp, fp, fn) = CASES[case]
    got = m.event_f1(pred, REF, t_collar=0.2, percentage_of_length=0.2)
    assert (got["tp"], got["fp"], got["fn"]) == (tp, fp, fn)
    prec, rec = (tp / len(pred) if pred else 0.0), tp / len(REF)
    assert (got["precision"], got["recall"]) == pytest.approx((prec, rec))
    assert got["f1"] == pytest.approx(2 * prec * rec / (prec + rec) if tp else 0.0)


@pytest.mark.parametrize("case", sorted(CASES))
def test_event_f1_crafted_matches_sed_eval(case: str) -> None:
    pred, expected = CASES[case]
    got = m.event_f1(pred, REF, t_collar=0.2, percentage_of_length=0.2)
    s_tp, s_fp, s_fn, metric = _sed_eval_counts(pred, REF, 0.2, 0.2)
    assert (s_tp, s_fp, s_fn) == expected
    ref_f = metric.results_overall_metrics()["f_measure"]
    if pred:
        assert got["f1"] == pytest.approx(ref_f["f_measure"])
        assert got["precision"] == pytest.approx(ref_f["precision"])
    assert got["recall"] == pytest.approx(ref_f["recall"])


def test_event_f1_needs_maximal_matching() -> None:
    # A greedy first-fit would give est0 to ref0 and leave ref1 unmatched; the maximal matching finds 2.
    ref = [_ev("a", 1.0, 2.0, "dog"), _ev("a", 1.3, 2.3, "dog")]
    pred = [_ev("a", 1.15, 2.15, "dog"), _ev("a", 0.85, 1.85, "dog")]
    got = m.event_f1(pred, ref)
    assert got["tp"] == 2 and got["f1"] == 1.0
    # sed_eval's event_onset / event_offset keys are read alike
    renamed = [{"filename": "a", "event_onset": 1.15, "event_offset": 2.15, "event_label": "dog"}]
    assert m.event_f1(renamed, ref)["tp"] == 1


def _random_case(rng: np.random.Generator, dense: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """References in two files and noisy detections of them, in random order. Dense: one label, onsets
    and lengths so close that an event often lies within the collars of several (matching matters)."""
    labels = ["dog"] if dense else ["dog", "cat"]
    ref: list[dict[str, Any]] = []
    pred: list[dict[str, Any]] = []
    for f in ("x", "y"):
        mine = []
        for _ in range(rng.integers(2, 7) if dense else rng.integers(0, 4)):
            on = float(np.round(rng.uniform(0, 1.2) if dense else rng.uniform(0, 8), 2))
            length = rng.uniform(1.0, 1.3) if dense else rng.uniform(0.2, 2)
            mine.append(_ev(f, on, on + float(np.round(length, 2)), str(rng.choice(labels))))
        ref += mine
        for e in mine:
            if rng.random() < 0.8:
                on = e["onset"] + float(np.round(rng.normal(0, 0.2), 2))
                off = e["offset"] + float(np.round(rng.normal(0, 0.3), 2))
                lab = e["event_label"] if rng.random() < 0.85 else str(rng.choice(["dog", "cat"]))
                pred.append(_ev(f, on, max(on + 0.05, off), lab))
    return [pred[i] for i in rng.permutation(len(pred))], ref


@pytest.mark.parametrize("dense", [False, True])
def test_event_f1_random_cases_match_sed_eval(dense: bool) -> None:
    rng = np.random.default_rng(7)
    matched = 0
    for _ in range(40):
        pred, ref = _random_case(rng, dense)
        got = m.event_f1(pred, ref, t_collar=0.2, percentage_of_length=0.2)
        s_tp, s_fp, s_fn, _ = _sed_eval_counts(pred, ref, 0.2, 0.2)
        assert (got["tp"], got["fp"], got["fn"]) == (s_tp, s_fp, s_fn)
        matched += s_tp
    assert matched > 20  # the cases do match events, so the comparison is not between zeros


def test_event_f1_empty_inputs() -> None:
    got = m.event_f1([], [])
    assert got == {"f1": 0.0, "precision": 0.0, "recall": 0.0, "tp": 0, "fp": 0, "fn": 0}
