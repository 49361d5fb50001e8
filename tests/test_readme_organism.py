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
    "shipped organism=organism/eval_sets_stage1.json",
    "4 shifts, former setting=organism/eval_sets_shipped_steer1.json",
    "former default, no shifts=organism/eval_sets_shipped_unshifted.json",
    "whisper ear=organism/whisper/eval_sets.json",
    "whisper ear + query head=organism/whisper/eval_sets_query_head.json",
)
#: The second draw of every set (seeds + 500), with its own baselines.
DRAW_2 = ("shipped organism, draw 2 (seeds + 500)=organism/eval_sets_stage1_draw2.json",)


def _compare_rows(models: tuple[str, ...] = MODELS) -> list[str]:
    spec = importlib.util.spec_from_file_location("compare", ROOT / "organism" / "compare.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = io.StringIO()
    with redirect_stdout(out):
        module.main(*(m.replace("=", "=" + str(ROOT) + "/", 1) for m in models))
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


def test_the_readme_tables_are_compare_py_on_the_committed_results() -> None:
    readme = (ROOT / "README.md").read_text().splitlines()
    for models in (MODELS, DRAW_2):
        rows = _compare_rows(models)
        start = readme.index(rows[0])
        assert readme[start : start + len(rows)] == rows


def test_the_readme_sentences_are_the_committed_results() -> None:
    """Every number of the README's paragraph on the shipped organism, from both draws' results."""
    text = " ".join((ROOT / "README.md").read_text().split())
    one, two = _results("eval_sets_stage1.json"), _results("eval_sets_stage1_draw2.json")
    former, plain = _results("eval_sets_shipped_steer1.json"), _results("eval_sets_shipped_unshifted.json")
    assert one.get("_shifts") is None and two.get("_seed_offset") == 500  # the model's own settings

    def pct(data: dict[str, Any], name: str, cond: str = "steered", digits: int = 1) -> str:
        return f"{100 * data[name][cond]['hit_rate']:.{digits}f}"

    def both(name: str, digits: int = 1, cond: str = "steered") -> str:
        return f"{pct(one, name, cond, digits)} and {pct(two, name, cond, digits)} %"

    hum = [d["single"]["breakdown"]["by_label"]["hum"] for d in (one, two)]
    long = [d["long"]["all_ok"] for d in (one, two, former, plain)]
    phrases = [
        f"one event anywhere in quiet in {both('single')} of clips",
        f"{pct(former, 'single')} % with 4 shifts and the former setting, {pct(plain, 'single')} % without",
        "the low hum, which it never found before, in "
        + " and ".join(f"{round(h['hit_rate'] * h['n'])} of {h['n']}" for h in hum),
        f"three-event scenes in {both('three')} ({pct(former, 'three')} %, {pct(plain, 'three')} %)",
        f"overlapping events in {both('overlap', 0)} ({pct(former, 'overlap', digits=0)} %, "
        f"{pct(plain, 'overlap', digits=0)} %)",
        f"babble at −10 dB in {both('babble-10', 0)}, above the loudest window "
        f"({both('babble-10', 0, 'energy').rstrip(' %')} %, p < 0.001 both)",
        f"({pct(one, 'white-10', digits=0)} % in both draws, against the loudest window's "
        f"{both('white-10', 0, 'energy')}, p {one['white-10']['steered']['p_vs_energy']:.2f} and "
        f"{two['white-10']['steered']['p_vs_energy']:.2f})",
        f"({both('asterisk', 0).rstrip(' %')} %, below the loudest window)",
        f"finds *a* sound ({both('freedesktop', 0).rstrip(' %')} %)",
        f"for {long[0]} and {long[1]} of 8 classes (draws 1 and 2; with the former setting {long[2]} of 8, "
        f"without shifts {long[3]} of 8)",
        f"for {long[0]} of the 8 classes ({long[1]} of 8 in draw 2), {long[2]} of 8 with the former setting "
        f"and {long[3]} without shifts",
    ]
    for phrase in phrases:
        assert phrase in text, phrase
    assert pct(one, "white-10") == pct(two, "white-10")
    for d in (one, two):
        assert d["babble-10"]["steered"]["p_vs_energy"] < 1e-3
        assert d["asterisk"]["steered"]["hit_rate"] < d["asterisk"]["energy"]["hit_rate"]
        assert {r["label"]: r["found"] for r in d["long"]["recordings"]}[
            "noise_burst"
        ] == 0  # "never the burst"
    assert former["single"]["breakdown"]["by_label"]["hum"]["hit_rate"] == 0.0  # "never found before"
    assert plain["single"]["breakdown"]["by_label"]["hum"]["hit_rate"] == 0.0


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


def test_the_remaining_hum_misses_sit_at_the_spread_preference() -> None:
    """organism/README.md: with 4 shifts the missed hums peak at 2.0 s or its copies 2.5 s apart."""
    text = " ".join((ROOT / "organism" / "README.md").read_text().split())
    runs = [_results(f"miss_positions_shipped_current{s}.json") for s in ("", "_draw2")]
    assert f"{runs[0]['misses']} and {runs[1]['misses']} clips are missed" in text
    hums = [p for r in runs for p in r["classes"]["hum"]["miss_peaks_s"]]
    spread = [p for p in hums if any(abs(p - (2.0 + 2.5 * k)) <= 0.1 for k in range(4))]
    assert f"{len(spread)} of the {len(hums)} missed hums peak at 1.9–2.0, 4.5, 7.0 or 9.5 s" in text
    others = {k for r in runs for k, v in r["classes"].items() if v["misses"]} - {"hum"}
    assert others == {"noise_burst", "knock"}


def test_the_three_minute_ranking_sentence() -> None:
    """organism/README.md: in 8 and 7 of 8 recordings the top three candidates are the three occurrences,
    and the noise bursts' and hums' candidates score 0.85-1.55."""
    text = " ".join((ROOT / "organism" / "README.md").read_text().split())
    readme = " ".join((ROOT / "README.md").read_text().split())
    runs = [
        _results(name)["long"]["recordings"]
        for name in ("eval_sets_stage1.json", "eval_sets_stage1_draw2.json")
    ]
    whole = [sum(r["top_found"] == len(r["onsets_s"]) for r in recs) for recs in runs]
    for doc in (text, readme):
        assert f"in {whole[0]} and {whole[1]} of the 8 recordings the three strongest candidates" in doc
    scores = [
        c["score"]
        for recs in runs
        for r in recs
        if r["label"] in ("noise_burst", "hum")
        for c in r["top_candidates"]
    ]
    assert f"score {min(scores):.2f}–{max(scores):.2f}, mostly below the 1.5" in text
    assert sum(s < 1.5 for s in scores) > len(scores) / 2


def test_the_settings_steps_are_the_committed_dev_results() -> None:
    """organism/README.md's "How the settings came about": the tuners' dev numbers and choices, and the
    shipped wheretolisten.json holding what they chose."""
    text = " ".join((ROOT / "organism" / "README.md").read_text().split())
    layers = _results("tune_layers.json")
    chosen, current = layers["hit_pct"][layers["chosen"]], layers["hit_pct"][layers["current"]]
    assert layers["chosen"] == "steer 2, alpha 1, probe 3,4" and len(layers["hit_pct"]) == 93
    assert (
        f"pooled {chosen['pooled']:.1f} % (single {chosen['single']:.1f}, three {chosen['three']:.1f}, white "
        f"−10 dB {chosen['white-10']:.1f}, babble −10 dB {chosen['babble-10']:.1f}) against the former "
        f"setting's {current['pooled']:.1f} %"
    ) in text
    lines = [
        json.loads(line) for line in (ROOT / "organism" / "detection_dev.jsonl").read_text().splitlines()
    ]
    best = lines[-1]["best"]["steered"]
    assert (best["min_score"], best["smooth_s"], best["fraction"]) == (1.5, 0.4, 0.35)
    at_35 = next(
        g
        for g in lines
        if g.get("detector") == "steered"
        and (g["min_score"], g["smooth_s"], g["fraction"]) == (3.5, 0.4, 0.35)
    )
    assert f"onset F1 {best['onset']['f1']:.3f} ({at_35['onset']['f1']:.3f} at the package's 3.5)" in text
    shipped = json.loads(
        (ROOT / "src" / "wheretolisten" / "assets" / "organism" / "wheretolisten.json").read_text()
    )
    assert shipped["localize"] == {"layers": [2], "probe_layers": [3, 4], "alpha": 1.0, "shifts": 4}
    assert shipped["detect"] == {"min_score": 1.5, "smooth_s": 0.4, "fraction": 0.35}
