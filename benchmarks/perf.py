#!/usr/bin/env python
"""Throughput of localization: the naive path against the optimized (shared-prefix) path.

Builds random-weight models (no checkpoint needed): each family's real architecture on a GPU (``--size
full``: ``Adapter.full_size_config``) or tiny ones (``--size tiny``, the default on CPU). For each
family it localizes ``--queries`` queries in each of ``--clips`` clips of ``--clip-s`` seconds, first
naively (every prompt run whole, attention read with eager ``output_attentions``, one query at a time),
then optimized (audio prefix once per clip, all prompts of all queries as batched suffixes, the fast
probe). It checks both give the same readouts and prints one JSON line per measurement; the last line
holds ``speedup`` and ``same_readouts``.

    python benchmarks/perf.py --device cpu
    python benchmarks/perf.py --device cuda --size full --dtype bfloat16
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from typing import Any

import numpy as np
import torch
import transformers

from wheretolisten.localize import LocalizeConfig, localize, localize_many
from wheretolisten.models import FAMILIES, wrap
from wheretolisten.models.tiny import build_tiny_model

QUERIES = ["a siren", "the dog barking", "a bell ringing", "a car horn", "footsteps", "rain"]

#: The rate of the synthetic clips (every family's processor reads 16 kHz).
SR = 16000


def _token_ids(config: Any) -> dict[str, int]:
    """The special-token ids a config names (``*_token_id``, ``*_token_index``), at its top level."""
    return {
        k: v
        for k, v in vars(config).items()
        if isinstance(v, int) and not isinstance(v, bool) and k.endswith(("token_id", "token_index"))
    }


def build(family: str, size: str, device: torch.device, dtype: torch.dtype) -> Any:
    """An adapter around a random-weight model of the family's architecture (tiny, or the real checkpoint's
    size from ``Adapter.full_size_config``) with the family's tiny processor."""
    model, processor = build_tiny_model(family, seed=0)
    if size == "tiny":
        return wrap(model.to(device=device, dtype=dtype), processor, f"tiny-{family}")
    cls = FAMILIES[family]
    config = cls.full_size_config()
    for name, value in _token_ids(model.config).items():  # the tiny tokenizer's ids fit the full vocabulary
        setattr(config, name, value)
    torch.manual_seed(0)
    with torch.device(device):
        full = cls.model_class._from_config(config, dtype=dtype)  # type: ignore[attr-defined]
    return wrap(full.eval(), processor, f"random-full-{family}")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_memory(device: torch.device) -> float:
    """Peak GiB: CUDA allocator peak on GPU, process max RSS on CPU (monotonic over the run)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run(
    adapter: Any,
    clips: list[np.ndarray],
    queries: list[str],
    config: LocalizeConfig,
    naive: bool,
    device: torch.device,
) -> tuple[float, list[Any]]:
    """Seconds for all clips × queries, and the results in order."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    start = time.perf_counter()
    results = []
    for clip in clips:
        if naive:  # one query at a time, every prompt run whole, eager attention
            results.extend(localize(adapter, clip, q, config, sample_rate=SR) for q in queries)
        else:
            results.extend(localize_many(adapter, clip, queries, config, sample_rate=SR).results)
    sync(device)
    return time.perf_counter() - start, results


