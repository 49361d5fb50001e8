"""Realistic scenes: free placement, level spread, backgrounds, spoken words, Debian recordings."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import run_cli
from wheretolisten.errors import DataError, OptionError
from wheretolisten.scenes import (
    BABBLE_SENTENCES,
    SPEECH_PHRASES,
    SPEECH_WORDS,
    AsteriskWordsBank,
    FreedesktopBank,
    MixedBank,
    ProceduralBank,
    Scene,
    SceneOptions,
    SpeechBank,
    get_bank,
    load_manifest,
    make_scene,
    make_scenes,
)
from wheretolisten.scenes.debian import ASTERISK_DIGITS, FREEDESKTOP_DIR
from wheretolisten.scenes.manifest import overlap_share
from wheretolisten.scenes.speech import speak
from wheretolisten.scenes.synthesis import NOISE_FLOOR_DB, TARGET_RMS

SR = 8000
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def _rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)) / TARGET_RMS))


def _samples(t: float) -> int:
    return round(t * SR)


# ---- defaults: the original scenes, bit for bit --------------------------------------------------

#: (seed, n_events, duration_s, sample_rate) → (sha256[:16] of the 16-bit PCM, of the JSON row), both
#: computed with main at 430a072, before scene options existed.
MAIN_HASHES = {
    (0, 3, 10.0, 16000): ("99579921e9e23668", "0abf74b5058433ef"),
    (1, 1, 3.0, 8000): ("173cf3b9e457da19", "72057d74fa6f9e75"),
    (7, 4, 12.0, 16000): ("3e2bcf367714a5d5", "472afb234e5adc5c"),
    (123, 2, 5.0, 22050): ("85c48304bb95a34d", "976962ae672a23bc"),
}


@pytest.mark.parametrize("key", list(MAIN_HASHES))
@pytest.mark.parametrize("options", [None, SceneOptions()])
def test_default_options_give_the_scenes_of_before(
    key: tuple[int, int, float, int], options: SceneOptions | None
) -> None:
    seed, n_events, duration_s, sr = key
    scene, audio = make_scene(
        ProceduralBank(), np.random.default_rng(seed), "s", n_events=n_events, duration_s=duration_s,
        sample_rate=sr, seed=seed, options=options,
    )  # fmt: skip
    pcm = np.round(np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    row = json.dumps(scene.to_dict(), sort_keys=True).encode()
    assert (hashlib.sha256(pcm).hexdigest()[:16], hashlib.sha256(row).hexdigest()[:16]) == MAIN_HASHES[key]
    assert "level_db" not in scene.to_dict()["events"][0] and "background" not in scene.to_dict()


# ---- free placement -------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_events=st.integers(1, 6),
    max_overlap=st.sampled_from([0.0, 0.25, 0.5]),
)
def test_free_placement_respects_bounds_and_max_overlap(seed: int, n_events: int, max_overlap: float) -> None:
    options = SceneOptions(placement="free", max_overlap=max_overlap, event_s=(0.5, 2.0))
    scene, audio = make_scene(
        ProceduralBank(), np.random.default_rng(seed), "s", n_events=n_events, duration_s=6.0,
        sample_rate=SR, options=options,
    )  # fmt: skip
    assert len(audio) == 6 * SR and scene.placement == "free" and scene.max_overlap == max_overlap
    onsets = [e.onset_s for e in scene.events]
    assert onsets == sorted(onsets)
    assert [e.position for e in scene.events] == ["first", *["middle"] * (n_events - 2), "last"][:n_events]
    for k, e in enumerate(scene.events):
        assert 0 <= e.onset_s < e.offset_s <= 6.0
        assert 0.5 - 1e-3 <= e.offset_s - e.onset_s <= 2.0 + 1e-3
        assert e.onset_s <= e.active[0] < e.active[1] <= e.offset_s
        others = [o for j, o in enumerate(scene.events) if j != k]
        assert overlap_share(e, others) <= max_overlap + 1e-4


def test_free_placement_overlaps_when_allowed_and_never_when_not() -> None:
    def shares(max_overlap: float) -> list[float]:
        out = []
        for seed in range(20):
            options = SceneOptions(placement="free", max_overlap=max_overlap, event_s=(1, 3))
            scene, _ = make_scene(
                ProceduralBank(), np.random.default_rng(seed), "s", n_events=4, duration_s=8.0,
                sample_rate=SR, options=options,
            )  # fmt: skip
            out += [overlap_share(e, [o for o in scene.events if o is not e]) for e in scene.events]
        return out

    assert max(shares(0.0)) == 0.0
    loose = shares(0.5)
    assert max(loose) > 0.1 and max(loose) <= 0.5 + 1e-4


def test_sparse_long_scene_renders_only_its_events() -> None:
    calls: list[float] = []

    class Counting(ProceduralBank):
        def render(self, label: str, rng: np.random.Generator, sample_rate: int, max_duration_s: float):  # type: ignore[no-untyped-def]
            calls.append(max_duration_s)
            return super().render(label, rng, sample_rate, max_duration_s)

    options = SceneOptions(placement="free", event_s=(1.0, 3.0))
    scene, audio = make_scene(
        Counting(),
        np.random.default_rng(5),
        "s",
        n_events=3,
        duration_s=180.0,
        sample_rate=SR,
        options=options,
    )
    assert len(audio) == 180 * SR and len(scene.events) == 3
    assert len(calls) == 3 and all(c <= 3.0 + 1e-6 for c in calls)
    assert scene.events[-1].offset_s - scene.events[0].onset_s > 20  # spread over the clip, not bunched


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"placement": "grid"}, "placement must be one of"),
        ({"max_overlap": 0.2}, "needs placement 'free'"),
        ({"placement": "free", "max_overlap": 1.0}, r"max_overlap must be a number in \[0, 1\)"),
        ({"level_db": (5, -5)}, "lo <= hi"),
        ({"level_db": (-50, 0)}, r"level_db must lie within"),
        ({"background": "rain"}, "background must be one of"),
        ({"background_db": (-70, -20)}, r"background_db must lie within \[-60, -10\]"),
        ({"event_s": (0.05, 1)}, "event_s must be at least"),
        ({"event_s": (1, float("nan"))}, "finite"),
    ],
)
def test_bad_options_are_one_option_error(kwargs: dict, message: str) -> None:
    with pytest.raises(OptionError, match=message):
        SceneOptions(**kwargs)


@needs_espeak
def test_free_scene_that_cannot_fit_is_refused_before_rendering() -> None:
    options = SceneOptions(placement="free", event_s=(4, 5))
    with pytest.raises(OptionError, match="do not fit"):
        make_scene(
            ProceduralBank(), np.random.default_rng(0), "s", n_events=3, duration_s=10, options=options
        )
    with pytest.raises(OptionError, match="at most 6 events"):
        make_scene(
            MixedBank([ProceduralBank(), SpeechBank()]), np.random.default_rng(0), "s", n_events=7,
            duration_s=60, options=SceneOptions(placement="free"),
        )  # fmt: skip


# ---- levels and backgrounds, measured on the audio ----------------------------------------------


def test_event_levels_follow_the_drawn_gain() -> None:
    options = SceneOptions(placement="free", level_db=(-20, 20), event_s=(1, 2))
    levels = []
    for seed in range(6):
        scene, audio = make_scene(
            ProceduralBank(), np.random.default_rng(seed), "s", n_events=3, duration_s=9.0, sample_rate=SR,
            options=options,
        )  # fmt: skip
        assert scene.gain_db is not None and scene.gain_db <= 0
        for e in scene.events:
            assert e.level_db is not None and -20 <= e.level_db <= 20
            measured = _rms_db(audio[_samples(e.active[0]) : _samples(e.active[1])])
            assert measured == pytest.approx(e.level_db + scene.gain_db, abs=0.3)
            levels.append(e.level_db)
    assert max(levels) - min(levels) > 15  # the levels really are spread


@pytest.mark.parametrize("kind", ["white", "pink", "brown", pytest.param("babble", marks=needs_espeak)])
def test_background_level_is_measured_where_no_event_is(kind: str) -> None:
    options = SceneOptions(placement="free", background=kind, background_db=(-20, -20), event_s=(0.5, 0.5))
    scene, audio = make_scene(
        ProceduralBank(), np.random.default_rng(1), "s", n_events=1, duration_s=20.0, sample_rate=SR,
        options=options,
    )  # fmt: skip
    assert scene.background == kind and scene.background_db == -20.0 and scene.gain_db is not None
    quiet = np.ones(len(audio), dtype=bool)
    quiet[_samples(scene.events[0].onset_s) : _samples(scene.events[0].offset_s)] = False
    floor_only = 10 * np.log10(10 ** (-20 / 10) + 10 ** (NOISE_FLOOR_DB / 10))
    expected = floor_only + scene.gain_db  # the peak limiter scales the whole mix
    assert _rms_db(audio[quiet]) == pytest.approx(expected, abs=1.0 if kind == "babble" else 0.3)


def test_coloured_noises_have_their_slopes() -> None:
    def high_share(kind: str) -> float:
        options = SceneOptions(
            placement="free", background=kind, background_db=(-10, -10), event_s=(0.3, 0.3)
        )
        scene, audio = make_scene(
            ProceduralBank(), np.random.default_rng(2), "s", n_events=1, duration_s=8.0, sample_rate=SR,
            options=options,
        )  # fmt: skip
        audio = audio.copy()
        audio[_samples(scene.events[0].onset_s) : _samples(scene.events[0].offset_s)] = 0  # the noise alone
        power = np.abs(np.fft.rfft(audio)) ** 2
        freqs = np.fft.rfftfreq(len(audio), 1 / SR)
        return float(power[freqs > 1000].sum() / power.sum())

    white, pink, brown = high_share("white"), high_share("pink"), high_share("brown")
    assert white > 0.6 and white > 3 * pink and pink > 3 * brown


def test_sounds_background_uses_other_labels_below_the_events() -> None:
    bank = ProceduralBank()
    options = SceneOptions(background="sounds", background_db=(-30, -30))
    scene, audio = make_scene(
        bank, np.random.default_rng(4), "s", n_events=2, duration_s=8.0, sample_rate=SR, options=options
    )
    _, plain = make_scene(bank, np.random.default_rng(4), "s", n_events=2, duration_s=8.0, sample_rate=SR)
    assert _rms_db(audio) - _rms_db(plain) < 0.5  # quiet: the events dominate the mix
    assert np.max(np.abs(audio - plain)) > 10 ** (-40 / 20) * TARGET_RMS  # but something was added
    assert scene.background == "sounds" and scene.background_db == -30.0


def test_babble_sentences_never_say_a_query() -> None:
    vocabulary = {w for text in (*SPEECH_WORDS, *SPEECH_PHRASES) for w in text.split()}
    homophones = {"to", "too", "for", "fore", "won", "ate", "oh", "sicks", "nein", "tu"}
    assert len(BABBLE_SENTENCES) >= 10
    for sentence in BABBLE_SENTENCES:
        words = set(re.findall(r"[a-z']+", sentence.lower()))
        assert not words & (vocabulary | homophones), sentence
        assert not any(phrase in sentence.lower() for phrase in SPEECH_PHRASES)


# ---- speech ----------------------------------------------------------------------------------------


@needs_espeak
def test_speech_bank_labels_queries_and_determinism() -> None:
    bank = SpeechBank()
    assert len(SPEECH_WORDS) == 20 and "say_seven" in bank.labels and "say_good_morning" in bank.labels
    assert bank.query_text("say_seven") == "someone saying 'seven'"
    a = bank.render("say_seven", np.random.default_rng(3), 16000, 2.0)
    hits = speak.cache_info().hits
    b = bank.render("say_seven", np.random.default_rng(3), 16000, 2.0)
    assert np.array_equal(a, b) and speak.cache_info().hits == hits + 1  # the second came from the cache
    b[:] = 0  # what a bank returns is the caller's: the cached waveform is untouched
    assert np.array_equal(bank.render("say_seven", np.random.default_rng(3), 16000, 2.0), a)
    others = [bank.render("say_seven", np.random.default_rng(s), 16000, 2.0) for s in range(4, 8)]
    assert any(len(o) != len(a) or not np.array_equal(o, a) for o in others)  # voices differ


@needs_espeak
@pytest.mark.parametrize(("label", "lo", "hi"), [("say_seven", 0.2, 1.2), ("say_call_me_back", 0.5, 2.0)])
def test_spoken_word_is_non_silent_and_about_word_length(label: str, lo: float, hi: float) -> None:
    for seed in range(3):
        x = SpeechBank().render(label, np.random.default_rng(seed), 16000, 5.0)
        assert lo <= len(x) / 16000 <= hi
        assert np.sqrt(np.mean(x**2)) > 0.01 and np.all(np.isfinite(x))


@needs_espeak
def test_too_long_speech_is_spoken_faster_then_cropped() -> None:
    bank = SpeechBank()
    slow = bank.render("say_see_you_later", np.random.default_rng(0), 16000, 5.0)
    short = bank.render("say_see_you_later", np.random.default_rng(0), 16000, 0.6 * len(slow) / 16000)
    assert len(short) <= round(0.6 * len(slow)) + 1


@needs_espeak
def test_telephone_speech_has_no_energy_above_the_band() -> None:
    def high(p: float) -> float:
        x = SpeechBank(telephone_p=p).render("say_six", np.random.default_rng(1), 16000, 2.0)
        power = np.abs(np.fft.rfft(x)) ** 2
        return float(power[np.fft.rfftfreq(len(x), 1 / 16000) > 4500].sum() / power.sum())

    assert high(1.0) < 0.01 * high(0.0)
    assert get_bank("speech:telephone=1").name == "speech:telephone=1"


def test_speech_without_espeak_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DataError, match="espeak-ng is not installed"):
        make_scenes(
            ProceduralBank(), 1, tmp_path / "o", options=SceneOptions(background="babble"), progress=False
        )
    assert not (tmp_path / "o").exists()
    with pytest.raises(
        DataError, match=r"espeak-ng is not installed \(Debian/Ubuntu: apt-get install espeak-ng\)"
    ):
        SpeechBank()


@needs_espeak
def test_mixed_bank_dispatches_and_refuses_collisions() -> None:
    mixed = get_bank("procedural+speech")
    assert isinstance(mixed, MixedBank) and mixed.name == "procedural+speech"
    assert (
        mixed.query_text("bell") == "a bell ringing" and mixed.query_text("say_two") == "someone saying 'two'"
    )
    with pytest.raises(DataError, match="both have label 'tone'"):
        MixedBank([ProceduralBank(), ProceduralBank()])
    with pytest.raises(DataError, match="empty part"):
        get_bank("procedural+")
    scene, _ = make_scene(
        mixed, np.random.default_rng(0), "s", n_events=6, duration_s=12.0, sample_rate=SR,
        options=SceneOptions(placement="free", level_db=(-6, 6), background="babble", event_s=(0.5, 1.5)),
    )  # fmt: skip
    assert all(e.query == mixed.query_text(e.label) for e in scene.events)


# ---- manifest --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def realistic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Scene]]:
    out = tmp_path_factory.mktemp("realistic")
    options = SceneOptions(placement="free", max_overlap=0.3, level_db=(-10, 10), background="pink")
    scenes = make_scenes(
        ProceduralBank(),
        3,
        out,
        n_events=3,
        duration_s=8.0,
        seed=2,
        sample_rate=SR,
        progress=False,
        options=options,
    )
    return out, scenes


def test_manifest_round_trips_the_new_fields(realistic: tuple[Path, list[Scene]]) -> None:
    out, scenes = realistic
    loaded = load_manifest(out)
    assert [s.to_dict() for s in loaded] == [s.to_dict() for s in scenes]
    for s in loaded:
        assert s.placement == "free" and s.max_overlap == 0.3 and s.background == "pink"
        assert s.background_db is not None and -30 <= s.background_db <= -20
        assert all(e.level_db is not None for e in s.events)


def test_old_manifest_without_the_new_fields_loads(realistic: tuple[Path, list[Scene]]) -> None:
    out, _ = realistic
    row = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    for key in ("placement", "max_overlap", "background", "background_db", "gain_db"):
        del row[key]
    for e in row["events"]:
        del e["level_db"]
    # an old manifest refuses overlaps: spread the events apart
    row["events"] = [
        {**e, "onset_s": 2.5 * k, "offset_s": 2.5 * k + 1, "active": [2.5 * k, 2.5 * k + 1]}
        for k, e in enumerate(row["events"])
    ]
    path = out / "old.jsonl"
    path.write_text(json.dumps(row) + "\n")
    scene = load_manifest(path)[0]
    assert scene.background is None and scene.placement is None and scene.events[0].level_db is None


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r.update(background="rain"), "field 'background' must be one of"),
        (lambda r: r.update(placement=3), "field 'placement' must be a string"),
        (lambda r: r.update(max_overlap=1.5), r"'max_overlap' must be in \[0, 1\)"),
        (lambda r: r.update(background_db="loud"), "'background_db' must be a finite number"),
        (lambda r: r["events"][0].update(level_db="-3"), "'level_db' must be a finite number"),
    ],
)
def test_new_manifest_fields_are_validated(realistic: tuple[Path, list[Scene]], edit, message: str) -> None:
    out, _ = realistic
    row = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    edit(row)
    path = out / "bad.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(DataError, match=message):
        load_manifest(path)


def test_manifest_refuses_more_overlap_than_recorded(realistic: tuple[Path, list[Scene]]) -> None:
    out, _ = realistic
    row = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    first = row["events"][0]
    row["events"][1].update(onset_s=first["onset_s"], offset_s=first["offset_s"], active=first["active"])
    path = out / "overlap.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(DataError, match=r"overlaps others by 1.000 of its length, more than max_overlap=0.3"):
        load_manifest(path)
    row["max_overlap"] = 0.0  # no overlap allowed: the original check and message
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(DataError, match="overlapping ground truth"):
        load_manifest(path)


# ---- Debian recordings ----------------------------------------------------------------------------

needs_asterisk = pytest.mark.skipif(
    not ASTERISK_DIGITS.is_dir(), reason="Debian package asterisk-core-sounds-en-wav is not installed"
)
needs_freedesktop = pytest.mark.skipif(
    not FREEDESKTOP_DIR.is_dir(), reason="Debian package sound-theme-freedesktop is not installed"
)


@needs_espeak
@needs_asterisk
def test_asterisk_words_share_the_speech_banks_labels_and_queries() -> None:
    bank = get_bank("asterisk-words")
    speech = SpeechBank(phrases=())
    assert isinstance(bank, AsteriskWordsBank) and bank.labels == speech.labels
    assert all(bank.query_text(label) == speech.query_text(label) for label in bank.labels)
    assert bank.files["say_sunday"][0].name == "day-0.wav" and bank.files["say_seven"][0].name == "7.wav"
    x = bank.render("say_seven", np.random.default_rng(0), 16000, 3.0)
    assert 0.2 < len(x) / 16000 < 1.5 and np.sqrt(np.mean(x**2)) > 0.01


@needs_freedesktop
def test_freedesktop_bank_labels_are_file_stems() -> None:
    bank = get_bank("freedesktop")
    assert isinstance(bank, FreedesktopBank) and "phone-incoming-call" in bank.labels
    assert bank.query_text("phone-incoming-call") == "phone incoming call"
    x = bank.render("phone-incoming-call", np.random.default_rng(0), SR, 2.0)
    assert 0 < len(x) <= 2 * SR and np.max(np.abs(x)) > 0.01


@needs_freedesktop
def test_every_freedesktop_sound_renders_even_under_a_tenth_of_a_second() -> None:
    """The theme's shortest sounds (audio-volume-change, 67 ms) are scene material, not a clip for a model:
    the 0.1-s floor of model input once made every freedesktop scene set fail (seeds 8, 206, ...)."""
    bank = get_bank("freedesktop")
    for label in bank.labels:
        x = bank.render(label, np.random.default_rng(0), 16000, 3.0)
        assert 0 < len(x) <= 3 * 16000 and np.all(np.isfinite(x)), label
    assert len(bank.render("audio-volume-change", np.random.default_rng(0), 16000, 3.0)) < 1600


@needs_freedesktop
@pytest.mark.parametrize("seed", [8, 206, 1206])
def test_freedesktop_scene_sets_are_made(tmp_path: Path, seed: int) -> None:
    """The sets the README's freedesktop rows and the default protocol use: 3 real sounds per 10-s scene."""
    scenes = make_scenes(get_bank("freedesktop"), 20, tmp_path / "s", n_events=3, seed=seed, progress=False)
    assert len(scenes) == 20 and all(len(scene.events) == 3 for scene in scenes)


