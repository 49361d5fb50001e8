"""organism/query_last/README.md, "The words stage, the same way": the committed runs behind every figure of
that section (training, dev choices, three held-out draws, 3-minute recordings, the encoder probe) and the
sentences the other READMEs quote from it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from helpers import flat_text, read_json, run_cli

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "organism" / "query_last" / "words"
SHIPPED = ROOT / "organism" / "words"
SETS = ("single", "three", "overlap", "white-10", "babble-10", "asterisk", "freedesktop")
SYNTHETIC = ("single", "three", "overlap", "white-10", "babble-10")
DRAWS = ("eval_sets.json", "eval_sets_draw2.json", "eval_sets_draw3.json")


def _flat() -> str:
    return flat_text(ROOT / "organism" / "query_last" / "README.md")


def _draws(folder: Path) -> list[dict[str, Any]]:
    return [read_json(folder / name) for name in DRAWS]


def _rates(runs: list[dict[str, Any]], names: tuple[str, ...], condition: str = "steered") -> list[float]:
    return [100 * run[name][condition]["hit_rate"] for run in runs for name in names]


def _span(rates: list[float]) -> str:
    return f"{min(rates):.1f}–{max(rates):.1f} %"


def _acc(training: dict[str, Any]) -> str:
    acc = training["final"]["first_token_acc_new_scenes"]
    return ", ".join(f"{acc[k]:.2f}" for k in ("listen", "present", "what_at", "describe", "when"))


def test_the_two_runs_are_the_committed_ones() -> None:
    training = read_json(HERE / "model" / "training.json")
    first = training["before"]
    assert (training["query_layer"], first["query_layer"]) == (5, 5)
    assert (training["stage"], training["steps_done"], training["steps"]) == (3, 800, 800)
    assert first["init"] == "organism/query_last/stage2/model" and first["stopped_early"]
    assert (first["stage"], first["steps"], first["steps_done"]) == (2, 1200, 1193)
    log = (HERE / "train_first.log").read_text()
    assert '"query_layer": 5' in log and '"drill_steps": 400' in log
    assert "time budget of 38.0 min reached at step 1193" in log
    assert '"drill_steps": 0' in (HERE / "train.log").read_text()
    drill = re.search(r"drill 400/400 .*\((\d+\.\d) min\)", log)
    assert drill is not None and f"the drill (400 steps, {drill.group(1)} min)" in _flat()
    assert "time budget of 34.0 min reached at step 1113" in (SHIPPED / "train_first.log").read_text()
    assert "the shipped run stopped at step 1113 after 34 min" in _flat()
    shipped = read_json(ROOT / "src" / "wheretolisten" / "assets" / "organism" / "training.json")
    flat = _flat()
    assert f"at step {first['steps_done']} of 1200 ({first['training_minutes']:.1f} min" in flat
    assert (
        f"800 steps, {training['training_minutes']:.1f} min "
        f"(the shipped run {shipped['training_minutes']:.1f} min)" in flat
    )
    ours, theirs = _acc(training).split(", "), _acc(shipped)
    sentence = (
        f"listen {ours[0]}, yes/no {ours[1]}, what-at {ours[2]}, describe {ours[3]}, when {ours[4]} "
        f"(the shipped words stage {theirs})"
    )
    assert sentence in flat, sentence
    declared = read_json(HERE / "model" / "wheretolisten.json")
    assert (
        declared["vocabulary"]
        == read_json(ROOT / "src" / "wheretolisten" / "assets" / "organism" / "wheretolisten.json")[
            "vocabulary"
        ]
    )


def test_the_dev_choices_are_the_committed_runs() -> None:
    tuned = read_json(HERE / "tune_layers.json")
    scores = {k: v["pooled"] for k, v in tuned["hit_pct"].items()}
    assert len(scores) == 93 and tuned["shifts"] == 4
    assert tuned["chosen"] == "steer 0, alpha 4, probe 1,2,3,4,5" and scores[tuned["chosen"]] == max(
        scores.values()
    )
    declared = read_json(HERE / "model" / "wheretolisten.json")
    assert declared["localize"] == {"layers": [0], "probe_layers": [1, 2, 3, 4, 5], "alpha": 4.0, "shifts": 4}
    flat = _flat()
    assert (
        f"read layers 1–5: {scores[tuned['chosen']]:.1f} % pooled (words/tune_layers.json; this line's "
        f"second-stage setting {scores['steer 0, alpha 2, probe 1,2']:.1f} %, the shipped setting "
        f"{scores['steer 1, alpha 4, probe 3,4,5']:.1f} %)"
    ) in flat.replace("[`words/tune_layers.json`](words/tune_layers.json)", "words/tune_layers.json")
    lines = [json.loads(line) for line in (HERE / "detection_dev.jsonl").read_text().splitlines()]
    best = lines[-1]["best"]["steered"]
    steered = [line for line in lines if line.get("detector") == "steered"]
    assert best["onset"]["f1"] == max(line["onset"]["f1"] for line in steered)
    assert {k: best[k] for k in ("min_score", "smooth_s", "fraction", "edges")} == declared["detect"]
    theirs = json.loads((ROOT / "organism" / "detection_dev_edges.jsonl").read_text().splitlines()[-1])
    assert (
        f"fraction 0.5 with edges, onset F1 {best['onset']['f1']:.3f}" in flat
        and f"the shipped line's second stage {theirs['best']['steered']['onset']['f1']:.3f} on the same"
        in flat
    )


def test_the_held_out_table_is_the_committed_runs() -> None:
    ours, theirs = _draws(HERE), _draws(SHIPPED)
    assert [r.get("_seed_offset") for r in ours] == [None, 500, 1000]
    text = (ROOT / "organism" / "query_last" / "README.md").read_text()
    for name in SETS:
        for a, b in zip(ours, theirs, strict=True):  # the same scenes: the same baselines
            assert a[name]["energy"] == b[name]["energy"] and a[name]["random"] == b[name]["random"]

        def trio(runs: list[dict[str, Any]], condition: str, name: str = name) -> str:
            return " / ".join(f"{100 * r[name][condition]['hit_rate']:.1f}" for r in runs)

        row = (
            f"| {name} | {ours[0][name]['steered']['n']} | "
            f"{trio(theirs, 'steered')} | {trio(ours, 'steered')} | "
            f"{trio(ours, 'energy')} | {trio(ours, 'random')} |"
        )
        assert row in text, row


def test_the_significance_sentences_are_the_committed_runs() -> None:
    ours = _draws(HERE)
    for run in ours:
        assert all(
            run[n]["steered"][f"p_vs_{b}"] < 0.001
            for n in ("three", "overlap", "white-10", "babble-10")
            for b in ("energy", "random")
        )
    words = [run["asterisk"]["steered"] for run in ours]
    sounds = [run["freedesktop"]["steered"] for run in ours]
    assert min(w["p_vs_energy"] for w in words) >= 0.8
    assert [w["p_vs_random"] < 0.01 for w in words] == [True, False, True]
    assert all(s["p_vs_energy"] >= 0.01 for s in sounds)
    assert [s["p_vs_random"] < 0.01 for s in sounds] == [False, True, False]
    flat = _flat()
    assert "never beats the loudest word (p ≥ 0.8) and beats random at p < 0.01 in draws 1 and 3 only" in flat
    assert "never beats the loudest window and beats random at p < 0.01 in draw 2 only" in flat


def test_the_three_minute_sentence_is_the_committed_runs() -> None:
    own = [
        read_json(HERE / f)["long"]
        for f in ("eval_sets_long.json", "eval_sets_long_draw2.json", "eval_sets_draw3.json")
    ]
    assert read_json(HERE / "eval_sets_long_draw2.json")["_seed_offset"] == 500
    inherited = [read_json(HERE / f)["long"]["all_ok"] for f in ("eval_sets.json", "eval_sets_draw2.json")]
    shipped = [run["long"]["all_ok"] for run in _draws(SHIPPED)]
    assert all(long["n"] == 8 for long in own)
    chirps = [r["found"] for long in own for r in long["recordings"] if r["label"] == "chirp"]
    assert len(chirps) == 3 and not any(r == 3 for r in chirps)
    flat = _flat()
    found = ", ".join(str(long["all_ok"]) for long in own[:2]) + f" and {own[2]['all_ok']}"
    assert f"for {found} of the 8 classes on the three draws (chirping in none)" in flat
    assert f"draws 1 and 2: {inherited[0]} and {inherited[1]}" in flat
    assert f"The shipped words stage: {shipped[0]}, {shipped[1]} and {shipped[2]}." in flat
    assert all(theirs > long["all_ok"] for theirs, long in zip(shipped, own, strict=True))


def test_the_probe_sentence_is_the_committed_run() -> None:
    ours, theirs = read_json(HERE / "probe.json"), read_json(SHIPPED / "probe_words.json")
    assert ours["model"] == "organism/query_last/words/model" and ours["steps"] == theirs["steps"] == 200
    flat = _flat()
    assert (
        f"finds the named word among three in {100 * ours['synthetic_held_out_hit']:.1f} % of "
        f"held-out synthetic clips and {100 * ours['asterisk_hit']:.1f} % of asterisk's real ones "
        f"(the shipped words stage's "
        f"encoder: {100 * theirs['synthetic_held_out_hit']:.1f} and {100 * theirs['asterisk_hit']:.1f} %)"
    ) in flat
    machine = ours["machine"]
    assert f"load {machine['load_1min']:.1f}, two threads" in flat and machine["threads"] == 2
    assert ours["asterisk_hit"] >= theirs["asterisk_hit"]  # "at least as well as the shipped model's"


def _words_setting(folder: Path) -> list[dict[str, Any]]:
    names = ("", "_draw2", "_draw3")
    return [read_json(folder / f"eval_asterisk_words_setting{n}.json")["asterisk"] for n in names]


def test_the_words_dev_setting_and_its_asterisk_runs() -> None:
    ours_dev = read_json(HERE / "tune_layers_words.json")
    theirs_dev = read_json(SHIPPED / "tune_layers_words.json")
    for dev, chosen, current in (
        (ours_dev, "steer 2, alpha 1, probe 5", "steer 0, alpha 4, probe 1,2,3,4,5"),
        (theirs_dev, "steer 1, alpha 1, probe 4", "steer 1, alpha 4, probe 3,4,5"),
    ):
        assert dev["sets"] == {
            "words": {"n": 47, "scenes_make": ["--events", "3", "--bank", "speech:engines=espeak-ng,flite"]}
        }
        scores = {k: v["words"] for k, v in dev["hit_pct"].items()}
        assert len(scores) == 93 and (dev["chosen"], dev["current"]) == (chosen, current)
        assert scores[chosen] == max(scores.values())
    flat = _flat()
    ours_best, ours_current = (ours_dev["hit_pct"][ours_dev[k]]["words"] for k in ("chosen", "current"))
    theirs_best, theirs_current = (
        theirs_dev["hit_pct"][theirs_dev[k]]["words"] for k in ("chosen", "current")
    )
    assert (
        f"read layer 5: {ours_best:.1f} % of the dev words, against {ours_current:.1f} % at its declared"
        in flat
    )
    assert (
        f"1, α 1, read layer 4: {theirs_best:.1f} %, against {theirs_current:.1f} % at its declared" in flat
    )
    ours, theirs = _words_setting(HERE), _words_setting(SHIPPED)
    declared_ours = [run["asterisk"] for run in _draws(HERE)]
    declared_theirs = [run["asterisk"] for run in _draws(SHIPPED)]
    text = (ROOT / "organism" / "query_last" / "README.md").read_text()

    def row(label: str, runs: list[dict[str, Any]], condition: str = "steered") -> str:
        return f"| {label} | " + " | ".join(f"{100 * r[condition]['hit_rate']:.1f}" for r in runs) + " |"

    for line in (
        row("words stage, head at the last layer, its declared setting", declared_ours),
        row("words stage, head at the last layer, its words-dev setting", ours),
        row("shipped words stage, its declared setting", declared_theirs),
        row("shipped words stage, its words-dev setting", theirs),
        row("energy (the loudest word)", ours, "energy"),
    ):
        assert line in text, line
    for a, b, c in zip(ours, theirs, declared_ours, strict=True):  # the same scenes as the declared runs
        assert a["energy"] == b["energy"] == c["energy"] and a["steered"]["n"] == c["steered"]["n"]
        assert all(r["steered"][f"p_vs_{x}"] < 0.001 for r in (a, b) for x in ("energy", "random"))
    shipped_text = flat_text(SHIPPED / "README.md")
    assert f"({theirs_best:.1f} % against {theirs_current:.1f} % at the declared one)" in shipped_text
    rates = ", ".join(f"{100 * r['steered']['hit_rate']:.1f}" for r in theirs[:2])
    assert f"real words in {rates} and {100 * theirs[2]['steered']['hit_rate']:.1f} % of the three draws" in (
        shipped_text
    )


def test_the_summary_sentences_here_and_in_the_other_readmes() -> None:
    ours, theirs = _draws(HERE), _draws(SHIPPED)
    synthetic = f"({_span(_rates(ours, SYNTHETIC))} against {_span(_rates(theirs, SYNTHETIC))}"
    words = _span(_rates(ours, ("asterisk",)))
    shipped_words = _span(_rates(theirs, ("asterisk",)))
    loudest = _span(_rates(ours, ("asterisk",), "energy"))
    at_words = _span([100 * r["steered"]["hit_rate"] for r in _words_setting(HERE)])
    flat = _flat()
    assert f"almost as often as the shipped line {synthetic} on the quiet and noisy sets of three" in flat
    assert f"real recorded words about as often ({at_words} against {shipped_words} for the shipped" in flat
    assert (
        f"it finds few real recorded words ({words}); at a setting chosen on synthetic words "
        f"it finds {at_words}" in flat
    )
    readme = flat_text(ROOT / "README.md")
    assert (
        f"{synthetic}); real recorded words in {words.removesuffix(' %')} % of clips at its declared setting "
        f"(chosen on procedural sounds; the loudest word {loudest}), but in {at_words} at a setting "
        f"chosen on synthetic spoken words, about as often as the shipped model at its own ({shipped_words})"
    ) in readme
    organism = flat_text(ROOT / "organism" / "README.md")
    assert (
        f"real recorded words in {words.removesuffix(' %')} % of clips at its declared setting, but in "
        f"{at_words} at a setting chosen on synthetic spoken words "
        f"(the shipped model at its declared setting {shipped_words})"
    ) in organism
    # "ahead ... of this line's words stage on the real recordings ... at each model's declared settings"
    for a, b in zip(ours, theirs, strict=True):
        assert all(
            b[n]["steered"]["hit_rate"] > a[n]["steered"]["hit_rate"] for n in ("asterisk", "freedesktop")
        )


def _organism_module(name: str) -> Any:
    import importlib
    import sys

    sys.path.insert(0, str(ROOT / "organism"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "organism"))


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("flite") is None, reason="needs espeak-ng and flite"
)
def test_the_words_dev_set_is_opt_in_and_keeps_trained_word_targets(tmp_path: Path) -> None:
    tune_shifts = _organism_module("tune_shifts")
    from wheretolisten.scenes.speech import SPEECH_WORDS

    sets = list(tune_shifts.dev_sets(tmp_path, ["words"]))
    assert [name for name, _, _ in sets] == ["words"]
    targets = [sc["events"][sc["target"]]["label"] for sc in sets[0][2]]
    assert 0 < len(targets) < tune_shifts.N_SCENES  # the bank's phrases were targets of some scenes
    assert set(targets) <= {f"say_{w}" for w in SPEECH_WORDS}
    names = [name for name, _, _ in tune_shifts.dev_sets(tmp_path, ["words", "nothing"])]
    assert names == ["words"]
    assert set(tune_shifts.DEV_SETS) == {"single", "three", "white-10", "babble-10"}


def test_tune_layers_refuses_an_unknown_dev_set() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "organism" / "tune_layers.py"),
            "--out",
            "unused",
            "--sets",
            "words,nope",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "--sets: unknown dev set(s) nope" in done.stderr


def test_dev_seed_is_the_seed_a_dev_set_was_made_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """tune_layers.py records each dev set's seed (``dev_seed``): the set dev_sets makes is the one
    ``scenes make --seed dev_seed(name)`` with its options makes."""
    tune_shifts = _organism_module("tune_shifts")
    ((_, folder, _),) = tune_shifts.dev_sets(tmp_path / "dev", ["single"], seed_offset=500)
    seed = tune_shifts.dev_seed("single", 500)
    assert seed == 401 + list(tune_shifts.DEV_SETS).index("single") + 500
    again = tmp_path / "again"
    args = ["--out", str(again), "--n", str(tune_shifts.N_SCENES), "--seed", str(seed), "--no-progress"]
    code, _, err = run_cli(monkeypatch, capsys, "scenes", "make", *args, *tune_shifts.DEV_SETS["single"])
    assert code == 0, err
    assert (again / "manifest.jsonl").read_text() == (folder / "manifest.jsonl").read_text()
    assert tune_shifts.dev_seed("words") == 60_000
