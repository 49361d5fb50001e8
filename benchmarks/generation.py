"""Steered generation (default: the shipped model): does the answer stay sane, does it name the sound?

For held-out scenes (the organism's test stream), the model describes the audio ("Describe the audio.")
without steering and steered towards the target event, at several α, steering either the prompt only or
the prompt and every generated token (``--steer-answer``). Per setting it reports the share of answers
that degenerate (a word 3-gram repeated 3+ times, or an answer cut at the token limit without ending),
the share that name the queried sound, and the share that name it first. Prints one JSON object.

    python benchmarks/generation.py [--scenes 60] [--alphas 1,2,4,8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import Counter
from importlib import metadata

import numpy as np
import torch

from wheretolisten.localize import instruction_vector
from wheretolisten.models import load_model
from wheretolisten.organism import TEST_SEED_BASE, load_organism
from wheretolisten.scenes import ProceduralBank, make_scene, scene_seed
from wheretolisten.settings import resolve
from wheretolisten.steering import steered_generate

#: Scenes of the test stream past those the README's tables use (0..299) and the tests (1000..1149).
FIRST_INDEX = 2000
MAX_NEW_TOKENS = 40


def degenerate(text: str) -> bool:
    """A word 3-gram repeated three or more times: the answer loops."""
    words = text.split()
    grams = Counter(tuple(words[i : i + 3]) for i in range(len(words) - 2))
    return bool(grams) and max(grams.values()) >= 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=60)
    parser.add_argument("--alphas", default="1,2,4,8")
    parser.add_argument("--model", default=None, help="checkpoint (default: the shipped organism)")
    opts = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    adapter = load_organism(device="cpu", dtype="float32") if opts.model is None else load_model(opts.model)
    cfg = resolve(adapter)
    bank = ProceduralBank()
    alphas = [float(a) for a in opts.alphas.split(",")]
    settings = [("unsteered", 0.0, False)] + [
        (f"α={a:g} {'prompt+answer' if answer else 'prompt only'}", a, answer)
        for a in alphas
        for answer in (False, True)
    ]
    counts = {name: Counter() for name, _, _ in settings}
    examples: dict[str, str] = {}
    started = time.perf_counter()
    for i in range(FIRST_INDEX, FIRST_INDEX + opts.scenes):
        seed = scene_seed(TEST_SEED_BASE, i)
        scene, audio = make_scene(
            bank, np.random.default_rng(seed), f"s{i}", 3, 10.0, adapter.sample_rate, target=i % 3, seed=seed
        )
        query = scene.target_event.query
        vector = instruction_vector(adapter, audio, query, cfg, sample_rate=adapter.sample_rate)
        for name, alpha, answer in settings:
            _, text = steered_generate(
                adapter, audio, vector, alpha, cfg.prompt, cfg.positions, cfg.layers, MAX_NEW_TOKENS, answer
            )
            named = [e.query for e in scene.events if e.query in text]
            c = counts[name]
            c["n"] += 1
            c["degenerate"] += degenerate(text) or (
                len(adapter.tokenizer(text)["input_ids"]) >= MAX_NEW_TOKENS - 1
            )
            c["names_query"] += query in text
            c["names_query_first"] += bool(named) and min(named, key=text.index) == query
            examples.setdefault(name, text)
    results = {
        name: {
            "n": c["n"],
            "degenerate_pct": round(100 * c["degenerate"] / c["n"], 1),
            "names_query_pct": round(100 * c["names_query"] / c["n"], 1),
            "names_query_first_pct": round(100 * c["names_query_first"] / c["n"], 1),
            "example": examples[name],
        }
        for name, c in counts.items()
    }
    print(
        json.dumps(
            {
                "benchmark": "steered generation (shipped organism)",
                "settings": {"layers": cfg.layers, "positions": cfg.positions.value, "prompt": cfg.prompt},
                "scenes": opts.scenes,
                "seconds": round(time.perf_counter() - started, 1),
                "machine": {
                    "cpus": os.cpu_count(),
                    "load_average_1min": round(os.getloadavg()[0], 2),
                    "python": platform.python_version(),
                    "torch": metadata.version("torch"),
                    "transformers": metadata.version("transformers"),
                },
                "results": results,
            },
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
