"""Does batching a clip with a longer one change its audio tokens? One line per family, on tiny models.

Prints JSON lines: first the machine (device, torch, transformers, threads), then per family the relative
max change of the shorter clip's decoder inputs at its audio tokens (batched with a longer clip vs alone),
the audio token counts both ways, and the adapter's ``batch_invariant`` flag. The engines never batch two
clips; this is for callers who batch clips themselves (docs/adapters.md, "Batching different clips").

    python benchmarks/batch_invariance.py [--families qwen2-audio granite-speech] [--short-s 2] [--long-s 3.1]
"""

from __future__ import annotations

import argparse
import json
import platform
from importlib import metadata

import numpy as np
import torch

from wheretolisten.models import Adapter, wrap
from wheretolisten.models.tiny import FAMILIES, build_tiny_model

SR = 16000


def noise(seconds: float, seed: int) -> np.ndarray:
    """Deterministic white noise (0.1 RMS), float32 mono at 16 kHz."""
    return (np.random.default_rng(seed).standard_normal(int(round(seconds * SR))) * 0.1).astype(np.float32)


@torch.no_grad()
def audio_inputs(adapter: Adapter, clips: list[np.ndarray]) -> torch.Tensor:
    """The decoder's input embeddings at the first clip's audio tokens, with ``clips`` in one batch."""
    batch = adapter.encode(clips, ["Describe the audio."] * len(clips))
    out = adapter.model(**batch, output_hidden_states=True, use_cache=False)
    hidden = adapter.layer_hidden(out.hidden_states[0])[0]
    return hidden[adapter.audio_mask(batch["input_ids"])[0]].float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--short-s", type=float, default=2.0)
    parser.add_argument("--long-s", type=float, default=3.1)
    opts = parser.parse_args()
    print(
        json.dumps(
            {
                "device": "cpu",
                "machine": platform.machine(),
                "python": platform.python_version(),
                "torch": torch.__version__,
                "transformers": metadata.version("transformers"),
                "threads": torch.get_num_threads(),
                "size": "tiny",
                "dtype": "float32",
            }
        ),
        flush=True,
    )
    short, longer = noise(opts.short_s, seed=3), noise(opts.long_s, seed=4)
    for family in opts.families:
        adapter = wrap(*build_tiny_model(family, seed=0), name=f"tiny-{family}")
        alone, batched = audio_inputs(adapter, [short]), audio_inputs(adapter, [short, longer])
        n = min(len(alone), len(batched))
        change = float((alone[:n] - batched[:n]).abs().max() / alone.abs().max())
        row = {
            "family": family,
            "short_s": opts.short_s,
            "long_s": opts.long_s,
            "tokens_alone": len(alone),
            "tokens_batched": len(batched),
            "relative_change": float(f"{change:.2e}"),
            "batch_invariant": adapter.batch_invariant,
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
