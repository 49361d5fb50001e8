"""The HTML report: self-contained, deterministic, complete; bad results lines are named."""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpers import CORE_FAMILIES, run_cli
from test_figures import one, png_size
from wheretolisten import figures, metrics, report
from wheretolisten.errors import DataError
from wheretolisten.localize import LocalizeConfig, localize
from wheretolisten.metrics import attention_share, profile_entropy
from wheretolisten.models import Adapter
from wheretolisten.scenes import ProceduralBank, Scene, make_scenes

FAMILIES = CORE_FAMILIES


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Scene]]:
    out = tmp_path_factory.mktemp("report_scenes")
    return out, make_scenes(ProceduralBank(), 3, out, duration_s=4.0, seed=7, progress=False)


def steered_row(adapter: Adapter, root: Path, scene: Scene) -> dict[str, Any]:
    """A results row as the benchmark writes it, plus the optional profile and attention fields."""
    event = scene.target_event
    result = localize(adapter, scene.audio_path(root), event.query, LocalizeConfig(alpha=8.0, layers=[1]))
    gt = [event.onset_s, event.offset_s]
    prof = result.profile
    return {
        "scene_id": scene.scene_id,
        "query": event.query,
        "label": event.label,
        "condition": "steered",
        "gt": gt,
        "peak_s": result.peak_s,
        "interval_s": list(result.interval_s) if result.interval_s else None,
        "duration_s": scene.duration_s,
        "position": event.position,
        "model": adapter.name,
        "attn_share": attention_share(prof.steered, prof.time_s, gt),
        "attn_share_base": attention_share(prof.base, prof.time_s, gt),
        "attn_entropy": profile_entropy(prof.steered),
        "attn_entropy_base": profile_entropy(prof.base),
        "profile": {k: v for k, v in result.to_json()["profile"].items()},
    }


def random_row(scene: Scene, seed: int) -> dict[str, Any]:
    event = scene.target_event
    start, end = sorted(np.random.default_rng(seed).uniform(0, scene.duration_s, 2).tolist())
    return {
        "scene_id": scene.scene_id,
        "query": event.query,
        "label": event.label,
        "condition": "random",
        "gt": [event.onset_s, event.offset_s],
        "peak_s": (start + end) / 2,
        "interval_s": [start, end],
        "duration_s": scene.duration_s,
        "position": event.position,
    }


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def rows(adapters: dict[str, Adapter], scenes: tuple[Path, list[Scene]]) -> dict[str, list[dict[str, Any]]]:
    """Steered rows (with profiles) from each tiny family, and random-baseline rows."""
    root, scene_list = scenes
    random_rows = [random_row(s, i) for i, s in enumerate(scene_list)]
    return {f: [steered_row(adapters[f], root, s) for s in scene_list] + random_rows for f in FAMILIES}


def embedded_pngs(page: str) -> list[bytes]:
    return [base64.b64decode(d) for d in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)]


def assert_self_contained(page: str) -> None:
    """Every src/href is a data URI or an in-page anchor; no script files, stylesheets or web links."""
    refs = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']*)', page)
    assert refs and all(r.startswith(("data:", "#")) for r in refs), refs
    assert "http" not in page and "<link" not in page
    assert all(tag == "<script>" for tag in re.findall(r"<script[^>]*>", page))  # inline scripts only


@pytest.mark.parametrize("family", FAMILIES)
def test_report_from_tiny_model_rows(
    tmp_path: Path, rows: dict[str, list[dict[str, Any]]], scenes: tuple[Path, list[Scene]], family: str
) -> None:
    results = write_jsonl(tmp_path / "results.jsonl", rows[family])
    sweep = [{"layers": [1], "alpha": a, "hit_rate": 10.0 * a, "iou": 0.1} for a in (2.0, 4.0)]
    sweep.append({"layers": [1, 2], "alpha": 2.0, "hit_rate": 30.0, "iou": 0.2})
    write_jsonl(tmp_path / "sweep.jsonl", sweep)
    out = report.write_report(results, tmp_path / "out" / "report.html", scenes=scenes[0], per_group=1)
    page = out.read_text(encoding="utf-8")
    assert_self_contained(page)
    for section in ("summary", "paired", "position", "labels", "attention", "curves", "sweep", "gallery"):
        assert f'<section id="{section}">' in page, section
    assert "<td>steered</td>" in page and "<td>random</td>" in page
    assert page.count('<td class="num">3</td>') >= 2  # n per condition
    assert "best dev hit rate 40.0% at layers 1, α = 4" in page
    pngs = embedded_pngs(page)
    assert len(pngs) == 2 + 3  # position chart, sweep heatmap, best/worst/random
    assert all(png_size(p)[0] > 300 for p in pngs)
    if family == "qwen2-audio":
        again = report.write_report(results, tmp_path / "again.html", scenes=scenes[0], per_group=1)
        assert again.read_bytes() == out.read_bytes()


