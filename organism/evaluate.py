"""Evaluate steering-based localization on the model organism, on scenes it never saw.

Usage (from the repository root)::

    # choose steering layers and alpha on the dev scenes (seed base 50_000)
    python organism/evaluate.py sweep --n 100 --json organism/dev_sweep.json
    # held-out test scenes (seed base 0, i.e. the scenes of make_scenes(..., seed=0)), fixed config
    python organism/evaluate.py test --n 300 --layers 2 --alpha 4 --json organism/eval_test.json

Scene i of a split is ``make_scene(ProceduralBank(), default_rng(scene_seed(base, i)), n_events=3,
duration_s=10, target=i % 3)``: exactly what ``make_scenes(..., seed=base)`` synthesizes (minus the
16-bit wav quantization). For each scene the target event's query is localized with ``localize`` and a
hit is a peak inside [onset_s, offset_s]. The random expectation of a uniformly placed peak is the
mean target length over the clip duration; the report also gives the unsteered attention's own peak
(``base``) and the steered profile's peak (``steered``) as baselines for the Δ readout, a Wilson 95%
interval, and a one-sided exact binomial p-value against the random rate.
"""

from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning (much faster on a shared, oversubscribed machine).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import binomtest

from wheretolisten.intervals import energy_db
from wheretolisten.localize import LocalizeConfig, default_probe_layers, instruction_vector, localize
from wheretolisten.models.base import Adapter
from wheretolisten.models.registry import load_model
from wheretolisten.organism import DEV_SEED_BASE, TEST_SEED_BASE, default_model_path
from wheretolisten.probe import temporal_attention
from wheretolisten.prompts import PROBE_PROMPT
from wheretolisten.readout import ReadoutRule, aggregate, apply_rule
from wheretolisten.scenes import ProceduralBank, Scene, make_scene, scene_seed
from wheretolisten.settings import DEFAULT_ALPHA, default_layers, resolve
from wheretolisten.steering import add_steering

SPLITS = {"dev": DEV_SEED_BASE, "test": TEST_SEED_BASE}


def held_out_scene(base: int, i: int, bank: ProceduralBank | None = None) -> tuple[Scene, np.ndarray]:
    """Scene ``i`` of the split with seed ``base`` (3 events, 10 s, target ``i % 3``)."""
    seed = scene_seed(base, i)
    scene, audio = make_scene(
        bank or ProceduralBank(),
        np.random.default_rng(seed),
        f"scene_{i:05d}",
        n_events=3,
        duration_s=10.0,
        sample_rate=16000,
        target=i % 3,
        seed=seed,
    )
    return scene, audio


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion."""
    if n == 0:
        return (0.0, 1.0)
    p = hits / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Setting:
    """One steering configuration: steered layers, probe layers (None: all downstream) and alpha."""

    layers: tuple[int, ...] | None
    probe_layers: tuple[int, ...] | None
    alpha: float

    @property
    def key(self) -> str:
        steer = ",".join(map(str, self.layers)) if self.layers else "default"
        probe = ",".join(map(str, self.probe_layers)) if self.probe_layers else "downstream"
        return f"layers={steer} probe={probe} alpha={self.alpha:g}"

    def config(self, adapter: Adapter) -> LocalizeConfig:
        """The setting, explicit: no layers means the package's generic band (not the checkpoint's own)."""
        return LocalizeConfig(
            layers=list(self.layers) if self.layers else default_layers(adapter.num_layers),
            probe_layers=list(self.probe_layers) if self.probe_layers else None,
            alpha=self.alpha,
        )


def summarize(hits: Sequence[bool], lengths: Sequence[float], duration: float) -> dict[str, Any]:
    """Hit rate, its Wilson interval, the random expectation and the binomial p-value against it."""
    n, k = len(hits), int(sum(hits))
    random_rate = float(np.mean(lengths)) / duration
    return {
        "n": n,
        "hits": k,
        "hit_rate": k / n,
        "ci95": list(wilson(k, n)),
        "random_expectation": random_rate,
        "p_value_vs_random": float(binomtest(k, n, random_rate, alternative="greater").pvalue),
    }


def _inside(t: float | None, event: Any) -> bool:
    return t is not None and event.onset_s <= t <= event.offset_s


@torch.no_grad()
def layer_profiles(
    adapter: Adapter, clip: np.ndarray, vector: Any, layers: Sequence[int], alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer (base, steered) profiles [layers, tokens], heads aggregated as ``localize`` does.

    ``localize`` averages the normalized rows of all heads of its probe layers; every layer has the same
    number of heads, so the profile of a set of probe layers is the mean of these per-layer profiles.
    """
    batch = adapter.encode([clip, clip], [PROBE_PROMPT, PROBE_PROMPT])
    every = list(range(adapter.num_layers))
    with add_steering(adapter, vector, alpha, batch, "last", rows=[False, True], layers=list(layers)):
        attn = temporal_attention(adapter, batch, every)
    base = np.stack([aggregate(attn.per_row[0][k : k + 1]) for k in every])
    steered = np.stack([aggregate(attn.per_row[1][k : k + 1]) for k in every])
    return base, steered


