#!/usr/bin/env python
"""The README's screenshot of ``localize --html``: a synthetic 10-s scene (the demo's, seed 0), its three
sounds localized by the shipped model (CPU), the page rendered by headless Chromium (``--screenshot``) to
docs/img/.

    python scripts/page_screenshot.py [--out docs/img/localize_page.png]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "localize_page.png")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("needs Chromium (Debian: apt-get install -y chromium)")
    from wheretolisten.scenes import ProceduralBank, make_scenes

    with tempfile.TemporaryDirectory(prefix="wtl-shot-") as tmp:
        root = Path(tmp) / "scenes"
        (scene,) = make_scenes(
            ProceduralBank(), 1, root, n_events=3, duration_s=10.0, seed=args.seed, progress=False
        )
        wav = scene.audio_path(root)
        queries = [e.query for e in scene.events]
        page = Path(tmp) / "page.html"
        command = [
            sys.executable,
            "-m",
            "wheretolisten",
            "localize",
            str(wav),
            "--html",
            str(page),
            "--no-progress",
        ]
        for query in queries:
            command += ["-q", query]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise SystemExit(f"localize failed: {done.stderr[-2000:]}")
        print(done.stdout, end="")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shot = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
            "--window-size=1280,940", "--virtual-time-budget=4000", f"--screenshot={args.out.resolve()}",
            page.as_uri(),
        ]  # fmt: skip
        done = subprocess.run(shot, capture_output=True, text=True)
        if done.returncode != 0 or not args.out.is_file():
            raise SystemExit(f"chromium failed: {done.stderr[-2000:]}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
