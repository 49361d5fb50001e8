#!/usr/bin/env python
"""docs/long.md's held-out detection tables from ``bench summary`` files and ``psds_ci.py`` lines.

For each (summary, PSDS lines, title) triple: one Markdown table, a row per detection condition with its
detections, DCASE event F1 and onset F1 (with the summary's bootstrap CIs) and PSDS at DTC = GTC = 0.7 and
0.1 (with ``psds_ci.py``'s CIs).

    python benchmarks/detection_tables.py long8.summary.md psds8.jsonl "120-s scenes, 8 events" [...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CONDITIONS = ("steered-det", "energy-det", "random-det")


def summary_rows(summary: Path) -> dict[str, dict[str, str]]:
    """Per condition, its detections, F1 and onset F1 cells of the summary's detection table."""
    text = summary.read_text().split("## Detection of every occurrence", 1)[1].split("##", 1)[0]
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] in CONDITIONS:
            out[cells[0]] = {"detections": cells[2].split("/")[0], "f1": cells[3], "onset": cells[6]}
    return out


def psds_cells(lines: Path) -> dict[tuple[str, float], str]:
    """Per (condition, DTC = GTC), its PSDS and CI as a cell (three decimals below 0.01)."""
    # (one cell per condition and criterion, as psds_ci.py writes them)
    out = {}
    for line in lines.read_text().splitlines():
        row = json.loads(line)
        digits = 3 if row["psds"] < 0.01 else 2
        lo, hi = row["ci"]
        out[(row["condition"], row["dtc_gtc"])] = (
            f"{row['psds']:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"
        )
    return out


def table(summary: Path, psds: Path, title: str) -> list[str]:
    """The Markdown lines of one set's table."""
    found, ps = summary_rows(summary), psds_cells(psds)
    lines = [
        f"| {title} | detections | F1 (95 % CI) | onset F1 (95 % CI) | PSDS 0.7 (95 % CI) "
        "| PSDS 0.1 (95 % CI) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for c in CONDITIONS:
        r = found[c]
        lines.append(
            f"| {c} | {r['detections']} | {r['f1']} | {r['onset']} | {ps[(c, 0.7)]} | {ps[(c, 0.1)]} |"
        )
    return lines


def main(argv: list[str]) -> None:
    if not argv or len(argv) % 3:
        raise SystemExit(__doc__)
    for summary, psds, title in zip(argv[0::3], argv[1::3], argv[2::3], strict=True):
        print("\n".join(table(Path(summary), Path(psds), title)) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
