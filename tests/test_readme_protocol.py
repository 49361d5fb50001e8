"""The README's protocol tables are exactly what ``organism/protocol_tables.py`` prints from the committed
run (``organism/protocol_summary.json``), so no README figure of that section is typed by hand."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: The realistic procedural sets of the protocol (noise, babble, overlaps).
NOISY = ("white-20", "white-10", "babble-10", "overlap")


def _tables_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("protocol_tables", REPO / "organism" / "protocol_tables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _blocks(text: str) -> dict[str, str]:
    """Each '<!-- protocol table: NAME -->' marker and the markdown table right under it."""
    found = {}
    for match in re.finditer(r"<!-- protocol table: (\w+) -->\n((?:\|.*\n)+)", text):
        found[match.group(1)] = match.group(2).rstrip("\n")
    return found


def test_readme_protocol_tables_come_from_the_committed_run() -> None:
    module = _tables_module()
    data = json.loads((REPO / "organism" / "protocol_summary.json").read_text())
    expected = _blocks(module.tables(data))
    readme = _blocks((REPO / "README.md").read_text())
    assert expected and set(readme) == set(expected)
    for name, table in expected.items():
        assert readme[name] == table, f"README's protocol table {name!r} differs from the run's"


def test_every_set_shows_each_of_its_draws() -> None:
    module = _tables_module()
    data = json.loads((REPO / "organism" / "protocol_summary.json").read_text())
    groups = module._groups(data)
    assert all(len(draws) >= 2 for draws in groups.values())
    first_row = module.hit_table(data).splitlines()[2]
    assert first_row.count(" / ") >= len(groups)


def _summary() -> dict:  # type: ignore[type-arg]
    return json.loads((REPO / "organism" / "protocol_summary.json").read_text())


def _gap_range(gaps: list[float]) -> str:
    """'0.0022–0.11': the smallest and largest gap to two significant digits, as the README writes them."""
    return f"{min(gaps):.2g}–{max(gaps):.2g}"


def test_readme_interval_sentences_hold_on_every_draw() -> None:
    """'Steered's is edges ... above that of the Δ-only rule on 19 of the 20 draws ... below it on the first
    overlap draw', the further draws of organism/interval_draws.json (second stage) as the README words
    them, and the floor under half of steered's IoU on every draw but one."""
    module = _tables_module()
    data = _summary()
    readme = " ".join((REPO / "README.md").read_text().split())
    by = {(r["condition"], r["interval"]): r["sets"] for r in data["rule_ious_by_set"]}
    delta_only = [i for c, i in by if c == "steered" and module.is_delta_only(i)]
    assert delta_only == ["peak Δ, threshold 0.1 (s 0.2)"]  # README: "the same threshold interval, unmoved"
    chosen_rule = next(s["readout"] for s in data["settings"] if s["condition"] == "steered")
    assert (
        chosen_rule == "peak Δ, threshold 0.1 (s 0.4), edges snapped ±1 s (local ±2 s, +20 dB, bridge 0.6 s)"
    )
    assert "Steered's is *edges*: Δ's 10 %-threshold interval (0.4-s smoothing)" in readme
    assert "within ±2 s (+20 dB, pauses up to 0.6 s bridged)" in readme
    chosen, delta = by[("steered", "readout")], by[("steered", delta_only[0])]
    draws = [n for n in data["sets"] if n != "pooled"]
    gaps = {n: chosen[n]["iou"] - delta[n]["iou"] for n in draws}
    ahead = [g for g in gaps.values() if g > 0]
    behind = {n: -g for n, g in gaps.items() if g <= 0}
    assert len(draws) == 20 and list(behind) == ["overlap-s7"]
    assert (
        f"on {len(ahead)} of the {len(draws)} draws, by {_gap_range(ahead)}, and below it on the first "
        f"overlap draw, by {behind['overlap-s7']:.3f}"
    ) in readme
    under = [f["set"] for f in data["interval_floor"] if not f["under_half"]]
    assert under == ["freedesktop-s1008"]
    floor = next(f for f in data["interval_floor"] if f["set"] == "freedesktop-s1008")
    assert "on every draw of every set but the second draw of `freedesktop`" in readme
    assert f"({floor['iou_floor']:.2f} against {floor['iou_reference']:.2f})" in readme
    # the further draws (the second stage's weights and rule): white noise ahead on all, overlap as said
    further = json.loads((REPO / "organism" / "interval_draws.json").read_text())
    stage2 = json.loads((REPO / "organism" / "stage2" / "protocol_summary.json").read_text())
    stage2_rule = next(s["readout"] for s in stage2["settings"] if s["condition"] == "steered")
    assert all(
        d["readout_rule"] == stage2_rule and d["delta_only_rule"] == delta_only[0] for d in further.values()
    )
    white = [d["readout"] - d["delta_only"] for n, d in further.items() if n.startswith("white-10")]
    overlap = [d["readout"] - d["delta_only"] for n, d in further.items() if n.startswith("overlap")]
    assert len(white) == len(overlap) == 4 and min(white) > 0
    assert f"ahead on all four of white noise at −10 dB (by {_gap_range(white)})" in readme
    o_ahead, o_behind = [g for g in overlap if g >= 0], [-g for g in overlap if g < 0]
    assert len(o_ahead) == 2 and len(o_behind) == 2
    assert f"on the other two it was behind by {_gap_range(o_behind)}" in readme
    assert all(d["negative"] < d["readout"] / 2 for d in further.values())


