"""One self-contained HTML report of a benchmark results file: tables with CIs and embedded figures.

The page has no external references (no scripts, no stylesheets, no image files): every figure is a
PNG data URI, so the file can be mailed or archived as is. The same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError
from .metrics import format_number, format_p
from .shards import merge_rows, shard_files

#: Fields every results row must carry (``label`` and ``position`` are optional here).
REQUIRED_FIELDS = ("scene_id", "query", "condition", "gt", "peak_s", "interval_s", "duration_s")
#: Fields of a sweep line.
SWEEP_FIELDS = ("layers", "alpha", "hit_rate")
SWEEP_NAME = "sweep.jsonl"
_OPTIONAL_NUMBERS = ("attn_share", "attn_entropy", "attn_share_base", "attn_entropy_base")

Row = dict[str, Any]


# ----------------------------------------------------------------------------------------------------
# Reading and validating
# ----------------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_pair(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value)


def _check_profile(profile: Any) -> str | None:
    """Why a row's ``profile`` is unusable, or None when it is fine (or absent)."""
    if profile is None:
        return None
    if not isinstance(profile, dict) or "time_s" not in profile or "delta" not in profile:
        return "'profile' must be an object with time_s and delta (and optionally base, steered)"
    n = len(profile["time_s"]) if isinstance(profile["time_s"], list) else -1
    for key in ("time_s", "delta", "base", "steered"):
        values = profile.get(key)
        if key in profile and (
            not isinstance(values, list) or len(values) != n or not all(_is_number(v) for v in values)
        ):
            return f"'profile.{key}' must be a list of {max(n, 0)} finite numbers"
    return None if n > 0 else "'profile.time_s' is empty"


def check_row(row: Any) -> str | None:
    """Why a parsed results line is not a usable row, or None when it is."""
    if not isinstance(row, dict):
        return f"expected a JSON object, got {type(row).__name__}"
    missing = [k for k in REQUIRED_FIELDS if k not in row]
    if missing:
        return f"missing {', '.join(missing)}"
    if not _is_pair(row["gt"]) or row["gt"][1] < row["gt"][0]:
        return f"'gt' must be [onset, offset] with onset <= offset, got {row['gt']!r}"
    if row["peak_s"] is not None and not _is_number(row["peak_s"]):
        return f"'peak_s' must be a number or null, got {row['peak_s']!r}"
    if row["interval_s"] is not None and not _is_pair(row["interval_s"]):
        return f"'interval_s' must be [start, end] or null, got {row['interval_s']!r}"
    if not _is_number(row["duration_s"]) or row["duration_s"] <= 0:
        return f"'duration_s' must be a positive number, got {row['duration_s']!r}"
    for key in _OPTIONAL_NUMBERS:
        if row.get(key) is not None and not _is_number(row[key]):
            return f"'{key}' must be a number or null, got {row[key]!r}"
    return _check_profile(row.get("profile"))


def read_jsonl(
    path: str | os.PathLike[str], check: Callable[[Any], str | None], what: str
) -> tuple[list[Row], list[str]]:
    """Rows of a JSON-lines file and notes; a bad complete line is a DataError naming file and line.

    A last line without a newline that does not parse is a write in progress: skipped with a note.
    """
    source = Path(path)
    if not source.is_file():
        raise DataError(f"{what} {source} does not exist")
    data = source.read_bytes()
    lines = data.split(b"\n")
    rows: list[Row] = []
    notes: list[str] = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        torn = lineno == len(lines) and not data.endswith(b"\n")
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if torn:
                notes.append(f"{source.name}: skipped line {lineno}, an unfinished write (no newline)")
                continue
            raise DataError(f"{source}: line {lineno} is not valid JSON ({exc})") from None
        problem = check(row)
        if problem is not None:
            raise DataError(f"{source}: line {lineno}: {problem}")
        rows.append(row)
    return rows, notes


def read_results(path: str | os.PathLike[str]) -> tuple[list[Row], list[str]]:
    """Validated rows of a results.jsonl and notes about skipped lines."""
    rows, notes = read_jsonl(path, check_row, "results file")
    if not rows:
        raise DataError(f"results file {path} has no rows")
    return rows, notes


