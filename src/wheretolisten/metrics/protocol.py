"""The summary of a ``bench protocol`` run: held-out sets one by one and pooled, with CIs, paired tests
(Holm-corrected), controls, the wrong-query confusion table, interval readouts and the dev study.

Takes plain data (rows per test set, ``tuned.json``, ``readouts.json`` and the protocol as a dict), so
the report and the summary read the same numbers. Pooled rows are the sets' rows with scene ids
prefixed by the set name (pairs stay within a set).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .controls import confusion_table, controls_table, layers_text, settings_table
from .readouts import interval_floor, interval_table, interval_tests, rule_ious_by_set
from .rigor_text import rigor_sections
from .rows import Row, by_condition, row_scores, scenes_of
from .stats import bootstrap_ci, holm, mcnemar
from .summary import breakdown_by_position
from .tables import format_ci, format_number, format_p, format_table

__all__ = [
    "POOLED",
    "miss_text",
    "pooled_rows",
    "protocol_data",
    "protocol_summary",
    "set_table",
    "steering_vs",
    "study_lines",
    "verdict_lines",
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


def _by_set_view(table: Sequence[Mapping[str, Any]], digits: int) -> list[dict[str, str]]:
    return [
        {k: (v if k == "condition" else format_ci(v[0], v[1], digits)) for k, v in line.items()}
        for line in table
    ]


def _rules_view(table: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    out = []
    for line in table:
        row = {"condition": line["condition"], "interval": line["interval"]}
        for name, v in line["sets"].items():
            row[name] = f"{format_number(v['iou'], 3)} / {format_number(v['iou_misses'], 3) or '–'}"
        out.append(row)
    return out


def _floor_view(table: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    return [
        {
            "set": t["set"],
            "steered IoU": format_number(t["iou_reference"], 3),
            "negative IoU (hit %)": f"{format_number(t['iou_floor'], 3)} ({t['hit_rate_floor']:.1f})",
            "holds": "yes" if t["under_half"] else "NO",
        }
        for t in table
    ]


def _vs_view(table: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    return [
        {
            "set": t["set"],
            "condition": t["condition"],
            "pairs": str(t["pairs"]),
            "hit % steered / this": f"{t['hit_reference']:.1f} / {t['hit']:.1f}",
            "b01 / b10": f"{t['b01']} / {t['b10']}",
            "McNemar p": format_p(t["mcnemar_p"]),
            "Holm p": format_p(t["mcnemar_p_holm"]),
        }
        for t in table
    ]


def _tuned_view(table: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    return [
        {
            "condition": t["condition"],
            "grid": str(t["grid points"]),
            "dev hit %": format_number(t["dev hit %"], 1),
            "dev IoU": format_number(t["dev IoU"], 3),
            "chosen on dev": t["chosen"],
        }
        for t in table
    ]


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
        _part("Settings chosen on dev (grid points per condition, budget equal)", _tuned_view(data["tuned"])),
        _part("Hit rate % by test set (95% CI)", _by_set_view(data["hit_rate"], 1)),
        _part("IoU by test set (95% CI)", _by_set_view(data["iou"], 3)),
        _part(
            "IoU of every recorded interval rule, per set: all queries / misses only",
            _rules_view(data["rule_ious_by_set"]),
        )
        + "\nreadout: the row's own interval (the rule chosen on dev); the others: each family's best rule "
        "on dev, recorded beside it. misses: queries whose peak is outside every interval of the query; an "
        "IoU there is what a rule gives without finding the sound.\n",
        _part(
            "The floor: the negative control's IoU vs steered's, per set", _floor_view(data["interval_floor"])
        )
        + "\nnegative: the steered condition's settings with −α (it almost never hits); its "
        "IoU is what the interval rule gives for free. holds: the floor is under half of steered's IoU.\n",
        _part(
            "Steered vs each condition, per set and pooled (McNemar, Holm within set)",
            _vs_view(data["steered_vs"]),
        ),
    ]
    for s in rigor_sections(pooled_rows(per_set), n_boot):
        parts.append(
            f"## {s.title} (pooled)\n\n{format_table(s.compact(s.data))}\n" + "\n".join(s.legend) + "\n"
        )
    per_set_tests = [
        {**t, "condition": f"{name}: {t['condition']}"}
        for name, tests in data["interval_tests_by_set"].items()
        for t in tests
        if t["condition"] == "steered"
    ]
    if data["steered_intervals"]:
        title = "Every interval steered's rows record vs the baselines' readouts (pooled, Holm)"
        parts.append(_part(title, _tests_rows(data["steered_intervals"], holm=True)))
    if per_set_tests:
        parts.append(_part("Steered's interval IoU vs the baselines, per set", _tests_rows(per_set_tests)))
    positions = [
        {
            "condition": p["condition"],
            "position": p["position"],
            "n": str(p["n"]),
            "hit % (95% CI)": format_ci(p["hit_rate"], p["hit_rate_ci"], 1),
        }
        for p in data["positions"]
    ]
    parts.append(_part("Hit rate % by target position (pooled)", positions))
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


def _part(title: str, table: list[dict[str, Any]]) -> str:
    return f"## {title}\n\n{format_table(table)}"


def _tests_rows(tests: Sequence[Mapping[str, Any]], holm: bool = False) -> list[dict[str, str]]:
    out = []
    for t in tests:
        line = {
            "interval": t["condition"],
            "baseline": t["baseline"],
            "IoU this / base": f"{format_number(t['iou'], 3)} / {format_number(t['iou_baseline'], 3)}",
            "difference (CI)": format_ci(t["difference"], t["difference_ci"], 3),
            "Wilcoxon p": format_p(t["wilcoxon_p"]),
        }
        if holm:
            line["Holm p"] = format_p(t["wilcoxon_p_holm"])
        out.append(line)
    return out


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
    best = []
    for cond, cands in candidates.items():
        for fam in dict.fromkeys(c["family"] for c in cands):
            top = max((c for c in cands if c["family"] == fam), key=lambda c: c["iou"])
            best.append(
                {
                    "condition": cond,
                    "family": fam,
                    "best rule on dev": top["rule"],
                    "dev IoU": format_number(top["iou"], 3),
                }
            )
    return "\n".join(lines) + "\n\n" + format_table(best)
