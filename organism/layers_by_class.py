"""Which decoder layer's Δ finds which class: per read layer, steered layer 0-3, and prompted attention.

A diagnostic on held-out single-event clips (``evaluate_sets.py``'s ``single`` set): for the first
``--n`` manifest entries of the given classes, the Δ peak of each read layer alone (``layer_delta``, no
shifts) and the peak of the instructed prompt's attention per layer (``prompted_profiles``); hit = peak
inside the event. It is why the read layers were chosen again (``tune_layers.py``): not a tuning step, and
its numbers chose nothing.

    python organism/layers_by_class.py out/eval-shipped5/scenes/single --json organism/layers_by_class.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from emit import emit


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenes", type=Path, help="a scenes folder (manifest.jsonl)")
    ap.add_argument("--n", type=int, default=80, help="first N manifest entries")
    ap.add_argument("--classes", default="hum,tone,siren")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--model", default=None, help="checkpoint folder (default: the shipped model)")
    args = ap.parse_args()
    import torch

    from wheretolisten.localize import LocalizeConfig, layer_delta, prompted_profiles
    from wheretolisten.models import load_model
    from wheretolisten.organism import default_model_path

    torch.set_num_threads(1)
    adapter = load_model(args.model or default_model_path(), device="cpu", dtype="float32")
    wanted = args.classes.split(",")
    hits: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    manifest = (args.scenes / "manifest.jsonl").read_text().splitlines()[: args.n]
    for line in manifest:
        scene = json.loads(line)
        event = scene["events"][scene["target"]]
        if event["label"] not in wanted:
            continue
        path, query = args.scenes / scene["path"], event["query"]

        def score(key: str, peak_s: float, event: dict = event) -> None:
            seen[key] += 1
            hits[key] += int(event["onset_s"] <= peak_s <= event["offset_s"])

        for steer in (0, 1, 2, 3):
            deltas = layer_delta(adapter, path, query, LocalizeConfig(shifts=1, layers=[steer], alpha=2.0))
            for row, layer in zip(deltas.matrix, deltas.layers, strict=True):
                if layer > steer:
                    score(
                        f"{event['label']} | steer {steer} | read {layer}", float(deltas.time_s[row.argmax()])
                    )
        for layer in range(adapter.num_layers):
            profile = prompted_profiles(adapter, path, query, LocalizeConfig(shifts=1, probe_layers=[layer]))
            score(
                f"{event['label']} | prompted | read {layer}", float(profile.time_s[profile.steered.argmax()])
            )
    result = {
        "scenes": str(args.scenes),
        "n_manifest_entries": len(manifest),
        "alpha": 2.0,
        "shifts": 1,
        "hits": {k: f"{hits[k]}/{seen[k]}" for k in sorted(seen)},
    }
    return emit(result, args.json)


if __name__ == "__main__":
    sys.exit(main())
