"""A further draw of a quiet set of the protocol: steered against prompted at its tuned settings.

The default protocol draws each quiet set twice (seeds s and s + 1000); this makes the set again at another
seed and runs steered and prompted with the settings the protocol chose on dev for the shipped model
(``organism/protocol_summary.json``, ``tuned``: steered "steer 2, α 8; read 3–5", prompted "read 3, 4;
template 1", both with the Δ peak), then an exact two-sided McNemar test on the paired hits. With
``--seed 1`` it reproduces the committed first draw of ``test-8s-3ev``.

    python organism/quiet_draw.py --out out/quiet-2001 --seed 2001 \
        --json organism/quiet_draw/test-8s-3ev-s2001.json
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from emit import emit


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder for the scenes (made when missing)")
    ap.add_argument("--seed", type=int, default=2001)
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--events", type=int, default=3)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    from scipy.stats import binomtest

    from wheretolisten.bench.config import BenchConfig
    from wheretolisten.bench.runner import run_unit
    from wheretolisten.metrics import hit
    from wheretolisten.organism import load_organism
    from wheretolisten.prompts import INSTRUCTED_TEMPLATES
    from wheretolisten.scenes import load_manifest
    from wheretolisten.settings import LocalizeConfig

    if not (args.out / "manifest.jsonl").exists():
        make = ["wheretolisten", "scenes", "make", "--out", str(args.out), "--n", str(args.n), "--events",
                str(args.events), "--duration", str(args.duration), "--seed", str(args.seed), "--no-progress",
                "--mkdir"]  # fmt: skip
        subprocess.run(make, check=True)
    adapter = load_organism(device="cpu", dtype="float32")
    configs = {
        "steered": BenchConfig(localize=LocalizeConfig(layers=[2], probe_layers=[3, 4, 5], alpha=8.0)),
        "prompted": BenchConfig(
            localize=LocalizeConfig(probe_layers=[3, 4]), prompted_template=INSTRUCTED_TEMPLATES[1]
        ),
    }
    hits: dict[str, dict[tuple[str, str], bool]] = {c: {} for c in configs}
    start = time.time()
    for scene in load_manifest(args.out):
        for condition, config in configs.items():
            for row in run_unit(adapter, scene, args.out, [condition], config):
                hits[condition][(row["scene_id"], row["query"])] = hit(row["peak_s"], row["gt"])
    keys = sorted(hits["steered"])
    steered = [hits["steered"][k] for k in keys]
    prompted = [hits["prompted"][k] for k in keys]
    only_steered = sum(s and not p for s, p in zip(steered, prompted, strict=True))
    only_prompted = sum(p and not s for s, p in zip(steered, prompted, strict=True))
    discordant = only_steered + only_prompted
    p = binomtest(only_steered, discordant, 0.5).pvalue if discordant else 1.0
    result = {
        "set": f"test-{args.duration:g}s-{args.events}ev-s{args.seed}",
        "queries": len(keys),
        "steered_hit_pct": round(100 * sum(steered) / len(keys), 1),
        "prompted_hit_pct": round(100 * sum(prompted) / len(keys), 1),
        "only_steered": only_steered,
        "only_prompted": only_prompted,
        "mcnemar_exact_two_sided_p": round(float(p), 4),
        "seconds": round(time.time() - start, 1),
    }
    return emit(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
