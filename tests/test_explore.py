"""``wheretolisten explore``: the local app in a real headless Chromium (type a query → its curve and peak
appear; a second query adds a second curve), bad input as a message in the page, uploads, the CLI's
refusals. A tiny random-weight Qwen2-Audio answers."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf

from browser import console_errors, wait_for
from helpers import SR, noise, run_cli
from wheretolisten.detections import DetectConfig
from wheretolisten.explore import Explorer, ExploreServer, serve
from wheretolisten.models import Adapter


@pytest.fixture(scope="module")
def served(adapters: dict[str, Adapter], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExploreServer]:
    root = tmp_path_factory.mktemp("explore")
    wav = root / "street.wav"
    sf.write(wav, noise(8.0, seed=5), SR)
    explorer = Explorer(adapters["qwen2-audio"], [wav], DetectConfig(top_k=3, min_score=0.0))
    server = serve(explorer, port=0, background=True)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        explorer.close()


def _post(server: ExploreServer, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(server.url.rstrip("/") + path, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _type(driver: Any, element_id: str, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.ID, element_id)
    box.clear()
    box.send_keys(text + Keys.ENTER)


def _in_view(driver: Any, script: str) -> Any:
    from selenium.webdriver.common.by import By

    driver.switch_to.frame(driver.find_element(By.ID, "ex-view"))
    try:
        wait_for(driver, "window.wtlPage && window.wtlPage.ready")
        return driver.execute_script(script)
    finally:
        driver.switch_to.default_content()


READOUT = (
    "return [document.querySelectorAll(\"canvas[data-kind='att']\").length,"
    " [...document.querySelectorAll('#wtl-readout tbody tr')].map(r => [...r.cells].map(c => c.textContent))]"
)


def test_typing_a_query_draws_its_curve_and_peak(chrome: Any, served: ExploreServer) -> None:
    chrome.get(served.url)
    wait_for(chrome, "window.wtlExplore && wtlExplore.ready")
    assert "127.0.0.1" in served.url
    _type(chrome, "ex-query", "a siren")
    wait_for(chrome, "wtlExplore.runs === 1", timeout=60)
    curves, rows = _in_view(chrome, READOUT)
    assert curves == 1 and rows[0][0] == "a siren" and float(rows[0][1]) >= 0.0  # its peak, in seconds
    _type(chrome, "ex-query", "a dog barking")
    wait_for(chrome, "wtlExplore.runs === 2", timeout=60)
    curves, rows = _in_view(chrome, READOUT)
    assert curves == 2 and [r[0] for r in rows] == ["a siren", "a dog barking"]
    assert 0.0 <= float(rows[1][1]) <= 8.0
    assert console_errors(chrome) == []


def test_a_query_added_during_a_run_is_run_after_it(chrome: Any, served: ExploreServer) -> None:
    """A second query typed while the first ran showed as a chip, the status said "done", and the page
    held the first query only: the app now runs once more when the run ends."""
    chrome.get(served.url)
    wait_for(chrome, "window.wtlExplore && wtlExplore.ready")
    _type(chrome, "ex-query", "a steady tone")
    _type(chrome, "ex-query", "a siren")  # at once: the first run is still going
    wait_for(chrome, "wtlExplore.runs === 2 && !wtlExplore.busy", timeout=90)
    curves, rows = _in_view(chrome, READOUT)
    assert curves == 2 and [r[0] for r in rows] == ["a steady tone", "a siren"]
    assert console_errors(chrome) == []


def test_bad_input_is_one_line_in_the_page(chrome: Any, served: ExploreServer, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    chrome.get(served.url)
    wait_for(chrome, "window.wtlExplore && wtlExplore.ready")
    status = chrome.find_element(By.ID, "ex-status")
    chrome.find_element(By.ID, "ex-run").click()
    assert "Type a query" in status.text and status.get_attribute("class") == "error"
    chrome.find_element(By.ID, "ex-query").send_keys("a siren")
    _type(chrome, "ex-layers", "abc")
    chrome.find_element(By.ID, "ex-add").click()
    shown = "document.getElementById('ex-status').textContent"
    wait_for(chrome, f"{shown}.includes(\"cannot parse layers 'abc'\")", timeout=60)
    assert status.get_attribute("class") == "error"
    _type(chrome, "ex-layers", "99")
    wait_for(chrome, f"{shown}.includes('99') && !wtlExplore.busy", timeout=60)
    assert "Traceback" not in status.text and "\n" not in status.text.strip()
    assert chrome.execute_script("return wtlExplore.runs") == 0  # nothing was drawn for bad input
    text = tmp_path / "notes.txt"
    text.write_text("not audio")
    chrome.find_element(By.ID, "ex-file").send_keys(str(text))
    wait_for(chrome, f"{shown}.includes('notes.txt: not an audio file')", timeout=30)
    wav = tmp_path / "dropped in.wav"
    sf.write(wav, noise(3.0, seed=8), SR)
    chrome.find_element(By.ID, "ex-file").send_keys(str(wav))
    wait_for(chrome, "document.getElementById('ex-audio').options.length === 2", timeout=30)
    assert chrome.execute_script(
        "return document.getElementById('ex-audio').selectedOptions[0].textContent"
    ) == ("dropped in.wav (3.0 s)")
    assert console_errors(chrome) == []


def test_an_uploaded_file_s_page_names_it_not_its_temporary_copy(served: ExploreServer) -> None:
    """The page's subtitle showed the upload's private temporary path (/tmp/wheretolisten-explore-…)."""
    buffer = io.BytesIO()
    sf.write(buffer, noise(3.0, seed=2), SR, format="WAV")
    code, item = _post(served, "/upload?name=my%20clip.wav", buffer.getvalue())
    assert code == 200 and item["name"] == "my clip.wav", item
    code, body = _post(served, "/run", json.dumps({"audio": item["key"], "queries": ["a siren"]}).encode())
    assert code == 200 and "html" in body, body
    assert "my clip.wav · 3.00 s" in body["html"] and "wheretolisten-explore-" not in body["html"]


def test_the_routes_refuse_bad_requests_with_one_line(served: ExploreServer) -> None:
    """Bad input is an answer (200) carrying one line; an unknown action is a 404."""
    code, body = _post(served, "/run", b"not json")
    assert code == 200 and body == {"error": "the request is not JSON"}
    code, body = _post(served, "/run", json.dumps({"audio": "1", "queries": "a dog"}).encode())
    assert code == 200 and body["error"] == "queries must be a list of texts"
    code, body = _post(served, "/run", json.dumps({"audio": "77", "queries": ["x"]}).encode())
    assert code == 200 and "choose an audio file" in body["error"]
    code, body = _post(served, "/upload?name=empty.wav", b"")
    assert code == 200 and body["error"] == "empty.wav: the file is empty"
    code, body = _post(served, "/upload?name=fake.wav", b"RIFF junk that is not audio")
    assert code == 200 and body["error"].startswith("fake.wav: cannot read audio")
    code, body = _post(served, "/nothing", b"")
    assert code == 404 and body == {"error": "no such action: /nothing"}


def test_cli_explore_refuses_a_missing_file_before_loading_a_model(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli(
        monkeypatch, capsys, "explore", tmp_path / "nope.wav", "--model", tmp_path / "none"
    )
    assert code == 2 and err.strip() == f"wheretolisten: error: {tmp_path / 'nope.wav'}: no such file"
    code, _, err = run_cli(monkeypatch, capsys, "explore", "--port", "70000", "--model", tmp_path / "none")
    assert code == 2 and "--port must be in 0..65535" in err


def test_cli_explore_serves_until_stopped(tiny_dirs: dict[str, Path], tmp_path: Path) -> None:
    """The command prints its URL on 127.0.0.1 and answers there; a signal stops it."""
    import os
    import signal
    import subprocess
    import sys

    wav = tmp_path / "clip.wav"
    sf.write(wav, noise(2.0, seed=1), SR)
    command = [
        sys.executable,
        "-m",
        "wheretolisten",
        "explore",
        str(wav),
        "--model",
        str(tiny_dirs["qwen2-audio"]),
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    # a shell's background job inherits SIGINT ignored, and Python then never raises KeyboardInterrupt:
    # give the server the default disposition, as a terminal would
    proc = subprocess.Popen(
        [*command, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("wheretolisten explore on http://127.0.0.1:"), line + (
            proc.stderr.read() if proc.poll() is not None and proc.stderr else ""
        )
        url = line.split()[3]
        with urllib.request.urlopen(url + "audio", timeout=30) as response:
            assert json.loads(response.read()) == [{"key": "1", "name": "clip.wav", "duration_s": 2.0}]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
