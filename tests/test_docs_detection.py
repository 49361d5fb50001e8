"""docs/long.md's and the README's held-out detection numbers are the committed runs of the shipped model
with its declared detections (edges): ``bench summary`` files and ``psds_ci.py`` lines under organism/ (the
second stage's under organism/stage2/)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
EIGHT = "120-s scenes, 8 events, classes repeated ≤ 3× (583 queries, 800 occurrences)"
TWENTY_FOUR = "120-s scenes, 24 events, each class 3× (800 queries, 2400 occurrences)"
#: (summary, PSDS lines, the table's title in docs/long.md) of each set and draw.
SETS = (
    ("detection_heldout_edges_8ev.md", "detection_heldout_edges_psds_8ev.jsonl", EIGHT),
    ("detection_heldout_edges_24ev.md", "detection_heldout_edges_psds_24ev.jsonl", TWENTY_FOUR),
    (
        "detection_heldout_edges_8ev_draw2.md",
        "detection_heldout_edges_psds_8ev_draw2.jsonl",
        "draw 2 (`--seed 500`), 8 events (576 queries, 800 occurrences)",
    ),
    (
        "detection_heldout_edges_24ev_draw2.md",
        "detection_heldout_edges_psds_24ev_draw2.jsonl",
        "draw 2 (`--seed 500`), 24 events (800 queries, 2400 occurrences)",
    ),
)


def _tables() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "detection_tables", ROOT / "benchmarks" / "detection_tables.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _point(cell: str) -> str:
    return cell.split(" ")[0]


def _paired_onset(summary: Path) -> str:
    """Steered minus energy on onset F1, '+0.40, CI 0.37–0.43', from the summary's paired table."""
    text = summary.read_text().split("## Detection F1 vs steered-det", 1)[1].split("##", 1)[0]
    (row,) = [line for line in text.splitlines() if line.startswith("| energy-det")]
    onset = row.strip("|").split("|")[2].strip()  # e.g. "-0.40 (-0.43–-0.37)": energy minus steered
    value, ci = onset.split(" ", 1)
    lo, hi = ci.strip("()").replace("–-", "|").lstrip("-").split("|")
    return f"+{value.lstrip('-')}, CI {hi}–{lo}"


def test_the_docs_tables_are_the_committed_runs() -> None:
    module, docs = _tables(), (ROOT / "docs" / "long.md").read_text()
    for summary, psds, title in SETS:
        for line in module.table(ROOT / "organism" / summary, ROOT / "organism" / psds, title):
            assert line in docs, line


def test_the_readme_sentences_are_the_committed_runs() -> None:
    module = _tables()
    readme = " ".join((ROOT / "README.md").read_text().split())
    eight, twenty_four, eight2, twenty_four2 = (
        module.summary_rows(ROOT / "organism" / s) for s, _, _ in SETS
    )
    psds8, psds24 = (module.psds_cells(ROOT / "organism" / p) for _, p, _ in SETS[:2])

    def pair(rows: dict[str, dict[str, str]], key: str, other: str = "energy-det") -> str:
        return f"{_point(rows['steered-det'][key])} vs {_point(rows[other][key])}"

    phrases = [
        f"(onset F1 {pair(eight, 'onset', 'random-det')})",
        f"above class-blind energy detection ({_point(eight['energy-det']['onset'])}; paired difference "
        f"{_paired_onset(ROOT / 'organism' / SETS[0][0])})",
        f"with 24 shorter events per scene {pair(twenty_four, 'onset')}",
        f"DCASE event F1 with offset collars ({pair(eight, 'f1')}; {pair(twenty_four, 'f1')})",
        f"far above energy with the short events ({_point(psds24[('steered-det', 0.7)])} vs "
        f"{_point(psds24[('energy-det', 0.7)])}) and on a par with it with the long ones "
        f"({_point(psds8[('steered-det', 0.7)])} vs {_point(psds8[('energy-det', 0.7)])})",
        f"gives onset F1 {_point(eight2['steered-det']['onset'])} and "
        f"{_point(twenty_four2['steered-det']['onset'])} "
        f"against energy's {_point(eight2['energy-det']['onset'])} and "
        f"{_point(twenty_four2['energy-det']['onset'])}, F1 {_point(eight2['steered-det']['f1'])} and "
        f"{_point(twenty_four2['steered-det']['f1'])} against {_point(eight2['energy-det']['f1'])} and "
        f"{_point(twenty_four2['energy-det']['f1'])}",
    ]
    for phrase in phrases:
        assert phrase in readme, phrase
    # "beats energy ... with offset collars" on both draws, and "on a par" (the PSDS 0.7 CIs overlap) on both
    for rows in (eight, twenty_four, eight2, twenty_four2):
        assert float(_point(rows["steered-det"]["f1"])) > float(_point(rows["energy-det"]["f1"]))
    for psds in (ROOT / "organism" / SETS[0][1], ROOT / "organism" / SETS[2][1]):
        cells = module.psds_cells(psds)
        (s_lo, s_hi), (e_lo, e_hi) = (
            map(float, cells[(c, 0.7)].split(" ", 1)[1].strip("()").split("–"))
            for c in ("steered-det", "energy-det")
        )
        assert s_lo <= e_hi and e_lo <= s_hi


