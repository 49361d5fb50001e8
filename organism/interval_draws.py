"""Further draws of the white −10 dB and overlap sets: the dev-chosen interval rule against Δ alone.

The default protocol draws each set twice; the interval rule it chooses on dev (steered: ``edges``) was
written after an earlier run of those same draws, so they are not a fresh test of it. This runs the protocol
of ``organism/protocol_interval_draws.toml`` (the default dev split and grids, steered and the negative
control only, the white −10 dB and overlap sets at four new seeds each) and keeps, per draw, steered's IoU
with its dev-chosen rule, with Δ alone (the same threshold interval, unmoved), with the adaptive snap, and
the negative control's IoU (the floor):

    wheretolisten bench protocol --protocol organism/protocol_interval_draws.toml --out out/interval-draws
    python organism/interval_draws.py out/interval-draws/summary.json > organism/interval_draws.json

Several ``summary.json`` files (runs of parts of the protocol's sets) may be given; their draws are merged.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from protocol_tables import is_delta_only  # organism/, this script's folder


def draws(summary: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per draw: steered's IoU with its readout, Δ alone and the snap rule, and the negative control's."""
    by = {(r["condition"], r["interval"]): r["sets"] for r in summary["rule_ious_by_set"]}
    steered = [i for c, i in by if c == "steered"]
    delta = next(i for i in steered if is_delta_only(i))
    snap = next((i for i in steered if "snap local" in i), None)
    chosen = next(s["readout"] for s in summary["settings"] if s["condition"] == "steered")
    out = {}
    for name in summary["sets"]:
        if name == "pooled":
            continue
        out[name] = {
            "readout": by[("steered", "readout")][name]["iou"],
            "delta_only": by[("steered", delta)][name]["iou"],
            "snap": by[("steered", snap)][name]["iou"] if snap else None,
            "negative": by[("negative", "readout")][name]["iou"],
            "delta_only_rule": delta,
            "readout_rule": chosen,
        }
    return out


def main(paths: list[str]) -> None:
    merged: dict[str, dict[str, Any]] = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            merged.update(draws(json.load(f)))
    print(json.dumps(merged, indent=1, sort_keys=True))


if __name__ == "__main__":
    if not sys.argv[1:] or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        print("usage: python organism/interval_draws.py SUMMARY.json [SUMMARY.json ...]", file=sys.stderr)
        sys.exit(0 if sys.argv[1:] else 2)
    main(sys.argv[1:])