def test_missing_debian_packages_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="install the Debian package asterisk-core-sounds-en-wav"):
        AsteriskWordsBank(tmp_path / "none")
    with pytest.raises(DataError, match="install the Debian package sound-theme-freedesktop"):
        FreedesktopBank(tmp_path / "none")


# ---- command line ---------------------------------------------------------------------------------


@needs_espeak
def test_scenes_make_with_realistic_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scenes"
    code, _, err = run_cli(
        monkeypatch, capsys, "scenes", "make", "--out", out, "--n", "2", "--bank", "procedural+speech",
        "--placement", "free", "--max-overlap", "0.2", "--level-db", "-10,10", "--background", "babble",
        "--background-db", "-30,-25", "--event-s", "0.5,2", "--sample-rate", str(SR), "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    scenes = load_manifest(out)
    assert all(s.background == "babble" and s.max_overlap == 0.2 for s in scenes)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--placement", "grid"], "placement must be one of"),
        (["--level-db", "5"], "--level-db takes LO,HI"),
        (["--level-db", "a,b"], "cannot parse --level-db"),
        (["--background-db", "-80,-20"], "--background-db must lie within"),
        (["--max-overlap", "0.5"], "needs placement 'free'"),
        (["--max-overlap", "nan", "--placement", "free"], "--max-overlap must be a finite number"),
        (["--event-s", "3,1"], "--event-s takes LO,HI"),
        (["--placement", "free", "--event-s", "4,5"], "do not fit"),
        (["--background", "rain"], "background must be one of"),
        (["--bank", "speech:telephone=2"], "telephone= takes a probability"),
    ],
)
def test_scenes_make_bad_realism_options_are_one_line(
    tmp_path: Path,
    args: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "o"
    code, _, err = run_cli(monkeypatch, capsys, "scenes", "make", "--out", out, "--n", "2", *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("wheretolisten: error:"), err
    assert message in lines[0]
    assert not out.exists()


def test_subset_bank_keeps_only_the_named_labels_and_refuses_unknown_ones() -> None:
    from wheretolisten.errors import DataError
    from wheretolisten.scenes.bank_spec import get_bank

    bank = get_bank("procedural:labels=tone,bell")
    assert bank.labels == ["tone", "bell"] and bank.query_text("bell") == "a bell ringing"
    scene, _ = make_scene(
        bank,
        np.random.default_rng(0),
        "s",
        n_events=3,
        duration_s=30.0,
        repeats=3,
        options=SceneOptions(placement="free"),
    )
    assert {e.label for e in scene.events} <= {"tone", "bell"}
    with pytest.raises(DataError, match="no label 'dog'"):
        get_bank("procedural:labels=dog")
