"""The summary of a ``bench protocol`` run (``summary.md``): the specs of its own tables, the verdicts and
the dev study as sentences, and the markdown; the numbers come from ``metrics.protocol.protocol_data``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wheretolisten.metrics.protocol import POOLED, pooled_rows, protocol_data
from wheretolisten.metrics.rows import Row

from .markdown import format_number, format_p, markdown
from .rigor import interval_tests_table, rigor_sections
from .spec import Cells, Column, Line, Table, keyed, number, p_value, pair, text
from .summary import POSITIONS

#: The direct condition's answers that gave no time, per set and pooled
#: (``metrics.protocol.unparsed_answers``).
UNPARSED = Table(
    (
        text("set", "set"),
        number("answers", "answers", 0),
        number("unparsed", "unparsed", 0),
        number("unparsed %", "share", 1),
        number("hit %", "hit", 1),
    )
)


def unparsed_text(rows: Sequence[Line]) -> str:
    """The direct condition's unparsed answers as a summary.md section (empty without direct rows)."""
    if not rows:
        return ""
    return (
        "## Direct prompting: answers with no time in them, per set\n\n"
        + markdown(UNPARSED, rows)
        + "\n\nAn unparsed answer counts as a miss in the direct condition's hit rate.\n"
    )


__all__ = [
    "BEST_RULES",
    "FLOOR",
    "RULES",
    "STEERED_VS",
    "TUNED",
    "UNPARSED",
    "best_rules",
    "by_set",
    "miss_text",
    "protocol_summary",
    "study_lines",
    "unparsed_text",
    "verdict_lines",
]


def by_set(digits: int) -> Table:
    """Per condition, the score with its CI in every set and pooled (``metrics.protocol.set_table``)."""

    def cell(r: Line, c: Cells, s: str) -> str:
        return c.ci(r[s][0], r[s][1], digits) if s in r else ""

    def sets(rows: Sequence[Line]) -> list[Column]:
        return [keyed(s, s, cell) for s in dict.fromkeys(k for r in rows for k in r if k != "condition")]

    return Table((text("condition", "condition"),), sets)


def _rule_sets(rows: Sequence[Line]) -> list[Column]:
    """One column per set: the IoU over all queries / over the misses."""

    def cell(r: Line, c: Cells, s: str) -> str:
        if s not in r["sets"]:
            return ""
        v = r["sets"][s]
        return f"{c.number(v['iou'], 3)} / {c.number(v['iou_misses'], 3) or '–'}"

    names = dict.fromkeys(s for r in rows for s in r["sets"])
    return [keyed(s, s, cell) for s in names]


#: Every recorded interval rule's IoU per set (``metrics.readouts.rule_ious_by_set``).
RULES = Table((text("condition", "condition"), text("interval", "interval")), _rule_sets)
#: The negative control's IoU against steered's, per set (``metrics.readouts.interval_floor``).
FLOOR = Table(
    (
        text("set", "set"),
        number("steered IoU", "iou_reference", 3),
        Column(
            "negative IoU (hit %)",
            lambda r, c: f"{c.number(r['iou_floor'], 3)} ({c.number(r['hit_rate_floor'], 1)})",
        ),
        Column("holds", lambda r, c: "yes" if r["under_half"] else "NO"),
    )
)
#: Steered vs each condition, per set and pooled (``metrics.protocol.steering_vs``).
STEERED_VS = Table(
    (
        text("set", "set"),
        text("condition", "condition"),
        number("pairs", "pairs"),
        pair("hit % steered / this", "hit_reference", "hit", 1),
        Column("b01 / b10", lambda r, c: f"{r['b01']} / {r['b10']}"),
        p_value("McNemar p", "mcnemar_p"),
        p_value("Holm p", "mcnemar_p_holm"),
    )
)
#: The settings each tunable condition chose on dev (``protocol_data()["tuned"]``).
TUNED = Table(
    (
        text("condition", "condition"),
        number("grid", "grid points"),
        number("dev hit %", "dev hit %", 1),
        number("dev IoU", "dev IoU", 3),
        text("chosen on dev", "chosen"),
    )
)
#: The best interval rule of each family on dev, per condition (:func:`best_rules`).
BEST_RULES = Table(
    (
        text("condition", "condition"),
        text("family", "family"),
        text("best rule on dev", "rule"),
        number("dev IoU", "iou", 3),
        number("dev hit %", "hit_rate", 1, show="html"),
    )
)


