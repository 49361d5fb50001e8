"""The page's sections, each a titled table or figure with a note saying how to read it; a section with
nothing to show is the empty string."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import DataError
from ..tables.summary import ATTENTION, CONDITIONS, CURVES, LABELS, PAIRED, POSITIONS
from .html import esc, img, note, section, spec_table
from .inputs import ReportInputs, Row

CURVES_TITLE = "Δ curves as detectors (threshold-free)"


def header(inputs: ReportInputs, conditions: Sequence[str]) -> str:
    """Title, counts, conditions and models, then the notes of reading the inputs."""
    rows = inputs.rows
    models = sorted({str(r["model"]) for r in rows if r.get("model")})
    return (
        f"<h1>wheretolisten report: {esc(inputs.name)}</h1>\n"
        f'<p class="note">{len(rows)} rows, {len({r["scene_id"] for r in rows})} scenes, conditions '
        f"{esc(', '.join(conditions))}"
        + (f"; model {esc(', '.join(models))}" if models else "")
        + ".</p>\n"
        + "".join(f"{note(esc(n))}\n" for n in inputs.notes)
    )


def summary_section(rows: Sequence[Row], summary: Sequence[Mapping[str, Any]], gallery_cond: str) -> str:
    """The summary table per condition, with the chance hit rate of the gallery's condition."""
    from ..metrics import random_hit_expectation

    chance = random_hit_expectation([r for r in rows if r["condition"] == gallery_cond])
    body = spec_table(CONDITIONS, summary) + note(
        "Hit: the predicted peak falls inside the queried event. IoU, coverage and "
        "precision compare the predicted interval with the event (a missing prediction scores 0). "
        f"CIs: percentile bootstrap of the mean. Chance hit rate (a uniformly random peak): "
        f"{100 * chance:.1f}%."
    )
    return section("summary", "Summary per condition", body)


def paired_section(rows: Sequence[Row], conditions: Sequence[str]) -> str:
    """McNemar and Wilcoxon vs steered, when steered and another condition are present."""
    from ..metrics import paired_tests

    if "steered" not in conditions or len(conditions) < 2:
        return ""
    try:
        tests = paired_tests(rows, "steered")
    except DataError as exc:
        return section("paired", "Paired tests vs steered", note(f"not computed: {esc(exc)}"))
    return section("paired", "Paired tests vs steered", spec_table(PAIRED, tests))


def position_section(rows: Sequence[Row], n_boot: int, seed: int) -> str:
    """Hit rate by target position: the table and its bar chart."""
    from ..figures import position_png
    from ..metrics import breakdown_by_position

    breakdown = breakdown_by_position(rows, n_boot=n_boot, seed=seed)
    figure = img(position_png(breakdown), "hit rate by target position")
    return section("position", "Hit rate by target position", spec_table(POSITIONS, breakdown, 2) + figure)


def label_section(rows: Sequence[Row]) -> str:
    """Hit rate per queried event class, when there are at least two classes."""
    from ..metrics import hit_rate_by_label

    table = hit_rate_by_label(rows)
    if len(table) < 2:
        return ""
    body = spec_table(LABELS, table) + note(
        "Which sounds each condition finds: hit rate per queried event class."
    )
    return section("labels", "Hit rate by event class", body)


def attention_section(summary: Sequence[Mapping[str, Any]]) -> str:
    """Attention share and entropy and their paired change vs base, when the rows carry them."""
    present = [s for s in summary if "attn_share" in s or "attn_entropy" in s]
    if not present:
        return ""
    table = spec_table(ATTENTION, present)
    text = note(
        "Attention share: the part of the (steered) temporal attention profile inside the "
        "queried event; entropy: normalized entropy of the profile (1 = uniform). Δ vs base is the paired "
        "change from the unsteered profile on the same item."
    )
    return section("attention", "Attention redistribution", table + text)


def curve_section(rows: Sequence[Row]) -> str:
    """The Δ curves scored as detectors when rows carry profiles; without sed_scores_eval (the optional
    ``[sed]`` extra), one sentence saying how to enable them."""
    from ..metrics import curve_scores, sed_available
    from ..metrics.curves import SED_HINT, has_curves

    if not has_curves(rows):
        return ""
    if not sed_available():
        hint = f"Scoring the Δ curves needs sed_scores_eval: enable it with <code>{esc(SED_HINT)}</code>."
        return section("curves", CURVES_TITLE, note(hint))
    scores = curve_scores(rows)
    text = note(
        "The Δ curves themselves scored as sound-event detection, with no threshold "
        "chosen by hand (sed_scores_eval): collar F1 at the best threshold (onset collar 0.2 s, offset "
        "collar max(0.2 s, 20 % of the event)), and intersection-based PSDS (DTC = GTC = 0.7, eFPR up to 100 "
        "per hour; one class, so no cross-trigger term). Δ curves rise around the event rather than tracing "
        "its extent, so these strict criteria score them low; lenient ones (e.g. DTC = GTC = 0.1) are "
        "degenerate here, since with one event per item a whole-clip detection already meets them."
    )
    return section("curves", CURVES_TITLE, spec_table(CURVES, scores) + text)