def test_docs_intervals_dev_study_numbers() -> None:
    """docs/intervals.md's dev-study sentence: each family's best steered rule by mean dev IoU."""
    data = _summary()
    docs = " ".join((REPO / "docs" / "intervals.md").read_text().split())
    best: dict[str, tuple[float, str]] = {}
    for c in data["dev_readouts"]["steered"]:
        if c["family"] not in best or c["iou"] > best[c["family"]][0]:
            best[c["family"]] = (c["iou"], c["rule"])
    chosen = next(s["readout"] for s in data["settings"] if s["condition"] == "steered")
    assert max(best.values())[1] == chosen
    words = {"edges": "edges", "snap": "adaptive snap", "threshold": "Δ alone", "window": "a 2.5-s window"}
    for family, label in words.items():
        assert f"{label} {best[family][0]:.3f}" in docs, family
    assert f"own half-height interval {best['own'][0]:.3f}" in docs
    assert "edges 0.920 (Δ 0.1, 0.4-s smoothing, +20 dB, bridge 0.6 s, reach 1 s: the chosen rule)" in docs
    stage2 = json.loads((REPO / "organism" / "stage2" / "protocol_summary.json").read_text())
    was: dict[str, float] = {}
    for c in stage2["dev_readouts"]["steered"]:
        was[c["family"]] = max(was.get(c["family"], 0.0), c["iou"])
    assert (
        f"the same study gave edges {was['edges']:.3f} with 0.2-s smoothing and +6 dB (the parameters "
        f"`localize` keeps), adaptive snap {was['snap']:.3f} (the rule chosen before edges existed), Δ alone "
        f"{was['threshold']:.3f}"
    ) in docs


def test_readme_per_set_verdicts_hold_on_both_draws() -> None:
    """The README's per-set sentences, checked against the run's per-draw McNemar tests (Holm)."""
    data = _summary()
    tests: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for t in data["steered_vs"]:
        base = t["set"].rsplit("-s", 1)[0]
        tests.setdefault((base, t["condition"]), []).append(
            (t["hit_reference"] - t["hit"], t["mcnemar_p_holm"])
        )

    def steered_wins(s: str, c: str) -> bool:
        return len(tests[(s, c)]) == 2 and all(d > 0 and p < 0.05 for d, p in tests[(s, c)])

    def steered_loses(s: str, c: str) -> bool:
        return len(tests[(s, c)]) == 2 and all(d < 0 and p < 0.05 for d, p in tests[(s, c)])

    def no_difference(s: str, c: str) -> bool:
        return len(tests[(s, c)]) == 2 and all(p >= 0.05 for _, p in tests[(s, c)])

    def one_draw(s: str, c: str) -> bool:  # steered wins on exactly one draw, no difference on the other
        v = tests[(s, c)]
        return len(v) == 2 and sorted(d > 0 and p < 0.05 for d, p in v) == [False, True]

    quiet = ["test-10s-3ev", "test-8s-3ev", "test-10s-4ev", "test-6s-2ev"]
    assert all(steered_wins(s, c) for s in quiet for c in ("audio-steered", "random", "energy", "direct"))
    assert all(no_difference(s, "prompted") for s in quiet)  # "neither it nor prompting wins on any"
    (pooled,) = tests[("pooled", "prompted")]
    assert pooled[0] < 0 and pooled[1] >= 0.05 and round(pooled[1], 2) == 0.16  # "do not differ, p = 0.16"
    for s in NOISY:
        assert all(steered_wins(s, c) for c in ("random", "energy", "audio-steered")), s
        assert no_difference(s, "prompted"), s
    assert steered_wins("overlap", "direct")  # "on both draws of overlap and on one draw of each noise set"
    assert all(one_draw(s, "direct") for s in ("white-20", "white-10", "babble-10"))
    assert steered_wins("freedesktop", "random")
    assert all(no_difference("freedesktop", c) for c in ("energy", "direct", "prompted"))
    assert all(steered_wins("asterisk", c) for c in ("random", "energy", "audio-steered", "direct"))
    assert no_difference("asterisk", "prompted")  # "prompting is level with it"
    stage2: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for t in json.loads((REPO / "organism" / "stage2" / "protocol_summary.json").read_text())["steered_vs"]:
        if t["set"].startswith("asterisk"):
            stage2.setdefault(("asterisk", t["condition"]), []).append(
                (t["hit_reference"] - t["hit"], t["mcnemar_p_holm"])
            )
    won = {c for (_, c), v in stage2.items() if all(d > 0 and p < 0.05 for d, p in v)}
    assert (
        "direct" in won and not {"random", "energy"} & won
    )  # "the direct question ..., not random or energy"


