"""The README's organism table and sentences are the committed held-out results, as organism/compare.py
prints them."""

from __future__ import annotations

import importlib.util
import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODELS = (
    "shipped organism (4 shifts)=organism/eval_sets_shipped.json",
    "shipped organism, no shifts=organism/eval_sets_shipped_unshifted.json",
    "whisper ear=organism/whisper/eval_sets.json",
    "whisper ear + query head=organism/whisper/eval_sets_query_head.json",
)


def _compare_rows() -> list[str]:
    spec = importlib.util.spec_from_file_location("compare", ROOT / "organism" / "compare.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = io.StringIO()
    with redirect_stdout(out):
        module.main(*(m.replace("=", "=" + str(ROOT) + "/", 1) for m in MODELS))
    rows = []
    for line in out.getvalue().splitlines():
        if line.startswith("|"):
            cells = line.split(" | ")
            if not cells[0].startswith("| set") and ":" in cells[0]:
                cells[0] = cells[0].split(":")[0]  # the README names a set by its short name
            rows.append(" | ".join(cells))
    return rows


def _results(name: str) -> dict[str, Any]:
    return dict(json.loads((ROOT / "organism" / name).read_text()))


def test_the_readme_table_is_compare_py_on_the_committed_results() -> None:
    readme = (ROOT / "README.md").read_text().splitlines()
    start = next(
        i for i, line in enumerate(readme) if line.startswith("| set | n | shipped organism (4 shifts)")
    )
    table = readme[start : start + len(_compare_rows())]
    assert table == _compare_rows()


def test_the_readme_sentences_are_the_committed_results() -> None:
    text = " ".join((ROOT / "README.md").read_text().split())
    shifted, plain = _results("eval_sets_shipped.json"), _results("eval_sets_shipped_unshifted.json")
    assert shifted.get("_shifts") is None and plain.get("_shifts") is None  # each model's own setting

    def pct(data: dict[str, Any], name: str, cond: str = "steered", digits: int = 1) -> str:
        return f"{100 * data[name][cond]['hit_rate']:.{digits}f} %"

    def both(name: str, digits: int = 1) -> str:
        return f"{pct(shifted, name, digits=digits)} instead of {pct(plain, name, digits=digits)}"

    single = shifted["single"]["breakdown"]["by_label"]
    assert single["hum"]["hit_rate"] == 0.0 and all(
        v["hit_rate"] > 0.85 for k, v in single.items() if k != "hum"
    )
    phrases = [
        f"in quiet in {pct(shifted, 'single')} of clips instead of {pct(plain, 'single')}",
        f"three-event scenes {both('three')}",
        f"overlapping events {both('overlap', 0)}",
        f"babble at −10 dB {both('babble-10', 0)}",
        f"loudest window's {pct(shifted, 'babble-10', 'energy', 0)}, "
        f"p = {shifted['babble-10']['steered']['p_vs_energy']:.2f}",
        f"({pct(shifted, 'white-10', digits=0).rstrip(' %')} % vs {pct(shifted, 'white-10', 'energy', 0)})",
        f"({pct(shifted, 'asterisk', digits=0).rstrip(' %')} % vs {pct(shifted, 'asterisk', 'energy', 0)}, "
        f"p = {shifted['asterisk']['steered']['p_vs_energy']:.2f})",
        f"finds *a* sound ({pct(shifted, 'freedesktop', digits=0)})",
        f"for {shifted['long']['all_ok']} of 8 classes ({plain['long']['all_ok']} of 8 without shifts)",
    ]
    for phrase in phrases:
        assert phrase in text, phrase
    assert shifted["white-10"]["steered"]["hit_rate"] < shifted["white-10"]["energy"]["hit_rate"]


def test_the_candidate_sentences_are_the_committed_results() -> None:
    """organism/whisper/README.md on the query-head model with 4 shifts."""
    text = " ".join((ROOT / "organism" / "whisper" / "README.md").read_text().split())
    shifted = _results("whisper/eval_sets_query_head_shifts4.json")
    plain = _results("whisper/eval_sets_query_head.json")
    assert shifted["_shifts"] == 4 and plain.get("_shifts") is None

    def pct(data: dict[str, Any], name: str) -> str:
        return f"{100 * data[name]['steered']['hit_rate']:.1f} %"

    assert f"a lone event in {pct(shifted, 'single')} of clips ({pct(plain, 'single')} without)" in text
    for name, words in (("three", "three events in quiet"), ("overlap", "overlapping ones")):
        assert f"{words} {pct(shifted, name)} ({pct(plain, name)})" in text, name
    for name in ("white-10", "babble-10"):
        assert f"{pct(shifted, name)} ({pct(plain, name)})" in text, name
    head = json.loads((ROOT / "organism" / "whisper" / "miss_positions_query_head_shifts4.json").read_text())
    before = json.loads((ROOT / "organism" / "whisper" / "miss_positions_query_head.json").read_text())
    assert f"{before['misses_in_densest_1_s']} of {before['misses']} fell between" in text
    assert f"and {head['misses_in_densest_1_s']} of {head['misses']} with them" in text
    assert head["densest_window_start_s"] == before["densest_window_start_s"] == 5.9
