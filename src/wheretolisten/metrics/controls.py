"""Controls and settings: what each condition ran with, how the controls compare with chance, and where the
vectors of other queries send the peak (the wrong-query confusion table).

Rows of a control condition carry ``control``; random-vector rows carry every draw's peak
(``draw_peaks_s``); wrong-query rows say which event built the vector (``vector_event``). Rows of the
runner list the scene's events (``events``), so two chance levels are known: a uniformly random peak
(event length / clip) and a peak on a random event (1 / events), the level of a readout that finds sounds
but not which one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .rows import Row, by_condition, carrying, check_rows, row_scores, scenes_of
from .scores import FloatArray, hits, intervals_array
from .stats import bootstrap_ci, holm, mcnemar

__all__ = [
    "CONFUSION",
    "chance_per_row",
    "confusion_table",
    "controls_table",
    "layers_text",
    "settings_table",
]

#: Where a peak lands, in the confusion table's column order.
CONFUSION = ("vector's event", "queried event", "other event", "gap", "no peak")


def layers_text(layers: Any) -> str:
    """``[1]`` → "1", ``[2, 3, 4]`` → "2–4", ``[0, 3]`` → "0, 3"; "—" when there are none."""
    if not isinstance(layers, list) or not layers:
        return "—"
    values = sorted(int(x) for x in layers)
    if len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}–{values[-1]}"
    return ", ".join(map(str, values))


def _readout_text(row: Mapping[str, Any], cfg: Mapping[str, Any]) -> str:
    if row.get("readout_rule"):
        return str(row["readout_rule"])
    if "fraction" in cfg and cfg.get("interval") == "threshold":
        return f"peak Δ, threshold {cfg['fraction']:g} (s {cfg.get('smooth_s', 0):g})"
    if "window_s" in cfg and "interval" in cfg:
        return f"peak Δ, window {cfg['window_s']:g} s (largest Δ mass)"
    return "own"


def _other_text(cfg: Mapping[str, Any]) -> str:
    """What else a condition ran with: its prompt, template count, draws, question or window."""
    if "template" in cfg:
        return f"prompt “{cfg['template']}”"
    if "draws" in cfg:
        return f"{cfg['draws']} random draws per query"
    if "erase" in cfg:
        norm = ", rescaled to the instruction vector's norm" if cfg.get("norm") else ""
        return f"audio contrast, the event erased by gap-level noise{norm}"
    if "instructed_templates" in cfg and "alpha" in cfg:
        return f"vector from {len(cfg['instructed_templates'])} instructed template(s)"
    if "max_new_tokens" in cfg:
        return f"question “{cfg.get('prompt')}”"
    if "window_s" in cfg and "interval" not in cfg:
        return f"loudest {cfg['window_s']:g}-s window"
    return ""


def settings_table(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Per condition: steered layers, readout layers, α, prompt or templates, readout rule, whether tuned."""
    check_rows(rows)
    out = []
    for cond, group in by_condition(rows).items():
        row = group[0]
        cfg = row.get("config") or {}
        steers = "alpha" in cfg and "layers" in cfg
        alpha = float(cfg["alpha"]) * (-1.0 if cfg.get("sign") == -1 else 1.0) if steers else None
        out.append(
            {
                "condition": cond,
                "control": row.get("control") or "",
                "steered layers": layers_text(cfg.get("layers")) if steers else "—",
                "readout layers": layers_text(cfg.get("probe_layers")),
                "alpha": alpha,
                "setting": _other_text(cfg),
                "readout": _readout_text(row, cfg),
                "tuned on dev": str(row.get("tuned") or "no (defaults or given)"),
            }
        )
    return out


def chance_per_row(rows: Sequence[Row]) -> FloatArray:
    """Each row's chance of a uniformly random peak inside its queried event (event length / clip)."""
    gt = intervals_array(r["gt"] for r in rows)
    dur = np.asarray([float(r["duration_s"]) for r in rows], dtype=float)
    inside = np.clip(np.minimum(gt[:, 1], dur) - np.clip(gt[:, 0], 0.0, None), 0.0, None)
    return np.asarray(inside / dur, dtype=float)


def _hit_per_row(group: Sequence[Row]) -> FloatArray:
    """1/0 per row, or the share of draws that hit when the rows carry every draw's peak."""
    if all("draw_peaks_s" in r for r in group):
        return np.asarray(
            [float(np.mean(hits(r["draw_peaks_s"], [r["gt"]] * len(r["draw_peaks_s"])))) for r in group]
        )
    return row_scores(group)["hit"]