def test_the_second_stage_sentences_are_its_committed_runs() -> None:
    """docs/long.md's and the README's comparison with the second stage's weights (organism/stage2/)."""
    module = _tables()
    docs = " ".join((ROOT / "docs" / "long.md").read_text().split())
    readme = " ".join((ROOT / "README.md").read_text().split())
    now = [module.summary_rows(ROOT / "organism" / s) for s, _, _ in SETS]
    was = [module.summary_rows(ROOT / "organism" / "stage2" / s) for s, _, _ in SETS]
    psds = [module.psds_cells(ROOT / "organism" / "stage2" / p) for _, p, _ in SETS[:2]]

    def count(rows: list[dict[str, dict[str, str]]], k: int) -> str:
        return rows[k]["steered-det"]["detections"]

    def cells(rows: list[dict[str, dict[str, str]]], key: str) -> str:
        return f"{_point(rows[0]['steered-det'][key])} and {_point(rows[1]['steered-det'][key])}"

    phrase = (
        f"the first draw gave onset F1 {cells(was, 'onset')}, F1 with offsets {cells(was, 'f1')}, PSDS 0.7 "
        f"{_point(psds[0][('steered-det', 0.7)])} and {_point(psds[1][('steered-det', 0.7)])} (draw 2: "
        f"onset F1 {cells(was[2:], 'onset')}, F1 {cells(was[2:], 'f1')}), with "
        f"{count(was, 0)} and {count(was, 1)} detections where the words stage makes {count(now, 0)} and "
        f"{count(now, 1)}"
    )
    assert phrase in docs, phrase
    assert f"The second stage's weights gave onset F1 {cells(was, 'onset')} on the first draw" in readme


def test_the_noise_and_overlap_sentences_are_the_committed_runs() -> None:
    """docs/long.md and the README on edges over white noise and overlapping sounds: the committed
    summaries of the runs with and without edges."""
    module = _tables()
    docs = " ".join((ROOT / "docs" / "long.md").read_text().split())
    readme = " ".join((ROOT / "README.md").read_text().split())
    found = {
        name: module.summary_rows(ROOT / "organism" / f"detection_{name}.md")
        for name in ("white10_edges", "white10_no_edges", "overlap_edges", "overlap_no_edges")
    }
    white, white_plain = found["white10_edges"]["steered-det"], found["white10_no_edges"]["steered-det"]
    over, over_plain = found["overlap_edges"]["steered-det"], found["overlap_no_edges"]["steered-det"]
    energy = found["overlap_edges"]["energy-det"]
    assert found["white10_edges"]["energy-det"]["detections"] == "0"  # "energy detected nothing there"
    for phrase in (
        f"F1 with offsets {white['f1']} against {_point(white_plain['f1'])} without edges, onset F1 "
        f"{white['onset']} against {white_plain['onset']}",
        f"F1 {over['f1']} against {over_plain['f1']}, onset F1 {over['onset']} against "
        f"{over_plain['onset']}; energy {_point(energy['f1'])} and {_point(energy['onset'])}",
    ):
        assert phrase in docs, phrase
    was = {
        name: module.summary_rows(ROOT / "organism" / "stage2" / f"detection_{name}.md")["steered-det"]
        for name in ("white10_edges", "white10_no_edges", "overlap_edges", "overlap_no_edges")
    }

    def both(key: str, a: str, b: str) -> str:
        return f"{_point(was[a][key])} against {_point(was[b][key])}"

    assert (
        "With the second stage's weights (`organism/stage2/detection_*`): "
        f"{both('f1', 'white10_edges', 'white10_no_edges')} and "
        f"{both('f1', 'overlap_edges', 'overlap_no_edges')} with offsets, onset F1 "
        f"{both('onset', 'white10_edges', 'white10_no_edges')} and "
        f"{both('onset', 'overlap_edges', 'overlap_no_edges')}"
    ) in docs
    pairs = (
        f"{_point(white['f1'])} vs {_point(white_plain['f1'])} and "
        f"{_point(over['f1'])} vs {_point(over_plain['f1'])}"
    )
    assert pairs in readme


def _onset_by_class(summary: Path) -> dict[str, dict[str, float]]:
    """Per query class, each condition's onset F1, from the summary's 'Onset F1 by query class' table."""
    text = summary.read_text().split("## Onset F1 by query class", 1)[1].split("##", 1)[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()]
    head = next(r for r in rows if r[0] == "query class")
    return {r[0]: dict(zip(head[2:], map(float, r[2:]), strict=True)) for r in rows if r[0] in NAMES}


#: How docs/long.md names each class in its by-class sentence.
NAMES = {
    "bell": "bells",
    "chirp": "chirps",
    "click_train": "click trains",
    "hum": "hums",
    "siren": "sirens",
    "knock": "knocks",
    "tone": "tones",
    "noise_burst": "noise bursts",
}


def test_the_by_class_sentence_is_the_committed_runs() -> None:
    """docs/long.md: each class's steered onset F1 on the first set, highest first, and draw 2's lowest."""
    docs = " ".join((ROOT / "docs" / "long.md").read_text().split())
    one = _onset_by_class(ROOT / "organism" / SETS[0][0])
    two = _onset_by_class(ROOT / "organism" / SETS[2][0])
    ranked = sorted(one, key=lambda c: -one[c]["steered-det"])
    listed = ", ".join(f"{NAMES[c]} {one[c]['steered-det']:.2f}" for c in ranked)
    assert f"(onset F1, first set): {listed}, below energy's {one[ranked[-1]]['energy-det']:.2f}" in docs
    low = sorted(two, key=lambda c: two[c]["steered-det"])
    assert low[0] == ranked[-1] == "noise_burst" and two[low[0]]["steered-det"] < two[low[0]]["energy-det"]
    assert (
        f"(draw 2: {NAMES[low[0]]} {two[low[0]]['steered-det']:.2f}, again the lowest and below energy's "
        f"{two[low[0]]['energy-det']:.2f}, then {NAMES[low[1]]} {two[low[1]]['steered-det']:.2f})"
    ) in docs
