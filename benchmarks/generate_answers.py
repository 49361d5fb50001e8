#!/usr/bin/env python
"""What ``generate`` says at its defaults on the shipped model: steered answers to "Describe the audio."

For ``--n`` scenes of ``scenes make`` (3 procedural events each, seed ``--seed``), every event is the query
once; the steering vector and α are ``generate``'s defaults (the checkpoint's own). Each steered answer is
sorted into: a description ("I hear ..."), a number (its integer part compared with the queried event's
onset second and its span), yes/no, or other. Prints JSON lines: the machine, then the counts and up to
three distinct steered answers of each form.

    python benchmarks/generate_answers.py --n 20 --seed 91
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from long_perf import environment


def kind(answer: str) -> str:
    """The form of an answer: description, number, yes/no or other."""
    if answer.startswith("I hear"):
        return "description"
    if re.match(r"^\d", answer):
        return "number"
    if answer in ("Yes.", "No."):
        return "yes/no"
    return "other"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--seed", type=int, default=91)
    args = p.parse_args()
    import torch

    from wheretolisten.audio import load_audio
    from wheretolisten.localize import instruction_vector
    from wheretolisten.organism import load_organism
    from wheretolisten.scenes import ProceduralBank, make_scenes
    from wheretolisten.settings import resolve
    from wheretolisten.steering import steered_generate

    torch.set_num_threads(1)
    print(
        json.dumps(
            {"benchmark": "generate_answers", **environment("cpu"), "n_scenes": args.n, "seed": args.seed}
        )
    )
    adapter = load_organism(device="cpu")
    cfg = resolve(adapter, None)
    counts: Counter[str] = Counter()
    base_counts: Counter[str] = Counter()
    onset = inside = 0
    examples: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        scenes = make_scenes(ProceduralBank(), args.n, tmp, seed=args.seed, progress=False)
        for scene in scenes:
            audio = load_audio(os.path.join(tmp, scene.path), adapter.sample_rate)[0]
            for event in scene.events:
                vector = instruction_vector(adapter, audio, event.query, cfg, sample_rate=adapter.sample_rate)
                base, steered = steered_generate(
                    adapter,
                    audio,
                    vector,
                    cfg.alpha,
                    "Describe the audio.",
                    cfg.positions,
                    cfg.layers,
                    32,
                    False,
                )
                counts[kind(steered)] += 1
                seen = examples.setdefault(kind(steered), [])
                if len(seen) < 3 and steered not in seen:
                    seen.append(steered)
                base_counts[kind(base)] += 1
                if kind(steered) == "number":
                    second = int(re.match(r"^\d+", steered).group())  # type: ignore[union-attr]
                    onset += second == int(event.onset_s)
                    inside += int(event.onset_s) <= second <= int(event.offset_s)
    print(
        json.dumps(
            {
                "alpha": cfg.alpha,
                "layers": list(cfg.layers),
                "queries": sum(counts.values()),
                "unsteered": dict(base_counts),
                "steered": dict(counts),
                "number_is_onset_second": onset,
                "number_within_event_seconds": inside,
                "examples": examples,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
