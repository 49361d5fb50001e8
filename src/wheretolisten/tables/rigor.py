"""The summary sections on rigor and the specs of their tables: settings per condition, controls vs
chance, the wrong-query confusion table, and interval readouts against the baselines (each shown when the
rows carry what it needs)."""

from __future__ import annotations

from collections.abc import Sequence

from wheretolisten.metrics.controls import CONFUSION, confusion_table, controls_table, settings_table
from wheretolisten.metrics.readouts import interval_table, interval_tests
from wheretolisten.metrics.rows import Row

from .spec import Cells, Column, Line, Section, Table, ci, keyed, number, p_value, pair, text

__all__ = [
    "CONFUSION_LEGEND",
    "CONFUSION_TABLE",
    "CONTROLS",
    "CONTROLS_LEGEND",
    "INTERVALS",
    "INTERVALS_LEGEND",
    "INTERVAL_TESTS",
    "SETTINGS",
    "SETTINGS_LEGEND",
    "TESTS_LEGEND",
    "interval_tests_table",
    "rigor_sections",
]


#: Per condition (``metrics.controls.settings_table``): where it steered and read, α, its readout.
SETTINGS = Table(
    (
        text("condition", "condition"),
        text("steered layers", "steered layers"),
        text("readout layers", "readout layers"),
        Column("α", lambda r, c: c.number(r["alpha"], 2) or "—"),
        text("setting", "setting", show="html"),
        text("readout", "readout"),
        text("tuned on dev", "tuned on dev"),
    )
)


def _draws(row: Line, cells: Cells) -> str:
    return cells.text(row["condition"] + (f" ({row['draws']} draws)" if row["draws"] > 1 else ""))


#: The reference and every control (``metrics.controls.controls_table``): hit %, chance, hit − chance.
CONTROLS = Table(
    (
        Column("condition", _draws),
        number("n", "n"),
        ci("hit % (95% CI)", "hit_rate", 1),
        Column(
            "chance % unif / event",
            lambda r, c: " / ".join(c.number(r.get(k), 1) for k in ("chance", "event_chance")),
        ),
        ci("hit − unif pp (CI)", "above_chance", 1),
        ci("hit − event pp (CI)", "above_event_chance", 1, show="html"),
        p_value("p vs steered", "mcnemar_p_holm"),
    )
)


def _shown(row: Line, place: str) -> bool:
    return place in row and (place != "no peak" or row[place] > 0)


def _place(row: Line, cells: Cells, place: str) -> str:
    return cells.ci(row[place], row[f"{place}_ci"], 1) if _shown(row, place) else ""


def _places(rows: Sequence[Line]) -> list[Column]:
    """One column per place a peak lands in some row ("no peak" only when some peak is missing)."""
    places = dict.fromkeys(p for r in rows for p in CONFUSION if _shown(r, p))
    return [keyed(f"{p} %", p, _place) for p in places]


#: Where each condition's peaks land (``metrics.controls.confusion_table``).
CONFUSION_TABLE = Table((text("condition", "condition"), number("n", "n")), _places)
#: Per condition and recorded interval (``metrics.readouts.interval_table``): IoU with CI.
INTERVALS = Table(
    (
        text("condition", "condition"),
        text("interval", "interval"),
        ci("IoU (95% CI)", "iou", 3),
        Column("dev-chosen", lambda r, c: "yes" if r["chosen_on_dev"] else ""),
    )
)


def interval_tests_table(first: str = "condition", pairs: bool = True, holm: bool = True) -> Table:
    """Each interval's IoU vs a baseline's (``metrics.readouts.interval_tests``), its first column headed
    ``first``, with the number of pairs and Holm's p when asked."""
    return Table(
        (
            text(first, "condition"),
            text("baseline", "baseline"),
            *([number("pairs", "pairs")] if pairs else []),
            pair("IoU this / base", "iou", "iou_baseline", 3),
            ci("difference (CI)", "difference", 3),
            p_value("Wilcoxon p", "wilcoxon_p"),
            *([p_value("Holm p", "wilcoxon_p_holm")] if holm else []),
        )
    )


INTERVAL_TESTS = interval_tests_table()


SETTINGS_LEGEND = (
    "steered layers / readout layers / α: where the vector was added, the layers whose attention was "
    "read, and its strength (— : the condition does not steer or read attention). readout: where the peak "
    "and the interval were read. tuned on dev: whether these were chosen on the dev split (dev: every "
    "setting; dev (readout): the readout only; controls run with steered's settings)."
)
CONTROLS_LEGEND = (
    "Controls run with steered's settings and change one thing: random-vector (random directions with the "
    "instruction vector's norm at every layer; hit % over all draws), wrong-query (the vector of another "
    "event of the scene), absent-class (a class not in the scene), neutral-contrast (neutral minus neutral "
    "paraphrase), negative (−α). chance %: a uniformly random peak (unif: event length / clip) and a "
    "peak on a random event of the scene (event: 1 / events, the level of a readout that finds sounds but "
    "not which one); hit − chance: paired per query. vs steered p: exact McNemar (random-vector: its first "
    "draw), Holm-corrected over the controls."
)
CONFUSION_LEGEND = (
    "Where the peak lands: in the event whose query built the vector (wrong-query), in the queried event, "
    "in another event of the scene, or in a gap between events (a miss in another event is a confusion of "
    "sounds; one in a gap, of nothing). 95% bootstrap CIs."
)
INTERVALS_LEGEND = (
    "Every interval each row records: own (the condition's readout: half-height threshold on Δ, the "
    "loudest window, a uniform interval, the model's answer) and each rule's (the dev-chosen one and the "
    "best of each other family on dev). snap: the audio's own active span (energy above the clip's quiet "
    "level, or the local background's) around the peak; edges: Δ's threshold interval with each edge moved "
    "to the audio's nearest onset or offset."
)
TESTS_LEGEND = (
    "Each condition's readout interval against the baselines' (their dev-chosen readout, and their own "
    "interval), paired by (scene, query): mean IoU difference with a 95% bootstrap CI, Wilcoxon signed-rank "
    "p, and Holm's correction over every test of this table."
)


def rigor_sections(rows: Sequence[Row], n_boot: int) -> list[Section]:
    """The sections whose data the rows carry (settings need ``config``; controls need ``control``; ...)."""
    sections: list[Section] = []
    if all(r.get("config") for r in rows):
        table = settings_table(rows)
        extra = [f"{s['condition']}: {s['setting']}" for s in table if s["setting"]]
        sections.append(Section("Settings per condition", table, SETTINGS, [SETTINGS_LEGEND, *extra]))
    intervals = interval_table(rows, n_boot=n_boot)
    found = [
        ("Controls vs chance", controls_table(rows, n_boot=n_boot), CONTROLS, CONTROLS_LEGEND),
        ("Where the peaks land", confusion_table(rows, n_boot=n_boot), CONFUSION_TABLE, CONFUSION_LEGEND),
        ("Interval readouts (IoU)", intervals, INTERVALS, INTERVALS_LEGEND),
    ]
    if intervals:
        tests = interval_tests(rows, n_boot=n_boot)
        found.append(("Interval IoU vs the baselines", tests, INTERVAL_TESTS, TESTS_LEGEND))
    return sections + [Section(title, data, table, [legend]) for title, data, table, legend in found if data]
