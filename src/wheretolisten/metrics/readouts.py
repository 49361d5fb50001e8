"""Interval readouts compared: the IoU of every interval a row records (``intervals``: the condition's own
and each readout rule's), and paired Wilcoxon tests of each condition's interval against the baselines'."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .rows import Row, by_condition, carrying, check_rows, query_intervals, row_scores, scenes_of
from .scores import FloatArray, best_interval_scores
from .stats import bootstrap_ci, holm, wilcoxon

__all__ = [
    "BASELINES",
    "FLOOR_CONTROL",
    "interval_floor",
    "interval_table",
    "interval_tests",
    "rule_ious_by_set",
]

#: The control whose IoU is the floor an interval rule gives for free (its peaks almost never hit).
FLOOR_CONTROL = "negative"

#: The model-free conditions every other condition's interval is tested against.
BASELINES = ("energy", "random")


def _ious(group: Sequence[Row], name: str) -> FloatArray:
    gts = [query_intervals(r) for r in group]
    return best_interval_scores([(r.get("intervals") or {}).get(name) for r in group], gts)["iou"]


def interval_table(rows: Sequence[Row], n_boot: int = 2000, seed: int = 0) -> list[dict[str, Any]]:
    """Per condition and recorded interval: mean IoU with CI, and whether it is the row's readout."""
    check_rows(rows)
    out = []
    for cond, group in carrying(rows, "intervals").items():
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


def rule_ious_by_set(per_set: Mapping[str, Sequence[Row]]) -> list[dict[str, Any]]:
    """Per condition and recorded interval (its readout's and each rule's, ``intervals``): the mean IoU on
    every set, over all queries and over the misses alone (a peak outside every interval of the query),
    so a rule that scores on misses (wide spans) shows it."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for name, rows in per_set.items():
        for cond, group in by_condition(rows).items():
            miss = row_scores(group)["hit"] == 0
            recorded = dict.fromkeys(k for r in group for k in (r.get("intervals") or {}))
            for rule in ["readout", *recorded]:
                values = row_scores(group)["iou"] if rule == "readout" else _ious(group, rule)
                line = out.setdefault((cond, rule), {"condition": cond, "interval": rule, "sets": {}})
                line["sets"][name] = {
                    "iou": float(np.mean(values)),
                    "iou_misses": float(np.mean(values[miss])) if miss.any() else float("nan"),
                    "n": len(group),
                    "misses": int(miss.sum()),
                }
    return list(out.values())


def interval_floor(
    per_set: Mapping[str, Sequence[Row]], control: str = FLOOR_CONTROL, reference: str = "steered"
) -> list[dict[str, Any]]:
    """Per set: the reference's IoU and the floor control's (same readout rule: the controls share the
    reference's settings), and whether the floor is under half the reference (a rule that holds)."""
    out = []
    for name, rows in per_set.items():
        groups = by_condition(rows)
        if control not in groups or reference not in groups:
            continue
        ref, floor = (float(np.mean(row_scores(groups[c])["iou"])) for c in (reference, control))
        hit = float(np.mean(row_scores(groups[control])["hit"]))
        out.append(
            {
                "set": name,
                "reference": reference,
                "iou_reference": ref,
                "control": control,
                "iou_floor": floor,
                "hit_rate_floor": 100.0 * hit,
                "under_half": floor < ref / 2,
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