def conditions_section(inputs: ReportInputs, count: int, seed: int) -> str:
    """A few items drawn under every condition that carries a profile, Δ on one scale."""
    import random

    from ..figures import conditions_figure_png

    by_item: dict[tuple[str, str], list[Row]] = {}
    for row in inputs.rows:
        if row.get("profile"):
            by_item.setdefault((str(row["scene_id"]), str(row["query"])), []).append(row)
    items = sorted(k for k, group in by_item.items() if len(group) > 1)
    if not items or count <= 0:
        return ""
    chosen = sorted(random.Random(seed).sample(items, min(count, len(items))))
    figures = "".join(
        f"<figure>{img(conditions_figure_png(by_item[k], inputs.scenes.get(k[0])), f'{k[0]} {k[1]}')}"
        f"<figcaption>{esc(k[0])}, “{esc(k[1])}”</figcaption></figure>"
        for k in chosen
    )
    text = note(
        "The same clip and query under each condition that stores its attention profile; "
        "the Δ panels share one y-axis, so how much each condition moves attention compares directly "
        f"({len(chosen)} of {len(items)} such items, drawn at random with the report's seed)."
    )
    return section("conditions", "Conditions side by side", text + f'<div class="gallery">{figures}</div>')


#: The fields that name the sweep a grid line belongs to (model, dev split, scenes' content, options);
#: lines written before the last two were recorded have None there.
SWEEP_ID_FIELDS = ("model", "dev_hash", "scenes_hash", "options_hash")


def one_sweep(sweep: Sequence[Row], rows: Sequence[Row]) -> tuple[list[Row], int]:
    """The grid lines of the sweep the results were run from, in grid order, and how many lines of other
    sweeps were left out. That sweep is the one of the line with the results' steered config hash (the
    chosen setting), else (no steered rows) the one of the last line written."""
    steered = {r.get("config_hash") for r in rows if r.get("condition") == "steered"}
    chosen = next((line for line in sweep if line.get("config_hash") in steered), sweep[-1])
    ident = [chosen.get(f) for f in SWEEP_ID_FIELDS]
    lines = [line for line in sweep if [line.get(f) for f in SWEEP_ID_FIELDS] == ident]
    if all(isinstance(line.get("grid_index"), int) for line in lines):
        lines.sort(key=lambda line: int(line["grid_index"]))
    return lines, len(sweep) - len(lines)


def sweep_section(sweep: Sequence[Row], rows: Sequence[Row] = ()) -> str:
    """The layer × α heatmap of the dev hit rate of the sweep the results come from (:func:`one_sweep`),
    with the setting the sweep chooses (its own rule, ``bench.sweep.best_point``) named and outlined."""
    from ..bench.sweep import best_point
    from ..figures import format_layers, sweep_png

    if not sweep:
        return ""
    lines, left_out = one_sweep(sweep, rows)
    other = (
        f" {left_out} line(s) of another sweep (other options, scenes or model) in the same files are left "
        f"out."
        if left_out
        else ""
    )
    cells = [(str(line["layers"]), float(line["alpha"])) for line in lines]
    if len(set(cells)) < len(cells):
        text = note(
            f"The sweep lines hold two settings for one (layers, α): they were written by an older version "
            f"resumed with other options, so which setting was chosen is unknown and no heatmap is drawn."
            f"{other}"
        )
        return section("sweep", "Layer × α sweep (dev split)", text)
    best = lines[best_point(lines)]
    layers = best["layers"]
    chosen = format_layers(layers) if isinstance(layers, list) else str(layers)
    text = note(
        f"{len(lines)} grid points; best dev hit rate {float(best['hit_rate']):.1f}% at layers "
        f"{esc(chosen)}, α = {float(best['alpha']):g} (the setting the sweep chooses: ties in hit rate "
        f"are broken by mean IoU, then by grid order; outlined).{other}"
    )
    figure = img(sweep_png(lines, chosen=lines.index(best)), "sweep heatmap")
    return section("sweep", "Layer × α sweep (dev split)", figure + text)


__all__ = [
    "attention_section",
    "conditions_section",
    "curve_section",
    "header",
    "label_section",
    "one_sweep",
    "paired_section",
    "position_section",
    "summary_section",
    "sweep_section",
]