def check_sweep_line(line: Any) -> str | None:
    """Why a sweep line is unusable, or None."""
    if not isinstance(line, dict):
        return f"expected a JSON object, got {type(line).__name__}"
    missing = [k for k in SWEEP_FIELDS if k not in line]
    if missing:
        return f"missing {', '.join(missing)}"
    if not _is_number(line["alpha"]) or not _is_number(line["hit_rate"]):
        return "'alpha' and 'hit_rate' must be numbers"
    return None


def read_sweep(path: str | os.PathLike[str]) -> list[Row]:
    """Validated lines of a sweep.jsonl (``layers``, ``alpha``, ``hit_rate`` per grid point)."""
    return read_jsonl(path, check_sweep_line, "sweep file")[0]


# ----------------------------------------------------------------------------------------------------
# Gallery selection
# ----------------------------------------------------------------------------------------------------


def row_score(row: Mapping[str, Any]) -> tuple[float, float]:
    """(IoU, hit) of a row: the gallery's ranking key."""
    from .metrics import hit, iou

    return iou(row.get("interval_s"), row["gt"]), float(hit(row.get("peak_s"), row["gt"]))


def select_gallery(rows: Sequence[Row], per_group: int = 4, seed: int = 0) -> list[tuple[str, list[Row]]]:
    """Best and worst ``per_group`` rows by (IoU, hit), and a seeded random sample of the rest."""
    keyed = sorted(
        range(len(rows)),
        key=lambda i: (*row_score(rows[i]), str(rows[i]["scene_id"]), str(rows[i]["query"])),
    )
    best = keyed[::-1][:per_group]
    worst = [i for i in keyed if i not in best][:per_group]
    rest = sorted(set(range(len(rows))) - set(best) - set(worst))
    rng = np.random.default_rng(seed)
    sample = sorted(rng.choice(rest, size=min(per_group, len(rest)), replace=False).tolist()) if rest else []
    groups = [("best", best), ("worst", worst), ("random sample", sample)]
    return [(name, [rows[i] for i in idx]) for name, idx in groups if idx]


# ----------------------------------------------------------------------------------------------------
# HTML pieces
# ----------------------------------------------------------------------------------------------------


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 2) -> str:
    """A number with ``digits`` decimals; None/NaN as an empty cell; tiny non-zero values in e-notation."""
    if value is not None and not isinstance(value, (bool, np.bool_, int, np.integer)):
        v = float(value)
        if v != 0 and abs(v) < 0.5 * 10.0**-digits:  # tiny effects (e.g. of a random model) stay visible
            return f"{v:.1e}"
        value = v
    return format_number(value, digits)


fmt_p = format_p


def fmt_ci(value: Any, ci: Any, digits: int = 2) -> str:
    """'62.00 [55.10, 68.90]' with the CI in a muted span (HTML)."""
    text = _esc(fmt(value, digits))
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and text:
        text += f' <span class="ci">[{fmt(ci[0], digits)}, {fmt(ci[1], digits)}]</span>'
    return text


def html_table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric_from: int = 1) -> str:
    """A table; cells are trusted HTML (escape before); columns from ``numeric_from`` right-aligned."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = []
    for cells in rows:
        tds = "".join(
            f'<td class="num">{c}</td>' if i >= numeric_from else f"<td>{c}</td>" for i, c in enumerate(cells)
        )
        body.append(f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def img(png: bytes, alt: str) -> str:
    """An <img> with the PNG embedded as a base64 data URI."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_esc(alt)}">'