def _peak(
    curve: np.ndarray, token_s: float, rule: ReadoutRule, envelope_db: np.ndarray | None = None
) -> float | None:
    """Where ``rule`` puts the peak of ``curve`` read as a Δ (a profile of its own: base 0); a rule whose
    interval reads the audio (``snap``, ``edges``: the shipped model declares ``edges``) needs the clip's
    ``envelope_db`` (``intervals.energy_db``)."""
    profile = (np.zeros_like(curve), curve)
    return apply_rule(rule, None, token_s, curve.size, profile, envelope_db).peak_s


def sweep(
    adapter: Adapter, base: int, n: int, steer_sets: Sequence[tuple[int, ...]], alphas: Sequence[float]
) -> dict[str, Any]:
    """Dev-set grid: steered layers × alpha × probe layers (all downstream, or one downstream layer)."""
    bank = ProceduralBank()
    cfg = resolve(adapter)  # only its readout settings (smoothing, interval rule) are used here
    union = sorted({layer for st in steer_sets for layer in st})
    settings: list[Setting] = []
    for st in steer_sets:
        downstream = default_probe_layers(adapter.num_layers, list(st))
        probes: list[tuple[int, ...] | None] = [None] + [(k,) for k in downstream if len(downstream) > 1]
        settings += [Setting(st, pr, a) for a in alphas for pr in probes]
    hits: dict[Setting, list[bool]] = {s: [] for s in settings}
    lengths: list[float] = []
    t0 = time.time()
    for i in range(n):
        scene, audio = held_out_scene(base, i, bank)
        target = scene.target_event
        lengths.append(target.offset_s - target.onset_s)
        vector = instruction_vector(adapter, audio, target.query, layers=union)
        level = None  # the clip's level per token, for a declared interval that reads the audio
        for st in steer_sets:
            for a in alphas:
                base_p, steered_p = layer_profiles(adapter, audio, vector, st, a)
                for s in settings:
                    if s.layers != st or s.alpha != a:
                        continue
                    probe = list(s.probe_layers or default_probe_layers(adapter.num_layers, list(st)))
                    delta = steered_p[probe].mean(0) - base_p[probe].mean(0)
                    if level is None and cfg.readout.needs_envelope:
                        level = energy_db(audio, adapter.sample_rate, adapter.token_s, delta.size)
                    peak = _peak(delta, adapter.token_s, cfg.readout, level)
                    hits[s].append(_inside(peak, target))
        if (i + 1) % 25 == 0:
            best = max(hits, key=lambda k: np.mean(hits[k]))
            print(
                f"  {i + 1}/{n} scenes, {time.time() - t0:.0f} s; best so far {best.key}: "
                f"{np.mean(hits[best]):.3f}",
                file=sys.stderr,
                flush=True,
            )
    results = {
        s.key: {
            "layers": list(s.layers or []),
            "probe_layers": list(s.probe_layers) if s.probe_layers else None,
            "alpha": s.alpha,
            **summarize(hits[s], lengths, 10.0),
        }
        for s in settings
    }
    best = max(settings, key=lambda s: (np.mean(hits[s]), -settings.index(s)))
    return {
        "seed_base": base,
        "n": n,
        "settings": results,
        "best": {
            "key": best.key,
            "layers": list(best.layers or []),
            "probe_layers": list(best.probe_layers) if best.probe_layers else None,
            "alpha": best.alpha,
            "hit_rate": float(np.mean(hits[best])),
        },
        "seconds": time.time() - t0,
    }


