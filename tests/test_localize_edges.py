"""``localize --interval edges``: Δ's wide threshold interval, each edge on the audio's own onset or offset.

The rule is the one ``bench protocol``'s dev study chose (``readout.EDGES``); ``localize`` reads it from the
clip's level per token, and a long recording's level is stitched from its windows.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import soundfile as sf

from helpers import SR, run_cli, tones
from wheretolisten.intervals import energy_db
from wheretolisten.localize import LocalizeConfig, alpha_sweep, localize
from wheretolisten.long import localize_long
from wheretolisten.models import Adapter
from wheretolisten.organism import load_organism
from wheretolisten.readout import EDGES, apply_rule
from wheretolisten.settings import resolve
from wheretolisten.windows import WindowConfig

ROOT = Path(__file__).resolve().parent.parent
CFG = LocalizeConfig(alpha=8.0, layers=[1])


def test_edges_resolves_to_the_protocols_rule_with_its_own_fraction(adapter: Adapter) -> None:
    cfg = resolve(adapter, LocalizeConfig(interval="edges"))
    assert cfg.fraction == EDGES.fraction == 0.1
    assert cfg.readout == replace(EDGES, peak_smooth_s=cfg.smooth_s, smooth_s=cfg.smooth_s)
    assert resolve(adapter, LocalizeConfig(interval="edges", fraction=0.3)).readout.fraction == 0.3
    assert resolve(adapter, LocalizeConfig()).readout.interval == "threshold"
    assert resolve(adapter, LocalizeConfig()).fraction == 0.5


def test_edges_is_the_rule_the_second_stages_protocol_run_chose() -> None:
    """EDGES is the second stage's choice; the words stage's run chose other smoothing and margin (README)."""
    summary = json.loads((ROOT / "organism" / "stage2" / "protocol_summary.json").read_text())
    (steered,) = [row for row in summary["settings"] if row["condition"] == "steered"]
    assert steered["readout"] == EDGES.name
    summary = json.loads((ROOT / "organism" / "protocol_summary.json").read_text())
    (steered,) = [row for row in summary["settings"] if row["condition"] == "steered"]
    assert steered["readout"] == EDGES.name.replace("(s 0.2)", "(s 0.4)").replace("+6 dB", "+20 dB")


def test_localize_reads_edges_from_the_clips_level(adapter: Adapter) -> None:
    """One peak, two intervals: edges is the rule applied to the same profile and the clip's level."""
    clip = tones(8.0, [(2.0, 3.8), (5.5, 6.5)], seed=1)
    plain = localize(adapter, clip, "a siren", CFG, sample_rate=SR)
    edges = localize(adapter, clip, "a siren", replace(CFG, interval="edges"), sample_rate=SR)
    assert edges.peak_s == plain.peak_s and edges.config.fraction == 0.1
    n = edges.profile.base.size
    level = energy_db(clip, SR, adapter.token_s, n)
    expected = apply_rule(
        edges.config.readout, None, adapter.token_s, n, (edges.profile.base, edges.profile.steered), level
    )
    assert edges.readout == expected
    sweep = alpha_sweep(adapter, clip, "a siren", [0.0, 8.0], replace(CFG, interval="edges"), sample_rate=SR)
    assert sweep.readouts[1] == expected and sweep.readouts[0].peak_s is None


@pytest.fixture(scope="module")
def organism() -> Adapter:
    return load_organism(device="cpu", dtype="float32")


def test_the_shipped_model_puts_the_edges_on_the_tones(organism: Adapter) -> None:
    """A steady tone at 2.0–3.8 s in quiet: the threshold interval stops short, edges ends on the tone."""
    clip = tones(10.0, [(2.0, 3.8)], seed=2)
    plain = localize(organism, clip, "a steady tone", LocalizeConfig(interval="threshold"), sample_rate=SR)
    edges = localize(organism, clip, "a steady tone", sample_rate=SR)  # the shipped model's own interval
    assert edges.config.interval == "edges"
    assert plain.peak_s is not None and 2.0 <= plain.peak_s <= 3.8
    assert edges.interval_s is not None and plain.interval_s is not None
    assert edges.interval_s == pytest.approx((2.0, 3.8), abs=0.041)  # one token
    gap = abs(plain.interval_s[0] - 2.0) + abs(plain.interval_s[1] - 3.8)
    assert gap > abs(edges.interval_s[0] - 2.0) + abs(edges.interval_s[1] - 3.8)


def test_a_long_recordings_level_is_stitched_from_its_windows(adapter: Adapter, tmp_path: Path) -> None:
    """Overlapping windows and a short last one: the readout reads the whole file's level per token."""
    wav = tmp_path / "long.wav"
    audio = tones(23.0, [(4.0, 5.5), (11.0, 12.0), (18.2, 20.0)], seed=3)
    sf.write(wav, audio, SR)
    cfg = replace(CFG, interval="edges")
    (result,) = localize_long(adapter, wav, ["a siren"], cfg, windows=WindowConfig(10.0, 3.0))
    assert len(result.windows) > 2
    n = result.profile.base.size
    level = energy_db(audio, SR, adapter.token_s, n)
    profile = (result.profile.base, result.profile.steered)
    assert result.readout == apply_rule(result.config.readout, None, adapter.token_s, n, profile, level)


def test_cli_localize_interval_edges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wav, out = tmp_path / "clip.wav", tmp_path / "out.json"
    sf.write(wav, tones(10.0, [(2.0, 3.8)], seed=2), SR)
    args = ("localize", wav, "-q", "a steady tone", "--interval", "edges", "--json", out)
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    data = json.loads(out.read_text())
    assert data["config"]["interval"] == "edges" and data["config"]["fraction"] == 0.1
    assert data["interval_s"] == pytest.approx([2.0, 3.8], abs=0.041)


def test_bench_keeps_the_threshold_interval_unless_asked(organism: Adapter, tmp_path: Path) -> None:
    """The shipped model declares edges for ``localize``; ``bench`` conditions read the threshold interval
    (their committed results and config hashes), and read edges, with the scene's level, when asked."""
    from wheretolisten.bench import BenchConfig, run_unit
    from wheretolisten.localize import prepare_audio
    from wheretolisten.scenes import ProceduralBank, load_manifest, make_scenes

    assert resolve(organism).interval == "edges"
    make_scenes(ProceduralBank(), 1, tmp_path / "scenes", seed=3, progress=False)
    (scene,) = load_manifest(tmp_path / "scenes")
    default = BenchConfig().resolved(organism)
    assert default.loc.interval == "threshold" and default.loc.fraction == 0.5
    asked = BenchConfig(localize=LocalizeConfig(interval="edges"))
    (plain,) = run_unit(organism, scene, tmp_path / "scenes", ["steered"], BenchConfig())
    (row,) = run_unit(organism, scene, tmp_path / "scenes", ["steered"], asked)
    assert row["peak_s"] == plain["peak_s"]
    clip, _ = prepare_audio(organism, scene.audio_path(tmp_path / "scenes"))
    direct = localize(organism, clip, scene.target_event.query, sample_rate=organism.sample_rate)
    assert direct.config.interval == "edges"
    assert row["interval_s"] == pytest.approx(list(direct.interval_s), abs=1e-6)
