"""Greedy answers of a model to five questions about one dev scene (seed base 50 000, scene 1), as JSON.

python organism/whisper/spot_check.py out/whisper_model > organism/whisper/spot_check.json
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch

from wheretolisten.models import load_model
from wheretolisten.organism import DEV_SEED_BASE
from wheretolisten.scenes import ProceduralBank, make_scene, scene_seed


@torch.no_grad()
def main(model_dir: str) -> None:
    adapter = load_model(model_dir, device="cpu", dtype="float32")
    seed = scene_seed(DEV_SEED_BASE, 1)
    scene, audio = make_scene(
        ProceduralBank(), np.random.default_rng(seed), "s", n_events=3, target=1, seed=seed
    )
    e = scene.events
    questions = [
        "Describe the audio.",
        f"When does {e[1].query} start and end?",
        f"Is there {e[0].query} in the recording?",
        "Is there a siren in the recording?",
        f"Listen for {e[2].query}.",
    ]
    answers = {}
    for q in questions:
        batch = adapter.encode([audio], [q])
        out = adapter.model.generate(**batch, max_new_tokens=40, do_sample=False)
        answers[q] = adapter.tokenizer.decode(out[0, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    events = [{"query": x.query, "onset_s": x.onset_s, "offset_s": x.offset_s} for x in e]
    print(json.dumps({"model": model_dir, "events": events, "answers": answers}, indent=1))


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        sys.exit(0 if sys.argv[1:] in (["-h"], ["--help"]) else 2)
    main(sys.argv[1])
