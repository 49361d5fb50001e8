"""``bench protocol``: the protocol file round-trips, a killed run resumes with no duplicate, shards give the
one-piece result, a directory of another protocol is refused, the command line."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from helpers import run_cli
from wheretolisten.bench import protocol as protocol_module
from wheretolisten.bench import runner as runner_module
from wheretolisten.bench.protocol import SUMMARY_JSON_NAME, SUMMARY_NAME, run_protocol
from wheretolisten.bench.protocol_file import (
    Grid,
    IntervalGrid,
    Protocol,
    SceneSet,
    load_protocol,
    protocol_from_dict,
    save_protocol,
)
from wheretolisten.errors import DataError, OptionError
from wheretolisten.models import Adapter, wrap
from wheretolisten.models.tiny import build_tiny_model
from wheretolisten.scenes.options import SceneOptions

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = Protocol(
    dev=SceneSet("dev", 3, 50_000, 3, 6.0),
    tests=(SceneSet("a", 2, 0, 3, 6.0, draws=2), SceneSet("b", 2, 1, 2, 4.0)),
    conditions=("steered", "prompted", "energy", "random", "random-vector", "wrong-query", "negative"),
    grids={
        "steered": Grid(layers=((1,),), alphas=(2.0,), peaks=("delta",)),
        "prompted": Grid(templates=((0,),), peaks=("delta", "logratio")),
        "energy": Grid(windows_s=(0.5, 1.0)),
    },
    intervals=IntervalGrid(
        fractions=(0.2, 0.5), smooths_s=(0.2,), windows_s=(1.0,), margins_db=(10.0,), bridges_s=(0.2,)
    ),
    random_draws=2,
)


@pytest.fixture(scope="module")
def tiny() -> Adapter:
    return wrap(*build_tiny_model("qwen2-audio", seed=0), name="tiny-qwen2-audio")


@pytest.fixture(scope="module")
def full(tiny: Adapter, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("protocol") / "full"
    report = run_protocol(tiny, TINY, out, show_progress=False)
    assert report.stage == "done" and (out / SUMMARY_NAME).is_file()
    return out


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _results(out: Path) -> dict[str, list[dict[str, Any]]]:
    """Every results file's rows (elapsed time dropped), shard files merged, sorted."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((out / "results").glob("*.jsonl")):
        rows = [{k: v for k, v in r.items() if k != "elapsed_s"} for r in _lines(path)]
        found.setdefault(path.name.split(".")[0], []).extend(rows)
    return {k: sorted(v, key=lambda r: (r["scene_id"], r["query"], r["condition"])) for k, v in found.items()}


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_protocol_file_round_trips(tmp_path: Path, suffix: str) -> None:
    for protocol in (Protocol(), TINY, replace(TINY, bank="esc50:/data/ESC-50:folds=1,2", budget=7)):
        path = save_protocol(protocol, tmp_path / f"p{suffix}")
        assert load_protocol(path) == protocol
    assert load_protocol(None) == Protocol()
    assert all(t.draws >= 2 for t in Protocol().tests)  # every default held-out set is drawn twice
    options = {"background": "pink", "level_db": -20.0, "overlap": True, "sounds": ["a", "b"]}
    carried = replace(TINY, tests=(replace(TINY.tests[0], options=options), TINY.tests[1]))
    assert load_protocol(save_protocol(carried, tmp_path / f"o{suffix}")) == carried
    partial = tmp_path / f"partial{suffix}"
    partial.write_text(
        'budget = 9\n[dev]\nname = "d"\nn = 5\nseed = 1\n' if suffix == ".toml" else '{"budget": 9}'
    )
    loaded = load_protocol(partial)
    assert loaded.budget == 9 and loaded.tests == Protocol().tests


