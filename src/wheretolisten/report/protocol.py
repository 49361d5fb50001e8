"""The HTML report of a ``bench protocol`` run: the held-out sets one by one and pooled, the dev-chosen
settings, controls with CIs, the wrong-query confusion table, interval readouts and the dev study.

Built from the same data as ``summary.md`` (``metrics.protocol.protocol_data``), so both show the same
numbers; self-contained like the results report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..bench.protocol import Inputs, protocol_inputs
from ..bench.protocol_file import Protocol
from ..files import write_atomic
from ..metrics import format_p
from ..metrics.controls import CONFUSION
from ..metrics.protocol import POOLED, pooled_rows, protocol_data, study_lines
from ..metrics.rigor_text import CONFUSION_LEGEND, CONTROLS_LEGEND, INTERVALS_LEGEND, TESTS_LEGEND
from ..records.documents import read_json
from ..records.layout import SUMMARY_JSON_NAME
from .html import esc, fmt, fmt_ci, html_table, note, page, section
from .sections import label_section, position_section


def _by_set(table: Sequence[Mapping[str, Any]], digits: int) -> str:
    sets = [k for k in table[0] if k != "condition"] if table else []
    rows = [
        [esc(t["condition"]), *(fmt_ci(t[s][0], t[s][1], digits) if s in t else "" for s in sets)]
        for t in table
    ]
    return html_table(["condition", *(f"{s}" for s in sets)], rows)


def _tuned(data: Mapping[str, Any]) -> str:
    tuned = html_table(
        ["condition", "grid points", "dev hit %", "dev IoU", "chosen on dev"],
        [
            [
                esc(t["condition"]),
                fmt(t["grid points"]),
                fmt(t["dev hit %"], 1),
                fmt(t["dev IoU"], 3),
                esc(t["chosen"]),
            ]
            for t in data["tuned"]
        ],
    )
    keys = ("steered layers", "readout layers", "alpha", "setting", "readout", "tuned on dev")
    settings = html_table(
        ["condition", *keys],
        [
            [esc(s["condition"]), *(esc(fmt(s[k], 2) if k == "alpha" else s[k]) for k in keys)]
            for s in data["settings"]
        ],
    )
    text = note(
        "Every tunable condition was tuned on the same dev scenes with a grid of at most the same number of "
        "points (the budget); its interval readout was then chosen on the same dev rows. Controls run with "
        "steered's settings. The test sets were never used for a choice."
    )
    return section("tuning", "Settings chosen on dev", tuned + settings + text)


def _vs(data: Mapping[str, Any]) -> str:
    rows = [
        [
            esc(t["set"]),
            esc(t["condition"]),
            fmt(t["pairs"]),
            fmt(t["hit_reference"], 1),
            fmt(t["hit"], 1),
            f"{t['b01']} / {t['b10']}",
            format_p(t["mcnemar_p"]),
            format_p(t["mcnemar_p_holm"]),
        ]
        for t in data["steered_vs"]
    ]
    headers = ["set", "condition", "pairs", "steered hit %", "hit %", "b01 / b10", "McNemar p", "Holm p"]
    text = note("Exact McNemar on paired hits; Holm's correction within each set's comparisons.")
    return section(
        "paired", "Steered vs each condition, per set and pooled", html_table(headers, rows, 2) + text
    )


def _controls(data: Mapping[str, Any]) -> str:
    def table(controls: Sequence[Mapping[str, Any]]) -> str:
        return html_table(
            [
                "condition",
                "draws",
                "n",
                "hit % [CI]",
                "chance % (uniform)",
                "hit − chance pp [CI]",
                "chance % (one event)",
                "hit − chance pp [CI]",
                "vs steered p (Holm)",
            ],
            [
                [
                    esc(c["condition"]),
                    fmt(c["draws"]),
                    fmt(c["n"]),
                    fmt_ci(c["hit_rate"], c["hit_rate_ci"], 1),
                    fmt(c["chance"], 1),
                    fmt_ci(c["above_chance"], c["above_chance_ci"], 1),
                    fmt(c.get("event_chance"), 1),
                    fmt_ci(c.get("above_event_chance"), c.get("above_event_chance_ci"), 1),
                    format_p(c.get("mcnemar_p_holm")),
                ]
                for c in controls
            ],
        )

    body = f"<h3>{esc(POOLED)}</h3>" + table(data["controls"])
    for name, controls in data["controls_by_set"].items():
        body += f"<h3>{esc(name)}</h3>" + table(controls)
    confusion = data["confusion"]
    places = [p for p in CONFUSION if any(p in c for c in confusion)]
    body += "<h3>Where the peaks land (pooled)</h3>" + html_table(
        ["condition", "n", *(f"{p} % [CI]" for p in places)],
        [
            [esc(c["condition"]), fmt(c["n"]), *(fmt_ci(c.get(p), c.get(f"{p}_ci"), 1) for p in places)]
            for c in confusion
        ],
    )
    text = note(esc(f"{CONTROLS_LEGEND} {CONFUSION_LEGEND}"))
    return section("controls", "Controls", body + text)


def _intervals(data: Mapping[str, Any]) -> str:
    table = html_table(
        ["condition", "interval", "IoU [CI]", "dev-chosen"],
        [
            [
                esc(t["condition"]),
                esc(t["interval"]),
                fmt_ci(t["iou"], t["iou_ci"], 3),
                "yes" if t["chosen_on_dev"] else "",
            ]
            for t in data["intervals"]
        ],
        2,
    )

    def tests(rows: Sequence[Mapping[str, Any]]) -> str:
        return html_table(
            [
                "condition",
                "baseline",
                "pairs",
                "IoU",
                "IoU baseline",
                "difference [CI]",
                "Wilcoxon p",
                "Holm p",
            ],
            [
                [
                    esc(t["condition"]),
                    esc(t["baseline"]),
                    fmt(t["pairs"]),
                    fmt(t["iou"], 3),
                    fmt(t["iou_baseline"], 3),
                    fmt_ci(t["difference"], t["difference_ci"], 3),
                    format_p(t["wilcoxon_p"]),
                    format_p(t["wilcoxon_p_holm"]),
                ]
                for t in rows
            ],
            2,
        )

    body = table + "<h3>pooled</h3>" + tests(data["interval_tests"])
    body += "<h3>every interval steered's rows record, pooled</h3>" + tests(data.get("steered_intervals", []))
    for name, rows in data["interval_tests_by_set"].items():
        body += f"<h3>{esc(name)}</h3>" + tests(rows)
    text = note(esc(f"{INTERVALS_LEGEND} {TESTS_LEGEND}"))
    return section("intervals", "Interval readouts (held-out)", body + text)


def _study(data: Mapping[str, Any]) -> str:
    items = [f"<li>{esc(line)}</li>" for line in study_lines(data["dev_study"])]
    rows = [
        [esc(c), esc(x["family"]), esc(x["rule"]), fmt(x["iou"], 3), fmt(x["hit_rate"], 1)]
        for c, cands in data["dev_readouts"].items()
        for x in cands
    ]
    table = html_table(["condition", "family", "rule", "dev IoU", "dev hit %"], rows, 3)
    return section("study", "Dev study of the readout", f"<ul>{''.join(items)}</ul>" + table)


def render_protocol_report(
    data: Mapping[str, Any], per_set: Mapping[str, Sequence[Any]], protocol: Protocol
) -> str:
    """The whole page (deterministic for the same inputs)."""
    pooled = [r for r in pooled_rows(per_set) if not r.get("control")]
    sets = ", ".join(
        f"{t.name} ({t.n} scenes, {t.duration_s:g} s, {t.events} events"
        + (f", {t.draws} draws)" if t.draws > 1 else ")")
        for t in protocol.tests
    )
    dev = protocol.dev
    text = (
        f"Dev: {dev.n} scenes ({dev.duration_s:g} s, {dev.events} events, seed {dev.seed}). Held-out test "
        f"sets: {sets}. Bank: {protocol.bank}. 95% CIs: percentile bootstrap over queries."
    )
    head = "<h1>wheretolisten: benchmark protocol</h1>\n" + note(esc(text))
    body = (
        _tuned(data)
        + section("hits", "Hit rate % by test set", _by_set(data["hit_rate"], 1))
        + section("iou", "IoU by test set", _by_set(data["iou"], 3))
        + _vs(data)
        + _controls(data)
        + _intervals(data)
        + position_section(pooled, 2000, 0)
        + label_section(pooled)
        + _study(data)
    )
    return page("wheretolisten benchmark protocol", head + body)


def write_protocol_report(
    out_dir: str | os.PathLike[str],
    protocol: Protocol,
    path: Path | None = None,
    inputs: Inputs | None = None,
) -> Path:
    """Write ``report.html`` of a finished run in ``out_dir`` (its ``summary.json`` when present) from
    ``inputs`` (``ProtocolReport.inputs``), else from the files in ``out_dir``."""
    from ..figures import require_matplotlib

    require_matplotlib()
    out = Path(out_dir)
    per_set, tuned, readouts = inputs or protocol_inputs(out, protocol)
    summary = out / SUMMARY_JSON_NAME
    data = (
        read_json(summary, "protocol summary")
        if summary.is_file()
        else protocol_data(per_set, tuned, readouts)
    )
    return write_atomic(path or out / "report.html", render_protocol_report(data, per_set, protocol))


__all__ = ["render_protocol_report", "write_protocol_report"]
