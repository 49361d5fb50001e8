"""organism/ablation/README.md (the first stage trained without its query head) is its committed results:
the training summary and logs, the dev choice, the held-out sets of both draws and the rows of one set."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from helpers import flat_text, hit_cell, parameter_count, read_json

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "organism" / "ablation"
SETS = ("single", "three", "overlap", "white-10", "babble-10", "asterisk", "freedesktop")


def _readme() -> str:
    return (HERE / "README.md").read_text()


def _flat() -> str:
    return flat_text(HERE / "README.md")


def _final_with_head() -> dict[str, float]:
    """The first stage's first-answer-token accuracies at its last logged step (organism/train.log)."""
    last = [
        line for line in (ROOT / "organism" / "train.log").read_text().splitlines() if "step 2400/" in line
    ]
    acc = re.search(r"first-token acc \(new scenes\) (.*?) \|", last[-1])
    assert acc is not None
    return {k: float(v) for k, v in (pair.split("=") for pair in acc.group(1).split())}


def test_the_model_is_the_first_stage_run_without_the_query_loss() -> None:
    training = read_json(HERE / "model" / "training.json")
    assert training["query_weight"] == 0.0 and "init" not in training  # a first stage, not a continuation
    assert training["steps_done"] == training["steps"] == 2400 and not training["stopped_early"]
    assert (training["scenes_per_step"], training["questions_per_scene"], training["init_seed"]) == (8, 12, 0)
    log = (HERE / "train.log").read_text()
    assert '"query_weight": 0.0' in log and log.count("resumed from") == 1  # the README's one resume
    before = read_json(ROOT / "organism" / "stage2" / "model" / "training.json")[
        "before"
    ]  # the first stage's
    assert before["steps_done"] == training["steps_done"]
    assert (
        f"The run took {training['training_minutes']:.1f} min on the shared 2-core CPU (train.log; the first "
        f"stage took {before['training_minutes']:.1f} min for the same steps"
    ) in _flat().replace("[`train.log`](train.log)", "train.log")
    declared = read_json(HERE / "model" / "wheretolisten.json")["localize"]
    assert declared == {"layers": [2], "probe_layers": [3, 4], "alpha": 1.0, "shifts": 4}


def test_the_header_count_is_the_declared_parameter_count() -> None:
    """The committed weights hold as many parameters as training.json says (read without torch)."""
    training = read_json(HERE / "model" / "training.json")
    assert parameter_count(HERE / "model" / "model.safetensors") == training["parameters"]


def test_the_answer_table_is_both_training_summaries() -> None:
    with_head = _final_with_head()
    without = read_json(HERE / "model" / "training.json")["final"]["first_token_acc_new_scenes"]
    order = ("listen", "present", "what_at", "describe", "when")
    rows = [
        "| first stage (query head) | " + " | ".join(f"{with_head[k]:.2f}" for k in order) + " |",
        "| no query head | " + " | ".join(f"{without[k]:.2f}" for k in order) + " |",
    ]
    for row in rows:
        assert row in _readme(), row

    def first_at(path: Path) -> int:
        for line in path.read_text().splitlines():
            m = re.search(r"step (\d+)/2400 .*present=([\d.]+)", line)
            if m and float(m.group(2)) >= 0.9:
                return int(m.group(1))
        raise AssertionError(path)

    late, early = first_at(HERE / "train.log"), first_at(ROOT / "organism" / "train.log")
    assert f"first reach 0.9 at step {late}, against step {early} with the head" in _flat()


def test_the_dev_sentence_is_the_tuning_run() -> None:
    own, first = read_json(HERE / "tune_layers.json"), read_json(ROOT / "organism" / "tune_layers.json")
    assert len(own["hit_pct"]) == len(first["hit_pct"]) == 93
    best = own["hit_pct"][own["chosen"]]["pooled"]
    assert max(v["pooled"] for v in own["hit_pct"].values()) == best
    assert own["chosen"] == "steer 0, alpha 1, probe 1"
    same = own["hit_pct"]["steer 2, alpha 1, probe 3,4"]["pooled"]
    theirs = first["hit_pct"][first["chosen"]]["pooled"]
    flat = _flat()
    assert f"hits {best:.1f} % pooled, and the first stage's setting {same:.1f} %" in flat
    assert f"reached {theirs:.1f} % at its best on the same scenes" in flat
    setting = read_json(HERE / "own_setting.json")["localize"]
    assert (setting["layers"], setting["alpha"], setting["probe_layers"]) == ([0], 1.0, [1])


