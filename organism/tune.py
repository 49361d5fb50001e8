"""Choose a trained model's default steering settings on dev scenes and write them beside its weights.

Usage (from the repository root, after ``organism/whisper/train.py``)::

    python organism/tune.py --model out/whisper_model   # bench protocol, then its wheretolisten.json

``wheretolisten bench protocol --protocol organism/whisper/tune.toml`` scores every grid point of the steered
condition (steered layer × α × readout layers, Δ peak: what ``localize`` reads) on the first 50 dev scenes
(seed base 50 000) and keeps the best; this script copies that point into the checkpoint's
``wheretolisten.json`` under ``localize`` (layers, probe_layers, alpha), keeping its other keys and the
other settings under ``localize`` (shifts, interval, ...; the protocol scored the point with them). The
held-out sets are never looked at here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="checkpoint folder to tune")
    ap.add_argument("--out", type=Path, default=REPO / "out" / "tune")
    args = ap.parse_args(argv)
    cmd = [
        "wheretolisten",
        "bench",
        "protocol",
        "--protocol",
        str(REPO / "organism" / "whisper" / "tune.toml"),
        "--out",
        str(args.out),
        "--model",
        str(args.model),
        "--no-progress",
    ]
    # always through bench protocol: it resumes its own run and refuses a folder of another model/protocol
    subprocess.run(cmd, check=True)
    tuned = json.loads((args.out / "tuned.json").read_text())["steered"]
    point = tuned["point"]
    settings_path = args.model / "wheretolisten.json"
    settings = json.loads(settings_path.read_text()) if settings_path.exists() else {}
    settings["localize"] = {  # the declared keys it does not choose (shifts, interval, ...) are kept
        **settings.get("localize", {}),
        "layers": point["layers"],
        "probe_layers": point["readout"],
        "alpha": point["alpha"],
    }
    settings["tuned"] = (
        f"chosen on 50 dev scenes (seed base 50000) by organism/tune.py: dev hit rate "
        f"{tuned['dev_hit_rate']:.1f} % over {tuned['grid_points']} grid points"
    )
    tmp = settings_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(settings, indent=2) + "\n")
    os.replace(tmp, settings_path)
    print(json.dumps(settings["localize"]), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
