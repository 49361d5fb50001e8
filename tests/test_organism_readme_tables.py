"""organism/README.md's tables and numbers are the committed files: the encoder's position table, the first
stage's localization (dev_sweep.json, eval_test.json) and its rerun with the shipped weights
(organism/localization_rerun/), the two comparison tables as organism/compare.py prints them, the second
stage's third draw of 3-minute recordings, and the settings history's numbers."""

from __future__ import annotations

import importlib.util
import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
ORGANISM = ROOT / "organism"
README = ORGANISM / "README.md"

#: The two comparison tables of "On harder and real audio", as compare.py is run from organism/.
TABLE_1 = (
    "second stage=eval_sets_shipped.json",
    "first stage, its settings=eval_sets_stage1.json",
    "first stage, no shifts=eval_sets_shipped_unshifted.json",
    "whisper ear=whisper/eval_sets.json",
    "whisper ear + query head=whisper/eval_sets_query_head.json",
)
TABLE_2 = (
    "second stage, draw 2 (seeds + 500)=eval_sets_shipped_draw2.json",
    "first stage, draw 2=eval_sets_stage1_draw2.json",
)


def _flat() -> str:
    return " ".join(README.read_text().split())


def _json(name: str) -> dict[str, Any]:
    return dict(json.loads((ORGANISM / name).read_text()))


