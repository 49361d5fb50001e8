"""docs/generation.md's and docs/intervals.md's tables are the committed benchmark outputs they name
(``organism/generation.json``; ``organism/snap_noise/seed*.json``), and the sentences drawn from them hold."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pct(value: float) -> str:
    return f"{value:.0f} %"


def test_the_generation_table_is_the_committed_run() -> None:
    data = json.loads((ROOT / "organism" / "generation.json").read_text())
    doc = (ROOT / "docs" / "generation.md").read_text()
    results = data["results"]
    none = results["unsteered"]
    head = f"| none | — | {_pct(none['degenerate_pct'])} | {_pct(none['names_query_pct'])} |"
    assert head in doc
    for key, r in results.items():
        if key == "unsteered":
            continue
        alpha, how = key.split(" ", 1)
        where = "prompt only" if how == "prompt only" else "prompt + every answer token"
        default = " (default: the checkpoint's α)" if (alpha, how) == ("α=4", "prompt only") else ""
        cells = (r["degenerate_pct"], r["names_query_pct"], r["names_query_first_pct"])
        row = f"| {where}{default} | {alpha[2:]} | " + " | ".join(_pct(c) for c in cells) + " |"
        assert row in doc, row
    assert data["scenes"] == 60 and data["settings"]["layers"] == [1]
    assert data["settings"]["prompt"] == "Describe the audio."


def _snap(seed: int) -> dict[str, dict[str, dict[str, float]]]:
    return json.loads((ROOT / "organism" / "snap_noise" / f"seed{seed}.json").read_text())["results"]


SEEDS = (7, 99, 2024)


def test_the_snap_table_and_its_counts_are_the_committed_runs() -> None:
    doc = " ".join((ROOT / "docs" / "intervals.md").read_text().split())
    runs = [_snap(s) for s in SEEDS]
    backgrounds = ("none", "white", "sounds")
    names = {
        "Δ only": "delta 0.1",
        "snap, plain (+10 dB)": "snap plain +10 dB",
        "snap, adaptive": "snap adaptive in delta 0.1 reach 1",
        "edges": "edges of delta 0.1 reach 1",
    }
    for label, key in names.items():
        cells = [" / ".join(f"{run[bg][key]['iou']:.3f}" for run in runs) for bg in backgrounds]
        assert f"| {label} | " + " | ".join(cells) + " |" in doc, label
    below = {"snap adaptive": 0, "edges of": 0}
    worst = 0.0
    for run in runs:
        for bg in backgrounds:
            for fraction in ("0.1", "0.2", "0.5"):
                base = run[bg][f"delta {fraction}"]["iou"]
                for reach in ("0.5", "1"):
                    for rule in below:
                        iou = run[bg][
                            f"{rule} {'in ' if rule == 'snap adaptive' else ''}delta {fraction} reach {reach}"
                        ]["iou"]
                        if iou < base:
                            below[rule] += 1
                            worst = max(worst, base - iou)
    assert (
        f"the adaptive snap is below Δ alone in {below['snap adaptive']} and the edges rule in "
        f"{below['edges of']}, each time by at most {worst:.3f} IoU"
    ) in doc
    hits = [" / ".join(f"{round(run[bg]['hit_rate'], 1):g}" for run in runs) for bg in backgrounds]
    assert f"hit rates {hits[0]} % clean, {hits[1]} % in white noise, {hits[2]} % over other sounds" in doc


def test_the_figures_module_table_names_what_exists() -> None:
    """docs/figures.md's module table: each module exists and each public name it lists is importable
    from it and from ``wheretolisten.figures`` (a renamed or removed name once stayed in the table)."""
    import importlib

    import wheretolisten.figures as figures

    doc = (ROOT / "docs" / "figures.md").read_text()
    table = doc[doc.index("| module | what it draws | public names |") :].split("\n\n", 1)[0]
    checked = 0
    for line in table.splitlines()[2:]:
        modules, _, names = (cell.strip() for cell in line.strip("|").split("|"))
        listed = re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", names)
        for module in re.findall(r"`([a-z_]+)`", modules):
            found = importlib.import_module(f"wheretolisten.figures.{module}")
            for name in listed:
                assert hasattr(figures, name), name
                if len(re.findall(r"`([a-z_]+)`", modules)) == 1:
                    assert hasattr(found, name), (module, name)
                checked += 1
    assert checked >= 30


def test_the_readme_names_the_shipped_detection_settings() -> None:
    """README's Limitations quote the shipped checkpoint's own detection settings (they once named an older
    checkpoint's 0.4-s smoothing)."""
    meta = json.loads(
        (ROOT / "src" / "wheretolisten" / "assets" / "organism" / "wheretolisten.json").read_text()
    )
    d = meta["detect"]
    readme = " ".join((ROOT / "README.md").read_text().split())
    edges = ", with edges" if d.get("edges") else ""
    assert f'`"detect"`: {d["min_score"]:.1f}, {d["smooth_s"]:g} s, {d["fraction"]:g}{edges};' in readme


def test_the_readme_delta_detector_numbers_are_the_committed_summary() -> None:
    """README's collar F1 / PSDS of Δ curves: ``bench summary``'s table in organism/delta_detectors/."""
    summary = (ROOT / "organism" / "delta_detectors" / "summary.md").read_text()
    rows = {}
    for line in summary.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 6 and cells[0] in ("steered", "prompted", "audio-steered") and cells[1] == "180":
            rows[cells[0]] = (cells[2], cells[5])
    assert len(rows) == 3
    readme = " ".join((ROOT / "README.md").read_text().split())
    f1 = ", ".join(f"{rows[c][0]} {c}" for c in ("steered", "prompted", "audio-steered"))
    assert f"collar F1 at the best threshold {f1};" in readme
    psds = [rows[c][1] for c in ("steered", "prompted", "audio-steered")]
    assert f"PSDS {psds[0]}, {psds[1]} and {psds[2]} at DCASE's" in readme
    steered = next(line for line in summary.splitlines() if line.startswith("| steered | 180 | "))
    assert steered.split("|")[3].strip().startswith("100.0") and "hits 100 % of the same queries" in readme


def test_the_quiet_draws_sentence_is_the_committed_runs() -> None:
    """README's further draws of the 8-s quiet set (organism/quiet_draw.py); its seed-1 run is the
    protocol's committed first draw, so the script uses the protocol's settings."""
    runs = {
        seed: json.loads((ROOT / "organism" / "quiet_draw" / f"test-8s-3ev-s{seed}.json").read_text())
        for seed in (1, 2001, 3001, 4001)
    }
    summary = json.loads((ROOT / "organism" / "protocol_summary.json").read_text())
    first = {r["condition"]: r["test-8s-3ev-s1"][0] for r in summary["hit_rate"]}
    assert round(first["steered"], 1) == runs[1]["steered_hit_pct"]
    assert round(first["prompted"], 1) == runs[1]["prompted_hit_pct"]
    fresh = [runs[s] for s in (2001, 3001, 4001)]
    readme = " ".join((ROOT / "README.md").read_text().split())
    steered = " / ".join(f"{r['steered_hit_pct']:.1f}" for r in fresh)
    prompted = " / ".join(f"{r['prompted_hit_pct']:.1f}" for r in fresh)
    assert f"steering hit {steered} % and prompting {prompted} %" in readme
    significant = [r for r in fresh if r["mcnemar_exact_two_sided_p"] < 0.05]
    assert significant == [fresh[0]] and fresh[0]["only_steered"] == 0
    assert f"(exact McNemar p = {fresh[0]['mcnemar_exact_two_sided_p']:.2f})" in readme
