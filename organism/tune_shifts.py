"""Choose the number of shifts (``--shifts``) of a model on dev scenes, never on the held-out sets.

Writes four dev sets with ``wheretolisten scenes make`` (seeds 401-404: no held-out set, training or
protocol scene uses them; procedural sounds only, the real recordings stay test-only): one event
anywhere in quiet at ±20 dB, three events in quiet, three over white noise at -10 dB, three over babble
at -10 dB; 60 scenes each. Localizes each scene's target with the model's own settings at every
candidate number of shifts and prints JSON: hit % per set and pooled, and the choice: the fewest shifts
whose pooled hit rate is within one scene of the best (each shift costs one more pass).

    python organism/tune_shifts.py --out out/tune-shifts --json organism/tune_shifts.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from emit import emit

from wheretolisten.scenes.speech import SPEECH_WORDS, speech_label

#: name -> ``scenes make`` arguments.
DEV_SETS: dict[str, list[str]] = {
    "single": ["--events", "1", "--placement", "free", "--event-s", "1,2.5", "--level-db", "-20,20"],
    "three": ["--events", "3"],
    "white-10": ["--events", "3", "--background", "white", "--background-db", "-10,-10"],
    "babble-10": ["--events", "3", "--background", "babble", "--background-db", "-10,-10"],
}
CANDIDATES = (1, 2, 3, 4, 6)
N_SCENES = 60


#: Dev sets no default run makes (name -> (seed, ``scenes make`` arguments)), named by ``tune_layers.py
#: --sets``. "words": three utterances of the speech bank (espeak-ng and flite, as the words stage trains
#: on; never asterisk's recordings, which stay test-only); only scenes whose target is one of the 20 words
#: the words stage trained on are kept (the bank's phrases stay, as other sounds).
EXTRA_DEV_SETS: dict[str, tuple[int, list[str]]] = {
    "words": (60_000, ["--events", "3", "--bank", "speech:engines=espeak-ng,flite"]),
}
#: The target labels an extra set keeps (all when absent).
EXTRA_TARGETS: dict[str, frozenset[str]] = {
    "words": frozenset(speech_label(w) for w in SPEECH_WORDS),
}


def dev_seed(name: str, seed_offset: int = 0) -> int:
    """The `scenes make` seed of dev set `name`: 401 + its index in DEV_SETS, or an extra set's own."""
    base = EXTRA_DEV_SETS[name][0] if name in EXTRA_DEV_SETS else 401 + list(DEV_SETS).index(name)
    return base + seed_offset


def dev_sets(
    out: Path, names: Sequence[str] | None = None, seed_offset: int = 0
) -> Iterator[tuple[str, Path, list[dict[str, Any]]]]:
    """Each dev set's name, folder under ``out`` and manifest entries; ``scenes make`` writes the folders
    that are missing (set i with seed 401 + i + ``seed_offset``: another offset is a fresh draw of the same
    sets; an extra set with its own seed + ``seed_offset``). ``names``: only these sets (default the four
    of ``DEV_SETS``; extra sets only when named)."""
    out.mkdir(parents=True, exist_ok=True)
    table = {**DEV_SETS, **{name: options for name, (_, options) in EXTRA_DEV_SETS.items()}}
    for name, options in table.items():
        if (names is None and name not in DEV_SETS) or (names is not None and name not in names):
            continue
        folder = out / name
        if not (folder / "manifest.jsonl").exists():
            seed = str(dev_seed(name, seed_offset))
            make = ["--out", str(folder), "--n", str(N_SCENES), "--seed", seed, "--no-progress", *options]
            subprocess.run(["wheretolisten", "scenes", "make", *make], check=True, stdout=subprocess.DEVNULL)
        scenes = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
        if name in EXTRA_TARGETS:
            scenes = [sc for sc in scenes if sc["events"][sc["target"]]["label"] in EXTRA_TARGETS[name]]
        yield name, folder, scenes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder for the dev scenes")
    ap.add_argument("--model", default=None, help="checkpoint folder (default: the shipped model)")
    ap.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = ap.parse_args()
    import torch

    from wheretolisten.localize import LocalizeConfig, localize
    from wheretolisten.models import load_model
    from wheretolisten.organism import default_model_path

    torch.set_num_threads(1)
    model = args.model or str(default_model_path())
    adapter = load_model(model, device="cpu")
    hits: dict[int, dict[str, int]] = {k: {} for k in CANDIDATES}
    sizes: dict[str, int] = {}
    started = time.perf_counter()
    for name, folder, scenes in dev_sets(args.out):
        sizes[name] = len(scenes)
        for k in CANDIDATES:
            found = 0
            for scene in scenes:
                event = scene["events"][scene["target"]]
                result = localize(adapter, folder / scene["path"], event["query"], LocalizeConfig(shifts=k))
                peak = result.peak_s
                found += peak is not None and event["onset_s"] <= peak <= event["offset_s"]
            hits[k][name] = found
    total = sum(sizes.values())
    pooled = {k: sum(h.values()) for k, h in hits.items()}
    best = max(pooled.values())
    chosen = min(k for k in CANDIDATES if pooled[k] >= best - 1)

    def pct(count: int) -> float:
        return round(100 * count / total, 1)

    result = {
        "model": model,
        "sets": {
            name: {"n": n, "seed": dev_seed(name), "scenes_make": DEV_SETS[name]} for name, n in sizes.items()
        },
        "hit_pct": {
            str(k): {
                **{s: round(100 * v / sizes[s], 1) for s, v in h.items()},
                "pooled": 100 * pooled[k] / total,
            }
            for k, h in hits.items()
        },
        "chosen_shifts": chosen,
        "rule": "fewest shifts within one scene of the best pooled hit count",
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {"nproc": os.cpu_count(), "load_1min": os.getloadavg()[0], "threads": 1},
    }
    return emit(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
