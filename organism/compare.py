"""The README table: steered hit rate of several models on every set of organism/evaluate_sets.py, with
baselines (energy and random of the last model's run: the same scenes for every model).

    python organism/compare.py "second stage=OLD.json" "words stage=NEW.json[,NEW2.json]" ... > TABLE.md

A model's several files (sets evaluated in parallel processes, each with its own --out) are joined with
commas; a bare path is named by its position ("model 1", ...).
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


def load(spec: str, k: int) -> tuple[str, dict[str, Any]]:
    """(name, merged results) of one 'NAME=PATH[,PATH...]' argument."""
    name, _, paths = spec.rpartition("=")
    data: dict[str, Any] = {}
    for path in paths.split(","):
        data.update(json.loads(Path(path).read_text()))
    return name or f"model {k + 1}", data


def main(*specs: str) -> None:
    models = [load(spec, k) for k, spec in enumerate(specs)]
    last = models[-1][1]
    # scene sets carry a description ("what"); "long" and its variants (long_without_edges) are the
    # 3-minute recordings, summarized below
    names = [k for k in last if not k.startswith("_") and isinstance(last[k], dict) and "what" in last[k]]
    heads = " | ".join(name for name, _ in models)
    print(
        f"| set | n | {heads} | energy | random | p vs energy, random: "
        + "; ".join(n for n, _ in models)
        + " |"
    )
    print("| --- | --- | " + " | ".join("---" for _ in models) + " | --- | --- | --- |")
    for name in names:
        res = last[name]
        n = res.get("steered", {}).get("n", "—")
        steered = [data.get(name, {}).get("steered") for _, data in models]
        tests = "; ".join(f"{p(s, 'energy')}, {p(s, 'random')}" for s in steered)
        print(
            f"| {name}: {res['what']} | {n} | " + " | ".join(cell(s) for s in steered) + " | "
            f"{cell(res.get('energy'))} | {cell(res.get('random'))} | {tests} |"
        )
    for label, data in models:
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
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print((__doc__ or "").strip(), file=sys.stdout if len(sys.argv) > 1 else sys.stderr)
        sys.exit(0 if len(sys.argv) > 1 else 2)
    main(*sys.argv[1:])