def test_the_held_out_table_is_the_committed_runs() -> None:
    first = read_json(ROOT / "organism" / "eval_sets_stage1.json")
    same, own = read_json(HERE / "eval_sets.json"), read_json(HERE / "eval_sets_own_setting.json")
    for name in SETS:
        row = (
            f"| {name} | {same[name]['steered']['n']} | {hit_cell(first[name]['steered'])} | "
            f"{hit_cell(same[name]['steered'])} | {hit_cell(own[name]['steered'])} | "
            f"{hit_cell(same[name]['energy'])} | {hit_cell(same[name]['random'])} |"
        )
        assert row in _readme(), row
        assert first[name]["steered"]["n"] == same[name]["steered"]["n"] == own[name]["steered"]["n"]
    # "on no held-out set does it beat the loudest window, and it beats random (p < 0.05) on one set only"
    runs = (same, own, read_json(HERE / "eval_sets_draw2.json"))
    assert all(r[name]["steered"]["p_vs_energy"] > 0.05 for r in runs for name in SETS)
    below = [
        (i, name) for i, r in enumerate(runs) for name in SETS if r[name]["steered"]["p_vs_random"] < 0.05
    ]
    assert below == [(1, "white-10")]
    p = own["white-10"]["steered"]["p_vs_random"]
    assert f"23.0 % against 13.0 %, p = {p:.3f}" in _flat()
    assert f"{100 * own['white-10']['steered']['hit_rate']:.1f} % against" in _flat()
    # "(90–97 % on quiet scenes)": single, three and overlap with the head
    quiet = [100 * first[n]["steered"]["hit_rate"] for n in ("single", "three", "overlap")]
    assert f"({min(quiet):.0f}–{max(quiet):.0f} % on quiet scenes)" in _flat()


def test_the_second_draw_and_three_minute_sentences() -> None:
    two, first_two = (
        read_json(HERE / "eval_sets_draw2.json"),
        read_json(ROOT / "organism" / "eval_sets_stage1_draw2.json"),
    )
    assert two["_seed_offset"] == 500

    def span(data: dict[str, Any]) -> str:
        rates = [100 * data[name]["steered"]["hit_rate"] for name in SETS]
        return f"{min(rates):.1f}–{max(rates):.1f} %"

    flat = _flat()
    assert f"the ablation hits {span(two)} and the first stage {span(first_two)}" in flat
    runs = [
        read_json(HERE / f) for f in ("eval_sets.json", "eval_sets_own_setting.json", "eval_sets_draw2.json")
    ]
    assert [r["long"]["all_ok"] for r in runs] == [0, 0, 0] and all(r["long"]["n"] == 8 for r in runs)
    first = [read_json(ROOT / "organism" / f)["long"]["all_ok"] for f in ("eval_sets_stage1.json",)]
    assert f"(the first stage: {first[0]} and {first_two['long']['all_ok']} of 8)" in flat


def test_steering_moves_attention_off_the_single_events() -> None:
    rows = [json.loads(line) for line in (HERE / "single_rows.jsonl").read_text().splitlines()]
    steered = [r for r in rows if r["condition"] == "steered"]
    assert len(steered) == 160
    assert steered[0]["config"]["layers"] == [2] and steered[0]["config"]["alpha"] == 1.0
    inside = sum(any(a <= r["peak_s"] <= b for a, b in r["events"]) for r in steered)
    assert inside == 0 and "peak lies in silence in all 160 clips" in _flat()
    after = sum(r["attn_share"] for r in steered) / len(steered)
    before = sum(r["attn_share_base"] for r in steered) / len(steered)
    assert f"falls from {before:.2f} to {after:.2f} on average" in _flat()


