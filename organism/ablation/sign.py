"""Which way does the ablation's steering vector push attention? Its peak on dev scenes at α = 1, -1, -4.

The ablation (the first stage without its query head) puts the steered peak in silence at α 1. This script
runs ``localize`` at the first stage's other settings (steer 2, read 3-4, 4 shifts) with α 1, -1 and -4 on
two dev sets of ``organism/tune_shifts.py`` (one event in quiet; three events in quiet; 60 scenes each, no
held-out seed) and counts peaks inside the queried event and inside any event. Prints JSON. With
``--seed-offset K`` the two sets are drawn afresh (seeds 401 + i + K, the same ``scenes make`` options) under
``--out``: a check on scenes nothing was chosen on.

    python organism/ablation/sign.py --out out/tune-shifts --json organism/ablation/sign.json
    python organism/ablation/sign.py --out out/sign-fresh --seed-offset 9000 \
        --json organism/ablation/sign_fresh.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emit import emit
from tune_shifts import dev_sets

HERE = Path(__file__).resolve().parent

ALPHAS = (1.0, -1.0, -4.0)
SETS = ("single", "three")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder of the dev scenes (tune_shifts.py's)")
    ap.add_argument("--model", type=Path, default=HERE / "model", help="checkpoint (default: the ablation)")
    ap.add_argument("--json", type=Path, default=None, help="also write the result here")
    ap.add_argument("--seed-offset", type=int, default=0, help="draw the sets afresh: seeds 401 + i + K")
    args = ap.parse_args()
    import torch

    from wheretolisten.localize import LocalizeConfig, localize
    from wheretolisten.models import load_model

    torch.set_num_threads(1)
    adapter = load_model(str(args.model), device="cpu", dtype="float32")
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for name, folder, scenes in dev_sets(args.out, SETS, args.seed_offset):
        for alpha in ALPHAS:
            target = anywhere = 0
            for scene in scenes:
                event = scene["events"][scene["target"]]
                peak = localize(
                    adapter, folder / scene["path"], event["query"], LocalizeConfig(alpha=alpha)
                ).peak_s
                if peak is None:
                    continue
                target += int(event["onset_s"] <= peak <= event["offset_s"])
                anywhere += int(any(e["onset_s"] <= peak <= e["offset_s"] for e in scene["events"]))
            rows.append(
                {"set": name, "alpha": alpha, "n": len(scenes), "target": target, "any_event": anywhere}
            )
    return emit(
        {
            "model": os.path.relpath(args.model.resolve(), HERE.parents[1]),
            "seed_offset": args.seed_offset,
            "rows": rows,
            "seconds": round(time.perf_counter() - started, 1),
            "machine": {"nproc": os.cpu_count(), "load_1min": os.getloadavg()[0], "threads": 1},
        },
        args.json,
    )


if __name__ == "__main__":
    sys.exit(main())
