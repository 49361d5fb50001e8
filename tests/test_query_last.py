"""organism/query_last/README.md (the first stage with its query head at the last layer) is its committed
results: the training summary and log, the dev choice, and the held-out sets of both draws."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import flat_text, hit_cell, parameter_count, read_json

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "organism" / "query_last"
SETS = ("single", "three", "overlap", "white-10", "babble-10", "asterisk", "freedesktop")
ORDER = ("listen", "present", "what_at", "describe", "when")


def _readme() -> str:
    return (HERE / "README.md").read_text()


def _flat() -> str:
    return flat_text(HERE / "README.md")


def _pct(entry: dict[str, Any]) -> str:
    return f"{100 * entry['hit_rate']:.1f}"


def _log_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if re.search(r"step \d+/2400 ", line)]


def _accuracies(line: str) -> dict[str, float]:
    found = re.search(r"first-token acc \(new scenes\) (.*?) \|", line)
    assert found is not None
    return {k: float(v) for k, v in (pair.split("=") for pair in found.group(1).split())}


def _first_yes_no_at(path: Path, level: float = 0.9) -> int:
    """The first logged step whose yes/no ("present") first-token accuracy reaches ``level``."""
    for line in _log_lines(path):
        if _accuracies(line)["present"] >= level:
            found = re.search(r"step (\d+)/", line)
            assert found is not None
            return int(found.group(1))
    raise AssertionError(f"{path}: yes/no never reached {level}")


def test_the_model_is_the_first_stage_run_with_the_head_on_the_last_layer() -> None:
    training = read_json(HERE / "model" / "training.json")
    assert training["query_layer"] == 5 and "query_weight" not in training and "init" not in training
    assert training["steps_done"] == training["steps"] == 2400 and not training["stopped_early"]
    assert (training["scenes_per_step"], training["questions_per_scene"], training["init_seed"]) == (8, 12, 0)
    assert '"query_layer": 5' in (HERE / "train.log").read_text()
    assert f"It took {training['training_minutes']:.1f} min on the shared 2-core CPU" in _flat()
    declared = read_json(HERE / "model" / "wheretolisten.json")
    assert declared["localize"] == {"layers": [0], "probe_layers": [1, 2], "alpha": 4.0, "shifts": 4}
    assert (
        declared["detect"]
        == read_json(ROOT / "organism" / "ablation" / "model" / "wheretolisten.json")["detect"]
    )


def test_the_header_count_is_the_declared_parameter_count() -> None:
    training = read_json(HERE / "model" / "training.json")
    assert parameter_count(HERE / "model" / "model.safetensors") == training["parameters"]


def test_the_answer_table_is_the_three_training_runs() -> None:
    runs = {
        "query head at layer 2 (first stage)": _accuracies(_log_lines(ROOT / "organism" / "train.log")[-1]),
        "no query head": read_json(ROOT / "organism" / "ablation" / "model" / "training.json")["final"][
            "first_token_acc_new_scenes"
        ],
        "query head at the last layer": read_json(HERE / "model" / "training.json")["final"][
            "first_token_acc_new_scenes"
        ],
    }
    for label, acc in runs.items():
        row = f"| {label} | " + " | ".join(f"{acc[k]:.2f}" for k in ORDER) + " |"
        assert row in _readme(), row
    steps = [
        _first_yes_no_at(path)
        for path in (
            HERE / "train.log",
            ROOT / "organism" / "train.log",
            ROOT / "organism" / "ablation" / "train.log",
        )
    ]
    assert (
        f"first reach 0.9 at step {steps[0]} (layer 2: step {steps[1]}; no head: step {steps[2]})" in _flat()
    )


def test_the_dev_sentence_is_the_tuning_run() -> None:
    own = read_json(HERE / "tune_layers.json")
    assert len(own["hit_pct"]) == 93 and own["shifts"] == 4
    best = own["hit_pct"][own["chosen"]]["pooled"]
    assert max(v["pooled"] for v in own["hit_pct"].values()) == best
    assert own["chosen"] == "steer 0, alpha 4, probe 1,2"
    first_setting = own["hit_pct"]["steer 2, alpha 1, probe 3,4"]["pooled"]
    first = read_json(ROOT / "organism" / "tune_layers.json")
    ablation = read_json(ROOT / "organism" / "ablation" / "tune_layers.json")
    flat = _flat()
    setting = "the first stage's setting (steer 2, α 1, read 3–4)"
    assert f"hits {best:.1f} % pooled; {setting} hits {first_setting:.1f} %" in flat
    theirs, none = (t["hit_pct"][t["chosen"]]["pooled"] for t in (first, ablation))
    assert (
        f"The first stage reached {theirs:.1f} % at its best on the same scenes, the ablation {none:.1f} %"
        in flat
    )
    assert f"the first stage's setting now gives {first_setting:.1f} % on dev" in flat


def test_the_held_out_table_is_the_committed_runs() -> None:
    first = read_json(ROOT / "organism" / "eval_sets_stage1.json")
    none = read_json(ROOT / "organism" / "ablation" / "eval_sets_own_setting.json")
    last, last2 = read_json(HERE / "eval_sets.json"), read_json(HERE / "eval_sets_draw2.json")
    assert last2["_seed_offset"] == 500 and "_seed_offset" not in last
    for name in SETS:
        runs = (first, none, last, last2)
        assert len({r[name]["steered"]["n"] for r in runs}) == 1
        row = (
            f"| {name} | {last[name]['steered']['n']} | "
            + " | ".join(hit_cell(r[name]["steered"]) for r in runs)
            + f" | {hit_cell(last[name]['energy'])} | {hit_cell(last[name]['random'])} |"
        )
        assert row in _readme(), row


def test_the_significance_sentence_is_the_committed_runs() -> None:
    runs = (read_json(HERE / "eval_sets.json"), read_json(HERE / "eval_sets_draw2.json"))

    def beats(baseline: str, draw: int) -> set[str]:
        return {n for n in SETS if runs[draw][n]["steered"][f"p_vs_{baseline}"] < 0.01}

    assert beats("random", 0) & beats("random", 1) == {"single", "three", "overlap", "babble-10"}
    assert beats("energy", 0) & beats("energy", 1) == {"three", "overlap"}
    assert beats("energy", 0) - beats("energy", 1) == {"babble-10"} and beats("energy", 1) <= beats(
        "energy", 0
    )
    assert "white-10" in beats("random", 0) - beats("random", 1)
    real = {"asterisk", "freedesktop"}
    assert not real & (beats("energy", 0) | beats("energy", 1))
    assert real & beats("random", 0) == {"freedesktop"} and not real & beats("random", 1)
    assert "beats random only on freedesktop in draw 1" in _flat()


def test_the_comparison_sentences_are_the_committed_runs() -> None:
    first, first2 = (
        read_json(ROOT / "organism" / "eval_sets_stage1.json"),
        read_json(ROOT / "organism" / "eval_sets_stage1_draw2.json"),
    )
    last, last2 = read_json(HERE / "eval_sets.json"), read_json(HERE / "eval_sets_draw2.json")
    flat = _flat()
    for name, words in (
        ("single", "a lone event"),
        ("three", "three-event scenes"),
        ("babble-10", "events under babble"),
    ):
        assert words in flat
        pair = f"{_pct(last[name]['steered'])} and {_pct(last2[name]['steered'])} %"
        theirs = f"{_pct(first[name]['steered'])} and {_pct(first2[name]['steered'])} %"
        assert pair in flat and theirs in flat, (pair, theirs)


def test_the_three_minute_sentence_is_the_committed_runs() -> None:
    runs = (read_json(HERE / "eval_sets.json"), read_json(HERE / "eval_sets_draw2.json"))
    assert [r["long"]["all_ok"] for r in runs] == [0, 0] and all(r["long"]["n"] == 8 for r in runs)
    top = [sum(rec["top_found"] == 3 for rec in r["long"]["recordings"]) for r in runs]
    first = [
        read_json(ROOT / "organism" / f)["long"]["all_ok"]
        for f in ("eval_sets_stage1.json", "eval_sets_stage1_draw2.json")
    ]
    flat = _flat()
    assert f"(the first stage: {first[0]} and {first[1]})" in flat
    assert f"the three onsets for {top[0]} of the 8 classes, on draw 2 for {top[1]}" in flat


def test_the_other_readmes_point_here_and_quote_these_runs() -> None:
    for path in ("README.md", "organism/README.md", "organism/ablation/README.md"):
        assert "organism/query_last/README.md" in (ROOT / path).read_text(), path
    last, dev = read_json(HERE / "eval_sets.json"), read_json(HERE / "tune_layers.json")
    readme = " ".join((ROOT / "README.md").read_text().split())
    single, three = (_pct(last[name]["steered"]) for name in ("single", "three"))
    assert f"(single events {single} %, three-event scenes {three} %" in readme
    stage2 = [read_json(HERE / "stage2" / f) for f in ("eval_sets.json", "eval_sets_draw2.json")]
    noisy = [100 * r[n]["steered"]["hit_rate"] for r in stage2 for n in ("white-10", "babble-10")]
    words = " and ".join(f"{100 * r['asterisk']['steered']['hit_rate']:.1f}" for r in stage2)
    assert f"babble too ({min(noisy):.1f}–{max(noisy):.1f} %)" in readme
    assert f"and not real recorded words ({words} %, below random)" in readme
    assert all(r["asterisk"]["steered"]["hit_rate"] < r["asterisk"]["random"]["hit_rate"] for r in stage2)
    organism = " ".join((ROOT / "organism" / "README.md").read_text().split())
    best, first_setting = (
        dev["hit_pct"][dev["chosen"]]["pooled"],
        dev["hit_pct"]["steer 2, alpha 1, probe 3,4"]["pooled"],
    )
    assert (
        f"steers layer 0 ({best:.1f} % pooled; the first stage's setting {first_setting:.1f} %)" in organism
    )


@pytest.mark.parametrize(
    ("script", "argv"),
    [
        ("train", ["--query-layer", "6"]),
        ("train_words", ["--init", "organism/stage2/model", "--query-layer", "-1"]),
    ],
)
def test_the_training_scripts_refuse_a_query_layer_outside_the_decoder(
    script: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    sys.path.insert(0, str(ROOT / "organism"))
    try:
        module = importlib.import_module(script)
    finally:
        sys.path.remove(str(ROOT / "organism"))
    with pytest.raises(SystemExit) as exit_info:
        module.main(argv)
    assert exit_info.value.code == 2
    assert "--query-layer must name one of the 6 decoder layers (0 to 5)" in capsys.readouterr().err


def test_the_second_stage_is_the_committed_run() -> None:
    training = read_json(HERE / "stage2" / "model" / "training.json")
    assert training["query_layer"] == 5 and training["steps_done"] == training["steps"] == 1200
    assert (training["stage"], training["varied"]) == (1, 0.6) and not training["stopped_early"]
    assert training["before"] == read_json(HERE / "model" / "training.json")  # it continued this run
    shipped = read_json(ROOT / "organism" / "stage2" / "model" / "training.json")
    assert (shipped["steps_done"], shipped["stage"], shipped["varied"]) == (1200, 1, 0.6)
    assert parameter_count(HERE / "stage2" / "model" / "model.safetensors") == training["parameters"]
    flat = _flat()
    minutes = f"It took {training['training_minutes']:.1f} min"
    assert f"{minutes} ([`stage2/train.log`](stage2/train.log); the shipped line's second stage "
    assert (
        f"{minutes} (stage2/train.log; the shipped line's second stage {shipped['training_minutes']:.1f} min)"
        in (flat.replace("[`stage2/train.log`](stage2/train.log)", "stage2/train.log"))
    )
    dev, theirs = (
        read_json(HERE / "stage2" / "tune_layers.json"),
        read_json(ROOT / "organism" / "tune_layers_stage2.json"),
    )
    assert dev["chosen"] == "steer 0, alpha 2, probe 1,2" and len(dev["hit_pct"]) == 93
    best = dev["hit_pct"][dev["chosen"]]["pooled"]
    assert best == max(v["pooled"] for v in dev["hit_pct"].values())
    at_theirs = dev["hit_pct"][theirs["chosen"]]["pooled"]
    assert (
        f"{best:.1f} % pooled (stage2/tune_layers.json; the shipped line's second stage "
        f"{theirs['hit_pct'][theirs['chosen']]['pooled']:.1f} %, its setting here {at_theirs:.1f} %)"
    ) in flat.replace("[`stage2/tune_layers.json`](stage2/tune_layers.json)", "stage2/tune_layers.json")
    declared = read_json(HERE / "stage2" / "model" / "wheretolisten.json")["localize"]
    assert declared == {"layers": [0], "probe_layers": [1, 2], "alpha": 2.0, "shifts": 4}


def test_the_second_stage_table_and_sentences_are_the_committed_runs() -> None:
    theirs = (
        read_json(ROOT / "organism" / f) for f in ("eval_sets_shipped.json", "eval_sets_shipped_draw2.json")
    )
    layer2, layer2_two = theirs
    last, last_two = (read_json(HERE / "stage2" / f) for f in ("eval_sets.json", "eval_sets_draw2.json"))
    assert last_two["_seed_offset"] == 500
    for name in SETS:
        row = (
            f"| {name} | {last[name]['steered']['n']} | {hit_cell(layer2[name]['steered'])} | "
            f"{hit_cell(last[name]['steered'])} | {hit_cell(last_two[name]['steered'])} | "
            f"{hit_cell(last[name]['energy'])} | {hit_cell(last[name]['random'])} |"
        )
        assert row in _readme(), row

    def span(runs: tuple[dict[str, Any], ...], names: tuple[str, ...]) -> str:
        rates = [100 * r[n]["steered"]["hit_rate"] for r in runs for n in names]
        return f"{min(rates):.1f}–{max(rates):.1f} %"

    noisy, quiet = ("white-10", "babble-10"), ("single", "three", "overlap")
    flat = _flat()
    assert f"at {span((last, last_two), noisy)} against {span((layer2, layer2_two), noisy)}" in flat
    assert f"quiet scenes {span((last, last_two), quiet)} against {span((layer2, layer2_two), quiet)}" in flat
    assert (
        f"({span((last, last_two), noisy)}, against {span((layer2, layer2_two), noisy)} with the head" in flat
    )
    for run in (last, last_two, layer2, layer2_two):
        assert all(run[n]["steered"][f"p_vs_{b}"] < 0.001 for n in noisy for b in ("energy", "random"))
    words = f"{_pct(last['asterisk']['steered'])} and {_pct(last_two['asterisk']['steered'])} %"
    chance = f"{_pct(last['asterisk']['random'])} and {_pct(last_two['asterisk']['random'])} %"
    before = f"{_pct(layer2['asterisk']['steered'])} and {_pct(layer2_two['asterisk']['steered'])} %"
    head2 = "the second stage with the head at layer 2"
    assert f"Real recorded words: {words}, below random ({chance}; {head2}: {before};" in flat
    # organism/README.md: "behind the shipped line's second stage on every set"
    for ours, theirs_run in ((last, layer2), (last_two, layer2_two)):
        assert all(theirs_run[n]["steered"]["hit_rate"] > ours[n]["steered"]["hit_rate"] for n in SETS)
    assert "behind the shipped line's second stage on every set" in flat_text(ROOT / "organism" / "README.md")
    long = [r["long"]["all_ok"] for r in (last, last_two, layer2, layer2_two)]
    found = f"all three occurrences for {long[0]} and {long[1]} of the 8 classes"
    assert f"{found} (the shipped line's second stage {long[2]} and {long[3]})" in flat


def test_the_shipped_model_is_ahead_of_both_runs_on_every_set() -> None:
    shipped = [read_json(ROOT / "organism" / "words" / f) for f in ("eval_sets.json", "eval_sets_draw2.json")]
    for stage in (HERE, HERE / "stage2"):
        runs = [read_json(stage / f) for f in ("eval_sets.json", "eval_sets_draw2.json")]
        for ours, theirs in zip(runs, shipped, strict=True):
            assert all(theirs[n]["steered"]["hit_rate"] > ours[n]["steered"]["hit_rate"] for n in SETS)
    assert "it is ahead of the first and second stages here on every set above" in _flat()


def test_a_resume_with_another_query_layer_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    sys.path.insert(0, str(ROOT / "organism"))
    try:
        train = importlib.import_module("train")
    finally:
        sys.path.remove(str(ROOT / "organism"))
    ap = argparse.ArgumentParser(prog="train.py")
    train.check_resumed_query_layer(ap, {"query_layer": 5}, 5)  # the same layer resumes
    train.check_resumed_query_layer(ap, {}, 2)  # a checkpoint without the record resumes
    with pytest.raises(SystemExit) as exit_info:
        train.check_resumed_query_layer(ap, {"query_layer": 5}, 2)
    assert exit_info.value.code == 2
    assert "query head reads layer 5, not 2: resume with --query-layer 5" in capsys.readouterr().err