def _versus(
    hit: FloatArray, chance: FloatArray, name: str, n_boot: int, seed: int, scenes: Sequence[str]
) -> dict[str, Any]:
    """A chance level (%) and the paired hit − chance with its CI (percentage points)."""
    above = hit - chance
    ci = bootstrap_ci(above, n_boot=n_boot, seed=seed, clusters=scenes)
    return {
        name: 100.0 * float(np.mean(chance)),
        f"above_{name}": 100.0 * float(np.mean(above)),
        f"above_{name}_ci": [100.0 * x for x in ci],
    }


def controls_table(
    rows: Sequence[Row], n_boot: int = 2000, seed: int = 0, reference: str = "steered"
) -> list[dict[str, Any]]:
    """The reference and every control: hit % with CI, the two chance levels and hit − chance with CIs,
    McNemar vs reference (random-vector: its first draw) with Holm's correction over the controls."""
    check_rows(rows)
    groups = by_condition(rows)
    names = [c for c, g in groups.items() if g[0].get("control")]
    if not names:
        return []
    ref = groups.get(reference, [])
    ref_hit = (
        {(r["scene_id"], r["query"]): h > 0 for r, h in zip(ref, row_scores(ref)["hit"], strict=True)}
        if ref
        else {}
    )
    out = []
    for cond in ([reference] if ref else []) + names:
        group = groups[cond]
        per_row, chance, scenes = _hit_per_row(group), chance_per_row(group), scenes_of(group)
        first = row_scores(group)["hit"] > 0
        line: dict[str, Any] = {
            "condition": cond,
            "n": len(group),
            "draws": len(group[0].get("draw_peaks_s", [])) or 1,
            "hit_rate": 100.0 * float(np.mean(per_row)),
            "hit_rate_ci": [
                100.0 * x for x in bootstrap_ci(per_row, n_boot=n_boot, seed=seed, clusters=scenes)
            ],
            **_versus(per_row, chance, "chance", n_boot, seed, scenes),
        }
        if all(r.get("events") for r in group):
            event_chance = np.asarray([1.0 / len(r["events"]) for r in group])
            line.update(_versus(per_row, event_chance, "event_chance", n_boot, seed, scenes))
        if cond != reference and ref_hit:
            keys = [(r["scene_id"], r["query"]) for r in group]
            pairs = [(ref_hit[k], bool(h), k[0]) for k, h in zip(keys, first, strict=True) if k in ref_hit]
            line["mcnemar_p"] = (
                mcnemar([p[0] for p in pairs], [p[1] for p in pairs], clusters=[p[2] for p in pairs])[
                    "p_value"
                ]
                if pairs
                else None
            )
        out.append(line)
    tested = [i for i, line in enumerate(out) if line.get("mcnemar_p") is not None]
    for i, p in zip(tested, holm([out[i]["mcnemar_p"] for i in tested]), strict=True):
        out[i]["mcnemar_p_holm"] = p
    return out


def _landing(row: Row) -> str:
    peak = row["peak_s"]
    if peak is None:
        return "no peak"
    events = row.get("events") or []
    inside = [k for k, (a, b) in enumerate(events) if a <= peak <= b]
    if row.get("vector_event") in inside:
        return "vector's event"
    if row["gt"][0] <= peak <= row["gt"][1]:
        return "queried event"
    return "other event" if inside else "gap"


def confusion_table(rows: Sequence[Row], n_boot: int = 2000, seed: int = 0) -> list[dict[str, Any]]:
    """Where each condition's peaks land (rows listing the scene's events): % of rows per place, with CIs."""
    check_rows(rows)
    out = []
    for cond, group in carrying(rows, "events").items():
        where = np.asarray([_landing(r) for r in group], dtype=object)
        line: dict[str, Any] = {"condition": cond, "n": len(group)}
        for place in CONFUSION:
            if place == "vector's event" and not any("vector_event" in r for r in group):
                continue
            share = (where == place).astype(float)
            line[place] = 100.0 * float(share.mean())
            line[f"{place}_ci"] = [100.0 * x for x in bootstrap_ci(share, n_boot=n_boot, seed=seed)]
        out.append(line)
    return out