def summary_table(summary: Sequence[Mapping[str, Any]]) -> str:
    """Hit rate, IoU (with 95% CIs), coverage, precision, R@IoU per condition."""
    headers = [
        "condition",
        "n",
        "hit rate % [95% CI]",
        "IoU [95% CI]",
        "coverage",
        "precision",
        "R@IoU≥0.3 %",
        "R@IoU≥0.5 %",
        "with interval",
    ]
    has_parse = any("parse_failures" in s for s in summary)
    if has_parse:
        headers.append("parse failures")
    rows = []
    for s in summary:
        cells = [
            _esc(s["condition"]),
            fmt(s["n"]),
            fmt_ci(s["hit_rate"], s.get("hit_rate_ci"), 1),
            fmt_ci(s["iou"], s.get("iou_ci"), 3),
            fmt(s["coverage"], 3),
            fmt(s["precision"], 3),
            fmt(s["r_at_iou_0.3"], 1),
            fmt(s["r_at_iou_0.5"], 1),
            fmt(s["n_with_interval"]),
        ]
        if has_parse:
            cells.append(fmt(s.get("parse_failures")))
        rows.append(cells)
    return html_table(headers, rows)


def position_table(breakdown: Sequence[Mapping[str, Any]]) -> str:
    """Hit rate % [CI] (n) per condition (rows) and target position (columns)."""
    conditions = list(dict.fromkeys(str(b["condition"]) for b in breakdown))
    positions = list(dict.fromkeys(str(b["position"]) for b in breakdown))
    cell = {(str(b["condition"]), str(b["position"])): b for b in breakdown}
    rows = []
    for cond in conditions:
        cells = [_esc(cond)]
        for pos in positions:
            b = cell.get((cond, pos))
            cells.append("" if b is None else f"{fmt_ci(b['hit_rate'], b['hit_rate_ci'], 1)} (n={b['n']})")
        rows.append(cells)
    return html_table(["condition", *(f"{p}: hit rate %" for p in positions)], rows)


def attention_table(summary: Sequence[Mapping[str, Any]]) -> str | None:
    """attn_share / attn_entropy per condition and their paired change vs base; None when absent."""
    present = [s for s in summary if "attn_share" in s or "attn_entropy" in s]
    if not present:
        return None
    headers = [
        "condition",
        "attention share in GT [CI]",
        "Δ share vs base [CI]",
        "p (Wilcoxon)",
        "entropy [CI]",
        "Δ entropy vs base [CI]",
        "p (Wilcoxon)",
    ]
    rows = [
        [
            _esc(s["condition"]),
            fmt_ci(s.get("attn_share"), s.get("attn_share_ci"), 3),
            fmt_ci(s.get("attn_share_delta"), s.get("attn_share_delta_ci"), 4),
            fmt_p(s.get("attn_share_p")),
            fmt_ci(s.get("attn_entropy"), s.get("attn_entropy_ci"), 3),
            fmt_ci(s.get("attn_entropy_delta"), s.get("attn_entropy_delta_ci"), 4),
            fmt_p(s.get("attn_entropy_p")),
        ]
        for s in present
    ]
    return html_table(headers, rows)


