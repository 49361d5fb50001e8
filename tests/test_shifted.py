"""Shift-averaged profiles (``--shifts``): alignment, averaging, settings and the shipped model's priors."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from helpers import noise, run_cli
from wheretolisten.detections import DetectConfig
from wheretolisten.engine import FullEngine, SharedEngine, ShiftedEngine, make_engine
from wheretolisten.engine.base import Engine, Rows
from wheretolisten.engine.shifted import shift_tokens
from wheretolisten.errors import OptionError
from wheretolisten.localize import LocalizeConfig, localize
from wheretolisten.long import localize_long
from wheretolisten.models import Adapter
from wheretolisten.organism import load_organism
from wheretolisten.scenes import ProceduralBank, SceneOptions, make_scene
from wheretolisten.scenes.banks import SubsetBank
from wheretolisten.session import Run
from wheretolisten.settings import MAX_SHIFTS, resolve
from wheretolisten.vectors import SteeringVector
from wheretolisten.windows import WindowConfig


def test_shift_tokens_are_evenly_spaced_whole_tokens() -> None:
    assert shift_tokens(160000, 16000, 0.04, 3) == [0, 83, 167]
    assert shift_tokens(160000, 16000, 0.04, 1) == [0]
    assert shift_tokens(96000, 16000, 0.04, 2) == [0, 75]


def test_shifts_are_checked_and_left_out_of_the_hash_when_one(adapter: Adapter) -> None:
    assert resolve(adapter).shifts == 1 and "shifts" not in resolve(adapter).to_json()
    assert resolve(adapter, LocalizeConfig(shifts=3)).to_json()["shifts"] == 3
    for bad in (0, MAX_SHIFTS + 1, 2.5, True, "3"):
        with pytest.raises(OptionError, match="shifts must be a whole number"):
            resolve(adapter, LocalizeConfig(shifts=bad))  # type: ignore[arg-type]


def test_one_shift_is_the_plain_engine(adapter: Adapter) -> None:
    engine = make_engine(adapter, noise(2.0), resolve(adapter))
    assert isinstance(engine, (SharedEngine, FullEngine)) and not isinstance(engine, ShiftedEngine)


def test_shifted_profiles_are_the_mean_of_the_rolled_copies_moved_back(adapter: Adapter) -> None:
    clip = noise(3.0, seed=11)
    cfg = resolve(adapter, LocalizeConfig(shifts=3, alpha=8.0))
    engine = make_engine(adapter, clip, cfg)
    assert isinstance(engine, ShiftedEngine) and engine.rolls[0] == 0 and len(set(engine.rolls)) == 3
    vector = engine.vectors(["a siren"], prompted=False).vectors[0]
    base, (steered,) = engine.profiles([vector])
    per_token = int(round(adapter.token_s * adapter.sample_rate))
    bases, rows = [], []
    for k in engine.rolls:
        plain = make_engine(
            adapter, np.roll(clip, k * per_token), resolve(adapter, LocalizeConfig(alpha=8.0))
        )
        b, (s,) = plain.profiles([vector])
        bases.append(np.roll(b, -k))
        rows.append(np.roll(s, -k))
    np.testing.assert_allclose(base, np.mean(bases, axis=0), atol=1e-7)
    np.testing.assert_allclose(steered, np.mean(rows, axis=0), atol=1e-7)
    assert np.abs(steered - base).max() > 1e-8
    zero_base, (zero,) = engine.profiles([vector], 0.0)
    np.testing.assert_array_equal(zero, zero_base)  # α = 0: Δ exactly zero, as unshifted


class _Heard(Engine):
    """A stand-in engine over a toy clip (one sample per audio token, one head): unsteered attention is
    uniform; steered attention "hears" the loud token and adds a spike at token 5, a position the vector
    prefers by itself."""

    name = "toy"

    def run_rows(self, rows: Rows) -> Run:
        heard = torch.from_numpy(np.abs(self.clip).astype(np.float64))
        spike = torch.zeros_like(heard)
        spike[5] = 20.0
        steered = [v is not None for v in (rows.vectors or [None] * len(rows.prompts))]
        rises = [10 * heard + spike if s else torch.zeros_like(heard) for s in steered]
        attention = torch.stack([1.0 + rise for rise in rises])[:, None, :]
        return Run({}, {layer: attention for layer in rows.probe_layers})


class _OneSamplePerToken:
    token_s, sample_rate = 1.0, 1

    def clip_audio_tokens(self, n_samples: int) -> None:
        return None


def test_a_position_the_vector_prefers_is_spread_and_what_is_heard_stays(adapter: Adapter) -> None:
    """The rolls are whole tokens: the toy's heard token (40) stays where it is while its spike at token 5
    is spread over the three rolls, so Δ's peak moves from 5 to 40."""
    clip = np.zeros(100, dtype=np.float32)
    clip[40] = 1.0
    cfg = resolve(adapter, LocalizeConfig(shifts=3))
    toy = _OneSamplePerToken()
    single = _Heard(toy, clip, cfg)  # type: ignore[arg-type]
    shifted = ShiftedEngine(toy, clip, cfg, lambda c, config: _Heard(toy, c, config))  # type: ignore[arg-type]
    assert shifted.rolls == [0, 33, 67]
    vector = SteeringVector({0: torch.ones(1)})
    for engine, peak in ((single, 5), (shifted, 40)):
        base, (steered,) = engine.profiles([vector])
        assert int(np.argmax(steered - base)) == peak
    base, (steered,) = shifted.profiles([vector])
    assert steered[40] == pytest.approx(11 / 130) and steered[5] == pytest.approx((1 + 20 / 3) / 130)


