"""Evaluate a model on the held-out sets of the shipped-model issue, as a user would: CLI commands only.

Usage (from the repository root)::

    python organism/evaluate_sets.py --out out/eval-shipped                  # the shipped model
    python organism/evaluate_sets.py --out out/eval-whisper --model out/whisper_model
    python organism/evaluate_sets.py --out out/eval-shipped --sets single,long # some sets only
    python organism/evaluate_sets.py --out out/eval-shifts3 --shifts 3        # shift-averaged profiles
    python organism/evaluate_sets.py --out out/eval-draw2 --seed-offset 500   # a second draw of every set

Every set is written by ``wheretolisten scenes make`` with its own seed (none is a training seed: both
training scripts use ``scene_seed(TRAIN_SEED_BASE, k)``), run by ``wheretolisten bench run`` with the
conditions ``steered`` (the checkpoint's own settings), ``energy`` and ``random``, and scored here: hit =
the condition's peak inside the queried event; 95 % Wilson intervals; exact one-sided McNemar tests of
steered against each baseline on the same queries. ``long`` localizes three occurrences of one class in
a 3-minute recording with ``wheretolisten localize`` and checks the detections.
All results go to ``OUT/results.json`` (append-only bench files stay under OUT and are resumed).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import math
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import binomtest

#: name → (scenes make arguments, description). Seeds 201-299 are this script's (no other set uses them).
SETS: dict[str, tuple[list[str], str]] = {
    "single": (
        [
            "--n",
            "160",
            "--events",
            "1",
            "--placement",
            "free",
            "--event-s",
            "1,2.5",
            "--level-db",
            "-20,20",
            "--seed",
            "201",
        ],
        "one procedural event in 10 s of quiet, anywhere (first and last seconds included), ±20 dB",
    ),
    "white-10": (
        [
            "--n",
            "100",
            "--events",
            "3",
            "--background",
            "white",
            "--background-db",
            "-10,-10",
            "--seed",
            "202",
        ],
        "three events over white noise at -10 dB",
    ),
    "babble-10": (
        [
            "--n",
            "100",
            "--events",
            "3",
            "--background",
            "babble",
            "--background-db",
            "-10,-10",
            "--seed",
            "203",
        ],
        "three events over babble at -10 dB",
    ),
    "asterisk": (
        ["--n", "100", "--events", "3", "--bank", "asterisk-words", "--seed", "204"],
        "three real recorded words (asterisk prompts, not trained on) in 10 s",
    ),
    "three": (
        ["--n", "150", "--events", "3", "--seed", "0"],
        "three procedural events in 10 s of quiet (the old organism's held-out test scenes)",
    ),
    "overlap": (
        [
            "--n",
            "100",
            "--events",
            "3",
            "--placement",
            "free",
            "--max-overlap",
            "0.5",
            "--level-db",
            "-10,10",
            "--seed",
            "205",
        ],
        "three events placed freely, overlapping",
    ),
    "freedesktop": (
        ["--n", "60", "--events", "3", "--bank", "freedesktop", "--seed", "206"],
        "three real recorded sounds (freedesktop theme; not in the vocabulary)",
    ),
}
CONDITIONS = ("steered", "energy", "random")


def run(cmd: Sequence[str], log: Path) -> float:
    """Run one CLI command (output appended to ``log``); its wall time."""
    t0 = time.time()
    with log.open("a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        proc = subprocess.run(list(cmd), stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)} (see {log})")
    return time.time() - t0


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def mcnemar_greater(a: Sequence[bool], b: Sequence[bool]) -> float:
    """Exact one-sided McNemar p-value that ``a`` hits more often than ``b`` (paired)."""
    better = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    worse = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    if better + worse == 0:
        return 1.0
    return float(binomtest(better, better + worse, 0.5, alternative="greater").pvalue)


def hit(row: dict[str, Any]) -> bool:
    peak, gt = row.get("peak_s"), row["gt"]
    return peak is not None and gt[0] <= peak <= gt[1]


def score_set(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Hit rates with Wilson intervals, and steered vs each baseline (McNemar)."""
    by: dict[str, dict[tuple[str, str], bool]] = {}
    for r in rows:
        by.setdefault(r["condition"], {})[(r["scene_id"], r["query"])] = hit(r)
    out: dict[str, Any] = {}
    for cond, hits in by.items():
        k, n = sum(hits.values()), len(hits)
        out[cond] = {"hit_rate": k / n if n else None, "hits": k, "n": n, "ci95": list(wilson(k, n))}
    steered = by.get("steered", {})
    for base in ("energy", "random"):
        if base in by and steered:
            keys = sorted(set(steered) & set(by[base]))
            out["steered"][f"p_vs_{base}"] = mcnemar_greater(
                [steered[q] for q in keys], [by[base][q] for q in keys]
            )
    return out