def best_rules(candidates: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """The best candidate rule (highest dev IoU) of each family, per condition."""
    best = []
    for cond, cands in candidates.items():
        for fam in dict.fromkeys(c["family"] for c in cands):
            top = max((c for c in cands if c["family"] == fam), key=lambda c: c["iou"])
            best.append({"condition": cond, **top})
    return best


def _verdict(t: Mapping[str, Any]) -> str:
    """One comparison's verdict: who wins at Holm p < 0.05, else no significant difference."""
    if not t["mcnemar_p_holm"] < 0.05:
        return "no significant difference"
    winner, loser = (
        ("steered", t["condition"]) if t["hit_reference"] > t["hit"] else (t["condition"], "steered")
    )
    return f"{winner} beats {loser}"


def _compared(t: Mapping[str, Any]) -> str:
    diff = t["hit_reference"] - t["hit"]
    return f"{diff:+.1f} pp, Holm p {format_p(t['mcnemar_p_holm'])}"


def verdict_lines(
    vs: Sequence[Mapping[str, Any]], groups: Mapping[str, Sequence[str]] | None = None
) -> list[str]:
    """Steered vs each condition: the pooled verdict, then each test set's, stated only where every draw
    of the set gives the same verdict (``groups``: set → its draws; default: each set is one draw)."""
    by = {(t["set"], t["condition"]): t for t in vs}
    sets = groups or {s: [s] for s in dict.fromkeys(t["set"] for t in vs) if s != POOLED}
    lines = []
    for cond in dict.fromkeys(t["condition"] for t in vs):
        pooled = by.get((POOLED, cond))
        head = (
            f"- steered vs {cond}: pooled {_verdict(pooled)} ({_compared(pooled)})" if pooled else f"- {cond}"
        )
        per = []
        for name, draws in sets.items():
            found = [by[(d, cond)] for d in draws if (d, cond) in by]
            if not found:
                continue
            verdicts = {_verdict(t) for t in found}
            detail = "; ".join(_compared(t) for t in found)
            if len(found) < len(draws):
                per.append(f"{name}: {len(found)} of {len(draws)} draws run, no per-set verdict")
            elif len(verdicts) == 1:
                every = f"all {len(found)} draws" if len(found) > 1 else "one draw"
                per.append(f"{name}: {verdicts.pop()} ({every}: {detail})")
            else:
                per.append(f"{name}: draws disagree ({detail}), no per-set verdict")
        lines.append(head + (". Per set: " + "; ".join(per) if per else "") + ".")
    return lines


def _control_lines(controls: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = []
    for c in controls:
        parts = []
        for key, name in (("chance", "uniform"), ("event_chance", "one-event")):
            if f"above_{key}" not in c:
                continue
            lo, hi = c[f"above_{key}_ci"]
            where = "within" if lo <= 0 <= hi else ("above" if lo > 0 else "below")
            parts.append(f"{c[f'above_{key}']:+.1f} pp ({lo:.1f} to {hi:.1f}) vs {name} chance: {where}")
        lines.append(f"- {c['condition']} hits {c['hit_rate']:.1f} %: " + "; ".join(parts) + ".")
    return lines


def protocol_summary(
    per_set: Mapping[str, Sequence[Row]],
    tuned: Mapping[str, Any],
    readouts: Mapping[str, Any],
    protocol: Mapping[str, Any],
    n_boot: int = 2000,
    groups: Mapping[str, Sequence[str]] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The protocol summary as markdown, and its tables as data; ``groups``: each test set → its draws
    (the keys of ``per_set``), per-set verdicts only where every draw agrees."""
    data = protocol_data(per_set, tuned, readouts, n_boot)
    dev = protocol.get("dev", {})
    sets = ", ".join(
        f"{t['name']} ({t['n']} × {t['duration_s']:g} s, {t['events']} events, seed {t['seed']}"
        + (
            f", {t['draws']} draws: {', '.join((groups or {}).get(t['name'], []))}"
            if t.get("draws", 1) > 1
            else ""
        )
        + ")"
        for t in protocol.get("tests", [])
    )
    parts = [
        "# Benchmark protocol: held-out results\n",
        f"Dev split: {dev.get('n')} scenes ({dev.get('duration_s', 0):g} s, {dev.get('events')} events, seed "
        f"{dev.get('seed')}); every setting below was chosen there. Held-out test sets: {sets}. 95% CIs: "
        "percentile bootstrap over queries (over scenes, whole, when a scene has several queries). Paired "
        "tests: exact McNemar on hits (clustered by scene when a scene has several queries), Wilcoxon "
        "signed-rank on IoU; Holm's correction within each table's family of tests. A per-set verdict is "
        "stated only where every draw of the set agrees.\n",
        "## Verdicts (held-out)\n\n"
        + "\n".join(
            [
                *verdict_lines(data["steered_vs"], groups),
                *_control_lines([c for c in data["controls"] if c["condition"] != "steered"]),
            ]
        )
        + "\n",
        _part("Settings chosen on dev (grid points per condition, budget equal)", TUNED, data["tuned"]),
        _part("Hit rate % by test set (95% CI)", by_set(1), data["hit_rate"]),
        _part("IoU by test set (95% CI)", by_set(3), data["iou"]),
        _part(
            "IoU of every recorded interval rule, per set: all queries / misses only",
            RULES,
            data["rule_ious_by_set"],
        )
        + "\nreadout: the row's own interval (the rule chosen on dev); the others: each family's best rule "
        "on dev, recorded beside it. misses: queries whose peak is outside every interval of the query; an "
        "IoU there is what a rule gives without finding the sound.\n",
        _part("The floor: the negative control's IoU vs steered's, per set", FLOOR, data["interval_floor"])
        + "\nnegative: the steered condition's settings with −α (it almost never hits); its "
        "IoU is what the interval rule gives for free. holds: the floor is under half of steered's IoU.\n",
        _part(
            "Steered vs each condition, per set and pooled (McNemar, Holm within set)",
            STEERED_VS,
            data["steered_vs"],
        ),
    ]
    for s in rigor_sections(pooled_rows(per_set), n_boot):
        parts.append(f"## {s.title} (pooled)\n\n{markdown(s.table, s.data)}\n" + "\n".join(s.legend) + "\n")
    per_set_tests = [
        {**t, "condition": f"{name}: {t['condition']}"}
        for name, tests in data["interval_tests_by_set"].items()
        for t in tests
        if t["condition"] == "steered"
    ]
    if data["steered_intervals"]:
        title = "Every interval steered's rows record vs the baselines' readouts (pooled, Holm)"
        parts.append(_part(title, interval_tests_table("interval", pairs=False), data["steered_intervals"]))
    if per_set_tests:
        title = "Steered's interval IoU vs the baselines, per set"
        parts.append(_part(title, interval_tests_table("interval", pairs=False, holm=False), per_set_tests))
    parts.append(_part("Hit rate % by target position (pooled)", POSITIONS, data["positions"]))
    parts.append(_study_text(data["dev_study"], data["dev_readouts"]))
    return "\n".join(parts), data


def miss_text(facts: Mapping[str, Any]) -> str:
    """How far a position's misses land from the event, and how many of them in another event."""
    text = format_number(facts["median_miss_distance_s"], 2)
    if not text:
        return "no misses"
    share = format_number(facts.get("misses_in_another_event"), 0)
    return f"misses a median {text} s from the event" + (
        f", {share} % of them in another event" if share else ""
    )


def _part(title: str, table: Table, rows: Sequence[Mapping[str, Any]]) -> str:
    return f"## {title}\n\n{markdown(table, rows)}"


def study_lines(facts: Mapping[str, Any]) -> list[str]:
    """The dev study's facts as sentences: why half-height intervals are short, the attention at the
    clip's edges, and where each position's misses land."""
    lines = []
    for cond, f in facts.items():
        if "median_event_s" in f:
            lines.append(
                f"{cond}: median event {f['median_event_s']:.2f} s, median half-height interval "
                f"{f['median_half_height_s']:.2f} s; base attention share in the first / last 0.2 s "
                f"{f['base_share_first_0_2s']:.3f} / {f['base_share_last_0_2s']:.3f} (uniform "
                f"{f['uniform_share_0_2s']:.3f})."
            )
        pos = "; ".join(
            f"{p}: hit {v['hit_rate']:.0f} %, " + miss_text(v)
            for p, v in f.get("by_position", {}).items()
            if v["n"]
        )
        if pos:
            lines.append(f"{cond} by target position: {pos}.")
    return lines


def _study_text(facts: Mapping[str, Any], candidates: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """The dev study: its facts, and the best rule of each family per condition."""
    lines = ["## Dev study of the readout (dev split only)\n", *(f"- {line}" for line in study_lines(facts))]
    return "\n".join(lines) + "\n\n" + markdown(BEST_RULES, best_rules(candidates))
