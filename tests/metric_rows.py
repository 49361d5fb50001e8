"""Result rows for the metrics tests: a hand-scored pair of conditions and a full six-condition run."""

from __future__ import annotations

from typing import Any

import numpy as np

CONDITIONS = ("steered", "prompted", "audio-steered", "direct", "random", "energy")


def row(scene: str, cond: str, gt: list[float], peak: float | None, interval: list[float] | None,
        position: str = "first", **extra: Any) -> dict[str, Any]:  # fmt: skip
    """One results row of a 10 s clip, query "dog"."""
    return {
        "scene_id": scene,
        "query": "dog",
        "condition": cond,
        "gt": gt,
        "peak_s": peak,
        "interval_s": interval,
        "duration_s": 10.0,
        "position": position,
        **extra,
    }


def hand_rows() -> list[dict[str, Any]]:
    """Steered (3 of 4 hits, IoUs 1, 0.5, 0, 1/3, attention share) and text (1 of 4, a parse failure)."""
    gt = [2.0, 4.0]
    return [
        row("a", "steered", gt, 3.0, [2.0, 4.0], "first", attn_share=0.6, attn_share_base=0.4),
        row("b", "steered", gt, 2.5, [2.0, 3.0], "middle", attn_share=0.5, attn_share_base=0.2),
        row("c", "steered", gt, 9.0, None, "last", attn_share=0.3, attn_share_base=0.35),
        row("d", "steered", gt, 4.0, [1.0, 3.0], "last", attn_share=0.7, attn_share_base=0.5),
        row("a", "text", gt, None, None, "first", parse_failed=True),
        row("b", "text", gt, 3.0, [3.0, 3.0], "middle", parse_failed=False),
        row("c", "text", gt, 6.0, [6.0, 7.0], "last", parse_failed=False),
        row("d", "text", gt, 1.0, [0.0, 2.0], "last", parse_failed=False),
    ]


def six_condition_rows(n: int = 60, profiles: bool = False, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` scenes under all six bench conditions, with long event-class names, attention fields on the
    model conditions, parse failures on ``direct`` and, optionally, Δ profiles (250 tokens of 40 ms)."""
    rng = np.random.default_rng(seed)
    labels = ("church bell ringing in the distance", "dog barking", "vacuum cleaner")
    t = (np.arange(250) * 0.04).round(2).tolist()
    rows = []
    for i in range(n):
        onset = float(np.round(rng.uniform(0.0, 7.0), 2))
        gt = [onset, onset + 2.0]
        for cond in CONDITIONS:
            peak = float(np.round(rng.uniform(0.0, 10.0), 2))
            extra: dict[str, Any] = {"label": labels[i % 3], "query": labels[i % 3]}
            if cond in ("steered", "prompted", "audio-steered"):
                extra.update(attn_share=float(rng.uniform(0.2, 0.8)), attn_share_base=0.3)
                extra.update(attn_entropy=float(rng.uniform(0.5, 1.0)), attn_entropy_base=0.9)
                if profiles:
                    delta = [float(rng.random() + (gt[0] <= x < gt[1])) for x in t]
                    extra["profile"] = {"time_s": t, "delta": delta}
            if cond == "direct":
                extra["parse_failed"] = i % 7 == 0
                peak = None if i % 7 == 0 else peak
            position = ("first", "middle", "last")[i % 3]
            interval = None if peak is None else [max(0.0, peak - 1.0), min(10.0, peak + 1.0)]
            rows.append(row(f"scene{i:04d}", cond, gt, peak, interval, position, **extra))
    return rows