def paired_table(tests: Sequence[Mapping[str, Any]]) -> str:
    """McNemar on hits and Wilcoxon on IoU, reference vs each other condition."""
    headers = [
        "condition",
        "pairs",
        "hit % ref",
        "hit %",
        "b01",
        "b10",
        "McNemar p",
        "IoU ref",
        "IoU",
        "Wilcoxon p",
    ]
    rows = [
        [
            _esc(t["condition"]),
            fmt(t["n_pairs"]),
            fmt(t["hit_rate_ref"], 1),
            fmt(t["hit_rate"], 1),
            fmt(t["b01"]),
            fmt(t["b10"]),
            fmt_p(t["mcnemar_p"]),
            fmt(t["iou_ref"], 3),
            fmt(t["iou"], 3),
            fmt_p(t["wilcoxon_p"]),
        ]
        for t in tests
    ]
    return html_table(headers, rows)


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.3em .6em}th{background:#f4f4f4;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}.ci{color:#777;font-size:.85em}
.note{color:#555;font-size:.9em}figure{margin:1em 0}figure img{max-width:100%}
figcaption{font-size:.85em;color:#444}.gallery{display:grid;grid-template-columns:1fr 1fr;gap:.5em}
"""


# ----------------------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------------------


@dataclass
class ReportInputs:
    """Everything the page is built from."""

    rows: list[Row]
    name: str
    scenes: dict[str, Any] = field(default_factory=dict)
    sweep: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_inputs(
    results: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    scenes: str | os.PathLike[str] | None = None,
    sweep: str | os.PathLike[str] | None = None,
) -> ReportInputs:
    """Read results (one file, or the shards of one run), the optional scene manifest, and the sweep grid
    (given, or ``sweep.jsonl`` and its shard files beside the first results file)."""
    paths = [Path(results)] if isinstance(results, (str, os.PathLike)) else [Path(r) for r in results]
    if not paths:
        raise DataError("no results file given")
    if len(paths) == 1:
        rows, notes = read_results(paths[0])
        sources = [(paths[0], rows)]
    else:  # shards: one may be empty (more shards than scenes), not all
        sources, notes = [], []
        for path in paths:
            rows, file_notes = read_jsonl(path, check_row, "results file")
            sources.append((path, rows))
            notes.extend(file_notes)
            if not rows:
                notes.append(f"{path.name} has no rows")
    merged, dropped = merge_rows(sources)
    if not merged:
        raise DataError(f"none of the {len(paths)} results files has rows")
    if dropped:
        notes.append(f"{dropped} row(s) present in more than one results file were counted once")
    name = paths[0].name if len(paths) == 1 else f"{paths[0].name} and {len(paths) - 1} more file(s)"
    inputs = ReportInputs(merged, name, notes=notes)
    if scenes is not None:
        from .scenes import load_manifest

        inputs.scenes = {s.scene_id: s for s in load_manifest(scenes)}
        unknown = sorted({str(r["scene_id"]) for r in merged} - set(inputs.scenes))
        if unknown:
            inputs.notes.append(f"{len(unknown)} scene(s) of the results are not in the manifest")
    sweep_paths = [Path(sweep)] if sweep is not None else shard_files(paths[0].parent / SWEEP_NAME)
    if sweep_paths:
        grids = [(path, read_sweep(path)) for path in sweep_paths]
        keys = ("layers", "alpha", "config_hash")
        inputs.sweep = merge_rows(grids, key_fields=keys, same_fields=("model", "dev_hash"))[0]
    return inputs


def _conditions(rows: Sequence[Row]) -> list[str]:
    return list(dict.fromkeys(str(r["condition"]) for r in rows))


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{_esc(title)}</h2>\n{body}\n</section>\n'


def _summary_section(rows: Sequence[Row], summary: Sequence[Mapping[str, Any]], gallery_cond: str) -> str:
    from .metrics import random_hit_expectation

    chance = random_hit_expectation([r for r in rows if r["condition"] == gallery_cond])
    body = summary_table(summary) + (
        '<p class="note">Hit: the predicted peak falls inside the queried event. IoU, coverage and '
        "precision compare the predicted interval with the event (a missing prediction scores 0). "
        f"CIs: percentile bootstrap of the mean. Chance hit rate (a uniformly random peak): "
        f"{100 * chance:.1f}%.</p>"
    )
    return _section("summary", "Summary per condition", body)


def _paired_section(rows: Sequence[Row], conditions: Sequence[str]) -> str:
    from .metrics import paired_tests

    if "steered" not in conditions or len(conditions) < 2:
        return ""
    try:
        tests = paired_tests(rows, "steered")
    except DataError as exc:
        return _section("paired", "Paired tests vs steered", f'<p class="note">not computed: {_esc(exc)}</p>')
    return _section("paired", "Paired tests vs steered", paired_table(tests))


def _position_section(rows: Sequence[Row], n_boot: int, seed: int) -> str:
    from .figures import position_png
    from .metrics import breakdown_by_position

    breakdown = breakdown_by_position(rows, n_boot=n_boot, seed=seed)
    figure = img(position_png(breakdown), "hit rate by target position")
    return _section("position", "Hit rate by target position", position_table(breakdown) + figure)


def _label_section(rows: Sequence[Row]) -> str:
    from .metrics import hit_rate_by_label

    table = hit_rate_by_label(rows)
    if len(table) < 2:
        return ""
    conditions = [k for k in table[0] if k not in ("label", "n")]
    body = html_table(
        ["event class", "queries", *(f"{c}: hit %" for c in conditions)],
        [[_esc(t["label"]), str(t["n"]), *(format_number(t[c], 1) for c in conditions)] for t in table],
    )
    note = '<p class="note">Which sounds each condition finds: hit rate per queried event class.</p>'
    return _section("labels", "Hit rate by event class", body + note)


def _attention_section(summary: Sequence[Mapping[str, Any]]) -> str:
    table = attention_table(summary)
    if table is None:
        return ""
    note = (
        '<p class="note">Attention share: the part of the (steered) temporal attention profile inside the '
        "queried event; entropy: normalized entropy of the profile (1 = uniform). Δ vs base is the paired "
        "change from the unsteered profile on the same item.</p>"
    )
    return _section("attention", "Attention redistribution", table + note)


def _curve_section(rows: Sequence[Row]) -> str:
    from .metrics import curve_scores

    scores = curve_scores(rows)
    if not scores:
        return ""
    headers = ["condition", "items", "collar F1", "precision", "recall", "PSDS"]
    table = html_table(
        headers,
        [
            [
                _esc(s["condition"]),
                str(s["n"]),
                format_number(s["collar_f1"], 3),
                format_number(s["collar_precision"], 3),
                format_number(s["collar_recall"], 3),
                format_number(s["psds"], 3),
            ]
            for s in scores
        ],
    )
    note = (
        '<p class="note">The Δ curves themselves scored as sound-event detection, with no threshold '
        "chosen by hand (sed_scores_eval): collar F1 at the best threshold (onset collar 0.2 s, offset "
        "collar max(0.2 s, 20 % of the event)), and intersection-based PSDS (DTC = GTC = 0.7, eFPR up to 100 "
        "per hour; one class, so no cross-trigger term). Δ curves rise around the event rather than tracing "
        "its extent, so these strict criteria score them low; lenient ones (e.g. DTC = GTC = 0.1) are "
        "degenerate here, since with one event per item a whole-clip detection already meets them.</p>"
    )
    return _section("curves", "Δ curves as detectors (threshold-free)", table + note)


def _caption(group: str, rank: int, row: Mapping[str, Any]) -> str:
    iou_value, hit_value = row_score(row)
    interval = row.get("interval_s")
    pred = "none" if row.get("peak_s") is None else f"peak {float(row['peak_s']):.2f} s"
    if interval is not None:
        pred += f", interval {float(interval[0]):.2f}–{float(interval[1]):.2f} s"
    gt = f"{float(row['gt'][0]):.2f}–{float(row['gt'][1]):.2f} s"
    return (
        f"{_esc(group)} #{rank}: {_esc(row['scene_id'])}, “{_esc(row['query'])}” "
        f"({_esc(row.get('position', '?'))}); GT {gt}; {_esc(pred)}; "
        f"{'hit' if hit_value else 'miss'}, IoU {iou_value:.2f}"
    )


def _gallery_section(inputs: ReportInputs, condition: str, per_group: int, seed: int, progress: bool) -> str:
    from .figures import row_figure_png

    rows = [r for r in inputs.rows if r["condition"] == condition]
    groups = select_gallery(rows, per_group, seed) if per_group > 0 else []
    if not groups:
        return ""
    jobs = [(name, k + 1, row) for name, members in groups for k, row in enumerate(members)]
    figures: dict[str, list[str]] = {name: [] for name, _ in groups}
    for name, rank, row in _track(jobs, progress, f"report: {len(jobs)} figures"):
        png = row_figure_png(row, inputs.scenes.get(str(row["scene_id"])))
        alt = f"{row['scene_id']} {row['query']}"
        figures[name].append(
            f"<figure>{img(png, alt)}<figcaption>{_caption(name, rank, row)}</figcaption></figure>"
        )
    body = (
        f'<p class="note">Condition <b>{_esc(condition)}</b>, ranked by IoU then hit. Green: the queried '
        "event (grey: the scene's other events when a manifest is given); orange: the predicted interval; "
        "red dashed: the predicted peak; the Δ profile is drawn when the row carries one.</p>"
    )
    for name, _ in groups:
        body += f'<h3>{_esc(name)}</h3><div class="gallery">{"".join(figures[name])}</div>'
    return _section("gallery", "Gallery", body)


def _conditions_section(inputs: ReportInputs, count: int, seed: int) -> str:
    """A few items drawn under every condition that carries a profile, Δ on one scale."""
    import random

    from .figures import conditions_figure_png

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
        f"<figcaption>{_esc(k[0])}, “{_esc(k[1])}”</figcaption></figure>"
        for k in chosen
    )
    note = (
        '<p class="note">The same clip and query under each condition that stores its attention profile; '
        "the Δ panels share one y-axis, so how much each condition moves attention compares directly "
        f"({len(chosen)} of {len(items)} such items, drawn at random with the report's seed).</p>"
    )
    return _section("conditions", "Conditions side by side", note + f'<div class="gallery">{figures}</div>')


def _sweep_section(sweep: Sequence[Row]) -> str:
    from .figures import format_layers, sweep_png

    if not sweep:
        return ""
    best = max(sweep, key=lambda r: float(r["hit_rate"]))
    layers = best["layers"]
    chosen = format_layers(layers) if isinstance(layers, list) else str(layers)
    note = (
        f'<p class="note">{len(sweep)} grid points; best dev hit rate {float(best["hit_rate"]):.1f}% at '
        f"layers {_esc(chosen)}, α = {float(best['alpha']):g}.</p>"
    )
    return _section("sweep", "Layer × α sweep (dev split)", img(sweep_png(sweep), "sweep heatmap") + note)


def _track(items: Sequence[Any], enabled: bool, description: str) -> Iterable[Any]:
    """A rich progress bar on stderr over ``items`` when enabled."""
    if not enabled or not items:
        return items
    from rich.console import Console
    from rich.progress import track

    return track(items, description=description, console=Console(stderr=True))


def render_report(
    inputs: ReportInputs,
    per_group: int = 4,
    seed: int = 0,
    condition: str | None = None,
    n_boot: int = 2000,
    progress: bool = False,
) -> str:
    """The whole HTML page as a string (deterministic for the same inputs and options)."""
    from .metrics import summarize

    rows = inputs.rows
    conditions = _conditions(rows)
    gallery_cond = condition or ("steered" if "steered" in conditions else conditions[0])
    if gallery_cond not in conditions:
        raise DataError(f"condition {gallery_cond!r} is not in the results ({', '.join(conditions)})")
    summary = summarize(rows, n_boot=n_boot, seed=seed)
    models = sorted({str(r["model"]) for r in rows if r.get("model")})
    header = (
        f"<h1>wheretolisten report: {_esc(inputs.name)}</h1>\n"
        f'<p class="note">{len(rows)} rows, {len({r["scene_id"] for r in rows})} scenes, conditions '
        f"{_esc(', '.join(conditions))}"
        + (f"; model {_esc(', '.join(models))}" if models else "")
        + ".</p>\n"
        + "".join(f'<p class="note">{_esc(n)}</p>\n' for n in inputs.notes)
    )
    sections = [
        _summary_section(rows, summary, gallery_cond),
        _paired_section(rows, conditions),
        _position_section(rows, n_boot, seed),
        _label_section(rows),
        _attention_section(summary),
        _curve_section(rows),
        _sweep_section(inputs.sweep),
        _gallery_section(inputs, gallery_cond, per_group, seed, progress),
        _conditions_section(inputs, per_group, seed),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>wheretolisten report: {_esc(inputs.name)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + header
        + "".join(sections)
        + "</body>\n</html>\n"
    )


def write_report(
    results: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    scenes: str | os.PathLike[str] | None = None,
    sweep: str | os.PathLike[str] | None = None,
    per_group: int = 4,
    seed: int = 0,
    condition: str | None = None,
    n_boot: int = 2000,
    progress: bool = False,
) -> Path:
    """Read the inputs, render the page and write it atomically to ``out``."""
    from .figures import require_matplotlib

    require_matplotlib()
    inputs = load_inputs(results, scenes, sweep)
    page = render_report(inputs, per_group, seed, condition, n_boot, progress)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    return path


__all__ = [
    "REQUIRED_FIELDS",
    "ReportInputs",
    "check_row",
    "load_inputs",
    "read_results",
    "read_sweep",
    "render_report",
    "select_gallery",
    "write_report",
]
