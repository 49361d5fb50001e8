"""The page of a run (``localize --html``): self-contained, and in a real headless Chromium a click on a
detection plays from its onset, space plays and pauses, n/p step through detections, zoom works.

Browser tests skip (saying what to install) without selenium, Chromium or chromedriver.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from browser import console_errors, wait_for
from helpers import SR, noise, run_cli
from wheretolisten.detections import DetectConfig
from wheretolisten.localize import LocalizeConfig, localize_many
from wheretolisten.models import Adapter
from wheretolisten.page import render_page, write_page
from wheretolisten.page.data import page_data
from wheretolisten.page.spectrogram import SpectrogramBuilder

CFG = LocalizeConfig(alpha=8.0, layers=[1])
#: Every local maximum of the score is a detection: a tiny random model's scores are small.
DETECT = DetectConfig(top_k=4, min_score=0.0, min_gap_s=0.5)
QUERIES = ["a beep", "a dog </script><b>barking"]
GT = [("beep", 5.0, 8.0), ("hum", 12.0, 14.0)]


def clip() -> np.ndarray:
    t = np.arange(20 * SR) / SR
    tone = 0.3 * np.sin(2 * np.pi * 1000 * t) * ((t > 5) & (t < 8))
    return (noise(20.0, seed=3, amplitude=0.05) + tone).astype(np.float32)


@pytest.fixture(scope="module")
def run(adapters: dict[str, Adapter], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    """A 20-s clip localized for two queries by a tiny Qwen2-Audio, and the page of it."""
    root = tmp_path_factory.mktemp("page")
    wav = root / "clip.wav"
    sf.write(wav, clip(), SR)
    results = localize_many(adapters["qwen2-audio"], wav, QUERIES, CFG, detection=DETECT).results
    assert all(r.detections for r in results)
    write_page(results, wav, root / "page.html", gt=GT)
    return root, results


def embedded(page: str, element: str) -> str:
    found = re.search(rf'<script type="[^"]+" id="{element}">(.*?)</script>', page, re.S)
    assert found is not None, element
    return found.group(1)


def test_the_page_is_self_contained_and_embeds_the_audio(run: tuple[Path, list[Any]]) -> None:
    root, results = run
    page = (root / "page.html").read_text()
    assert "http://" not in page and "https://" not in page and "<link" not in page
    import base64

    audio, rate = sf.read(io.BytesIO(base64.b64decode(embedded(page, "wtl-ogg"))))
    assert rate == 16000 and abs(audio.size / rate - 20.0) < 0.05
    data = json.loads(embedded(page, "wtl-data"))
    assert [q["query"] for q in data["queries"]] == QUERIES
    # localize_many steers both queries beside one unsteered row: the base curve travels once
    assert len(data["arrays"]) == 3 and data["queries"][0]["base"] == data["queries"][1]["base"]
    steered = np.frombuffer(base64.b64decode(data["arrays"][data["queries"][1]["steered"]]), "<f4")
    np.testing.assert_allclose(steered, results[1].profile.steered, rtol=1e-6)
    assert data["queries"][0]["detections"] == [d.to_json() for d in results[0].detections]
    # the query's "</script>" cannot end the data early: every script element is ours
    assert page.count("</script>") == 3 and "&lt;/script&gt;&lt;b&gt;barking" in page


def test_link_audio_refers_to_the_file_beside_the_page(run: tuple[Path, list[Any]]) -> None:
    root, results = run
    out = write_page(results, root / "clip.wav", root / "sub dir" / "linked.html", gt=GT, link_audio=True)
    page = out.read_text()
    assert 'id="wtl-ogg"' not in page and 'src="../clip.wav"' in page
    whole = (root / "page.html").read_text()
    assert abs(len(whole) - len(embedded(whole, "wtl-ogg")) - len(page)) < 200  # the audio is all it drops


def _png_pixels(png: bytes) -> np.ndarray:
    """The palette indices of an 8-bit palette PNG with filter 0 rows (what the page writes)."""
    width, height = struct.unpack(">II", png[16:24])
    at, idat = 8, b""
    while at < len(png):
        (size,) = struct.unpack(">I", png[at : at + 4])
        if png[at + 4 : at + 8] == b"IDAT":
            idat += png[at + 8 : at + 8 + size]
        at += 12 + size
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, width + 1)
    assert not rows[:, 0].any()
    return rows[:, 1:]


def test_the_spectrogram_shows_a_tone_where_and_when_it_sounds() -> None:
    builder = SpectrogramBuilder(SR, 20.0, max_columns=500)
    audio = clip()
    half = 10 * SR  # fed in two chunks, as a recording is read
    builder.add(audio[: half + 400], half)
    builder.add(audio[half:], audio.size - half)
    png, column_s = builder.png()
    pixels = _png_pixels(png).astype(float)
    assert pixels.shape == (64, 500) and column_s == pytest.approx(0.04)
    during, before = pixels[:, 150:190].mean(axis=1), pixels[:, 50:100].mean(axis=1)
    row = int(np.argmax(during - before))
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    expected = 63 - mel(1000) / mel(8000) * 65 + 1  # rows from the top; filter centres are evenly spaced
    assert abs(row - expected) <= 2
    assert (during - before)[row] > 60


def test_page_data_refuses_what_is_not_a_result() -> None:
    from wheretolisten.errors import DataError

    with pytest.raises(DataError, match="not a localization result"):
        page_data([{"query": "x"}])
    with pytest.raises(DataError, match="at least one"):
        render_page([], None)


def test_cli_html_and_its_refusals(
    run: tuple[Path, list[Any]],
    tiny_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root, _ = run
    wav, model = root / "clip.wav", tiny_dirs["qwen2-audio"]
    out = root / "cli.html"
    code, stdout, _ = run_cli(
        monkeypatch, capsys, "localize", wav, "-q", "a beep", "--model", model, "--layers", "1",
        "--alpha", "8", "--html", out, "--scenes", root / "none.jsonl", "--no-progress",
    )  # fmt: skip
    assert code == 2 and not out.exists()  # a missing manifest is refused before the model runs
    code, stdout, _ = run_cli(
        monkeypatch, capsys, "localize", wav, "-q", "a beep", "--model", model, "--layers", "1",
        "--alpha", "8", "--html", out, "--no-progress",
    )  # fmt: skip
    assert code == 0 and f"wrote {out}" in stdout
    assert json.loads(embedded(out.read_text(), "wtl-data"))["queries"][0]["query"] == "a beep"
    for args, message in [
        (["--html", root / "x.png"], "ending in .html"),
        (["--link-audio"], "--link-audio only matters with --html"),
        (["--html", root / "y.html", wav], "take one audio file"),
    ]:
        code, _, err = run_cli(monkeypatch, capsys, "localize", wav, "-q", "x", "--model", model, *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1


# ----- in a real browser ------------------------------------------------------------------------------------


def _open(driver: Any, page: Path) -> None:
    driver.get(page.as_uri())
    wait_for(driver, "window.wtlPage && window.wtlPage.ready")
    wait_for(driver, "document.getElementById('wtl-audio').readyState >= 1")


def _audio(driver: Any, prop: str) -> Any:
    return driver.execute_script(f"return document.getElementById('wtl-audio').{prop}")


def _watch_seeks(driver: Any) -> None:
    """Record where every seek goes (``currentTime`` at its 'seeking' event), however slow the machine."""
    driver.execute_script(
        "window.seeks = []; const a = document.getElementById('wtl-audio');"
        "a.addEventListener('seeking', () => seeks.push(a.currentTime));"
    )


def _rewind(driver: Any) -> None:
    """Pause at 0 s and wait for that seek to end, so a watcher added next cannot record it."""
    driver.execute_script(
        "window.rewound = false; const a = document.getElementById('wtl-audio'); a.pause();"
        "a.addEventListener('seeked', () => { window.rewound = true; }, {once: true}); a.currentTime = 0;"
    )
    wait_for(driver, "window.rewound")


def _next_seek(driver: Any, count: int) -> float:
    """Where seek number ``count`` (from 1) went."""
    wait_for(driver, f"window.seeks.length >= {count}")
    return float(driver.execute_script(f"return seeks[{count - 1}]"))


def test_a_click_on_a_detection_plays_from_its_onset(chrome: Any, run: tuple[Path, list[Any]]) -> None:
    from selenium.webdriver.common.by import By

    root, results = run
    _open(chrome, root / "page.html")
    rows = chrome.find_elements(By.CSS_SELECTOR, "#wtl-detections tbody tr")
    onsets = sorted(d.onset_s for r in results for d in r.detections)
    assert [float(r.get_attribute("data-t")) for r in rows] == pytest.approx(onsets)
    target = rows[len(rows) // 2]
    onset = float(target.get_attribute("data-t"))
    _watch_seeks(chrome)
    target.click()
    assert _next_seek(chrome, 1) == pytest.approx(onset, abs=0.01)
    wait_for(chrome, "!document.getElementById('wtl-audio').paused")
    wait_for(chrome, f"document.getElementById('wtl-audio').currentTime > {onset + 0.05}")  # it plays
    assert console_errors(chrome) == []


def test_space_plays_and_pauses_and_n_p_step_through_detections(
    chrome: Any, run: tuple[Path, list[Any]]
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    root, results = run
    _open(chrome, root / "page.html")
    keys = ActionChains(chrome)
    assert _audio(chrome, "paused")
    keys.send_keys(" ").perform()
    wait_for(chrome, "!document.getElementById('wtl-audio').paused")
    keys.send_keys(" ").perform()
    wait_for(chrome, "document.getElementById('wtl-audio').paused")
    onsets = sorted(d.onset_s for r in results for d in r.detections)
    _rewind(chrome)
    _watch_seeks(chrome)
    first = next(o for o in onsets if o > 0.05)  # n: the next onset after now; p: the last one before
    second = next(o for o in onsets if o > first + 0.05)  # now − 0.3 s (so p at an onset goes back one)
    back = max(o for o in onsets if o < second - 0.3)
    for count, (key, expected) in enumerate([("n", first), ("n", second), ("p", back)], start=1):
        ActionChains(chrome).send_keys(key).perform()
        assert _next_seek(chrome, count) == pytest.approx(expected, abs=0.01), key
        chrome.execute_script("document.getElementById('wtl-audio').pause()")  # stay near the onset
    assert console_errors(chrome) == []


def test_a_click_on_a_curve_plays_from_there_and_the_playhead_follows(
    chrome: Any, run: tuple[Path, list[Any]]
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    root, _ = run
    _open(chrome, root / "page.html")
    canvas = chrome.find_element(By.CSS_SELECTOR, "canvas[data-kind='delta']")
    width = canvas.size["width"]
    _watch_seeks(chrome)
    ActionChains(chrome).move_to_element_with_offset(canvas, width // 4, 0).click().perform()
    assert _next_seek(chrome, 1) == pytest.approx(20.0 * 0.75, abs=0.1)  # 3/4 of the way along 20 s
    wait_for(chrome, "!document.getElementById('wtl-audio').paused")
    now = chrome.execute_script(
        "const a = document.getElementById('wtl-audio'); a.pause(); return a.currentTime"
    )
    head = chrome.find_element(By.ID, "wtl-playhead")
    wait_for(chrome, "document.getElementById('wtl-playhead').style.display === 'block'")
    left = float(head.value_of_css_property("left").removesuffix("px"))
    plots = chrome.find_element(By.ID, "wtl-plots").location["x"]
    assert left == pytest.approx(canvas.location["x"] - plots + now / 20.0 * width, abs=4)
    assert console_errors(chrome) == []


def test_zoom_and_pan_keep_one_time_axis(chrome: Any, run: tuple[Path, list[Any]]) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    root, _ = run
    _open(chrome, root / "page.html")
    span = "wtlPage.view.t1 - wtlPage.view.t0"
    assert chrome.execute_script(f"return {span}") == pytest.approx(20.0, abs=0.05)
    ActionChains(chrome).send_keys("+").perform()
    assert chrome.execute_script(f"return {span}") == pytest.approx(10.0, abs=0.05)
    canvas = chrome.find_element(By.CSS_SELECTOR, "canvas[data-kind='att']")
    ActionChains(chrome).scroll_to_element(canvas).perform()
    ActionChains(chrome).move_to_element(canvas).perform()
    start = chrome.execute_script("return wtlPage.view.t0")
    ActionChains(chrome).click_and_hold(canvas).move_by_offset(
        -canvas.size["width"] // 4, 0
    ).release().perform()
    assert chrome.execute_script("return wtlPage.view.t0") > start + 1.0  # dragged left: later times
    assert _audio(chrome, "paused")  # a drag pans, it does not play
    chrome.execute_script(
        "arguments[0].dispatchEvent(new WheelEvent('wheel', {deltaY: -400, clientX: "
        "arguments[0].getBoundingClientRect().left + 10, bubbles: true, cancelable: true}))",
        canvas,
    )
    assert chrome.execute_script(f"return {span}") < 10.0 * 0.7
    assert console_errors(chrome) == []
