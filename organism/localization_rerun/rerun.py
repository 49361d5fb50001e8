"""Rerun the held-out localization test of ``organism/evaluate.py`` (``eval_test.json``) on any weights.

Usage (from the repository root)::

    python organism/localization_rerun/rerun.py --json organism/localization_rerun/shipped.json
    python organism/localization_rerun/rerun.py --model out/organism-stage1 \\
        --json organism/localization_rerun/stage1.json

The scenes, targets, hit rule and baselines are ``evaluate.py test``'s (3-event 10-s scenes, target
``i % 3``, hit = the peak inside the target event; the unsteered and steered profiles' own peaks as
baselines), on ``--n`` scenes of each seed base (default 0, the held-out test scenes, and 424242, a fresh
draw no other run uses). Three settings are run:

* the first stage's dev-chosen setting (``dev_sweep.json``): steer 1, probe 4, α 2, no shifts;
* the package defaults: steer the generic band, probe every downstream layer, α 4, no shifts
  (steer 2, probe 3-5 on the organism's 6 layers);
* the checkpoint's own declared setting (its ``wheretolisten.json``; none: the package defaults).

The first two give ``shifts=1`` explicitly: ``evaluate.py test`` leaves shifts to the checkpoint, and
``eval_test.json`` was made before any checkpoint declared shifts. ``--generate N`` also runs
``evaluate.py``'s greedy-answer check on the first N scenes of each seed base.

The first stage's weights are in git: ``git show 716f98f:src/wheretolisten/assets/organism/FILE`` for
every file of that folder (no ``wheretolisten.json`` then, so its declared setting is the package
defaults).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import platform
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # organism/, for evaluate.py


def run_setting(adapter: Any, base: int, n: int, name: str, cfg: Any) -> dict[str, Any]:
    import evaluate as ev
    import numpy as np

    from wheretolisten.localize import localize
    from wheretolisten.readout import ReadoutRule
    from wheretolisten.scenes import ProceduralBank

    bank = ProceduralBank()
    hits, steered_hits, base_hits, lengths, seconds = [], [], [], [], []
    by_position: dict[str, list[bool]] = {}
    result = None
    for i in range(n):
        scene, audio = ev.held_out_scene(base, i, bank)
        target = scene.target_event
        lengths.append(target.offset_s - target.onset_s)
        t = time.perf_counter()
        result = localize(adapter, audio, target.query, cfg)
        seconds.append(time.perf_counter() - t)
        hit = ev._inside(result.peak_s, target)
        hits.append(hit)
        by_position.setdefault(target.position, []).append(hit)
        smooth = result.config.smooth_s
        rule = ReadoutRule(peak="delta", peak_smooth_s=smooth, interval="threshold", smooth_s=smooth)
        steered_hits.append(ev._inside(ev._peak(result.profile.steered, adapter.token_s, rule), target))
        base_hits.append(ev._inside(ev._peak(result.profile.base, adapter.token_s, rule), target))
    assert result is not None
    used = result.config
    return {
        "seed_base": base,
        "setting": name,
        "resolved": {
            "layers": list(used.layers),
            "probe_layers": list(used.probe_layers),
            "alpha": used.alpha,
            "shifts": used.shifts,
        },
        "delta": ev.summarize(hits, lengths, 10.0),
        "delta_by_position": {p: float(np.mean(v)) for p, v in sorted(by_position.items())},
        "steered_profile_peak": ev.summarize(steered_hits, lengths, 10.0),
        "unsteered_profile_peak": ev.summarize(base_hits, lengths, 10.0),
        "seconds_per_localize_median": float(np.median(seconds)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="checkpoint folder (default: the shipped model)")
    ap.add_argument("--n", type=int, default=300, help="scenes per seed base (default 300)")
    ap.add_argument("--seed-bases", default="0,424242", help="comma-separated (default 0,424242)")
    ap.add_argument("--generate", type=int, default=0, help="also check greedy answers on N scenes per base")
    ap.add_argument("--json", type=Path, required=True, help="write the report here")
    args = ap.parse_args(argv)

    import evaluate as ev
    import torch

    from wheretolisten.localize import LocalizeConfig
    from wheretolisten.models.registry import load_model
    from wheretolisten.organism import default_model_path
    from wheretolisten.settings import DEFAULT_ALPHA, default_layers

    torch.set_num_threads(1)
    model = args.model or str(default_model_path())
    adapter = load_model(model, device="cpu", dtype="float32")
    settings = {
        "first stage's dev choice: steer 1, probe 4, alpha 2, no shifts": LocalizeConfig(
            layers=[1], probe_layers=[4], alpha=2.0, shifts=1
        ),
        "package defaults, no shifts": LocalizeConfig(
            layers=default_layers(adapter.num_layers), probe_layers=None, alpha=DEFAULT_ALPHA, shifts=1
        ),
        "declared (the checkpoint's own)": LocalizeConfig(),
    }
    report: dict[str, Any] = {
        "model": model,
        "script": "organism/localization_rerun/rerun.py",
        "argv": sys.argv[1:] if argv is None else argv,
        "date": date.today().isoformat(),
        "machine": {"nproc": os.cpu_count(), "threads": 1, "platform": platform.platform()},
        "n": args.n,
        "runs": [],
    }
    bases = [int(b) for b in args.seed_bases.split(",")]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    for base in bases:
        for name, cfg in settings.items():
            row = run_setting(adapter, base, args.n, name, cfg)
            report["runs"].append(row)
            print(base, name, row["delta"]["hit_rate"], row["delta_by_position"], flush=True)
            args.json.write_text(json.dumps(report, indent=1) + "\n")
    if args.generate:
        report["generation"] = {}
        for base in bases:
            gen = ev.generation_check(adapter, base, args.generate)
            report["generation"][str(base)] = gen
            print(base, {k: v for k, v in gen.items() if k != "examples"}, flush=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