def single_breakdown(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Steered hit rate of the single-event set by class and by where the event starts."""
    steered = [r for r in rows if r["condition"] == "steered"]
    by_label: dict[str, list[bool]] = {}
    by_onset: dict[str, list[bool]] = {}
    for r in steered:
        by_label.setdefault(r.get("label", "?"), []).append(hit(r))
        onset = r["gt"][0]
        tag = "first 1 s" if onset < 1 else "last 2.5 s" if onset >= 7.5 else "1-7.5 s"
        by_onset.setdefault(tag, []).append(hit(r))
    agg = lambda d: {k: {"hit_rate": float(np.mean(v)), "n": len(v)} for k, v in sorted(d.items())}  # noqa: E731
    return {"by_label": agg(by_label), "by_onset": agg(by_onset)}


def with_seed_offset(args: list[str], offset: int) -> list[str]:
    """``scenes make`` arguments with ``offset`` added to ``--seed``: a fresh draw of the set."""
    at = args.index("--seed") + 1
    return [*args[:at], str(int(args[at]) + offset), *args[at + 1 :]]


def run_set(name: str, out: Path, model_args: list[str], log: Path, seed_offset: int = 0) -> dict[str, Any]:
    args, what = SETS[name]
    args = with_seed_offset(args, seed_offset)
    scenes = out / "scenes" / name
    scenes.parent.mkdir(parents=True, exist_ok=True)
    if not (scenes / "manifest.jsonl").exists():
        run(["wheretolisten", "scenes", "make", "--out", str(scenes), "--no-progress", *args], log)
    rows_path = out / f"{name}.jsonl"
    wall = run(
        [
            "wheretolisten",
            "bench",
            "run",
            str(scenes),
            "--out",
            str(rows_path),
            "--conditions",
            ",".join(CONDITIONS),
            "--no-progress",
            *model_args,
        ],
        log,
    )
    rows = [json.loads(line) for line in rows_path.read_text().splitlines() if line.strip()]
    res = {"what": what, "scenes_make": args, "wall_s": round(wall, 1), **score_set(rows)}
    if name == "single":
        res["breakdown"] = single_breakdown(rows)
    return res


def ranked(data: dict[str, Any], k: int) -> list[Any]:
    """The ``k`` strongest candidates of a windowed ``localize --json`` result at no score threshold (its
    other detection settings as stored): the score curve is the stitched Δ times each window's tokens."""
    from wheretolisten.detections import DetectConfig, detect, score_curve

    time_s = np.asarray(data["profile"]["time_s"])
    token_s = float(time_s[1] - time_s[0])
    tokens = int(round(data["windows"]["segment_s"] / token_s))
    score = score_curve(np.asarray(data["profile"]["delta"]), tokens)
    cfg = DetectConfig(**{**data["detection"], "top_k": k, "min_score": 0.0})
    return detect(score, token_s, cfg)


def run_long(
    out: Path, model_args: list[str], log: Path, classes: Sequence[str], seed_offset: int = 0
) -> dict[str, Any]:
    """Three occurrences of one class in 180 s of quiet: are all three detected within 0.5 s?"""
    from wheretolisten.scenes import ProceduralBank

    bank = ProceduralBank()
    results = []
    for i, label in enumerate(classes):
        folder = out / "long" / label
        folder.parent.mkdir(parents=True, exist_ok=True)
        if not (folder / "manifest.jsonl").exists():
            run(
                [
                    "wheretolisten",
                    "scenes",
                    "make",
                    "--out",
                    str(folder),
                    "--n",
                    "1",
                    "--events",
                    "3",
                    "--duration",
                    "180",
                    "--bank",
                    f"procedural:labels={label}",
                    "--repeats",
                    "3",
                    "--placement",
                    "free",
                    "--event-s",
                    "1,2.5",
                    "--seed",
                    str(210 + i + seed_offset),
                    "--no-progress",
                ],
                log,
            )
        scene = json.loads((folder / "manifest.jsonl").read_text().splitlines()[0])
        onsets = sorted(e["onset_s"] for e in scene["events"])
        result = out / "long" / f"{label}.json"
        wall = run(
            [
                "wheretolisten",
                "localize",
                str(folder / scene["path"]),
                "-q",
                bank.query_text(label),
                "--json",
                str(result),
                *model_args,
            ],
            log,
        )
        data = json.loads(result.read_text())
        dets = sorted(d["onset_s"] for d in data.get("detections", []))
        found = [any(abs(d - o) <= 0.5 for d in dets) for o in onsets]
        false = [d for d in dets if all(abs(d - o) > 0.5 for o in onsets)]
        top = ranked(data, len(onsets))
        results.append(
            {
                "label": label,
                "onsets_s": onsets,
                "detections_s": dets,
                "found": sum(found),
                "false_alarms": len(false),
                "ok": all(found) and len(false) <= 1,
                # The best len(onsets) candidates with no score threshold: is the ranking right even where
                # the threshold keeps too few?
                "top_candidates": [{"onset_s": d.onset_s, "score": round(d.score, 3)} for d in top],
                "top_found": sum(any(abs(d.onset_s - o) <= 0.5 for d in top) for o in onsets),
                "wall_s": round(wall, 1),
            }
        )
    return {"recordings": results, "all_ok": sum(r["ok"] for r in results), "n": len(results)}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--model", default=None, help="checkpoint folder (default: the shipped model)")
    ap.add_argument("--sets", default=",".join([*SETS, "long"]))
    ap.add_argument(
        "--shifts", type=int, default=None, help="--shifts of bench run and localize (default: the model's)"
    )
    ap.add_argument(
        "--seed-offset",
        type=int,
        default=0,
        help="add this to every set's seed: another draw of the same sets (default 0: the committed draw)",
    )
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "commands.log"
    # The model and its settings, as bench run and localize take them (energy and random ignore them).
    model_args = ["--model", args.model] if args.model else []
    if args.shifts is not None:
        model_args += ["--shifts", str(args.shifts)]
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for name in args.sets.split(","):
        t0 = time.time()
        if name == "long":
            from wheretolisten.scenes import ProceduralBank

            results["long"] = run_long(args.out, model_args, log, ProceduralBank().labels, args.seed_offset)
        else:
            results[name] = run_set(name, args.out, model_args, log, args.seed_offset)
        results["_machine"] = {"nproc": os.cpu_count(), "load_1min": os.getloadavg()[0]}
        results["_shifts"] = args.shifts
        if args.seed_offset:
            results["_seed_offset"] = args.seed_offset
        tmp = results_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, results_path)
        brief = results[name].get("steered", results[name].get("all_ok"))
        print(
            f"[{time.strftime('%H:%M:%S')}] {name}: {json.dumps(brief)} ({time.time() - t0:.0f} s)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