def evaluate(adapter: Adapter, base: int, n: int, setting: Setting) -> dict[str, Any]:
    """``localize`` itself on ``n`` scenes: Δ-peak hit rate; unsteered and steered peaks as baselines."""
    bank = ProceduralBank()
    cfg = setting.config(adapter)
    hits, steered_hits, base_hits, lengths = [], [], [], []
    by_position: dict[str, list[bool]] = {}
    seconds: list[float] = []
    for i in range(n):
        scene, audio = held_out_scene(base, i, bank)
        target = scene.target_event
        lengths.append(target.offset_s - target.onset_s)
        t = time.perf_counter()
        result = localize(adapter, audio, target.query, cfg)
        seconds.append(time.perf_counter() - t)
        hit = _inside(result.peak_s, target)
        hits.append(hit)
        by_position.setdefault(target.position, []).append(hit)
        smooth = result.config.smooth_s
        rule = ReadoutRule(peak="delta", peak_smooth_s=smooth, interval="threshold", smooth_s=smooth)
        steered_hits.append(_inside(_peak(result.profile.steered, adapter.token_s, rule), target))
        base_hits.append(_inside(_peak(result.profile.base, adapter.token_s, rule), target))
        if (i + 1) % 50 == 0:
            msg = f"  {setting.key}: {i + 1}/{n} scenes, hit rate {np.mean(hits):.3f}"
            print(msg, file=sys.stderr, flush=True)
    resolved = cfg.resolved(adapter)
    return {
        "seed_base": base,
        "setting": setting.key,
        "layers": resolved.layers,
        "probe_layers": resolved.probe_layers,
        "alpha": resolved.alpha,
        "delta": summarize(hits, lengths, 10.0),
        "delta_by_position": {p: float(np.mean(v)) for p, v in sorted(by_position.items())},
        "steered_profile_peak": summarize(steered_hits, lengths, 10.0),
        "unsteered_profile_peak": summarize(base_hits, lengths, 10.0),
        "seconds_per_localize": {"median": float(np.median(seconds)), "mean": float(np.mean(seconds))},
    }


@torch.no_grad()
def generation_check(adapter: Adapter, base: int, n: int) -> dict[str, Any]:
    """Greedy answers to 'Describe the audio.' and 'Listen for {query}.' on ``n`` scenes."""
    bank = ProceduralBank()
    exact, named, onset_err, examples = 0, 0, [], []
    for i in range(n):
        scene, audio = held_out_scene(base, i, bank)
        texts = []
        for instruction in ("Describe the audio.", f"Listen for {scene.target_event.query}."):
            batch = adapter.encode([audio], [instruction])
            out = adapter.model.generate(**batch, max_new_tokens=40, do_sample=False)
            new = out[0, batch["input_ids"].shape[1] :]
            texts.append(adapter.tokenizer.decode(new, skip_special_tokens=True))
        want = "I hear " + ", then ".join(e.query for e in scene.events) + "."
        exact += texts[0].strip() == want
        named += any(e.query in texts[0] for e in scene.events)
        try:
            onset_err.append(abs(float(texts[1].split()[0]) - scene.target_event.onset_s))
        except (ValueError, IndexError):
            onset_err.append(float("inf"))
        if i < 5:
            examples.append(
                {
                    "scene": i,
                    "truth": want,
                    "describe": texts[0],
                    "listen": texts[1],
                    "target": [scene.target_event.onset_s, scene.target_event.offset_s],
                }
            )
    err = np.array(onset_err)
    return {
        "n": n,
        "describe_exact_match": exact / n,
        "describe_names_a_present_class": named / n,
        "listen_onset_within_0.5s": float(np.mean(err <= 0.5)),
        "listen_onset_median_abs_error_s": float(np.median(err)),
        "examples": examples,
    }


def parse_layers(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["sweep", "test", "dev"], help="sweep: dev grid; else fixed")
    ap.add_argument("--model", default=None, help="model directory (default: the shipped organism)")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--layers", type=parse_layers, default=None, help="steered layers, e.g. 1 or 1,2")
    ap.add_argument("--probe-layers", type=parse_layers, default=None, help="default: downstream")
    ap.add_argument("--alpha", type=float, default=4.0)
    ap.add_argument("--no-default", action="store_true", help="test/dev: skip the package-default setting")
    ap.add_argument("--alphas", type=str, default="1,2,4,8", help="sweep: alphas")
    ap.add_argument("--layer-sets", type=str, default="0;1;2;3;1,2", help="sweep: ';'-separated steer sets")
    ap.add_argument("--generate", type=int, default=0, help="also check greedy answers on this many scenes")
    ap.add_argument("--json", type=Path, default=None, help="write the report here")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    adapter = load_model(args.model or default_model_path(), device="cpu", dtype="float32")
    split = "dev" if args.mode == "sweep" else args.mode
    report: dict[str, Any] = {
        "model": adapter.name,
        "mode": args.mode,
        "split": split,
        "seed_base": SPLITS[split],
        "n": args.n,
    }
    if args.mode == "sweep":
        alphas = [float(a) for a in args.alphas.split(",")]
        steer_sets = [parse_layers(x) for x in args.layer_sets.split(";")]
        report["sweep"] = sweep(adapter, SPLITS[split], args.n, steer_sets, alphas)
    else:
        settings = []
        if args.layers is not None:
            settings.append(Setting(args.layers, args.probe_layers, args.alpha))
        if not args.no_default:
            settings.append(Setting(None, None, DEFAULT_ALPHA))
        report["results"] = [evaluate(adapter, SPLITS[split], args.n, s) for s in settings]
    if args.generate:
        report["generation"] = generation_check(adapter, SPLITS[split], args.generate)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
