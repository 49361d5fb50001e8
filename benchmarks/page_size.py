#!/usr/bin/env python
"""The page of a long recording (``localize --html``): its size, the time to build it, and the time to
open it in headless Chromium. Targets: a 1-hour recording's page under 15 MB, open in under 3 s.

Writes a synthetic recording (``long_perf.write_recording``: a noise floor with a siren, bell or knock
every 20 s), localizes two queries in it with the shipped model on the CPU (``wheretolisten localize
REC.wav -q 'a siren' -q 'a bell' --json OUT`` in its own process), then in this process builds the page
from the two results (embedded audio, and ``--link-audio``, each timed) and opens it in Debian's headless
Chromium through selenium, timing the load event, the script being ready and the first full drawing, and one
redraw of every plot (a zoom). Prints one JSON line with the machine, its load and threads, then one per
recording.

    python benchmarks/page_size.py --minutes 60
    python benchmarks/page_size.py --minutes 60 --workdir page-bench --stage localize   # then:
    python benchmarks/page_size.py --minutes 60 --workdir page-bench --stage page

``--model`` localizes with another checkpoint (e.g. a ``make-tiny-model`` one, when the shipped model's
hour does not fit a call on a loaded machine: the page holds the same 90,000 tokens per curve either way).
``--workdir`` keeps the recording and the results, so the two stages can run as separate calls (on a
loaded machine each takes minutes); a stage whose output is there is not redone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

QUERIES = ("a siren", "a bell")


def environment() -> dict[str, Any]:
    import soundfile

    browser = shutil.which("chromium") or "absent"
    version = subprocess.run([browser, "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "cpus": os.cpu_count(),
        "load_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "libsndfile": soundfile.__libsndfile_version__,
        "chromium": version,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }


def localize(wav: Path, out: Path, model: str | None) -> float:
    """The model (default: the shipped one) on the recording, as a user runs it: wall seconds."""
    command = [sys.executable, "-m", "wheretolisten", "localize", str(wav)]
    command += ["--model", model] if model else []
    for query in QUERIES:
        command += ["-q", query]
    command += ["--json", str(out), "--no-progress"]
    start = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}
    )
    if done.returncode != 0:
        raise SystemExit(f"localize failed: {done.stderr[-2000:]}")
    return time.perf_counter() - start


def open_in_chromium(page: Path) -> dict[str, float]:
    """Seconds from navigation to the load event, to the script being ready and to the first drawing;
    milliseconds of one full redraw."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = Options()
    options.binary_location = shutil.which("chromium") or "chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--mute-audio", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(
        service=Service(shutil.which("chromedriver") or "chromedriver"), options=options
    )
    try:
        driver.get("about:blank")  # the browser's own start-up is not the page's
        start = time.perf_counter()
        driver.get(page.as_uri())
        WebDriverWait(driver, 60, 0.02).until(
            lambda d: d.execute_script("return window.wtlPage && wtlPage.drawnAt")
        )
        wall = time.perf_counter() - start
        timing = driver.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "return [n.loadEventEnd, wtlPage.readyAt, wtlPage.drawnAt, wtlPage.lastDrawMs];"
        )
        driver.execute_script("wtlPage.setView(wtlPage.view.t0, wtlPage.view.t0 + 600)")
        WebDriverWait(driver, 10, 0.02).until(
            lambda d: d.execute_script("return wtlPage.view.t1 - wtlPage.view.t0 < 601")
        )
        time.sleep(0.5)
        zoom_ms = driver.execute_script("return wtlPage.lastDrawMs")
        duration = driver.execute_script("return document.getElementById('wtl-audio').duration")
    finally:
        driver.quit()
    return {
        "open_wall_s": round(wall, 3),
        "load_event_s": round(timing[0] / 1000, 3),
        "script_ready_s": round(timing[1] / 1000, 3),
        "first_drawing_s": round(timing[2] / 1000, 3),
        "full_draw_ms": round(timing[3], 1),
        "zoomed_draw_ms": round(zoom_ms, 1),
        "audio_duration_s": round(float(duration), 2) if duration else None,
    }


def run(minutes: float, workdir: Path, stage: str, model: str | None) -> dict[str, Any] | None:
    from long_perf import write_recording

    from wheretolisten.page import write_page

    wav = workdir / f"rec_{minutes:g}min.wav"
    out = workdir / f"result_{minutes:g}min.json"
    numbered = [out.with_suffix(f".{i + 1}.json") for i in range(len(QUERIES))]
    timing = workdir / f"localize_{minutes:g}min.s"
    if not all(p.is_file() for p in numbered):
        write_recording(wav, minutes)
        timing.write_text(str(localize(wav, out, model)))
    localize_s = float(timing.read_text())
    if stage == "localize":
        return None
    results = [json.loads(p.read_text()) for p in numbered]
    start = time.perf_counter()
    page = write_page(results, wav, workdir / "page.html")
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    linked = write_page(results, wav, workdir / "linked.html", link_audio=True)
    linked_s = time.perf_counter() - start
    text = page.read_text()
    ogg_chars = len(text) - len(linked.read_text()) + len(f' src="{wav.name}"')
    return {
        "model": results[0]["model"],
        "minutes": minutes,
        "queries": len(QUERIES),
        "tokens": len(results[0]["profile"]["time_s"]),
        "detections": sum(len(r["detections"]) for r in results),
        "localize_s": round(localize_s, 1),
        "page_build_s": round(build_s, 1),
        "linked_page_build_s": round(linked_s, 1),
        "page_mb": round(page.stat().st_size / 1e6, 2),
        "audio_base64_mb": round(ogg_chars / 1e6, 2),
        "linked_page_mb": round(linked.stat().st_size / 1e6, 2),
        **open_in_chromium(page),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", default="60", help="Recording lengths, comma-separated (default 60).")
    parser.add_argument(
        "--workdir", type=Path, help="Keep the recordings and results here (default: a temp dir)."
    )
    parser.add_argument("--stage", choices=("localize", "page", "all"), default="all")
    parser.add_argument(
        "--model", help="Checkpoint to localize with (default: the shipped model); the page only draws it."
    )
    args = parser.parse_args()
    print(json.dumps({"env": environment()}), flush=True)
    with tempfile.TemporaryDirectory(prefix="wtl-page-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for minutes in (float(m) for m in args.minutes.split(",")):
            line = run(minutes, workdir, args.stage, args.model)
            if line is not None:
                print(json.dumps(line), flush=True)
    print(json.dumps({"load_1_5_15_after": [round(x, 2) for x in os.getloadavg()]}), flush=True)


if __name__ == "__main__":
    main()
