"""Results in a notebook: a short repr, the page as ``_repr_html_`` (it plays in a real browser),
``.plot()``, and loading a model prints no progress bar when stderr is not a terminal."""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf

from browser import console_errors, wait_for
from helpers import SR, noise
from wheretolisten.detections import DetectConfig
from wheretolisten.errors import WTLError
from wheretolisten.localize import LocalizeConfig, alpha_sweep, layer_delta, localize, localize_many
from wheretolisten.long import localize_long
from wheretolisten.models import Adapter, load_model
from wheretolisten.results import LocalizeResult
from wheretolisten.windows import WindowConfig

CFG = LocalizeConfig(alpha=8.0, layers=[1])
DETECT = DetectConfig(top_k=3, min_score=0.0)
LONG_QUERY = "a very particular dog barking twice " * 12


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("notebook") / ("a-rather-long-file-name-" * 4 + ".wav")
    sf.write(path, noise(10.0, seed=2), SR)
    return path


@pytest.fixture(scope="module")
def result(adapters: dict[str, Adapter], wav: Path) -> LocalizeResult:
    return localize(adapters["qwen2-audio"], wav, LONG_QUERY, CFG, detection=DETECT)


def test_reprs_are_short_and_say_what_was_found(
    result: LocalizeResult, adapters: dict[str, Adapter], wav: Path
) -> None:
    text = repr(result)
    assert len(text) < 300 and text.startswith("LocalizeResult(query='a very particular dog")
    assert f"peak {result.peak_s:.2f} s" in text and f"{len(result.detections)} detection(s)" in text
    adapter = adapters["qwen2-audio"]
    (windowed,) = localize_long(
        adapter, wav, ["a dog"], CFG, windows=WindowConfig(4.0, 1.0), detection=DETECT
    )
    many = localize_many(adapter, wav, [f"sound {i}" for i in range(6)], CFG)
    sweep = alpha_sweep(adapter, wav, "a dog", [0.0, 4.0, 8.0], CFG)
    layers = layer_delta(adapter, wav, "a dog", CFG)
    for value in (windowed, many, sweep, layers, result.profile):
        assert len(repr(value)) < 300, repr(value)
    assert repr(windowed).startswith("WindowedResult(query='a dog'")
    assert "6 queries" in repr(many) and "1 more" not in repr(many) and "2 more" in repr(many)


def test_the_html_repr_is_the_page_in_an_iframe(result: LocalizeResult) -> None:
    shown = result._repr_html_()
    found = re.fullmatch(r'<iframe srcdoc="([^"]*)" title="[^"]*" style="[^"]*"></iframe>', shown)
    assert found is not None
    assert html.unescape(found.group(1)) == result.page()


def test_the_html_repr_plays_in_a_browser(chrome: Any, result: LocalizeResult, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    notebook = tmp_path / "notebook.html"
    notebook.write_text(f"<!DOCTYPE html><html><body><p>cell output:</p>{result._repr_html_()}</body></html>")
    chrome.get(notebook.as_uri())
    chrome.switch_to.frame(chrome.find_element(By.TAG_NAME, "iframe"))
    try:
        wait_for(chrome, "window.wtlPage && window.wtlPage.ready")
        row = chrome.find_elements(By.CSS_SELECTOR, "#wtl-detections tbody tr")[-1]
        onset = float(row.get_attribute("data-t"))
        chrome.execute_script(
            "const a = document.getElementById('wtl-audio');"
            "a.addEventListener('seeking', () => { window.seekTo = a.currentTime; })"
        )
        row.click()
        assert (
            wait_for(chrome, "window.seekTo !== undefined") and chrome.execute_script("return seekTo")
        ) == pytest.approx(onset, abs=0.01)
        assert console_errors(chrome) == []
    finally:
        chrome.switch_to.default_content()


def test_plot_draws_the_localization_figure(result: LocalizeResult) -> None:
    pytest.importorskip("matplotlib")
    fig = result.plot()
    assert [ax.get_label() for ax in fig.axes if ax.get_label() != "<colorbar>"] == [
        "waveform",
        "log-mel",
        "attention",
        "delta",
    ]


def test_plot_says_what_is_missing(
    result: LocalizeResult, adapters: dict[str, Adapter], monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = noise(5.0, seed=9)
    from_array = localize(adapters["qwen2-audio"], clip, "a dog", CFG, sample_rate=SR)
    with pytest.raises(ValueError, match="pass audio="):
        from_array.plot()
    assert "<iframe" in from_array._repr_html_() and 'id="wtl-ogg"' not in from_array.page()  # curves only
    assert 'id="wtl-ogg"' in from_array.page(audio=clip, sample_rate=SR)  # the clip given again
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(WTLError, match=r"pip install 'wheretolisten\[plot\]'"):
        result.plot()


def test_loading_a_model_off_a_terminal_prints_no_progress_bar(
    tiny_dirs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from transformers.utils import logging as hf_logging

    before = hf_logging.is_progress_bar_enabled()  # the CLI's commands turn the bars off for good
    hf_logging.enable_progress_bar()
    try:
        load_model(tiny_dirs["qwen2-audio"], device="cpu", dtype="float32")
        assert "Loading weights" not in capsys.readouterr().err
        assert hf_logging.is_progress_bar_enabled()  # restored for the rest of the process
    finally:
        (hf_logging.enable_progress_bar if before else hf_logging.disable_progress_bar)()
