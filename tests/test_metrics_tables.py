"""Tables of summary dicts: markdown and CSV."""

from __future__ import annotations

import csv
import io

import pytest

from metric_rows import hand_rows
from wheretolisten import metrics as m


def test_format_table_markdown() -> None:
    summary = [
        {"condition": "steered", "n": 4, "hit_rate": 75.0, "hit_rate_ci": [50.0, 100.0], "mcnemar_p": 0.0001},
        {"condition": "text", "n": 4, "hit_rate": 25.0, "hit_rate_ci": [0.0, 62.5], "mcnemar_p": 0.25},
    ]
    out = m.format_table(summary)
    lines = out.strip().split("\n")
    assert lines[0] == "| condition | n | hit_rate | hit_rate_ci | mcnemar_p |"
    assert lines[1] == "|---|---|---|---|---|"
    assert lines[2] == "| steered | 4 | 75.00 | 50.00–100.00 | <0.001 |"
    assert lines[3] == "| text | 4 | 25.00 | 0.00–62.50 | 0.250 |"


def test_format_table_csv() -> None:
    summary = m.summarize(hand_rows(), n_boot=100)
    out = m.format_table(summary, fmt="csv")
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
        m.format_table([], fmt="latex")
    assert m.format_table([]) == ""