def test_bad_protocols_are_one_error_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown field 'budgte'"):
        protocol_from_dict({"budgte": 3})
    with pytest.raises(DataError, match=r"unknown field grids.steered.alpha"):
        protocol_from_dict({"grids": {"steered": {"alpha": [1]}}})
    with pytest.raises(OptionError, match="distinct set names"):
        Protocol(tests=(SceneSet("dev", 2, 0),))
    with pytest.raises(OptionError, match=r"options\.level must be a string, number"):
        SceneSet("s", 2, 0, options={"level": {"db": -10}})
    with pytest.raises(OptionError, match="needs draws >= 1"):
        SceneSet("s", 2, 0, draws=0)
    with pytest.raises(OptionError, match="distinct set names"):  # a draw's name taken by another set
        Protocol(tests=(SceneSet("x", 2, 0, draws=2), SceneSet("x-s1000", 2, 5)))
    with pytest.raises(OptionError, match="no grid for 'random'"):
        protocol_from_dict({"grids": {"random": {}}})
    bad = tmp_path / "bad.toml"
    bad.write_text("budget = [")
    with pytest.raises(DataError, match="not valid toml"):
        load_protocol(bad)


def test_a_killed_protocol_resumes_with_no_duplicate(
    tiny: Adapter, full: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed in the tuning stage, then every few units of the dev and test stages, until it finishes."""
    from wheretolisten.bench import tuning_eval

    out = tmp_path / "part"
    real_score, real_unit = tuning_eval.score_scene, runner_module.run_unit
    calls = {"score": 0, "unit": 0}

    def dying_score(*args: Any, **kwargs: Any) -> Any:
        calls["score"] += 1
        if calls["score"] == 2:
            raise KeyboardInterrupt
        return real_score(*args, **kwargs)

    def dying_unit(*args: Any, **kwargs: Any) -> Any:
        calls["unit"] += 1
        if calls["unit"] % 7 == 0:
            raise KeyboardInterrupt
        return real_unit(*args, **kwargs)

    monkeypatch.setattr(tuning_eval, "score_scene", dying_score)
    monkeypatch.setattr(runner_module, "run_unit", dying_unit)
    kills = 0
    for _ in range(20):
        try:
            report = run_protocol(tiny, TINY, out, show_progress=False)
            break
        except KeyboardInterrupt:
            kills += 1
    assert report.stage == "done" and kills >= 4
    for path in [out / "tuning.jsonl", *(out / "results").glob("*.jsonl")]:
        rows = _lines(path)
        ids = [(r["scene_id"], r.get("query"), r.get("condition")) for r in rows]
        assert len(ids) == len(set(ids)), path
    assert _results(out) == _results(full)
    assert (out / SUMMARY_NAME).read_text() == (full / SUMMARY_NAME).read_text()


def test_shards_give_the_one_piece_result(tiny: Adapter, full: Path, tmp_path: Path) -> None:
    out = tmp_path / "sharded"
    stages = [run_protocol(tiny, TINY, out, (k, 2), show_progress=False).stage for k in (0, 1, 0, 1)]
    assert stages == ["tuning", "dev", "test", "done"]
    assert sorted(p.name for p in out.glob("tuning*.jsonl")) == ["tuning.0-of-2.jsonl", "tuning.1-of-2.jsonl"]
    assert _results(out) == _results(full)
    sharded, whole = ((d / SUMMARY_JSON_NAME).read_text() for d in (out, full))
    assert json.loads(sharded) == json.loads(whole)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _nested_values(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _nested_values(v)]
    if isinstance(value, list):
        return [x for v in value for x in _nested_values(v)]
    return [value]


def test_summary_json_is_strict_json_and_the_report_reads_it(full: Path) -> None:
    """A statistic of no rows is written as null, not Python's bare NaN (which jq and browsers reject),
    and the report renders from that file."""
    text = (full / SUMMARY_JSON_NAME).read_text(encoding="utf-8")
    data = json.loads(text, parse_constant=_no_constant)
    assert None in _nested_values(data)  # this tiny run has statistics of no rows (e.g. IoU on misses)
    pytest.importorskip("matplotlib")
    from wheretolisten.report.protocol import write_protocol_report

    page = write_protocol_report(full, TINY, full / "again.html")
    assert "Hit rate" in page.read_text(encoding="utf-8")


def test_summary_names_settings_controls_and_tests(full: Path) -> None:
    text = (full / SUMMARY_NAME).read_text()
    for title in (
        "Settings chosen on dev",
        "Hit rate % by test set",
        "Steered vs each condition",
        "Controls vs chance (pooled)",
        "Where the peaks land (pooled)",
        "Interval IoU vs the baselines (pooled)",
        "Dev study of the readout",
    ):
        assert f"## {title}" in text, title
    for title in ("IoU of every recorded interval rule, per set", "The floor: the negative control's IoU"):
        assert f"## {title}" in text, title
    data = json.loads((full / SUMMARY_JSON_NAME).read_text())
    floor = {t["set"] for t in data["interval_floor"]}
    assert floor == {"a-s0", "a-s1000", "b", "pooled"}
    rules = {(line["condition"], line["interval"]) for line in data["rule_ious_by_set"]}
    assert ("steered", "readout") in rules and ("negative", "readout") in rules
    assert any("snap local" in i for _, i in rules)  # the adaptive snap is the snap recorded
    # set a is drawn twice: both draws are columns, and a per-set verdict needs both to agree
    assert "| a-s0 | a-s1000 | b | pooled |" in text and "2 draws: a-s0, a-s1000" in text
    verdicts = text.split("## Verdicts (held-out)")[1].split("##")[0]
    assert "- steered vs prompted: pooled " in verdicts
    assert "a: " in verdicts and ("all 2 draws" in verdicts or "draws disagree" in verdicts)
    tuned = json.loads((full / "tuned.json").read_text())
    assert (
        tuned["steered"]["grid_points"] == 3
    )  # steer layer 1 of 4; read layers 2–3, 2 or 3; one α, one peak
    assert tuned["prompted"]["grid_points"] == 10  # read every layer, or each alone (5); two peak rules
    rows = _lines(full / "results" / "a-s0.jsonl")
    assert {r["tuned"] for r in rows} == {"dev", "dev (readout)"}
    assert all(r["readout_rule"] and "own" in r["intervals"] for r in rows)
    controls = [r for r in rows if r["control"]]
    steered = next(r for r in rows if r["condition"] == "steered")
    assert all(r["config"]["layers"] == steered["config"]["layers"] for r in controls)


def test_another_protocol_in_the_directory_is_refused(tiny: Adapter, full: Path) -> None:
    with pytest.raises(DataError, match="another protocol"):
        run_protocol(tiny, replace(TINY, random_draws=3), full, show_progress=False)
    other = copy.copy(tiny)
    other.weights_id = "sha256:0123456789abcdef"  # other weights saved under the same name
    with pytest.raises(DataError, match="other weights or precision"):
        run_protocol(other, TINY, full, show_progress=False)


def test_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.toml"
    code, _, err = run_cli(monkeypatch, capsys, "bench", "protocol", "--write-protocol", path)
    assert code == 0, err
    assert load_protocol(path) == Protocol()
    bad = tmp_path / "bad.json"
    bad.write_text('{"tests": []}')
    code, _, err = run_cli(
        monkeypatch, capsys, "bench", "protocol", "--out", tmp_path / "run", "--protocol", bad
    )
    assert code == 2 and len(err.strip().splitlines()) == 1 and "at least one test set" in err
    assert not (tmp_path / "run").exists()
    code, _, err = run_cli(monkeypatch, capsys, "bench", "protocol")
    assert code == 2 and "give --out DIR" in err
    assert protocol_module.PROTOCOL_NAME == "protocol.json"


def test_a_set_with_scene_options_is_synthesized_with_them(tmp_path: Path) -> None:
    """A held-out set can be noisy, overlapping, or drawn from its own bank (protocol file options)."""
    from wheretolisten.bench.protocol import _scenes, set_layout
    from wheretolisten.scenes import ProceduralBank

    layout = {"background": "white", "background_db": [-10, -10], "placement": "free", "max_overlap": 0.25}
    noisy = SceneSet("noisy", 2, 7, 3, 10.0, options=layout)
    scenes = _scenes(noisy, ProceduralBank(), tmp_path, False)
    assert [s.background for s in scenes] == ["white", "white"]
    assert all(s.background_db == pytest.approx(-10.0) and s.placement == "free" for s in scenes)
    assert _scenes(noisy, ProceduralBank(), tmp_path, False) == scenes  # found again, not remade
    with pytest.raises(OptionError, match=r"set 'x': unknown scene option 'levels'"):
        set_layout(SceneSet("x", 2, 0, options={"levels": [-1, 1]}))
    with pytest.raises(OptionError, match=r"set 'x': background must be one of"):
        set_layout(SceneSet("x", 2, 0, options={"background": "rain"}))
    assert set_layout(SceneSet("x", 2, 0, options={"bank": "freedesktop"})) == (SceneOptions(), "freedesktop")
    with pytest.raises(OptionError, match=r"options.bank must be a bank name"):  # "" was the protocol's bank
        set_layout(SceneSet("x", 2, 0, options={"bank": ""}))


def test_the_default_protocol_holds_realistic_sets() -> None:
    """Noise at -20 and -10 dB, babble, overlaps and real recordings, each drawn twice; the real-recording
    sets are optional (their banks are Debian packages)."""
    from wheretolisten.bench.protocol import set_layout

    sets = {t.name: t for t in Protocol().tests}
    layouts = {name: set_layout(t) for name, t in sets.items()}
    assert layouts["white-10"][0] == SceneOptions(background="white", background_db=(-10.0, -10.0))
    assert layouts["babble-10"][0] == SceneOptions(background="babble", background_db=(-10.0, -10.0))
    assert layouts["white-20"][0] == SceneOptions(background="white", background_db=(-20.0, -20.0))
    overlap = layouts["overlap"][0]
    assert overlap is not None and overlap.placement == "free" and overlap.max_overlap > 0
    assert layouts["freedesktop"][1] == "freedesktop" and layouts["asterisk"][1] == "asterisk-words"
    assert {n for n, t in sets.items() if t.optional} == {"freedesktop", "asterisk"}
    assert all(t.draws >= 2 for t in sets.values())


def test_an_optional_set_whose_bank_is_missing_is_skipped_with_a_note(tiny: Adapter, tmp_path: Path) -> None:
    """A set of an uninstalled bank is skipped and named in summary.md (optional) or refused (required)."""
    gone = SceneSet("gone", 2, 9, 3, 6.0, options={"bank": str(tmp_path / "no-such-bank")}, optional=True)
    protocol = replace(TINY, tests=(*TINY.tests, gone), conditions=("steered", "energy"))
    out = tmp_path / "run"
    report = run_protocol(tiny, protocol, out, show_progress=False)
    assert report.stage == "done"
    assert not (out / "results" / "gone.jsonl").exists()
    summary = (out / SUMMARY_NAME).read_text()
    assert "**Skipped sets.**" in summary and "`gone`" in summary
    assert "gone" in json.loads((out / SUMMARY_JSON_NAME).read_text())["skipped_sets"]
    with pytest.raises(DataError, match="no-such-bank"):
        required = replace(protocol, tests=(*TINY.tests, replace(gone, optional=False)))
        run_protocol(tiny, required, tmp_path / "other", show_progress=False)
    assert not (tmp_path / "other").exists()


def test_summary_counts_the_direct_conditions_unparsed_answers() -> None:
    """Each set's direct answers with no time in them are counted beside its hit rate (and pooled)."""
    from wheretolisten.metrics.protocol import unparsed_answers
    from wheretolisten.tables.protocol import unparsed_text

    def row(failed: bool, hit: bool, condition: str = "direct") -> dict[str, Any]:
        peak = None if failed else (2.0 if hit else 7.0)
        return {"condition": condition, "parse_failed": failed, "peak_s": peak, "gt": [1.0, 3.0]}

    per_set = {
        "a": [row(True, False), row(False, True), row(False, False), row(False, True, "steered")],
        "b": [row(True, False)],
        "c": [row(False, True, "steered")],
    }
    table = unparsed_answers(per_set)
    assert [(t["set"], t["answers"], t["unparsed"]) for t in table] == [
        ("a", 3, 1),
        ("b", 1, 1),
        ("pooled", 4, 2),
    ]
    assert table[0]["hit"] == pytest.approx(100 / 3)
    assert "| pooled | 4 | 2 | 50.0 | 25.0 |" in unparsed_text(table)
    assert unparsed_answers({"c": per_set["c"]}) == []