def test_report_without_manifest_profiles_or_sweep(tmp_path: Path, scenes: tuple[Path, list[Scene]]) -> None:
    results = write_jsonl(tmp_path / "r.jsonl", [random_row(s, i) for i, s in enumerate(scenes[1])])
    page = report.render_report(report.load_inputs(results), per_group=2, n_boot=100)
    assert_self_contained(page)
    assert "Condition <b>random</b>" in page and 'id="sweep"' not in page and 'id="attention"' not in page
    assert 'id="curves"' not in page  # no profiles, no curve scores
    assert len(embedded_pngs(page)) == 1 + 3


def test_curves_without_sed_scores_eval_say_how_to_enable_them(
    tmp_path: Path, rows: dict[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows with profiles but no sed_scores_eval (the optional extra): one sentence instead of a failure."""
    monkeypatch.setattr(metrics, "sed_available", lambda: False)
    results = write_jsonl(tmp_path / "r.jsonl", rows["qwen2-audio"])
    page = report.render_report(report.load_inputs(results), per_group=0, n_boot=100)
    section = page[page.index('<section id="curves">') :]
    section = html.unescape(section[: section.index("</section>")])
    assert "pip install 'wheretolisten[sed]'" in section and "<table>" not in section
    assert section.count(". ") + section.count(".<") == 1  # one sentence
    assert '<section id="summary">' in page and '<section id="gallery">' not in page


def test_select_gallery_is_ranked_disjoint_and_seeded(rows: dict[str, list[dict[str, Any]]]) -> None:
    many = [dict(r, scene_id=f"{r['scene_id']}-{k}") for k in range(4) for r in rows["qwen2-audio"]]
    groups = dict(report.select_gallery(many, per_group=3, seed=1))
    assert list(groups) == ["best", "worst", "random sample"]
    ids = [id(r) for g in groups.values() for r in g]
    assert len(ids) == len(set(ids)) == 9
    assert min(map(report.row_score, groups["best"])) >= max(map(report.row_score, groups["worst"]))
    assert report.select_gallery(many, 3, seed=1) == report.select_gallery(many, 3, seed=1)


def scored_row(scene_id: str, peak_s: float | None, interval_s: list[float] | None) -> dict[str, Any]:
    """A minimal row on a 4 s clip whose event lies at 1–2 s."""
    return {
        "scene_id": scene_id,
        "query": "a bell",
        "condition": "steered",
        "gt": [1.0, 2.0],
        "peak_s": peak_s,
        "interval_s": interval_s,
        "duration_s": 4.0,
    }


def test_gallery_puts_every_hit_before_any_miss() -> None:
    """A miss with a large IoU (peak outside, interval on the event) never outranks a hit in "best"."""
    rows = [
        scored_row("miss-wide", 3.0, [1.0, 2.1]),  # IoU 0.91, but the peak misses
        scored_row("hit-no-interval", 1.5, None),  # IoU 0, but the peak hits
        scored_row("hit-half", 1.5, [1.0, 3.0]),  # IoU 0.5, hit
        scored_row("miss-none", None, None),
    ]
    groups = dict(report.select_gallery(rows, per_group=2))
    assert [r["scene_id"] for r in groups["best"]] == ["hit-half", "hit-no-interval"]
    assert [r["scene_id"] for r in groups["worst"]] == ["miss-none", "miss-wide"]
    assert [report.row_score(r)[0] for r in groups["best"]] == [1.0, 1.0]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2 is not valid JSON"),
        ('{"scene_id": "s"}', "line 2: missing query"),
        ('["a"]', "line 2: expected a JSON object"),
        (None, "line 2: 'gt' must be"),
        (None, "line 2: 'profile.delta' must be"),
    ],
)
def test_corrupt_results_line_is_named(
    tmp_path: Path, rows: dict[str, list[dict[str, Any]]], line: str | None, message: str
) -> None:
    good = rows["qwen2-audio"][0]
    if line is None and "gt" in message:
        line = json.dumps(dict(good, gt=[3.0]))
    elif line is None:
        line = json.dumps(dict(good, profile=dict(good["profile"], delta=[0.0])))
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(good) + "\n" + line + "\n" + json.dumps(good) + "\n")
    with pytest.raises(DataError, match=re.escape(message)):
        report.load_inputs(path)


def test_gt_null_is_refused_with_one_line_naming_file_and_line(
    tmp_path: Path,
    rows: dict[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = rows["qwen2-audio"][3]
    path = write_jsonl(tmp_path / "r.jsonl", [good, dict(good, scene_id="other", gt=None)])
    code, _, err = run_cli(monkeypatch, capsys, "report", path, "--out", tmp_path / "r.html", "--no-progress")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert f"{path}: line 2: 'gt' must be" in lines[0]
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize(
    "change",
    [
        {"gt": None},
        {"scene_id": 7},  # the report used to accept a number here, bench summary did not
        {"elapsed_s": "slow"},  # likewise
        {},  # the first row again: a repeat, which the report used to count once
    ],
)
def test_report_and_summary_accept_and_refuse_the_same_rows(
    tmp_path: Path,
    rows: dict[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, Any],
) -> None:
    """Both read rows through records.read_results: the same file fails both with the same line."""
    good = rows["qwen2-audio"][3]
    path = write_jsonl(tmp_path / "r.jsonl", [good, dict(good, **change)])
    summary = run_cli(monkeypatch, capsys, "bench", "summary", path)
    page = run_cli(monkeypatch, capsys, "report", path, "--out", tmp_path / "r.html", "--no-progress")
    assert summary[0] == page[0] == 2
    assert summary[2] == page[2] and len(page[2].strip().splitlines()) == 1 and str(path) in page[2]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("events", [[1.0]]),
        ("events", "x"),
        ("config", "x"),
        ("draw_peaks_s", "x"),
        ("draw_peaks_s", [None, "a"]),
        ("intervals", "x"),
        ("intervals", {"peak": [1.0]}),
        ("interval_s", [3.0, 1.0]),  # was scored as [1, 3]
        ("profile", "reversed"),
        # fields the tables group and label by: were accepted, mis-grouped or failed inside a table
        ("position", 3),
        ("control", 1),
        ("readout_rule", ["peak"]),
        ("tuned", {"on": "dev"}),
        ("parse_failed", "no"),  # counted as a failure: bool("no") is True
        ("is_target", "yes"),
        ("event_index", -1),
        ("vector_event", "0"),
        ("label", None),
        ("gt_active", [2.0, 1.0]),
        ("answer", 5),
    ],
)
def test_malformed_fields_the_metrics_read_are_refused_by_name(
    tmp_path: Path,
    rows: dict[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    field: str,
    value: Any,
) -> None:
    """Each was a traceback in the tables or the page, or scored as something else: now both commands refuse
    the line with one line naming the file, the line and the field, before computing anything."""
    first, second = rows["qwen2-audio"][:2]  # two steered rows with profiles, of two scenes
    if value == "reversed":
        value = dict(second["profile"], time_s=second["profile"]["time_s"][::-1])
    path = write_jsonl(tmp_path / "r.jsonl", [first, dict(second, **{field: value})])
    summary = run_cli(monkeypatch, capsys, "bench", "summary", path)
    page = run_cli(monkeypatch, capsys, "report", path, "--out", tmp_path / "r.html", "--no-progress")
    assert summary[0] == page[0] == 2, (summary, page)
    assert summary[2] == page[2] and len(page[2].strip().splitlines()) == 1
    assert f"{path}: line 2: '{field}" in page[2], page[2]
    assert not (tmp_path / "r.html").exists()


def test_torn_last_line_is_skipped_with_a_note(tmp_path: Path, rows: dict[str, list[dict[str, Any]]]) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(rows["qwen2-audio"][3]) + "\n" + '{"scene_id": "s', encoding="utf-8")
    inputs = report.load_inputs(path)
    assert len(inputs.rows) == 1 and "unfinished write" in inputs.notes[0]


def test_cli_report(
    tmp_path: Path,
    rows: dict[str, list[dict[str, Any]]],
    scenes: tuple[Path, list[Scene]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    results = write_jsonl(tmp_path / "results.jsonl", rows["audioflamingo3"])
    out = tmp_path / "report.html"
    code, stdout, err = run_cli(
        monkeypatch, capsys, "report", results, "--out", out, "--scenes", scenes[0], "--gallery", "1"
    )
    assert code == 0, err
    assert f"wrote {out}" in stdout
    assert_self_contained(out.read_text(encoding="utf-8"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rows["audioflamingo3"][0]) + "\n{oops\n")
    code, _, err = run_cli(monkeypatch, capsys, "report", bad, "--out", tmp_path / "x.html", "--no-progress")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "line 2" in lines[0]
    code, _, err = run_cli(
        monkeypatch, capsys, "report", results, "--out", tmp_path / "y.html", "--condition", "nope"
    )
    assert code == 2 and "not in the results" in err


def test_conditions_side_by_side(tmp_path: Path, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Items with profiles under two conditions are drawn together, Δ on one scale; others are not."""
    steered = [r for r in rows["qwen2-audio"] if r["condition"] == "steered"]
    half = []
    for r in steered:
        profile = dict(r["profile"], delta=[0.5 * d for d in r["profile"]["delta"]])
        half.append(dict(r, condition="prompted", profile=profile))
    results = write_jsonl(tmp_path / "r.jsonl", steered + half)
    page = report.render_report(report.load_inputs(results), per_group=2, n_boot=100)
    section = page[page.index('<section id="conditions">') :]
    section = section[: section.index("</section>")]
    assert len(embedded_pngs(section)) == 2 and f"2 of {len(steered)} such items" in section
    alone = report.render_report(report.load_inputs(write_jsonl(tmp_path / "s.jsonl", steered)), per_group=2)
    assert 'id="conditions"' not in alone
    with pytest.raises(ValueError, match="profiles"):
        figures.draw_conditions([{k: v for k, v in steered[0].items() if k != "profile"}])
    fig = figures.draw_conditions([steered[0], half[0]])  # what conditions_figure_png draws
    axes = {ax.get_label(): ax for ax in fig.axes}
    assert [axes[f"delta{i}"].get_ylabel() for i in (1, 2)] == ["steered", "prompted"]
    assert axes["delta1"].get_ylim() == axes["delta2"].get_ylim()  # one Δ scale for both conditions
    lines = [one(fig, f"delta{i}:delta").get_ydata() for i in (1, 2)]
    np.testing.assert_allclose(lines[1], 0.5 * np.asarray(lines[0]))


def test_gallery_scenes_play_where_their_figure_is_clicked(
    chrome: Any, tmp_path: Path, rows: dict[str, list[dict[str, Any]]], scenes: tuple[Path, list[Scene]]
) -> None:
    """With the manifest, each gallery figure has its scene's audio; a click plays from the time under it."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from browser import console_errors, wait_for

    results = write_jsonl(tmp_path / "results.jsonl", rows["qwen2-audio"])
    out = report.write_report(results, tmp_path / "report.html", scenes=scenes[0], per_group=1, n_boot=100)
    page = out.read_text()
    assert page.count('<figure class="play"') == 3 and page.count("data:audio/ogg;base64,") == 3
    without = report.render_report(report.load_inputs(results), per_group=1, n_boot=100)
    assert "<audio" not in without and "<script>" not in without and "--scenes" in without
    chrome.get(out.as_uri())
    figure = chrome.find_elements(By.CSS_SELECTOR, "figure.play")[1]
    image = figure.find_element(By.TAG_NAME, "img")
    chrome.execute_script("arguments[0].scrollIntoView({block: 'center'})", image)
    x0, x1 = (float(figure.get_attribute(k)) for k in ("data-x0", "data-x1"))
    end = float(figure.get_attribute("data-t1"))
    width = image.size["width"]
    share = x0 + 0.25 * (x1 - x0)  # a quarter of the way along the time axis
    audio = figure.find_element(By.TAG_NAME, "audio")
    chrome.execute_script(  # where the click seeks to, however slow the machine
        "arguments[0].addEventListener('seeking', (e) => { window.seekTo = e.target.currentTime; })", audio
    )
    ActionChains(chrome).move_to_element_with_offset(image, int((share - 0.5) * width), 0).click().perform()
    now = wait_for(chrome, "window.seekTo !== undefined") and chrome.execute_script("return seekTo")
    assert abs(now - 0.25 * end) < 2 * end / width  # within a pixel or two
    wait_for(chrome, "!document.querySelectorAll('figure.play audio')[1].paused")
    assert console_errors(chrome) == []