@pytest.mark.parametrize("path", ["README.md", "organism/README.md", "organism/words/README.md"])
def test_the_other_readmes_point_to_the_ablation(path: str) -> None:
    assert "organism/ablation/README.md" in (ROOT / path).read_text()


def test_the_readme_and_organism_readme_sentences() -> None:
    """README.md's and organism/README.md's account of the ablation, from the same files."""
    first = read_json(ROOT / "organism" / "eval_sets_stage1.json")
    same, own = read_json(HERE / "eval_sets.json"), read_json(HERE / "eval_sets_own_setting.json")

    def pct(data: dict[str, Any], name: str, cond: str = "steered") -> str:
        return f"{100 * data[name][cond]['hit_rate']:.1f}"

    readme = " ".join((ROOT / "README.md").read_text().split())
    assert (
        f"{pct(same, 'single')} % of single events and {pct(same, 'three')} % of three-event scenes at "
        f"the first stage's settings, {pct(own, 'single')} and {pct(own, 'three')} % at its own best dev "
        f"setting, against {pct(same, 'single', 'random')} and {pct(same, 'three', 'random')} % random"
    ) in readme
    assert first["single"]["steered"]["n"] == same["single"]["steered"]["n"]
    organism = " ".join((ROOT / "organism" / "README.md").read_text().split())
    rates = [100 * same[name]["steered"]["hit_rate"] for name in SETS]
    assert (
        f"held-out {min(rates):.1f}–{max(rates):.1f} % at these settings, at or below random on every set"
        in (organism)
    )
    assert all(same[n]["steered"]["hit_rate"] <= same[n]["random"]["hit_rate"] for n in SETS)
    yes_no = read_json(HERE / "model" / "training.json")["final"]["first_token_acc_new_scenes"]["present"]
    dev = read_json(HERE / "tune_layers.json")
    first_dev = read_json(ROOT / "organism" / "tune_layers.json")
    assert f"(yes/no {yes_no:.2f} on new scenes)" in organism
    assert (
        f"its own best dev setting {dev['hit_pct'][dev['chosen']]['pooled']:.1f} % pooled, against "
        f"{first_dev['hit_pct'][first_dev['chosen']]['pooled']:.1f} % with the head"
    ) in organism


def test_the_sign_sentence_is_the_committed_run() -> None:
    fresh = {(r["set"], r["alpha"]): r for r in read_json(HERE / "sign_fresh.json")["rows"]}
    assert (
        read_json(HERE / "sign_fresh.json")["seed_offset"] == 9000
        and read_json(HERE / "sign.json")["seed_offset"] == 0
    )
    assert (
        f"(seeds + 9000, [`sign_fresh.json`](sign_fresh.json)): {fresh[('single', -1.0)]['target']} and "
        f"{fresh[('single', -4.0)]['target']} of 60; {fresh[('three', -1.0)]['any_event']} and "
        f"{fresh[('three', -4.0)]['any_event']} on some event, {fresh[('three', -1.0)]['target']} and "
        f"{fresh[('three', -4.0)]['target']} on the named one"
    ) in _flat()
    rows = {(r["set"], r["alpha"]): r for r in read_json(HERE / "sign.json")["rows"]}
    assert all(r["n"] == 60 for r in rows.values())
    single = [rows[("single", a)] for a in (-1.0, -4.0)]
    three = [rows[("three", a)] for a in (-1.0, -4.0)]
    assert all(r["target"] == r["any_event"] for r in single)  # one event: on it is on the target
    assert rows[("single", 1.0)]["any_event"] == rows[("three", 1.0)]["any_event"] == 0
    assert (
        f"at α −1 and −4 the peak lies on the lone event in {single[0]['target']} and {single[1]['target']} "
        f"of 60 quiet clips, and in three-event scenes it lands on some event in {three[0]['any_event']} and "
        f"{three[1]['any_event']} of 60 but on the named one in {three[0]['target']} and {three[1]['target']}"
    ) in _flat()