def test_cli_records_the_shifts_and_refuses_bad_ones_before_loading(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    audio = tmp_path / "clip.wav"
    sf.write(audio, noise(4.0, seed=3), 16000)
    code, _, err = run_cli(monkeypatch, capsys, "localize", audio, "-q", "a siren", "--shifts", "0")
    assert code == 2 and "shifts must be a whole number" in err and "Traceback" not in err
    out = tmp_path / "r.json"
    code, _, err = run_cli(
        monkeypatch, capsys, "localize", audio, "-q", "a siren", "--shifts", "2", "--json", out
    )
    assert code == 0, err
    assert json.loads(out.read_text())["config"]["shifts"] == 2


@pytest.mark.slow
def test_shifts_remove_the_shipped_models_preferred_positions() -> None:
    """Fresh single-event scenes (seeds no other test or set uses), every class but the hum the shipped
    model does not hear (0 of 24 with or without shifts, organism/README.md): three shifts find more."""
    organism = load_organism(device="cpu", dtype="float32")
    bank = ProceduralBank()
    labels = [label for label in bank.labels if label != "hum"]
    layout = SceneOptions(placement="free", level_db=(-20.0, 20.0), event_s=(1.0, 2.5))
    hits = {1: 0, 3: 0}
    n = 0
    for seed in range(9100, 9100 + 3 * len(labels)):
        one = SubsetBank(bank, [labels[seed % len(labels)]])
        scene, audio = make_scene(one, np.random.default_rng(seed), f"s{seed}", 1, seed=seed, options=layout)
        event = scene.target_event
        n += 1
        for shifts in hits:
            peak = localize(organism, audio, event.query, LocalizeConfig(shifts=shifts)).peak_s
            hits[shifts] += peak is not None and event.onset_s <= peak <= event.offset_s
    print(f"hits {hits} of {n}")
    assert hits[3] >= 0.9 * n and hits[3] > hits[1], (hits, n)


def test_batched_windows_with_shifts_give_the_one_by_one_results(
    adapters: dict[str, Adapter], tmp_path: Path, one_thread: None
) -> None:
    """A recording's windows with their shifted copies in one batch = the windows one by one, each a
    ShiftedEngine: the very detections and curves; the last window is shorter and runs alone."""
    adapter = adapters["qwen2-audio"]
    wav = tmp_path / "rec.wav"
    sig = noise(21.3, seed=9)
    sig[8 * 16000 : 9 * 16000] += np.sin(np.arange(16000) * 0.3).astype(np.float32)
    sf.write(wav, sig, 16000)
    config = LocalizeConfig(layers=[1], alpha=8.0, shifts=3)
    windows, detection = WindowConfig(segment_s=6.0, overlap_s=1.0), DetectConfig(min_score=0.0)

    queries = ["a siren", "a dog"]
    run = partial(localize_long, adapter, wav, queries, config, windows=windows, detection=detection)
    one_by_one, batched = run(batch_windows=1), run(batch_windows=None)
    assert len(one_by_one[0].windows) == 5
    for seq, bat in zip(one_by_one, batched, strict=True):
        assert bat.detections == seq.detections
        np.testing.assert_allclose(bat.score, seq.score, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(bat.profile.base, seq.profile.base, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(bat.profile.steered, seq.profile.steered, rtol=1e-5, atol=1e-7)
    unshifted = localize_long(
        adapter, wav, ["a siren"], LocalizeConfig(layers=[1], alpha=8.0), windows=windows
    )
    assert np.abs(unshifted[0].profile.steered - batched[0].profile.steered).max() > 1e-6


def test_copies_are_made_only_for_profiles_and_the_prompted_rows_are_averaged(adapter: Adapter) -> None:
    """Building vectors alone runs the clip as it is (no shifted prefix); the vector pass's prompted rows,
    which the tuner reads, are the shift-averaged ones that ``attention`` gives."""
    clip = noise(3.0, seed=12)
    cfg = resolve(adapter, LocalizeConfig(shifts=3))
    engine = make_engine(adapter, clip, cfg)
    assert isinstance(engine, ShiftedEngine)
    vector = engine.vectors(["a siren"], prompted=False).vectors[0]
    assert engine._copies[1:] == [None, None]
    plain = make_engine(adapter, clip, resolve(adapter))
    unshifted = plain.vectors(["a siren"], prompted=False).vectors[0]
    for layer in vector.layers:
        torch.testing.assert_close(vector.directions[layer], unshifted.directions[layer])
    found = engine.vectors(["a siren"])
    first = cfg.instructed_templates[0].format(query="a siren")
    base, prompted = engine.attention([cfg.prompt, first])
    np.testing.assert_allclose(found.prompted_base, base, atol=1e-9)
    np.testing.assert_allclose(found.prompted[0], prompted, atol=1e-9)
    assert np.abs(found.prompted[0] - plain.attention([first])[0]).max() > 1e-9  # not the clip's alone
