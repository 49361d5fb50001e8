"""The README table: steered hit rate of two models on every set of organism/evaluate_sets.py, with baselines.

    python organism/compare.py OLD.json NEW.json [NEW2.json ...] > organism/comparison.md

(several NEW files: sets evaluated in parallel processes, each with its own --out).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def cell(entry: dict[str, Any] | None) -> str:
    """'67.3 (59.1–74.6)' from a condition's hit rate and Wilson interval."""
    if not entry or entry.get("hit_rate") is None:
        return "—"
    lo, hi = entry["ci95"]
    return f"{100 * entry['hit_rate']:.1f} ({100 * lo:.0f}–{100 * hi:.0f})"


def p(entry: dict[str, Any] | None, base: str) -> str:
    value = (entry or {}).get(f"p_vs_{base}")
    return "—" if value is None else ("< 0.001" if value < 1e-3 else f"{value:.3f}")


def main(old_path: str, *new_paths: str) -> None:
    old = json.loads(Path(old_path).read_text())
    new: dict[str, Any] = {}
    for path in new_paths:
        new.update(json.loads(Path(path).read_text()))
    names = [k for k in new if not k.startswith("_") and k != "long"]
    print(
        "| set | n | shipped organism | whisper ear | energy | random | p vs energy, random: organism; ear |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in names:
        res, prev = new[name], old.get(name, {})
        n = res.get("steered", {}).get("n", "—")
        print(
            f"| {name}: {res['what']} | {n} | {cell(prev.get('steered'))} | {cell(res.get('steered'))} | "
            f"{cell(res.get('energy'))} | {cell(res.get('random'))} | "
            f"{p(prev.get('steered'), 'energy')}, {p(prev.get('steered'), 'random')}; "
            f"{p(res.get('steered'), 'energy')}, {p(res.get('steered'), 'random')} |"
        )
    for label, data in (("shipped organism", old), ("whisper ear", new)):
        long = data.get("long")
        if long:
            print(
                f"\n{label}, 3-minute recordings (3 occurrences of one class each): all three found "
                f"within 0.5 s with at most one false alarm in {long['all_ok']} of {long['n']}; "
                + "; ".join(
                    f"{r['label']} {r['found']}/3 found, {r['false_alarms']} false"
                    for r in long["recordings"]
                )
            )


if __name__ == "__main__":
    main(*sys.argv[1:])
