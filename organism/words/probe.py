"""Does a model's audio encoder tell the 20 speech words apart? A linear probe on its frozen encoder.

    python organism/words/probe.py --out organism/words/probe_words.json   # the shipped words-stage model
    python organism/words/probe.py --model organism/stage2/model --out organism/words/probe_shipped.json
                                                    # the second stage (shipped when that file was made)

Renders 30 instances of each word with espeak-ng and 30 with flite (random voices, paces, pitches), keeps
25 + 25 for training and 5 + 5 as held-out synthetic words, and trains a linear head on the frozen encoder's
audio tokens (20 words + background, cross-entropy on every token) over clips of three words in 10 s
(random slots, levels, a phone line half the time, quiet noise). Hit = the token where the head's
probability of the named word is highest lies inside that word. It reports the hit rate on held-out
synthetic clips and on clips of asterisk's real recordings of the same words (another speaker, never
trained on), beside what steering finds in ``organism/evaluate_sets.py``'s asterisk set: whether the words
are in the encoder, whatever the decoder does with them. Prints and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wheretolisten.audio import load_audio
from wheretolisten.scenes.banks import active_span
from wheretolisten.scenes.debian import ASTERISK_DIGITS, ASTERISK_FILES
from wheretolisten.scenes.speech import SPEECH_WORDS, draw_flite_voice, draw_voice, speak, telephone

SR = 16000
TOKEN_S = 0.04
N_TOKENS = 250
PER_ENGINE, HELD_OUT = 30, 5


def renders() -> dict[str, list[np.ndarray]]:
    """Per word: PER_ENGINE espeak-ng renders, then PER_ENGINE flite renders (seeded by word and index)."""

    def one(job: tuple[int, int, bool]) -> np.ndarray:
        i, k, flite = job
        rng = np.random.default_rng([i, k, int(flite)])
        voice = draw_flite_voice(rng) if flite else draw_voice(rng)
        return np.array(speak(SPEECH_WORDS[i], voice, SR))

    jobs = [(i, k, f) for i in range(len(SPEECH_WORDS)) for f in (False, True) for k in range(PER_ENGINE)]
    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(one, jobs))
    out: dict[str, list[np.ndarray]] = {w: [] for w in SPEECH_WORDS}
    for (i, _, _), audio in zip(jobs, made, strict=True):
        out[SPEECH_WORDS[i]].append(audio)
    return out


def clip(pool: dict[str, list[np.ndarray]], rng: np.random.Generator, train: bool) -> tuple[Any, Any, Any]:
    """Three distinct words, one per third of 10 s: (audio, token labels, [(word index, on, off)])."""
    chosen = rng.choice(len(SPEECH_WORDS), 3, replace=False)
    audio = np.zeros(10 * SR, np.float32)
    labels = np.full(N_TOKENS, len(SPEECH_WORDS), np.int64)
    spans = []
    for slot, wi in zip(rng.permutation(3), chosen, strict=True):
        sources = pool[SPEECH_WORDS[wi]]
        x = sources[int(rng.integers(len(sources)))].copy()
        if train and rng.uniform() < 0.5:
            x = telephone(x, SR)
        x = x * (rng.uniform(0.3, 1.0) if train else 0.7) / (np.abs(x).max() + 1e-9)
        lo, hi = slot * 10 * SR // 3, (slot + 1) * 10 * SR // 3 - len(x)
        start = int(rng.integers(lo, max(lo + 1, hi)))
        x = x[: len(audio) - start]
        audio[start : start + len(x)] += x
        on, off = start / SR, (start + len(x)) / SR
        labels[int(on / TOKEN_S) : int(np.ceil(off / TOKEN_S))] = wi
        spans.append((int(wi), on, off))
    if train and rng.uniform() < 0.7:
        audio += 10 ** (rng.uniform(-60, -25) / 20) * rng.standard_normal(audio.size).astype(np.float32)
    return audio, labels, spans


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="checkpoint folder (default: the shipped model)")
    ap.add_argument("--out", type=Path, required=True, help="JSON file to write")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from wheretolisten.models import load_model
    from wheretolisten.organism import default_model_path

    torch.manual_seed(args.seed)
    model_path = args.model or str(default_model_path())
    adapter = load_model(model_path, device="cpu")
    tower = adapter.model.model.audio_tower
    tower.eval()
    fe = adapter.processor.feature_extractor
    head = torch.nn.Linear(tower.config.d_model, len(SPEECH_WORDS) + 1)
    opt = torch.optim.AdamW(head.parameters(), lr=args.lr)
    t0 = time.time()
    pool = renders()
    train = {
        w: v[: PER_ENGINE - HELD_OUT] + v[PER_ENGINE : 2 * PER_ENGINE - HELD_OUT] for w, v in pool.items()
    }
    held = {
        w: v[PER_ENGINE - HELD_OUT : PER_ENGINE] + v[2 * PER_ENGINE - HELD_OUT :] for w, v in pool.items()
    }
    real = {}
    for w in SPEECH_WORDS:
        x, _ = load_audio(str(ASTERISK_DIGITS / f"{ASTERISK_FILES[w]}.wav"), SR)
        s, e = active_span(x, SR, threshold_db=-45.0)
        real[w] = [x[max(0, s - 200) : e + 200]]

    def hidden(audio: list[np.ndarray]) -> torch.Tensor:
        feats = fe(audio, sampling_rate=SR, return_tensors="pt")["input_features"]
        with torch.no_grad():
            return tower(feats).last_hidden_state

    def hit_rate(source: dict[str, list[np.ndarray]], n: int, seed: int) -> float:
        rng = np.random.default_rng(seed)
        hits = total = 0
        for _ in range(n // 10):
            made = [clip(source, rng, False) for _ in range(10)]
            with torch.no_grad():
                logits = head(hidden([a for a, _, _ in made]))
            for (_, _, spans), lg in zip(made, logits, strict=True):
                for wi, on, off in spans:
                    t = (int(lg[:, wi].argmax()) + 0.5) * TOKEN_S
                    hits += on <= t <= off
                    total += 1
        return hits / total

    rng = np.random.default_rng(args.seed + 1)
    for _ in range(args.steps):
        made = [clip(train, rng, True) for _ in range(16)]
        target = torch.from_numpy(np.stack([labels for _, labels, _ in made]))
        logits = head(hidden([a for a, _, _ in made]))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    result = {
        "benchmark": "words_probe",
        "model": str(Path(model_path).resolve().relative_to(Path.cwd()))
        if Path(model_path).resolve().is_relative_to(Path.cwd())
        else model_path,
        "steps": args.steps,
        "synthetic_held_out_hit": hit_rate(held, 100, 7),
        "asterisk_hit": hit_rate(real, 100, 9),
        "clips": 100,
        "words_per_clip": 3,
        "wall_s": round(time.time() - t0, 1),
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "nproc": os.cpu_count(),
            "load_1min": os.getloadavg()[0],
            "threads": torch.get_num_threads(),
        },
    }
    print(json.dumps(result), flush=True)
    tmp = args.out.with_suffix(".tmp")  # atomic: a killed run never leaves half a file
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
