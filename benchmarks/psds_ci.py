#!/usr/bin/env python
"""PSDS of each detection condition of a results file, with a bootstrap CI over scenes.

``bench summary`` prints PSDS without a CI: every resample recomputes PSDS with sed_scores_eval (0.1-0.7 s
each on 100 scenes), so 200 resamples take minutes. One JSON line per (condition, criterion).

    python benchmarks/psds_ci.py results.jsonl [more shards ...] --n-boot 200
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from wheretolisten.metrics.detection import detection_psds, psds_ci
from wheretolisten.metrics.rows import by_condition
from wheretolisten.records import read_results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", type=Path, nargs="+")
    p.add_argument("--n-boot", type=int, default=200)
    args = p.parse_args()
    rows, _ = read_results(args.results)
    for cond, group in by_condition([r for r in rows if isinstance(r.get("detections"), list)]).items():
        for criterion in (0.7, 0.1):
            value = detection_psds(group, criterion, criterion)
            lo, hi = psds_ci(group, args.n_boot, 0, criterion, criterion)
            line = {
                "condition": cond,
                "dtc_gtc": criterion,
                "psds": value,
                "ci": [lo, hi],
                "n_boot": args.n_boot,
            }
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