def _sinusoids(length: int, channels: int) -> np.ndarray:
    """Whisper's sinusoidal position table (organism/train.py's ``sinusoids``), float32."""
    increment = np.log(10000.0) / (channels // 2 - 1)
    inv = np.exp(-increment * np.arange(channels // 2, dtype=np.float64))
    scaled = np.arange(length, dtype=np.float64)[:, None] * inv[None, :]
    return np.concatenate([np.sin(scaled), np.cos(scaled)], axis=1).astype(np.float32)


def _positions(path: Path) -> np.ndarray:
    from safetensors.numpy import load_file

    weights = load_file(str(path))
    (key,) = [k for k in weights if "embed_positions" in k]
    return weights[key]


def test_the_position_table_sentence() -> None:
    """Frozen in the first two stages (the second stage still holds the sinusoids); the words stage trained
    it: the shipped table differs from them by up to 0.13."""
    shipped = _positions(ROOT / "src" / "wheretolisten" / "assets" / "organism" / "model.safetensors")
    stage2 = _positions(ORGANISM / "stage2" / "model" / "model.safetensors")
    table = _sinusoids(*shipped.shape)
    assert shipped.shape == stage2.shape == (500, 128)
    assert float(np.abs(stage2 - table).max()) < 1e-6
    moved = float(np.abs(shipped - table).max())
    assert moved > 0.05
    text = _flat()
    assert "was frozen in the first two stages" in text
    assert f"it differs from the sinusoids by up to {moved:.2f}" in text


def test_the_first_stage_dev_sweep_numbers() -> None:
    sweep = _json("dev_sweep.json")["sweep"]
    settings = sweep["settings"]
    text = _flat()
    assert sweep["n"] == 100 and sweep["seed_base"] == 50_000
    assert f"{len(settings)} settings; best" in text
    assert f"picking the best of {len(settings)} settings on {sweep['n']} scenes" in text
    best = sweep["best"]
    assert best["key"] == "layers=1 probe=4 alpha=2"
    top = max(v["hit_rate"] for v in settings.values())
    assert best["hit_rate"] == top
    assert f"steer layer 1, probe layer 4, α = 2, hit rate {top:.2f} (α = 4 also {top:.2f})" in text
    assert settings["layers=1 probe=4 alpha=4"]["hit_rate"] == top
    defaults = settings["layers=2 probe=downstream alpha=4"]["hit_rate"]
    downstream = max(v["hit_rate"] for v in settings.values() if v["probe_layers"] is None)
    assert (
        f"The package defaults (steer 2, probe 3-5, α 4) gave {defaults:.2f}; with all downstream probe "
        f"layers the best was {downstream:.2f}"
    ) in text


def _row_cells(run: dict[str, Any]) -> str:
    d = run["delta"]
    lo, hi = d["ci95"]
    p = f"{d['p_value_vs_random']:.0e}"
    pos = run["delta_by_position"]
    return (
        f"{d['hit_rate']:.3f}** ({lo:.3f}-{hi:.3f}), p = {p} | {d['random_expectation']:.3f} | "
        f"{pos['first']:.2f} / {pos['middle']:.2f} / {pos['last']:.2f} |"
    )


def test_the_first_stage_held_out_table() -> None:
    test = _json("eval_test.json")
    assert test["seed_base"] == 0 and test["n"] == 300
    chosen, defaults = test["results"]
    assert (chosen["layers"], chosen["probe_layers"], chosen["alpha"]) == ([1], [4], 2.0)
    assert (defaults["layers"], defaults["probe_layers"], defaults["alpha"]) == ([2], [3, 4, 5], 4.0)
    lines = README.read_text().splitlines()
    row1 = "| dev-chosen then: steer 1, probe 4, α 2 | **" + _row_cells(chosen)
    row2 = "| package defaults: steer 2, probe 3-5, α 4 | " + _row_cells(defaults).replace("**", "", 1)
    assert row1 in lines, row1
    assert row2 in lines, row2
    text = _flat()
    unsteered = [r["unsteered_profile_peak"]["hit_rate"] for r in (chosen, defaults)]
    steered = [r["steered_profile_peak"]["hit_rate"] for r in (chosen, defaults)]
    assert f"hits {unsteered[0]:.3f} (probe layer 4) and {unsteered[1]:.3f}" in text
    assert f"hits {steered[0]:.2f} and {steered[1]:.2f}" in text
    gen = test["generation"]
    assert f"exactly right (all events, in order) {round(gen['describe_exact_match'] * 50)}/50" in text
    assert f"onset within 0.5 s {round(gen['listen_onset_within_0.5s'] * 50)}/50" in text
    assert f"(median error {gen['listen_onset_median_abs_error_s']:.2f} s)" in text
    assert f"Weak spots: first-position targets ({chosen['delta_by_position']['first']:.2f})" in text


def _rerun(name: str) -> dict[tuple[int, str], dict[str, Any]]:
    report = _json(f"localization_rerun/{name}.json")
    assert report["n"] == 300 and report["script"] == "organism/localization_rerun/rerun.py"
    return {(r["seed_base"], r["setting"].split(":")[0].split(",")[0]): r for r in report["runs"]}


CHOSEN, DEFAULTS, DECLARED = "first stage's dev choice", "package defaults", "declared (the checkpoint's own)"


def test_the_rerun_table_is_the_committed_rerun() -> None:
    shipped, stage1 = _rerun("shipped"), _rerun("stage1")
    for runs in (shipped, stage1):
        assert {base for base, _ in runs} == {0, 424242}
        for base in (0, 424242):
            assert runs[base, CHOSEN]["resolved"] == {
                "layers": [1],
                "probe_layers": [4],
                "alpha": 2.0,
                "shifts": 1,
            }
            assert runs[base, DEFAULTS]["resolved"] == {
                "layers": [2],
                "probe_layers": [3, 4, 5],
                "alpha": 4.0,
                "shifts": 1,
            }
    for base in (0, 424242):
        assert shipped[base, DECLARED]["resolved"] == {
            "layers": [1],
            "probe_layers": [3, 4, 5],
            "alpha": 4.0,
            "shifts": 4,
        }
    # the first stage's folder declares nothing: its "declared" run is the package defaults
    assert stage1[0, DECLARED]["delta"] == stage1[0, DEFAULTS]["delta"]

    def rates(runs: dict[tuple[int, str], dict[str, Any]], setting: str) -> str:
        return " | ".join(f"{runs[b, setting]['delta']['hit_rate']:.3f}" for b in (0, 424242))

    lines = README.read_text().splitlines()
    rows = [
        f"| shipped words stage: steer 1, probe 4, α 2, no shifts | {rates(shipped, CHOSEN)} |",
        "| shipped words stage: package defaults (steer 2, probe 3-5, α 4), no shifts | "
        f"{rates(shipped, DEFAULTS)} |",
        "| shipped words stage: its declared setting (steer 1, probe 3-5, α 4, 4 shifts) | "
        f"{rates(shipped, DECLARED)} |",
        f"| first stage: steer 1, probe 4, α 2, no shifts | {rates(stage1, CHOSEN)} |",
        f"| first stage: package defaults, no shifts | {rates(stage1, DEFAULTS)} |",
    ]
    for row in rows:
        assert row in lines, row


def test_the_rerun_reproduces_eval_test_and_the_sentences() -> None:
    shipped, stage1 = _rerun("shipped"), _rerun("stage1")
    test = _json("eval_test.json")["results"]
    for old, setting in zip(test, (CHOSEN, DEFAULTS), strict=True):  # "reproduce eval_test.json"
        new = stage1[0, setting]
        assert new["delta"]["hits"] == old["delta"]["hits"]
        assert new["delta_by_position"] == old["delta_by_position"]
        assert new["unsteered_profile_peak"]["hits"] == old["unsteered_profile_peak"]["hits"]
    text = _flat()

    def positions(run: dict[str, Any]) -> str:
        pos = run["delta_by_position"]
        return f"{pos['first']:.2f} / {pos['middle']:.2f} / {pos['last']:.2f}"

    fresh_chosen, fresh_defaults = stage1[424242, CHOSEN], stage1[424242, DEFAULTS]
    assert f"the first stage gave {positions(fresh_chosen)} at the dev-chosen setting" in text
    assert f"but {positions(fresh_defaults)} with the package defaults" in text
    first = [stage1[b, CHOSEN]["delta_by_position"] for b in (0, 424242)]
    assert all(p["first"] < min(p["middle"], p["last"]) for p in first)  # "again the weakest"
    # "the first ≈ middle pattern above held only on seed base 0"
    seed0 = stage1[0, DEFAULTS]["delta_by_position"]
    assert abs(seed0["first"] - seed0["middle"]) <= 0.05
    assert fresh_defaults["delta_by_position"]["middle"] - fresh_defaults["delta_by_position"]["first"] > 0.2
    # "the unsteered profile's peak hits 0.000 at both no-shift settings on both draws (0.003 / 0.013 ...)"
    for b in (0, 424242):
        for setting in (CHOSEN, DEFAULTS):
            assert shipped[b, setting]["unsteered_profile_peak"]["hits"] == 0
    declared = " / ".join(
        f"{shipped[b, DECLARED]['unsteered_profile_peak']['hit_rate']:.3f}" for b in (0, 424242)
    )
    assert f"hits 0.000 at both no-shift settings on both draws ({declared} at the declared setting)" in text
    for b in (0, 424242):  # "with these weights the package defaults beat it"
        assert shipped[b, DEFAULTS]["delta"]["hit_rate"] > shipped[b, CHOSEN]["delta"]["hit_rate"]
    gen = _json("localization_rerun/shipped.json")["generation"]
    assert {g["n"] for g in gen.values()} == {50}
    (describe,) = {round(g["describe_exact_match"] * 50) for g in gen.values()}
    (listen,) = {round(g["listen_onset_within_0.5s"] * 50) for g in gen.values()}
    assert (
        f'exactly right {describe}/50 on both, "Listen for {{q}}." onset within 0.5 s {listen}/50 on both'
    ) in text


def _compare(specs: tuple[str, ...]) -> str:
    spec = importlib.util.spec_from_file_location("compare", ORGANISM / "compare.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = io.StringIO()
    with redirect_stdout(out):
        module.main(*(s.replace("=", f"={ORGANISM}/", 1) for s in specs))
    return out.getvalue().strip("\n")


@pytest.mark.parametrize("specs", [TABLE_1, TABLE_2], ids=["draw 1", "draw 2"])
def test_the_comparison_tables_are_compare_py_on_the_committed_results(specs: tuple[str, ...]) -> None:
    """Each table and its 3-minute lines, exactly as compare.py prints them."""
    printed = _compare(specs)
    assert printed.startswith("| set | n | ")
    assert printed in README.read_text()


def test_the_second_stage_third_long_draw() -> None:
    draw3 = _json("eval_sets_shipped_long_draw3.json")
    assert draw3["_seed_offset"] == 1000 and draw3.get("_shifts") is None
    recs = draw3["long"]["recordings"]
    failed = {r["label"]: (r["found"], r["false_alarms"]) for r in recs if not r["ok"]}
    assert failed == {"knock": (2, 1), "chirp": (2, 0)}
    top = sum(r["top_found"] == len(r["onsets_s"]) for r in recs)
    text = _flat()
    assert (
        f"is found whole for {draw3['long']['all_ok']} of the {draw3['long']['n']} (the knock: 2 of 3 found "
        "and 1 false alarm; the chirp: 2 of 3 found), and the three strongest candidates are the three "
        f"occurrences in {top} of the 8"
    ) in text


def _fmt(value: float) -> str:
    """A percentage as written: exact to two decimals when it is, else to one."""
    if abs(value * 10 - round(value * 10)) < 1e-9:
        return f"{value:.1f}"
    if abs(value * 100 - round(value * 100)) < 1e-9:
        return f"{value:.2f}"
    return f"{value:.1f}"


def test_the_settings_history_numbers() -> None:
    text = _flat()
    shifts = _json("tune_shifts.json")["hit_pct"]
    pooled = {k: _fmt(v["pooled"]) for k, v in shifts.items()}
    assert (
        f"{pooled['1']} % without shifts, {pooled['2']} / {pooled['3']} / {pooled['4']} / {pooled['6']} % "
        "with 2 / 3 / 4 / 6"
    ) in text
    layers = _json("layers_by_class.json")
    single = _json("eval_sets_stage1.json")["single"]["steered"]["n"]
    assert f"the first {layers['n_manifest_entries']} of the set's {single}" in text
    hits = layers["hits"]
    assert hits["hum | steer 1 | read 3"] == "12/12" and hits["hum | steer 1 | read 4"] == "0/12"
    assert hits["siren | steer 1 | read 4"] == "10/11" and hits["siren | steer 1 | read 3"] == "3/11"
    assert "localized by read layer 3 alone in 12 of 12 clips and by layer 4 in none" in text
    assert "(10 of 11 at layer 4, 3 of 11 at layer 3)" in text
    # the Whisper-ear ablation's dev scores: the best of each model's 72 dev settings
    for name, pct in (("tune_summary.md", "32.0"), ("tune_summary_query_head.md", "74.0")):
        assert f"| steered | 72 | {pct} |" in (ORGANISM / "whisper" / name).read_text()
    assert "without it, dev hit 32 %; with it, 74 %; each the best of 72 settings on 50 dev scenes" in text


def test_the_unlogged_and_older_weights_are_labelled() -> None:
    text = _flat()
    assert "## Why the auxiliary losses (pilot runs, 800 steps each: unlogged notes)" in README.read_text()
    assert "nothing committed backs the numbers below" in text
    assert "## Localization of the first stage (organism/evaluate.py; first-stage weights, 2026-11-26)" in (
        README.read_text()
    )
    former = "at its former setting (steer 1, read 4, α 2, no shifts; the shipped model then) the first stage"
    assert former in text
    assert "shipped organism" not in text  # every older model is named by its stage
