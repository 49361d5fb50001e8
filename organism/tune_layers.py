"""Choose the steered layer, α and probe layers again at the model's shifts, on dev scenes only.

The shipped model's setting (steer 1, α 2, probe layer 4) was chosen on dev scenes without shifts
(``organism/dev_sweep.json``); shifts change the readout (a layer's own preferred positions average out),
so the choice is made again here with the model's shifts, on the dev sets of ``organism/tune_shifts.py``
(seeds 401-404; no held-out set, training or protocol scene uses them): one event anywhere in quiet at
±20 dB, three events in quiet, three over white noise at -10 dB, three over babble at -10 dB, 60 scenes
each (made with ``wheretolisten scenes make`` when the folders are missing).

Per scene and (steered layer, α) one ``layer_delta`` call gives every downstream layer's Δ; the Δ of a set
of probe layers is the mean of theirs (what ``localize`` reads), and its peak is read by the settings'
readout (``readout.apply_rule``); the script checks this against ``localize`` itself on the first scenes.
Candidates: steered layer 0-2 × α 1, 2, 4 × every contiguous range of probe layers after the steered one.
Rule, fixed before the run: the most pooled hits; ties go to the current setting, then to fewer probe
layers, then to the first in grid order. Prints JSON (every candidate's hits per set and pooled).

    python organism/tune_layers.py --out out/tune-shifts --json organism/tune_layers.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from emit import emit
from tune_shifts import DEV_SETS, EXTRA_DEV_SETS, dev_seed, dev_sets

STEER = (0, 1, 2)
ALPHAS = (1.0, 2.0, 4.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder of the dev scenes (tune_shifts.py's)")
    ap.add_argument("--model", default=None, help="checkpoint folder (default: the shipped model)")
    ap.add_argument("--json", type=Path, default=None, help="also write the result here")
    ap.add_argument(
        "--sets",
        default=",".join(DEV_SETS),
        help=f"dev sets to score (default: {','.join(DEV_SETS)}; also: {','.join(EXTRA_DEV_SETS)})",
    )
    args = ap.parse_args()
    names = [n.strip() for n in args.sets.split(",") if n.strip()]
    unknown = sorted(set(names) - set(DEV_SETS) - set(EXTRA_DEV_SETS))
    if unknown or not names:
        ap.error(f"--sets: unknown dev set(s) {', '.join(unknown) or '(none given)'}")
    import torch

    from wheretolisten.audio import load_audio
    from wheretolisten.intervals import energy_db
    from wheretolisten.localize import LocalizeConfig, layer_delta, localize
    from wheretolisten.models import load_model
    from wheretolisten.organism import default_model_path
    from wheretolisten.readout import apply_rule
    from wheretolisten.settings import resolve

    torch.set_num_threads(1)
    model = args.model or str(default_model_path())
    adapter = load_model(model, device="cpu", dtype="float32")
    n_layers = adapter.num_layers
    declared = resolve(adapter, None)
    shifts = declared.shifts
    # the setting the checkpoint declares now (ties go to it); steer 1, alpha 2, probe 4 when this ran first
    current = (declared.layers[0], float(declared.alpha), tuple(declared.probe_layers))
    candidates = [
        (steer, alpha, tuple(range(a, b + 1)))
        for steer in STEER
        for alpha in ALPHAS
        for a in range(steer + 1, n_layers)
        for b in range(a, n_layers)
    ]
    hits: dict[tuple[int, float, tuple[int, ...]], dict[str, int]] = {c: {} for c in candidates}
    sizes: dict[str, int] = {}
    checked = 0
    started = time.perf_counter()
    for name, folder, scenes in dev_sets(args.out, names):
        sizes[name] = len(scenes)
        for c in candidates:
            hits[c][name] = 0
        for scene in scenes:
            event = scene["events"][scene["target"]]
            path = folder / scene["path"]
            level = None  # the audio's level per token, read by an interval rule that needs it (edges)
            for steer in STEER:
                for alpha in ALPHAS:
                    config = LocalizeConfig(layers=[steer], alpha=alpha, shifts=shifts)
                    reads = list(range(steer + 1, n_layers))
                    deltas = layer_delta(adapter, path, event["query"], config, read_layers=reads)
                    rule = resolve(adapter, config).readout
                    for c in (c for c in candidates if c[0] == steer and c[1] == alpha):
                        delta = np.mean([deltas.matrix[reads.index(k)] for k in c[2]], axis=0)
                        if level is None and rule.needs_envelope:
                            audio = load_audio(path, adapter.sample_rate)[0]
                            level = energy_db(audio, adapter.sample_rate, adapter.token_s, delta.size)
                        peak = apply_rule(
                            rule, None, adapter.token_s, delta.size, (np.zeros_like(delta), delta), level
                        )
                        if checked < 3 and c == current:  # the mean of layer rows is what localize reads
                            same = LocalizeConfig(
                                layers=[steer], probe_layers=list(c[2]), alpha=alpha, shifts=shifts
                            )
                            own = localize(adapter, path, event["query"], same)
                            assert own.peak_s == peak.peak_s, (own.peak_s, peak.peak_s)
                            checked += 1
                        inside = (
                            peak.peak_s is not None and event["onset_s"] <= peak.peak_s <= event["offset_s"]
                        )
                        hits[c][name] += int(inside)
        print(json.dumps({"set": name, "seconds": round(time.perf_counter() - started, 1)}), flush=True)
    total = sum(sizes.values())
    pooled = {c: sum(h.values()) for c, h in hits.items()}
    best = max(pooled.values())
    order = {c: j for j, c in enumerate(candidates)}
    chosen = min(
        (c for c in candidates if pooled[c] == best), key=lambda c: (c != current, len(c[2]), order[c])
    )

    def label(c: tuple[int, float, tuple[int, ...]]) -> str:
        return f"steer {c[0]}, alpha {c[1]:g}, probe {','.join(map(str, c[2]))}"

    result = {
        "model": model,
        "shifts": shifts,
        "sets": {
            name: {
                "n": n,
                "seed": dev_seed(name),
                "scenes_make": DEV_SETS[name] if name in DEV_SETS else EXTRA_DEV_SETS[name][1],
            }
            for name, n in sizes.items()
        },
        "hit_pct": {
            label(c): {
                **{s: round(100 * v / sizes[s], 1) for s, v in h.items()},
                "pooled": round(100 * pooled[c] / total, 1),
            }
            for c, h in sorted(hits.items(), key=lambda kv: -pooled[kv[0]])
        },
        "current": label(current),
        "chosen": label(chosen),
        "rule": "most pooled hits; ties: the current setting, then fewer probe layers, then grid order",
        "checked_against_localize": checked,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": {"nproc": os.cpu_count(), "load_1min": os.getloadavg()[0], "threads": 1},
    }
    return emit(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
