"""The README's protocol tables, printed from a finished run's ``summary.json`` (no model is run).

    python organism/protocol_tables.py organism/protocol_summary.json > /tmp/tables.md

Every number in the README section "The organism under the benchmark protocol" comes from here, and
``tests/test_readme_protocol.py`` checks that the README holds exactly these tables. Per set, every draw
is shown ("d1 / d2"), so a sentence about a set can be checked on each of its draws.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: Conditions of the hit-rate table, in order (others are left out of the README; summary.md has them).
CONDITIONS = ("steered", "prompted", "audio-steered", "direct", "energy", "random")
CONTROLS = ("random-vector", "wrong-query", "absent-class", "neutral-contrast", "negative")


def _groups(data: Mapping[str, Any]) -> dict[str, list[str]]:
    """Set name -> its draws' names, from the protocol stored in the summary."""
    groups: dict[str, list[str]] = {}
    for name in data["sets"]:
        base, _, seed = name.rpartition("-s")
        key = base if base and seed.isdigit() else name
        groups.setdefault(key, []).append(name)
    return groups


def _draws(entry: Mapping[str, Any], names: Sequence[str], scale: float = 1.0, digits: int = 1) -> str:
    values = [entry.get(n) for n in names]
    shown = [
        "—" if v is None else f"{scale * (v[0] if isinstance(v, list) else v):.{digits}f}" for v in values
    ]
    return " / ".join(shown)


def _ci(value: Sequence[Any], digits: int = 1) -> str:
    point, (lo, hi) = value
    return f"{point:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


def hit_table(data: Mapping[str, Any]) -> str:
    """Hit % per condition: every draw of every set, and pooled with its CI."""
    groups = _groups(data)
    rows = {r["condition"]: r for r in data["hit_rate"]}
    head = "| condition | " + " | ".join(groups) + " | pooled (95 % CI) |"
    lines = [head, "|" + " --- |" * (len(groups) + 2)]
    for c in (*CONDITIONS, *CONTROLS):
        if c in rows:
            r = rows[c]
            cells = [_draws(r, names) for names in groups.values()]
            lines.append(f"| {c} | " + " | ".join(cells) + f" | {_ci(r['pooled'])} |")
    return "\n".join(lines)


def _misses(iou: float | None) -> str:
    """The IoU on misses, or "—" where the draw has no miss (the summary stores NaN or nothing)."""
    return "—" if iou is None or math.isnan(iou) else f"{iou:.2f}"


def is_delta_only(rule: str) -> bool:
    """Whether a rule's name is a plain threshold on Δ (not the snap or edges rules built on one)."""
    return ", threshold " in rule and "snap" not in rule and "edges" not in rule


def iou_table(data: Mapping[str, Any]) -> str:
    """Steered's IoU per set and draw: its dev-chosen readout, the Δ-only (threshold) rule, and the
    negative control's readout (the floor a rule gives without finding the sound); misses in brackets."""
    groups = _groups(data)
    by = {(r["condition"], r["interval"]): r["sets"] for r in data["rule_ious_by_set"]}
    threshold = next((i for c, i in by if c == "steered" and is_delta_only(i)), None)
    picks = [("steered", "readout", "steered, dev-chosen readout")]
    if threshold:
        picks.append(("steered", threshold, f"steered, Δ-only rule ({threshold})"))
    picks.append(("negative", "readout", "negative control (−α), same readout: the floor"))
    lines = [
        "| IoU: all queries [misses only] | " + " | ".join(groups) + " |",
        "|" + " --- |" * (len(groups) + 1),
    ]
    for cond, rule, label in picks:
        sets = by.get((cond, rule))
        if not sets:
            continue
        cells = []
        for names in groups.values():
            parts = []
            for n in names:
                s = sets.get(n)
                parts.append("—" if not s else f"{s['iou']:.2f} [{_misses(s['iou_misses'])}]")
            cells.append(" / ".join(parts))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def direct_table(data: Mapping[str, Any]) -> str:
    """The direct question's unparsed answers per draw (and pooled)."""
    rows = data.get("direct_unparsed") or []
    if not rows:
        return ""
    lines = ["| set | answers | unparsed | hit % |", "| --- | --- | --- | --- |"]
    lines += [f"| {r['set']} | {r['answers']} | {r['unparsed']} | {r['hit']:.1f} |" for r in rows]
    return "\n".join(lines)


def tables(data: Mapping[str, Any]) -> str:
    """Every README table of the protocol section, each after a one-line marker comment."""
    parts = [
        ("hit", hit_table(data)),
        ("iou", iou_table(data)),
        ("direct", direct_table(data)),
    ]
    return "\n\n".join(f"<!-- protocol table: {name} -->\n{text}" for name, text in parts if text) + "\n"


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: python organism/protocol_tables.py SUMMARY.json", file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    sys.stdout.write(tables(json.loads(Path(argv[0]).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