def test_readme_protocol_sentences_name_the_runs_numbers() -> None:
    """Numbers in the protocol section's sentences: the 8-s weak spot, the ranges, wrong-query on the real
    sounds, and the direct question's unparsed answers."""
    data = _summary()
    readme = " ".join((REPO / "README.md").read_text().split())
    hits = {
        (row["condition"], name): row[name][0]
        for row in data["hit_rate"]
        for name in data["sets"]
        if name in row
    }

    def pair(cond: str, base: str) -> str:
        return " / ".join(f"{hits[(cond, n)]:.1f}" for n in data["sets"] if n.rsplit("-s", 1)[0] == base)

    assert f"({pair('steered', 'test-8s-3ev')} % against {pair('prompted', 'test-8s-3ev')} %;" in readme
    noisy = [hits[("steered", n)] for n in data["sets"] if n.rsplit("-s", 1)[0] in NOISY]
    assert f"on both draws ({min(noisy):.1f}–{max(noisy):.0f} %)" in readme
    assert f"({pair('wrong-query', 'freedesktop')} %, steering {pair('steered', 'freedesktop')} %)" in readme
    assert f"steering hits {pair('steered', 'asterisk')} %" in readme
    old = json.loads((REPO / "organism" / "stage2" / "protocol_summary.json").read_text())
    was = {(row["condition"], n): row[n][0] for row in old["hit_rate"] for n in old["sets"] if n in row}

    def before(cond: str, base: str) -> str:
        return " / ".join(f"{was[(cond, n)]:.1f}" for n in old["sets"] if n.rsplit("-s", 1)[0] == base)

    assert (
        f"prompting won there, {before('prompted', 'test-8s-3ev')} % against "
        f"{before('steered', 'test-8s-3ev')}"
    ) in readme
    assert f"(the second stage: {before('steered', 'asterisk')} %," in readme
    unparsed = {r["set"]: r for r in data["direct_unparsed"]}
    fluent = [
        n
        for n in unparsed
        if n.rsplit("-s", 1)[0]
        in ("test-10s-3ev", "test-10s-4ev", "white-20", "white-10", "babble-10", "overlap")
    ]
    assert sum(unparsed[n]["unparsed"] for n in fluent) == 0
    assert f"(0 unparsed of {sum(unparsed[n]['answers'] for n in fluent)} on those draws," in readme
    short = [
        unparsed[n]["unparsed"] / unparsed[n]["answers"]
        for n in unparsed
        if n.rsplit("-s", 1)[0] in ("test-8s-3ev", "test-6s-2ev")
    ]
    assert f"on {100 * min(short):.0f}–{100 * max(short):.0f} % of the 8-s and 6-s scenes" in readme
    words = [n for n in unparsed if n.startswith("asterisk")]
    assert sum(unparsed[n]["unparsed"] for n in words) == 0
    assert f"and of {sum(unparsed[n]['answers'] for n in words)} on `asterisk`'s" in readme
    sounds = [unparsed[n] for n in unparsed if n.startswith("freedesktop")]
    assert f"({sounds[0]['unparsed']} and {sounds[1]['unparsed']} of {sounds[0]['answers']})" in readme


def test_readme_control_and_position_sentences() -> None:
    """The controls' pooled hit rates and where they sit against chance; steered by target position."""
    data = _summary()
    readme = " ".join((REPO / "README.md").read_text().split())
    rows = {r["condition"]: r for r in data["controls"]}

    def pct(c: str) -> str:
        return f"{rows[c]['hit_rate']:.1f} %"

    for phrase in (
        f"(wrong-query) hits {pct('wrong-query')}, −α (negative) {pct('negative')}",
        f"the neutral-contrast vector ({pct('neutral-contrast')}) is at uniform chance (its interval spans",
        f"a class absent from the scene ({pct('absent-class')}) and a random vector",
        f"({pct('random-vector')} over its draws) are above uniform chance",
    ):
        assert phrase in readme, phrase
    assert rows["wrong-query"]["above_chance_ci"][1] < 0 and rows["negative"]["above_chance_ci"][1] < 0
    assert all(rows[c]["above_chance_ci"][0] > 0 for c in ("absent-class", "random-vector"))
    low, high = rows["neutral-contrast"]["above_chance_ci"]
    assert low < 0 < high
    assert all(rows[c]["above_event_chance_ci"][1] < 0 for c in rows if c != "steered")


def test_readme_position_sentence() -> None:
    """'Pooled over all sets, steering hits X % of first-position targets, Y % of middle and Z % of last
    ones; prompting A / B / C %.'"""
    data = _summary()
    readme = " ".join((REPO / "README.md").read_text().split())
    by = {(r["condition"], r["position"]): r["hit_rate"] for r in data["positions"]}
    s = [by[("steered", p)] for p in ("first", "middle", "last")]
    p = [by[("prompted", q)] for q in ("first", "middle", "last")]
    assert (
        f"steering hits {s[0]:.1f} % of first-position targets, {s[1]:.1f} % of middle and {s[2]:.1f} % of "
        f"last ones; prompting {p[0]:.1f} / {p[1]:.1f} / {p[2]:.1f} %"
    ) in readme
