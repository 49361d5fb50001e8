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

from ..bench.protocol import Inputs, present, protocol_inputs
from ..bench.protocol_file import Protocol
from ..files import write_atomic
from ..metrics.protocol import POOLED, pooled_rows, protocol_data
from ..records.documents import read_json
from ..records.layout import SUMMARY_JSON_NAME
from ..tables import Table
from ..tables.protocol import BEST_RULES, STEERED_VS, TUNED, best_rules, by_set, study_lines
from ..tables.rigor import (
    CONFUSION_LEGEND,
    CONFUSION_TABLE,
    CONTROLS,
    CONTROLS_LEGEND,
    INTERVAL_TESTS,
    INTERVALS,
    INTERVALS_LEGEND,
    SETTINGS,
    TESTS_LEGEND,
)
from .html import esc, note, page, section, spec_table
from .sections import label_section, position_section


def _tuned(data: Mapping[str, Any]) -> str:
    text = note(
        "Every tunable condition was tuned on the same dev scenes with a grid of at most the same number of "
        "points (the budget); its interval readout was then chosen on the same dev rows. Controls run with "
        "steered's settings. The test sets were never used for a choice."
    )
    body = spec_table(TUNED, data["tuned"]) + spec_table(SETTINGS, data["settings"])
    return section("tuning", "Settings chosen on dev", body + text)


def _vs(data: Mapping[str, Any]) -> str:
    text = note("Exact McNemar on paired hits; Holm's correction within each set's comparisons.")
    table = spec_table(STEERED_VS, data["steered_vs"], 2)
    return section("paired", "Steered vs each condition, per set and pooled", table + text)


def _headed(table: Table, parts: Mapping[str, Sequence[Mapping[str, Any]]], numeric_from: int) -> str:
    """One table per part, each under its heading."""
    return "".join(f"<h3>{esc(h)}</h3>" + spec_table(table, rows, numeric_from) for h, rows in parts.items())


def _controls(data: Mapping[str, Any]) -> str:
    body = _headed(CONTROLS, {POOLED: data["controls"], **data["controls_by_set"]}, 1)
    body += _headed(CONFUSION_TABLE, {"Where the peaks land (pooled)": data["confusion"]}, 1)
    text = note(esc(f"{CONTROLS_LEGEND} {CONFUSION_LEGEND}"))
    return section("controls", "Controls", body + text)


def _intervals(data: Mapping[str, Any]) -> str:
    tests = {
        POOLED: data["interval_tests"],
        "every interval steered's rows record, pooled": data.get("steered_intervals", []),
        **data["interval_tests_by_set"],
    }
    body = spec_table(INTERVALS, data["intervals"], 2) + _headed(INTERVAL_TESTS, tests, 2)
    text = note(esc(f"{INTERVALS_LEGEND} {TESTS_LEGEND}"))
    return section("intervals", "Interval readouts (held-out)", body + text)


def _study(data: Mapping[str, Any]) -> str:
    items = [f"<li>{esc(line)}</li>" for line in study_lines(data["dev_study"])]
    table = spec_table(BEST_RULES, best_rules(data["dev_readouts"]), 3)
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
        + section("hits", "Hit rate % by test set", spec_table(by_set(1), data["hit_rate"]))
        + section("iou", "IoU by test set", spec_table(by_set(3), data["iou"]))
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
    protocol = present(out, protocol)[0]  # optional sets the run skipped
    per_set, tuned, readouts = inputs or protocol_inputs(out, protocol)
    summary = out / SUMMARY_JSON_NAME
    data = (
        read_json(summary, "protocol summary")
        if summary.is_file()
        else protocol_data(per_set, tuned, readouts)
    )
    return write_atomic(path or out / "report.html", render_protocol_report(data, per_set, protocol))


__all__ = ["render_protocol_report", "write_protocol_report"]