def compare(a: list[Any], b: list[Any], exact_dtype: bool) -> dict[str, Any]:
    """Max profile difference, its size relative to Δ, and whether the peak token agrees everywhere.

    Equal readouts only count when Δ is not flat: two all-zero profiles would agree trivially.
    """
    diffs = [float(np.abs(x.profile.delta - y.profile.delta).max()) for x, y in zip(a, b, strict=True)]
    scale = max(float(np.abs(x.profile.delta).max()) for x in a)
    same_peak = all(x.readout.peak_index == y.readout.peak_index for x, y in zip(a, b, strict=True))
    max_diff = max(diffs)
    nonflat = scale > 0 and all(x.readout.peak_index is not None for x in a)
    same = nonflat and same_peak and (max_diff <= 1e-3 if exact_dtype else True)
    return {
        "max_profile_diff": max_diff,
        "max_abs_delta": scale,
        "relative_profile_diff": max_diff / scale if scale > 0 else None,
        "same_peak_token": same_peak,
        "delta_not_flat": nonflat,
        "same_readouts": same,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--size", choices=["tiny", "full"], default=None, help="default: full on GPU, tiny on CPU")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default=None)
    p.add_argument("--families", default="qwen2-audio,audioflamingo3")
    p.add_argument("--clips", type=int, default=4)
    p.add_argument("--clip-s", type=float, default=30.0)
    p.add_argument("--queries", type=int, default=3)
    p.add_argument("--long-minutes", type=float, default=10.0, help="AF3 long-audio check (0 to skip)")
    p.add_argument("--alpha", type=float, default=4.0)
    p.add_argument(
        "--positions",
        default="last",
        help="where the vector is added: last (default) or instruction keep the prefix shared; audio, text "
        "or all make the optimized path recompute the prefix from the first steered layer on",
    )
    args = p.parse_args()
    device = torch.device(args.device)
    size = args.size or ("full" if device.type == "cuda" else "tiny")
    dtype = getattr(torch, args.dtype or ("bfloat16" if device.type == "cuda" else "float32"))
    env = {
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "dtype": str(dtype),
        "size": size,
        "threads": torch.get_num_threads(),
        "positions": args.positions,
    }
    print(json.dumps({"env": env}), flush=True)
    rng = np.random.default_rng(0)
    queries = QUERIES[: args.queries]
    # The benchmark compares engines, so both use one instructed and one neutral template (the naive
    # recipe: two forwards build the vector, two read attention).
    common = {
        "alpha": args.alpha,
        "positions": args.positions,
        "instructed_templates": ["Listen for {query}."],
        "neutral_templates": ["Describe the audio."],
    }
    total_naive = total_fast = 0.0
    all_same = True
    for family in args.families.split(","):
        try:
            adapter = build(family, size, device, dtype)
        except Exception as exc:  # a family this machine cannot build (missing extra, out of memory): say so
            print(json.dumps({"family": family, "error": f"{type(exc).__name__}: {exc}"[:300]}), flush=True)
            continue
        clip_s = min(args.clip_s, adapter.max_audio_limit_s)
        clips = [(0.1 * rng.standard_normal(int(clip_s * SR))).astype(np.float32) for _ in range(args.clips)]
        # Warm-up (allocator, kernels) on one clip, not timed.
        localize_many(adapter, clips[0], queries[:1], LocalizeConfig(**common), sample_rate=SR)
        t_naive, r_naive = run(
            adapter, clips, queries, LocalizeConfig(**common, engine="full", probe="eager"), True, device
        )
        mem_naive = peak_memory(device)
        t_fast, r_fast = run(adapter, clips, queries, LocalizeConfig(**common), False, device)
        mem_fast = peak_memory(device)
        n = len(clips) * len(queries)
        check = compare(r_naive, r_fast, dtype == torch.float32)
        all_same &= check["same_readouts"]
        total_naive += t_naive
        total_fast += t_fast
        print(
            json.dumps(
                {
                    "family": family,
                    "clip_s": clip_s,
                    "clips": len(clips),
                    "queries_per_clip": len(queries),
                    "naive_ms_per_clip_query": 1000 * t_naive / n,
                    "optimized_ms_per_clip_query": 1000 * t_fast / n,
                    "naive_clips_per_s": len(clips) / t_naive,
                    "optimized_clips_per_s": len(clips) / t_fast,
                    "speedup": t_naive / t_fast,
                    "peak_mem_gib_naive": mem_naive,
                    "peak_mem_gib_optimized": mem_fast,
                    **check,
                }
            ),
            flush=True,
        )
        if family == "audioflamingo3" and args.long_minutes > 0:
            long_clip = (0.1 * rng.standard_normal(int(args.long_minutes * 60 * SR))).astype(np.float32)
            weights = sum(p.numel() * p.element_size() for p in adapter.model.parameters()) / 2**30
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
            sync(device)
            start = time.perf_counter()
            out = localize_many(adapter, long_clip, queries, LocalizeConfig(**common), sample_rate=SR)
            sync(device)
            print(
                json.dumps(
                    {
                        "family": family,
                        "long_audio_s": args.long_minutes * 60,
                        "audio_tokens": int(out.results[0].profile.base.size),
                        "queries": len(queries),
                        "seconds": time.perf_counter() - start,
                        "weights_gib": weights,
                        "peak_mem_gib": peak_memory(device),
                        "beyond_weights_gib": peak_memory(device) - weights
                        if device.type == "cuda"
                        else None,
                    }
                ),
                flush=True,
            )
        del adapter
        if device.type == "cuda":
            torch.cuda.empty_cache()
    print(json.dumps({"speedup": total_naive / total_fast, "same_readouts": bool(all_same)}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
