#!/usr/bin/env python
"""Turn the JSON lines of ``gpu_session.sh`` (or of perf.py / scaling.py) into the Markdown tables of
docs/performance.md, so a measurement goes into the docs exactly as it was printed.

    python benchmarks/perf_table.py perf-out            # the folder gpu_session.sh wrote ($OUT)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a file (lines that are not JSON, e.g. a traceback, are skipped)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


def perf_table(lines: list[dict[str, Any]], steering: str) -> list[str]:
    """Rows of the naive-vs-optimized table, then the overall line and the long-audio line."""
    rows = []
    for d in lines:
        if "family" in d and "speedup" in d:
            same = "yes" if d.get("same_readouts") else "**no**"
            detail = f"max Δ diff {d['max_profile_diff']:.1e}, same peak token: {d['same_peak_token']}"
            rows.append(
                f"| {d['family']} | {steering} | {d['naive_ms_per_clip_query']:.1f} | "
                f"{d['optimized_ms_per_clip_query']:.1f} | **{d['speedup']:.1f}×** | "
                f"{d['peak_mem_gib_naive']:.2f} / {d['peak_mem_gib_optimized']:.2f} | {same} ({detail}) |"
            )
        elif "long_audio_s" in d:
            beyond = d.get("beyond_weights_gib")
            rows.append(
                f"| AF3, {d['long_audio_s'] / 60:g}-min clip ({d['audio_tokens']} audio tokens), "
                f"{d['queries']} queries | {steering} | | {1000 * d['seconds']:.0f} ms per clip | | "
                f"peak {d['peak_mem_gib']:.2f} GiB"
                + (f", **{beyond:.2f} GiB beyond the weights**" if beyond is not None else "")
                + " | |"
            )
        elif set(d) == {"speedup", "same_readouts"}:
            rows.append(
                f"| overall | {steering} | | | **{d['speedup']:.1f}×** | | "
                f"{'yes' if d['same_readouts'] else '**no**'} |"
            )
    return rows


def scaling_table(lines: list[dict[str, Any]]) -> list[str]:
    """Milliseconds per clip (per clip-query) by family, audio length, engine and queries."""
    cells: dict[tuple[str, float], dict[tuple[str, int], dict[str, Any]]] = {}
    for d in lines:
        if "engine" in d:
            cells.setdefault((d["family"], d["audio_s"]), {})[(d["engine"], d["queries"])] = d
    columns = [("shared", 1), ("shared", 3), ("shared", 6), ("full", 1), ("full", 3)]
    names = [f"{q} {'query' if q == 1 else 'queries'} {e}" for e, q in columns]
    head = "| family | audio | " + " | ".join(names)
    out = [head + " |", "|" + " --- |" * (2 + len(columns))]
    for (family, seconds), row in cells.items():
        values = []
        for key in columns:
            d = row.get(key)
            if d is None:
                values.append("—")
            elif key[1] == 1:
                values.append(f"{d['ms_per_clip']:.0f}")
            else:
                values.append(f"{d['ms_per_clip']:.0f} ({d['ms_per_clip_query']:.0f})")
        out.append(f"| {family} | {seconds:g} s | " + " | ".join(values) + " |")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path, help="where gpu_session.sh wrote perf.jsonl and the others")
    args = parser.parse_args()
    perf = read_lines(args.folder / "perf.jsonl")
    audio = read_lines(args.folder / "perf_audio.jsonl")
    if not perf and not audio:
        print(f"no perf.jsonl or perf_audio.jsonl with results in {args.folder}", file=sys.stderr)
        return 2
    env = next((d["env"] for d in perf + audio if "env" in d), {})
    print(
        f"Device: {env.get('device', '?')}; torch {env.get('torch', '?')}, transformers "
        f"{env.get('transformers', '?')}, {env.get('dtype', '?')}, {env.get('size', '?')} models.\n"
    )
    print("| family | steering at | naive ms / clip-query | optimized ms / clip-query | speedup | "
          "peak GiB naive / optimized | same readouts |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in perf_table(perf, "last token") + perf_table(audio, "audio tokens"):
        print(row)
    scaling = read_lines(args.folder / "scaling.jsonl")
    if scaling:
        print("\nMilliseconds per clip (per clip-query in brackets):\n")
        print("\n".join(scaling_table(scaling)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
