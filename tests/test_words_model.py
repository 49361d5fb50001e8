"""The words stage, the shipped weights (organism/words/ has its record): what it declares, and its README
tables are its results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORDS = ROOT / "organism" / "words"
SHIPPED = ROOT / "src" / "wheretolisten" / "assets" / "organism"
STAGE2 = ROOT / "organism" / "stage2" / "model"
ASTERISK = Path("/usr/share/asterisk/sounds/en_US_f_Allison/digits")
SETS = {
    "asterisk (real words)": "asterisk",
    "single": "single",
    "three": "three",
    "white-10": "white-10",
    "babble-10": "babble-10",
    "overlap": "overlap",
    "freedesktop (real sounds)": "freedesktop",
}


def _load(name: str) -> dict[str, Any]:
    return json.loads((ROOT / name).read_text())


def _pct(entry: dict[str, Any]) -> str:
    return f"{100 * entry['hit_rate']:.1f}"


def _with_ci(entry: dict[str, Any]) -> str:
    lo, hi = entry["ci95"]
    return f"{_pct(entry)} ({100 * lo:.0f}–{100 * hi:.0f})"


def _p(value: float) -> str:
    return "< 0.001" if value < 1e-3 else f"{value:.3f}"


def test_the_words_table_is_the_committed_results() -> None:
    words = [_load("organism/words/eval_sets.json"), _load("organism/words/eval_sets_draw2.json")]
    shipped = [_load("organism/eval_sets_shipped.json"), _load("organism/eval_sets_shipped_draw2.json")]
    lines = (WORDS / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| set | n | second stage (d1 / d2)"))
    end = lines.index("", start)
    rows = {line.split("|")[1].strip(): line for line in lines[start + 2 : end]}
    for label, key in SETS.items():
        cells = [c.strip().strip("*") for c in rows[label].strip("|").split("|")]
        assert cells[1] == str(words[0][key]["steered"]["n"])
        assert cells[2] == " / ".join(_pct(s[key]["steered"]) for s in shipped)
        assert cells[3] == " / ".join(_with_ci(w[key]["steered"]) for w in words)
        assert cells[4] == " / ".join(_pct(w[key]["energy"]) for w in words)
        assert cells[5] == " / ".join(_pct(w[key]["random"]) for w in words)
        assert cells[6] == " / ".join(_p(w[key]["steered"]["p_vs_energy"]) for w in words)
        for w, s in zip(words, shipped, strict=True):  # the same scenes as the shipped model's rows
            assert w[key]["scenes_make"] == s[key]["scenes_make"]
    text = " ".join((WORDS / "README.md").read_text().split())
    found = [w["long"]["all_ok"] for w in words]
    assert found == [8, 8] and "for 8 of the 8 classes on both draws" in text
    assert "(the second stage: " + " and ".join(str(s["long"]["all_ok"]) for s in shipped) + ")" in text


def test_the_readme_paragraphs_are_the_committed_results() -> None:
    """README.md's training minutes and organism/README.md's words-stage paragraph (the hit rates of
    README's "How it holds up" are tests/test_readme_organism.py's)."""
    words = [_load("organism/words/eval_sets.json"), _load("organism/words/eval_sets_draw2.json")]
    shipped = [_load("organism/eval_sets_shipped.json"), _load("organism/eval_sets_shipped_draw2.json")]
    text = " ".join((ROOT / "README.md").read_text().split())
    summary = json.loads((SHIPPED / "training.json").read_text())
    first = (WORDS / "train_first.log").read_text()
    drill = float(first.split("drill 400/400")[1].split("(")[1].split(" min")[0])
    minutes = drill + summary["before"]["training_minutes"] + summary["training_minutes"]
    assert f"`organism/train_words.py`: a words stage of {minutes:.0f} min" in text
    organism = " ".join((ROOT / "organism" / "README.md").read_text().split())
    whole = " and ".join(f"{100 * w['asterisk']['steered']['hit_rate']:.0f}" for w in words)
    was = " and ".join(f"{100 * s['asterisk']['steered']['hit_rate']:.0f}" for s in shipped)
    assert f"Two runs ({minutes:.0f} min in all)" in organism
    assert (
        f"in {whole} % of clips on the two draws, against {was} % for the second stage's weights" in organism
    )
    fresh = _load("organism/words/eval_sets_draw3.json")["asterisk"]["steered"]
    old = _load("organism/eval_sets_shipped_draw3.json")["asterisk"]["steered"]
    assert f"a third draw, made after the choice, gives {_pct(fresh)} % against {_pct(old)} %" in organism


def test_the_shipped_model_declares_its_words_and_the_second_stage_settings() -> None:
    from wheretolisten.vocabulary import declared_vocabulary, warn_unknown

    meta = json.loads((SHIPPED / "wheretolisten.json").read_text())
    vocab = declared_vocabulary(meta)
    assert vocab is not None and len(vocab.sounds) == 8 and len(vocab.speech) == 20
    assert warn_unknown(meta, ["someone saying 'seven'", "a siren", "a dog barking"]) == ["a dog barking"]
    base = json.loads((STAGE2 / "wheretolisten.json").read_text())
    assert meta["localize"] == base["localize"] and meta["detect"] == base["detect"]  # not chosen again
    assert base["vocabulary"]["speech"] == []


@pytest.mark.slow
def test_the_shipped_model_loads_and_spells_each_word_as_one_token() -> None:
    from wheretolisten.models import load_model
    from wheretolisten.scenes.speech import SPEECH_WORDS

    adapter = load_model(SHIPPED, device="cpu")
    tok = adapter.processor.tokenizer
    for word in SPEECH_WORDS:
        pieces = tok.convert_ids_to_tokens(
            tok(f"someone saying '{word}'", add_special_tokens=False)["input_ids"]
        )
        assert word in pieces
    assert adapter.model.config.text_config.vocab_size == len(tok) == 444


def test_the_fresh_draw_table_is_compare_py_on_its_results() -> None:
    from test_readme_organism import _compare_rows

    rows = _compare_rows(
        (
            "second stage, draw 3=organism/eval_sets_shipped_draw3.json",
            "words stage, draw 3=organism/words/eval_sets_draw3.json",
        )
    )
    lines = (WORDS / "README.md").read_text().splitlines()
    start = lines.index(rows[0])
    assert lines[start : start + len(rows)] == rows
    words = _load("organism/words/eval_sets_draw3.json")["long"]
    shipped = _load("organism/eval_sets_shipped_long_draw3.json")["long"]
    assert words["all_ok"] == shipped["all_ok"] == 6
    failed = {r["label"]: (r["found"], r["detections_s"]) for r in words["recordings"] if not r["ok"]}
    assert failed == {
        r["label"]: (r["found"], r["detections_s"]) for r in shipped["recordings"] if not r["ok"]
    }
    assert set(failed) == {"knock", "chirp"}


def test_the_probe_table_is_the_committed_probes() -> None:
    text = (WORDS / "README.md").read_text()
    steering = {
        "probe_shipped.json": ("organism/eval_sets_shipped.json", "organism/eval_sets_shipped_draw2.json"),
        "probe_first.json": (
            "organism/words/eval_sets_first.json",
            "organism/words/eval_sets_first_draw2.json",
        ),
        "probe_words.json": ("organism/words/eval_sets.json", "organism/words/eval_sets_draw2.json"),
    }
    for name, draws in steering.items():
        probe = _load(f"organism/words/{name}")
        assert probe["steps"] == 200 and probe["clips"] == 100
        hits = " / ".join(_pct(_load(d)["asterisk"]["steered"]) for d in draws)
        synthetic, real = 100 * probe["synthetic_held_out_hit"], 100 * probe["asterisk_hit"]
        row = f"(`{name}`) | {synthetic:.1f} % | {real:.1f} % | {hits} % |"
        assert row in text, row
    loads = [_load(f"organism/words/{name}")["machine"]["load_1min"] for name in steering]
    assert f"(one thread each, load {min(loads):.1f}–{max(loads):.1f})" in text


@pytest.mark.slow
@pytest.mark.skipif(not ASTERISK.is_dir(), reason="asterisk-core-sounds-en-wav is not installed")
def test_localize_with_the_shipped_model_knows_its_words(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The shipped model localizes a word query with no vocabulary warning; the second stage's checkpoint
    (`--model organism/stage2/model`) warns about the same query."""
    import numpy as np
    import soundfile as sf

    from helpers import run_cli
    from wheretolisten.audio import load_audio

    clip = np.zeros(10 * 16000, dtype=np.float32)
    for word, at in (("7", 1.0), ("day-1", 4.5), ("3", 8.0)):
        audio, _ = load_audio(ASTERISK / f"{word}.wav", 16000)
        start = int(at * 16000)
        clip[start : start + len(audio)] = audio[: len(clip) - start]
    wav = tmp_path / "words.wav"
    sf.write(wav, clip, 16000)
    query = "someone saying 'seven'"
    code, out, err = run_cli(monkeypatch, capsys, "localize", wav, "-q", query)
    assert code == 0 and query in out and "not in this model's vocabulary" not in err
    code, _, err = run_cli(monkeypatch, capsys, "localize", wav, "-q", query, "--model", STAGE2)
    assert code == 0 and "not in this model's vocabulary" in err


