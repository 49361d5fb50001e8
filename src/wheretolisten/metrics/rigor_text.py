"""The summary sections on rigor: settings per condition, controls vs chance, the wrong-query confusion
table, and interval readouts against the baselines (each shown when the rows carry what it needs)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from .controls import CONFUSION, confusion_table, controls_table, settings_table
from .readouts import interval_table, interval_tests
from .rows import Row
from .tables import format_ci, format_number, format_p

__all__ = [
    "CONFUSION_LEGEND",
    "CONTROLS_LEGEND",
    "INTERVALS_LEGEND",
    "SETTINGS_LEGEND",
    "TESTS_LEGEND",
    "Section",
    "rigor_sections",
]


class Section(NamedTuple):
    """A titled table: its dicts (every column), their compact view, and its legend."""

    title: str
    data: list[dict[str, Any]]
    compact: Callable[[list[dict[str, Any]]], list[dict[str, str]]]
    legend: list[str]


def _settings_view(table: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {
            "condition": s["condition"],
            "steered layers": s["steered layers"],
            "readout layers": s["readout layers"],
            "α": format_number(s["alpha"], 2) or "—",
            "readout": s["readout"],
            "tuned on dev": s["tuned on dev"],
        }
        for s in table
    ]


def _controls_view(table: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {
            "condition": c["condition"] + (f" ({c['draws']} draws)" if c["draws"] > 1 else ""),
            "n": format_number(c["n"]),
            "hit % (95% CI)": format_ci(c["hit_rate"], c["hit_rate_ci"], 1),
            "chance % unif / event": " / ".join(
                format_number(c.get(k), 1) for k in ("chance", "event_chance")
            ),
            "hit − unif pp (CI)": format_ci(c["above_chance"], c["above_chance_ci"], 1),
            "p vs steered": format_p(c.get("mcnemar_p_holm")),
        }
        for c in table
    ]


def _confusion_view(table: list[dict[str, Any]]) -> list[dict[str, str]]:
    out = []
    for c in table:
        line = {"condition": c["condition"], "n": format_number(c["n"])}
        for place in CONFUSION:
            if place in c and (place != "no peak" or c[place] > 0):
                line[f"{place} %"] = format_ci(c[place], c[f"{place}_ci"], 1)
        out.append(line)
    return out


def _intervals_view(table: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {
            "condition": t["condition"],
            "interval": t["interval"],
            "IoU (95% CI)": format_ci(t["iou"], t["iou_ci"], 3),
            "dev-chosen": "yes" if t["chosen_on_dev"] else "",
        }
        for t in table
    ]


def _tests_view(table: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {
            "condition": t["condition"],
            "baseline": t["baseline"],
            "pairs": format_number(t["pairs"]),
            "IoU this / base": f"{format_number(t['iou'], 3)} / {format_number(t['iou_baseline'], 3)}",
            "difference (CI)": format_ci(t["difference"], t["difference_ci"], 3),
            "Wilcoxon p": format_p(t["wilcoxon_p"]),
            "Holm p": format_p(t["wilcoxon_p_holm"]),
        }
        for t in table
    ]


SETTINGS_LEGEND = (
    "steered layers / readout layers / α: where the vector was added, the layers whose attention was "
    "read, and its strength (— : the condition does not steer or read attention). readout: where the peak "
    "and the interval were read. tuned on dev: whether these were chosen on the dev split (dev: every "
    "setting; dev (readout): the readout only; controls run with steered's settings)."
)
CONTROLS_LEGEND = (
    "Controls run with steered's settings and change one thing: random-vector (random directions with the "
    "instruction vector's norm at every layer; hit % over all draws), wrong-query (the vector of another "
    "event of the scene), absent-class (a class not in the scene), neutral-contrast (neutral minus neutral "
    "paraphrase), negative (−α). chance %: a uniformly random peak (unif: event length / clip) and a "
    "peak on a random event of the scene (event: 1 / events, the level of a readout that finds sounds but "
    "not which one); hit − chance: paired per query. vs steered p: exact McNemar (random-vector: its first "
    "draw), Holm-corrected over the controls."
)
CONFUSION_LEGEND = (
    "Where the peak lands: in the event whose query built the vector (wrong-query), in the queried event, "
    "in another event of the scene, or in a gap between events (a miss in another event is a confusion of "
    "sounds; one in a gap, of nothing). 95% bootstrap CIs."
)
INTERVALS_LEGEND = (
    "Every interval each row records: own (the condition's readout: half-height threshold on Δ, the "
    "loudest window, a uniform interval, the model's answer) and each rule's (the dev-chosen one and the "
    "best of each other family on dev). snap: the audio's own active span (energy above the clip's quiet "
    "level) around the peak."
)
TESTS_LEGEND = (
    "Each condition's readout interval against the baselines' (their dev-chosen readout, and their own "
    "interval), paired by (scene, query): mean IoU difference with a 95% bootstrap CI, Wilcoxon signed-rank "
    "p, and Holm's correction over every test of this table."
)


def rigor_sections(rows: Sequence[Row], n_boot: int) -> list[Section]:
    """The sections whose data the rows carry (settings need ``config``; controls need ``control``; ...)."""
    sections: list[Section] = []
    if all(r.get("config") for r in rows):
        table = settings_table(rows)
        extra = [f"{s['condition']}: {s['setting']}" for s in table if s["setting"]]
        sections.append(Section("Settings per condition", table, _settings_view, [SETTINGS_LEGEND, *extra]))
    controls = controls_table(rows, n_boot=n_boot)
    if controls:
        sections.append(Section("Controls vs chance", controls, _controls_view, [CONTROLS_LEGEND]))
    confusion = confusion_table(rows, n_boot=n_boot)
    if confusion:
        title = "Where the peaks land"
        sections.append(Section(title, confusion, _confusion_view, [CONFUSION_LEGEND]))
    intervals = interval_table(rows, n_boot=n_boot)
    if intervals:
        sections.append(Section("Interval readouts (IoU)", intervals, _intervals_view, [INTERVALS_LEGEND]))
        tests = interval_tests(rows, n_boot=n_boot)
        if tests:
            title = "Interval IoU vs the baselines"
            sections.append(Section(title, tests, _tests_view, [TESTS_LEGEND]))
    return sections
