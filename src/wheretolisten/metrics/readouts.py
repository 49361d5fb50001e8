"""Interval readouts compared: the IoU of every interval a row records (``intervals``: the condition's own
and each readout rule's), and paired Wilcoxon tests of each condition's interval against the baselines'."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .rows import Row, by_condition, check_rows, query_intervals, row_scores, scenes_of
from .scores import FloatArray, best_interval_scores
from .stats import bootstrap_ci, holm, wilcoxon

__all__ = ["BASELINES", "interval_table", "interval_tests"]

#: The model-free conditions every other condition's interval is tested against.
BASELINES = ("energy", "random")


def _ious(group: Sequence[Row], name: str) -> FloatArray:
    gts = [query_intervals(r) for r in group]
    return best_interval_scores([(r.get("intervals") or {}).get(name) for r in group], gts)["iou"]


def interval_table(rows: Sequence[Row], n_boot: int = 2000, seed: int = 0) -> list[dict[str, Any]]:
    """Per condition and recorded interval: mean IoU with CI, and whether it is the row's readout."""
    check_rows(rows)
    out = []
    for cond, group in by_condition(rows).items():
        if not all("intervals" in r for r in group):
            continue
        chosen = group[0].get("readout_rule")
        names = list(dict.fromkeys(k for r in group for k in (r.get("intervals") or {})))
        for name in names:
            values = _ious(group, name)
            out.append(
                {
                    "condition": cond,
                    "interval": "own (the condition's readout)" if name == "own" else name,
                    "iou": float(np.mean(values)),
                    "iou_ci": list(bootstrap_ci(values, n_boot=n_boot, seed=seed, clusters=scenes_of(group))),
                    "chosen_on_dev": name == chosen,
                }
            )
    return out


def _paired(
    a: Sequence[Row], b: Sequence[Row], ua: FloatArray, ub: FloatArray
) -> tuple[FloatArray, FloatArray, list[str]]:
    """The paired values (by scene and query) and each pair's scene."""
    index = {(r["scene_id"], r["query"]): i for i, r in enumerate(b)}
    keep = [
        (i, index[(r["scene_id"], r["query"])])
        for i, r in enumerate(a)
        if (r["scene_id"], r["query"]) in index
    ]
    scenes = [str(a[i]["scene_id"]) for i, _ in keep]
    return ua[[i for i, _ in keep]], ub[[j for _, j in keep]], scenes


def interval_tests(
    rows: Sequence[Row], n_boot: int = 2000, seed: int = 0, every_interval_of: str | None = None
) -> list[dict[str, Any]]:
    """Each condition's IoU (its readout's interval) vs each baseline's (its readout's and its own),
    paired by (scene, query): mean difference with CI, Wilcoxon p, Holm's correction over the table.

    ``every_interval_of``: test only that condition, with every interval its rows record (its own, the
    dev-chosen rule's and the best other rule of each family), each against each baseline's readout."""
    check_rows(rows)
    groups = by_condition(rows)
    out: list[dict[str, Any]] = []
    for base in BASELINES:
        if base not in groups:
            continue
        ref = groups[base]
        refs = {"readout": row_scores(ref)["iou"]}
        if all("intervals" in r for r in ref) and any(r.get("readout_rule") for r in ref):
            refs["own"] = _ious(ref, "own")
        for cond, group in groups.items():
            if cond in BASELINES or group[0].get("control"):
                continue
            pairs: list[tuple[str, FloatArray, str, FloatArray]] = []
            if every_interval_of is None:
                mine = row_scores(group)["iou"]
                pairs = [(cond, mine, which, values) for which, values in refs.items()]
            elif cond == every_interval_of:
                names = dict.fromkeys(k for r in group for k in (r.get("intervals") or {}))
                pairs = [
                    (f"{cond}: {name}", _ious(group, name), "readout", refs["readout"]) for name in names
                ]
            for label, mine, which, values in pairs:
                a, b, scenes = _paired(group, ref, mine, values)
                diff = a - b
                out.append(
                    {
                        "condition": label,
                        "baseline": base if which == "readout" else f"{base} (own interval)",
                        "pairs": int(a.size),
                        "iou": float(np.mean(a)) if a.size else float("nan"),
                        "iou_baseline": float(np.mean(b)) if b.size else float("nan"),
                        "difference": float(np.mean(diff)) if diff.size else float("nan"),
                        "difference_ci": list(bootstrap_ci(diff, n_boot=n_boot, seed=seed, clusters=scenes)),
                        "wilcoxon_p": wilcoxon(a, b, clusters=scenes)["p_value"],
                    }
                )
    for line, p in zip(out, holm([t["wilcoxon_p"] for t in out]), strict=True):
        line["wilcoxon_p_holm"] = p
    return out
