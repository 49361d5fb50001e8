"""Δ-curve scores via sed_scores_eval (the optional ``[sed]`` extra), what happens without it, and that
importing the metrics never imports it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import wheretolisten
from metric_rows import six_condition_rows
from wheretolisten import metrics as m
from wheretolisten.errors import WTLError
from wheretolisten.metrics import curves
from wheretolisten.tables import summary_text

HEAVY = ("sed_scores_eval", "sed_eval", "dcase_util", "pandas", "librosa")
needs_sed = pytest.mark.skipif(not m.sed_available(), reason="needs the [sed] extra (sed_scores_eval)")


@needs_sed
def test_curve_collar_f1_perfect_and_imperfect() -> None:
    t = np.arange(250) * 0.04
    c1 = np.zeros(250)
    c1[50:100] = 1.0  # exactly [2.0, 4.0)
    c2 = np.zeros(250)
    c2[150:175] = 1.0  # [6.0, 7.0)
    curves = {"s1": c1, "s2": c2}
    gt = {"s1": (2.0, 4.0), "s2": (6.0, 7.0)}
    res = m.curve_collar_f1(curves, t, gt)
    assert res["f1"] == pytest.approx(1.0)
    # move s2's GT away: a threshold between s2's (0.5) and s1's (1.0) peak detects s1 only -> P=1, R=1/2
    c2[150:175] = 0.5
    res2 = m.curve_collar_f1(curves, {k: t for k in curves}, {"s1": (2.0, 4.0), "s2": (1.0, 2.0)})
    assert res2["f1"] == pytest.approx(2 / 3)
    assert (res2["precision"], res2["recall"]) == pytest.approx((1.0, 0.5))
    assert res2["n_ref"] == 2 and res2["tp"] == 1 and res2["fp"] == 0
    assert 0.5 <= res2["threshold"] <= 1.0


@needs_sed
def test_curve_psds_is_the_area_under_the_roc() -> None:
    """60 ten-second items: 40 curves peak on their event (score 1), 20 on a wrong span (score 0.5).

    Above 0.5 the detector finds 40 of 60 events with no false positive, so TPR = 2/3 at eFPR 0; at 0.5
    the 20 false positives (120 per hour) land beyond max_efpr = 100. PSDS = 2/3 exactly.
    """
    t = np.arange(250) * 0.04
    good = ((t >= 2.0) & (t < 4.0)).astype(float)
    bad = 0.5 * ((t >= 6.0) & (t < 8.0)).astype(float)
    keys = [f"s{i}" for i in range(60)]
    curves = {k: good if i % 3 else bad for i, k in enumerate(keys)}
    gt = {k: (2.0, 4.0) for k in keys}
    assert m.curve_psds(curves, t, gt) == pytest.approx(2 / 3)
    assert m.curve_psds({k: good for k in keys}, t, gt) == pytest.approx(1.0)
    shifted = ((t >= 2.6) & (t < 4.6)).astype(float)  # 70 % inside the event: meets the 0.7 criteria
    assert m.curve_psds({k: shifted for k in keys}, t, gt) == pytest.approx(1.0)
    later = ((t >= 2.8) & (t < 4.8)).astype(float)  # 60 % inside: a false positive and a miss
    assert m.curve_psds({k: later for k in keys}, t, gt) == pytest.approx(0.0)


@needs_sed
def test_curve_scores_per_condition_from_profiles() -> None:
    """Rows carrying Δ profiles are scored per condition; conditions without profiles are left out."""
    t = (np.arange(250) * 0.04).tolist()
    on_event = [1.0 if 2.0 <= x < 4.0 else 0.0 for x in t]
    off_event = [1.0 if 6.0 <= x < 8.0 else 0.0 for x in t]

    def row(i: int, cond: str, delta: list[float] | None) -> dict[str, Any]:
        r: dict[str, Any] = {"scene_id": f"s{i}", "query": "q", "condition": cond, "gt": [2.0, 4.0]}
        if delta is not None:
            r["profile"] = {"time_s": t, "delta": delta}
        return r

    rows = [row(i, "steered", on_event) for i in range(40)]
    rows += [row(i, "prompted", on_event if i % 2 else off_event) for i in range(40)]
    rows += [row(i, "random", None) for i in range(40)]
    scores = {s["condition"]: s for s in m.curve_scores(rows)}
    assert set(scores) == {"steered", "prompted"}
    assert scores["steered"]["n"] == 40
    assert scores["steered"]["collar_f1"] == pytest.approx(1.0)
    assert scores["steered"]["psds"] == pytest.approx(1.0)
    assert scores["prompted"]["collar_f1"] == pytest.approx(0.5)  # P = R = 1/2 at every threshold
    assert scores["prompted"]["psds"] < 0.5


@needs_sed
def test_curve_collar_f1_respects_onset_collar() -> None:
    t = np.arange(250) * 0.04
    gt = {"s": (2.0, 4.0)}
    near = np.zeros(250)
    near[53:100] = 1.0  # onset 2.12 s: within the 0.2 s collar
    far = np.zeros(250)
    far[58:100] = 1.0  # onset 2.32 s: outside
    assert m.curve_collar_f1({"s": near}, t, gt)["f1"] == pytest.approx(1.0)
    assert m.curve_collar_f1({"s": far}, t, gt)["f1"] == pytest.approx(0.0)
    with pytest.raises(ValueError):
        m.curve_collar_f1({"s": far}, t[:-1], gt)


@pytest.fixture
def no_sed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """sed_scores_eval made unimportable (as when the extra is not installed) for one test."""
    for name in [n for n in sys.modules if n.startswith("sed_scores_eval.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "sed_scores_eval", None)
    curves._sed.cache_clear()
    yield
    curves._sed.cache_clear()


def test_without_sed_scoring_curves_is_one_clear_error(no_sed: None) -> None:
    assert not m.sed_available()
    rows = six_condition_rows(n=6, profiles=True)
    with pytest.raises(WTLError) as err:
        m.curve_scores(rows)
    assert str(err.value) == "scoring Δ curves needs sed_scores_eval: pip install 'wheretolisten[sed]'"
    with pytest.raises(WTLError, match=r"needs sed_scores_eval"):
        m.curve_psds({"s": np.ones(3)}, np.arange(3) * 0.04, {"s": (0.0, 0.1)})
    assert m.curve_scores(six_condition_rows(n=6)) == []  # nothing to score: nothing needed


def test_without_sed_the_summary_says_how_to_enable_curves(no_sed: None) -> None:
    text = summary_text(six_condition_rows(n=6, profiles=True), n_boot=50)
    assert "## Δ curves" not in text
    hint = [line for line in text.splitlines() if "sed_scores_eval" in line]
    assert hint == ["Δ curves are not scored: that needs sed_scores_eval (pip install 'wheretolisten[sed]')."]
    assert "sed_scores_eval" not in summary_text(six_condition_rows(n=6), n_boot=50)


def _modules_after(code: str) -> dict[str, list[str]]:
    """Heavy modules a fresh interpreter holds after ``import wheretolisten.metrics`` (and after code)."""
    src = str(Path(wheretolisten.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    script = (
        "import json, sys\n"
        "import wheretolisten.metrics as m\n"
        f"heavy = {HEAVY!r}\n"
        "loaded = lambda: [h for h in heavy if h in sys.modules]\n"
        "before = loaded()\n"
        f"{code}\n"
        "print(json.dumps({'file': m.__file__, 'before': before, 'after': loaded()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(result["file"]).resolve() == Path(m.__file__).resolve()  # this checkout was imported
    return result


def test_importing_metrics_imports_no_optional_dependency() -> None:
    assert _modules_after("pass")["before"] == []


@needs_sed
def test_the_import_check_sees_sed_once_it_is_used() -> None:
    """The same probe does see sed_scores_eval and what it pulls once curves are scored."""
    assert set(_modules_after("m.sed_available()")["after"]) >= {"sed_scores_eval", "pandas"}