def test_the_training_sentences_are_its_logs_and_summary() -> None:
    text = " ".join((WORDS / "README.md").read_text().split())
    summary = json.loads((SHIPPED / "training.json").read_text())
    first = summary["before"]
    drill = (WORDS / "train_first.log").read_text().split("drill 400/400")[1].split("(")[1].split(" min")[0]
    assert f"an encoder drill ({drill} min;" in text
    assert (
        f"then the stage ({first['training_minutes']:.1f} min, stopped by its time budget at step "
        f"{first['steps_done']} of {first['steps']})" in text
    ) and first["stopped_early"]
    assert f"; {summary['training_minutes']:.1f} min, {summary['steps_done']} steps)" in text
    assert summary["steps_done"] == summary["steps"] and not summary["stopped_early"]
    size = (SHIPPED / "model.safetensors").stat().st_size
    assert f"`src/wheretolisten/assets/organism/`; {size / 1e6:.1f} MB, the exact" in text
    loads = [
        _load(f"organism/words/{n}")["_machine"]["load_1min"]
        for n in ("eval_sets.json", "eval_sets_draw2.json")
    ]
    assert "load about 2" in text and all(1.5 <= x <= 2.5 for x in loads)
    steered = _load("organism/words/eval_sets.json")["asterisk"]["steered"]["hit_rate"]
    probe = _load("organism/words/probe_words.json")["asterisk_hit"]
    assert f"steering ({100 * steered:.0f} %) still finds fewer words than a linear read" in text
    assert f"of its own encoder ({100 * probe:.0f} %)" in text and steered < probe


def test_the_words_stage_misses_are_the_committed_miss_positions() -> None:
    """organism/README.md: the shipped weights miss 1, 2 and 0 single events in the three draws, chirps."""
    runs = [_load(f"organism/words/miss_positions{s}.json") for s in ("", "_draw2", "_draw3")]
    text = " ".join((ROOT / "organism" / "README.md").read_text().split())
    counts = ", ".join(str(r["misses"]) for r in runs[:2]) + f" and {runs[2]['misses']}"
    assert f"its three draws) {counts} clips are missed, all chirps" in text
    peaks = sorted(p for r in runs for k, v in r["classes"].items() for p in v["miss_peaks_s"])
    assert {k for r in runs for k, v in r["classes"].items() if v["misses"]} == {"chirp"}
    assert "peaking at " + ", ".join(f"{p:.1f}" for p in peaks[:-1]) + f" and {peaks[-1]:.1f} s" in text
