"""organism/miss_positions.py: where steered misses land, and the README sentences built on its files."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("miss_positions", ROOT / "organism" / "miss_positions.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(
    label: str, gt: tuple[float, float], peak: float | None, condition: str = "steered"
) -> dict[str, Any]:
    return {"condition": condition, "label": label, "gt": list(gt), "peak_s": peak}


def test_misses_are_counted_per_class_and_where_they_pile_up() -> None:
    rows = [
        _row("hum", (5.0, 7.0), 2.01),
        _row("hum", (3.0, 4.0), 1.98),
        _row("hum", (6.0, 8.0), 6.5),  # a hit
        _row("bell", (0.0, 1.0), 2.4),
        _row("bell", (4.0, 5.0), None),  # no peak: a miss without a time
        _row("hum", (5.0, 7.0), 9.0, condition="energy"),  # not steered: ignored
    ]
    found = _module().miss_positions(rows)
    hum, bell = found["classes"]["hum"], found["classes"]["bell"]
    assert (hum["n"], hum["hits"], hum["misses"]) == (3, 1, 2)
    assert hum["most_common_miss_peak_s"] == 2.0 and hum["misses_there"] == 2
    assert (bell["n"], bell["hits"], bell["misses"], bell["misses_there"]) == (2, 0, 2, 1)
    assert found["misses"] == 3  # peaks with a time
    assert found["misses_in_densest_1_s"] == 3 and found["densest_window_start_s"] == 2.0


def test_the_readme_sentences_match_the_committed_files() -> None:
    text = " ".join((ROOT / "organism" / "README.md").read_text().split())
    shipped = json.loads((ROOT / "organism" / "miss_positions_shipped.json").read_text())
    head = json.loads((ROOT / "organism" / "whisper" / "miss_positions_query_head.json").read_text())
    hum, chirp = shipped["classes"]["hum"], shipped["classes"]["chirp"]
    expected = [
        f'{hum["misses_there"]} of its {hum["n"]} "a low hum" queries',
        f"peak at {hum['most_common_miss_peak_s']:.1f} s",
        f'all {chirp["misses"]} missed "chirping" queries at {chirp["most_common_miss_peak_s"]:.1f} s',
        f"{shipped['misses_at_their_class_position']} of its {shipped['misses']} misses",
        f"{head['misses_in_densest_1_s']} of {head['misses']} fall between "
        f"{head['densest_window_start_s']:.1f} and {head['densest_window_start_s'] + 1:.1f} s",
    ]
    for phrase in expected:
        assert phrase in text, phrase
    assert hum["hits"] == 0 and "it finds none of them" in text
    assert chirp["misses_there"] == chirp["misses"]
    assert re.search(r"misses sit at a fixed time for their class", text)
