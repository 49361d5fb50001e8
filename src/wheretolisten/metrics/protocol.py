"""The numbers of a ``bench protocol`` run: held-out sets one by one and pooled, with CIs, paired tests
(Holm-corrected), controls, the wrong-query confusion table, interval readouts and the dev study.

Takes plain data (rows per test set, ``tuned.json``, ``readouts.json``), so the summary and the report
(``tables.protocol``, ``report.protocol``) show the same numbers. Pooled rows are the sets' rows with
scene ids prefixed by the set name (pairs stay within a set).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .controls import confusion_table, controls_table, layers_text, settings_table
from .readouts import interval_floor, interval_table, interval_tests, rule_ious_by_set
from .rows import Row, by_condition, row_scores, scenes_of
from .stats import bootstrap_ci, holm, mcnemar
from .summary import breakdown_by_position


def unparsed_answers(per_set: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Per set (and pooled): the direct condition's answers, how many gave no time, and its hit %."""
    table = []
    pooled = [r for rows in per_set.values() for r in rows if r.get("condition") == "direct"]
    for name, rows in [*per_set.items(), ("pooled", pooled)]:
        direct = [r for r in rows if r.get("condition") == "direct"]
        if direct:
            failed = sum(bool(r.get("parse_failed")) for r in direct)
            hit = 100 * float(row_scores(direct)["hit"].mean())
            table.append(
                {
                    "set": name,
                    "answers": len(direct),
                    "unparsed": failed,
                    "share": 100 * failed / len(direct),
                    "hit": hit,
                }
            )
    return table


__all__ = [
    "POOLED",
    "pooled_rows",
    "protocol_data",
    "set_table",
    "steering_vs",
    "unparsed_answers",
]

POOLED = "pooled"


def pooled_rows(per_set: Mapping[str, Sequence[Row]]) -> list[dict[str, Any]]:
    """Every set's rows, scene ids prefixed with the set's name (``test-8s/scene_00003``)."""
    return [{**r, "scene_id": f"{name}/{r['scene_id']}"} for name, rows in per_set.items() for r in rows]


def set_table(per_set: Mapping[str, Sequence[Row]], score: str, n_boot: int) -> list[dict[str, Any]]:
    """Per condition: the mean ``score`` (``hit`` in %, or ``iou``) with its CI in every set and pooled."""
    sets = {**per_set, POOLED: pooled_rows(per_set)}
    scale = 100.0 if score == "hit" else 1.0
    table: dict[str, dict[str, Any]] = {}
    for name, rows in sets.items():
        for cond, group in by_condition(rows).items():
            values = row_scores(group)[score]
            line = table.setdefault(cond, {"condition": cond})
            ci = bootstrap_ci(values, n_boot=n_boot, clusters=scenes_of(group))
            line[name] = [scale * float(values.mean()), [scale * ci[0], scale * ci[1]]]
    return list(table.values())


def steering_vs(per_set: Mapping[str, Sequence[Row]], reference: str = "steered") -> list[dict[str, Any]]:
    """McNemar of ``reference`` vs every other non-control condition in every set and pooled; Holm's
    correction within each set's family of comparisons."""
    out: list[dict[str, Any]] = []
    for name, rows in {**per_set, POOLED: pooled_rows(per_set)}.items():
        groups = by_condition(rows)
        if reference not in groups:
            continue
        ref = {
            (r["scene_id"], r["query"]): h > 0
            for r, h in zip(groups[reference], row_scores(groups[reference])["hit"], strict=True)
        }
        family = []
        for cond, group in groups.items():
            if cond == reference or group[0].get("control"):
                continue
            pairs = [
                (ref[(r["scene_id"], r["query"])], h > 0, r["scene_id"])
                for r, h in zip(group, row_scores(group)["hit"], strict=True)
                if (r["scene_id"], r["query"]) in ref
            ]
            a, b = [p[0] for p in pairs], [p[1] for p in pairs]
            test = mcnemar(a, b, clusters=[p[2] for p in pairs])
            family.append(
                {
                    "set": name,
                    "condition": cond,
                    "pairs": len(pairs),
                    "hit_reference": 100.0 * sum(a) / max(1, len(a)),
                    "hit": 100.0 * sum(b) / max(1, len(b)),
                    "b01": test["b01"],
                    "b10": test["b10"],
                    "mcnemar_p": test["p_value"],
                }
            )
        for line, p in zip(family, holm([f["mcnemar_p"] for f in family]), strict=True):
            line["mcnemar_p_holm"] = p
        out.extend(family)
    return out


def _tuned_table(tuned: Mapping[str, Any], readouts: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for cond, t in tuned.items():
        p = t["point"]
        parts = []
        if p.get("layers"):
            parts.append(f"steer {layers_text(p['layers'])}, α {p['alpha']:g}")
        if p.get("readout"):
            parts.append(f"read {layers_text(p['readout'])}")
        if p.get("templates") and cond == "prompted":
            parts.append(f"template {p['templates'][0]}")
        if p.get("readout") or p.get("layers"):
            parts.append(f"peak {p['peak']}")
        if p.get("window_s"):
            parts.append(f"window {p['window_s']:g} s")
        if p.get("prompt"):
            parts.append(f"question {p['prompt']!r}")
        study = readouts.get("conditions", {}).get(cond, {})
        out.append(
            {
                "condition": cond,
                "grid points": t["grid_points"],
                "dev hit %": t["dev_hit_rate"],
                "dev IoU": t["dev_iou"],
                "chosen": "; ".join(parts),
                "dev interval IoU": max((c["iou"] for c in study.get("candidates", [])), default=None),
            }
        )
    return out


def protocol_data(
    per_set: Mapping[str, Sequence[Row]],
    tuned: Mapping[str, Any],
    readouts: Mapping[str, Any],
    n_boot: int = 2000,
) -> dict[str, Any]:
    """Every table of the protocol summary as plain data (``summary.json``)."""
    pooled = pooled_rows(per_set)
    interval_by_set = {name: interval_tests(rows, n_boot=n_boot) for name, rows in per_set.items()}
    return {
        "sets": {
            name: {"rows": len(rows), "scenes": len({r["scene_id"] for r in rows})}
            for name, rows in per_set.items()
        },
        "tuned": _tuned_table(tuned, readouts),
        "settings": settings_table(pooled),
        "hit_rate": set_table(per_set, "hit", n_boot),
        "iou": set_table(per_set, "iou", n_boot),
        "steered_vs": steering_vs(per_set),
        "controls": controls_table(pooled, n_boot=n_boot),
        "controls_by_set": {name: controls_table(rows, n_boot=n_boot) for name, rows in per_set.items()},
        "confusion": confusion_table(pooled, n_boot=n_boot),
        "intervals": interval_table(pooled, n_boot=n_boot),
        "interval_tests": interval_tests(pooled, n_boot=n_boot),
        "steered_intervals": interval_tests(pooled, n_boot=n_boot, every_interval_of="steered"),
        "interval_tests_by_set": interval_by_set,
        "rule_ious_by_set": rule_ious_by_set({**per_set, POOLED: pooled}),
        "interval_floor": interval_floor({**per_set, POOLED: pooled}),
        "positions": breakdown_by_position([r for r in pooled if not r.get("control")], n_boot=n_boot),
        "dev_study": readouts.get("facts", {}),
        "dev_readouts": {c: v["candidates"] for c, v in readouts.get("conditions", {}).items()},
    }
