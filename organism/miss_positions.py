"""Where a model's steered peaks land when they miss: per class, the most common peak time of the misses.

Reads the steered rows that ``organism/evaluate_sets.py`` wrote for one set (``OUT/<set>.jsonl``) and
prints JSON: per queried class the hits, the misses, and the miss peaks' most common time (to 0.1 s)
with how many misses land there; over all classes, the most misses inside one 1-s window. Misses that
pile up at one time whatever the audio are a position the steering vector points to by itself, not a
sound the model heard.

    python organism/miss_positions.py out/eval-shipped/single.jsonl \
        --json organism/miss_positions_shipped.json
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

#: Width of the window that counts the misses of every class piled up in one place.
WINDOW_S = 1.0


def miss_positions(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per class: hits, misses and the misses' most common peak time (0.1 s bins)."""
    by_label: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["condition"] != "steered":
            continue
        entry = by_label.setdefault(row["label"], {"n": 0, "hits": 0, "miss_peaks_s": []})
        entry["n"] += 1
        start, end = row["gt"]
        peak = row.get("peak_s")
        if peak is not None and start <= peak <= end:
            entry["hits"] += 1
        else:
            entry["miss_peaks_s"].append(None if peak is None else round(peak, 1))
    out: dict[str, Any] = {}
    for label, entry in sorted(by_label.items()):
        peaks = [p for p in entry["miss_peaks_s"] if p is not None]
        common = Counter(peaks).most_common(1)
        out[label] = {
            "n": entry["n"],
            "hits": entry["hits"],
            "misses": len(entry["miss_peaks_s"]),
            "most_common_miss_peak_s": common[0][0] if common else None,
            "misses_there": common[0][1] if common else 0,
            "miss_peaks_s": sorted(peaks),
        }
    every = sorted(p for v in out.values() for p in v["miss_peaks_s"])
    densest = max(((sum(1 for q in every if p <= q <= p + WINDOW_S), p) for p in every), default=(0, None))
    return {
        "classes": out,
        "misses": len(every),
        "misses_at_their_class_position": sum(v["misses_there"] for v in out.values()),
        f"misses_in_densest_{WINDOW_S:g}_s": densest[0],
        "densest_window_start_s": densest[1],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rows", type=Path, help="a set's bench rows written by organism/evaluate_sets.py")
    ap.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.rows.read_text().splitlines() if line.strip()]
    result = {"rows": str(args.rows), **miss_positions(rows)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
