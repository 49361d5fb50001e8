"""Tables (markdown, CSV) and the terminal summary text: widths, units, legends, sections, errors."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from metric_rows import CONDITIONS, hand_rows, six_condition_rows
from wheretolisten import metrics as m
from wheretolisten import tables as t
from wheretolisten.errors import DataError, OptionError, WTLError

WIDTH = 100


def test_format_table_markdown() -> None:
    summary = [
        {"condition": "steered", "n": 4, "hit_rate": 75.0, "hit_rate_ci": [50.0, 100.0], "mcnemar_p": 0.0001},
        {"condition": "text", "n": 4, "hit_rate": 25.0, "hit_rate_ci": [0.0, 62.5], "mcnemar_p": 0.25},
    ]
    out = t.format_table(summary)
    lines = out.strip().split("\n")
    assert lines[0] == "| condition | n | hit_rate | hit_rate_ci | mcnemar_p |"
    assert lines[1] == "|---|---|---|---|---|"
    assert lines[2] == "| steered | 4 | 75.00 | 50.00–100.00 | <0.001 |"
    assert lines[3] == "| text | 4 | 25.00 | 0.00–62.50 | 0.250 |"


def test_format_table_csv() -> None:
    summary = m.summarize(hand_rows(), n_boot=100)
    out = t.format_table(summary, fmt="csv")
    table = list(csv.reader(io.StringIO(out)))
    header, first, second = table[0], table[1], table[2]
    assert header[:5] == ["condition", "n", "hit_rate", "hit_rate_ci_lo", "hit_rate_ci_hi"]
    assert "parse_failures" in header and "attn_share_delta_ci_lo" in header
    assert first[:3] == ["steered", "4", "75.00"]
    assert second[header.index("parse_failures")] == "1"
    assert second[header.index("attn_share")] == ""
    assert len({len(r) for r in table}) == 1


def test_format_table_rejects_unknown_format() -> None:
    with pytest.raises(ValueError):
        t.format_table([], fmt="latex")
    assert t.format_table([]) == ""


def _sections(text: str) -> list[str]:
    return [line[3:] for line in text.splitlines() if line.startswith("## ")]


@pytest.mark.parametrize(("n", "profiles"), [(60, False), (60, True), (1200, False)])
def test_summary_text_fits_a_terminal(n: int, profiles: bool) -> None:
    rows = six_condition_rows(n=n, profiles=profiles)
    text = t.summary_text(rows, n_boot=100)
    too_wide = [line for line in text.splitlines() if len(line) > WIDTH]
    assert too_wide == []
    expected = ["Localization by condition", "Hit rate by target position", "Hit rate (%) by event class"]
    expected.append("Paired tests vs steered")
    if profiles and m.sed_available():
        expected.append("Δ curves as detectors (collar F1 at the best threshold, PSDS)")
    assert _sections(text) == expected
    for cond in CONDITIONS:
        assert f"| {cond} |" in text
    # the wide view is what did not fit: every column, as before
    wide = t.summary_text(rows, wide=True, n_boot=100)
    assert _sections(wide) == expected
    assert max(len(line) for line in wide.splitlines()) > WIDTH


def test_summary_text_shortens_a_class_name_that_does_not_fit() -> None:
    long_name = "a field recording of rain on a tin roof with distant thunder and traffic"
    rows = [{**r, "label": long_name} if r["label"] == "dog barking" else r for r in six_condition_rows(n=9)]
    text = t.summary_text(rows, n_boot=50)
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    assert long_name not in text and f"| {long_name[:20]}" in text and "…" in text
    assert long_name in t.summary_text(rows, wide=True, n_boot=50)


def test_summary_text_units_legends_and_numbers() -> None:
    rows = hand_rows()
    text = t.summary_text(rows, n_boot=300)
    st = m.summarize(rows, n_boot=300)[0]
    table = text.split("## Localization by condition\n\n")[1].split("\n\n")[0].splitlines()
    header = "| condition | n | hit % (95% CI) | IoU 0–1 (95% CI) | R@IoU≥0.3 % | unparsed | share Δ | Δ p |"
    assert table[0] == header
    lo, hi = st["hit_rate_ci"]
    ilo, ihi = st["iou_ci"]
    assert table[2] == (
        f"| steered | 4 | 75.0 ({lo:.1f}–{hi:.1f}) | 0.46 ({ilo:.2f}–{ihi:.2f}) | 75.0 |  | "
        f"{st['attn_share_delta']:+.3f} | {t.format_p(st['attn_share_p'])} |"
    )
    assert table[3].startswith("| text | 4 | 25.0 (") and "| 0.0 | 1 |  |  |" in table[3]
    assert table[4] == "| random (expected) | 4 | 20.0 |  |  |  |  |  |"
    legend = text.split("## Localization by condition")[1].split("## ")[0]
    assert "R@IoU≥0.3: % with IoU ≥ 0.3" in legend
    assert "random (expected): the hit rate of a peak drawn uniformly over each clip" in legend
    assert "unparsed: answers that could not be read" in legend
    paired = text.split("## Paired tests vs steered")[1]
    assert "| text | 4 | 75.0 / 25.0 | 0 | 2 | 0.500 | 0.46 / 0.00 |" in paired
    assert "b01 = pairs steered missed and the other condition hit; b10 = the reverse" in paired.replace(
        "\n", " "
    )


def test_summary_text_csv_keeps_every_column() -> None:
    rows = six_condition_rows(n=12)
    text = t.summary_text(rows, fmt="csv", n_boot=50)
    assert "##" not in text and "b01 =" not in text  # machine-readable: no titles, no legends
    blocks = text.split("\n\n")
    table = list(csv.DictReader(io.StringIO(blocks[0])))
    keys = {k for s in m.summarize(rows, n_boot=50) for k in s}
    header = set(table[0])
    for k in keys:
        assert ({k} <= header) or ({f"{k}_lo", f"{k}_hi"} <= header), k
    assert [r["condition"] for r in table] == [*CONDITIONS, "random (expected)"]
    paired = list(csv.DictReader(io.StringIO(blocks[3])))
    assert {"b01", "b10", "mcnemar_p", "wilcoxon_stat"} <= set(paired[0])


def test_summary_text_bad_input_is_one_line() -> None:
    rows: list[dict[str, Any]] = hand_rows()
    rows[2] = {**rows[2], "duration_s": -1.0}
    with pytest.raises(DataError) as err:
        t.summary_text(rows)
    assert str(err.value) == "results row 2: 'duration_s' must be a positive number, got -1.0"
    with pytest.raises(DataError):
        t.summary_text([])
    with pytest.raises(OptionError) as bad_fmt:
        t.summary_text(hand_rows(), fmt="latex")
    assert isinstance(bad_fmt.value, WTLError) and "\n" not in str(bad_fmt.value)


def test_metrics_return_numbers_and_write_no_table() -> None:
    """Tables are laid out once, in ``tables``: no metrics module renders markdown."""
    from pathlib import Path

    for path in Path(m.__file__).parent.glob("*.py"):
        source = path.read_text()
        for mark in ("format_table", '"## ', "|---", '" | "'):
            assert mark not in source, f"{path.name} lays out a table ({mark!r})"


def test_one_spec_gives_the_markdown_and_the_html_table() -> None:
    """The terminal and the page show one spec: the same headers (the page adds its own) and numbers."""
    import re

    from wheretolisten.report.html import spec_table
    from wheretolisten.tables.summary import CONDITIONS

    summary = m.summarize(hand_rows(), n_boot=50)
    md = t.view(CONDITIONS, summary)
    html = spec_table(CONDITIONS, summary)
    headers = re.findall(r"<th>(.*?)</th>", html)
    shared = [h for h in md[0] if h in headers]
    assert shared == [h for h in headers if h in md[0]] and "hit % (95% CI)" in shared
    assert "coverage" in headers and "coverage" not in md[0]  # a column of the page only
    assert "share Δ" in md[0] and "share Δ" not in headers  # one of the terminal only
    assert f"<td>{md[0]['condition']}</td>" in html and md[0]["hit % (95% CI)"].split(" ")[0] in html


def test_the_report_lays_out_no_table_by_hand() -> None:
    """Every HTML table of the report comes from a spec (``report.html.spec_table``)."""
    from pathlib import Path

    import wheretolisten.report as report

    for path in Path(report.__file__).parent.glob("*.py"):
        if path.name != "html.py":
            assert "html_table(" not in path.read_text(), f"{path.name} lays out a table by hand"
