"""Figures: localization (waveform, log-mel, attention, Δ), Δ per layer, CLI --plot and plot-layers."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import SR, noise, run_cli
from wheretolisten import plots
from wheretolisten.errors import DataError, WTLError
from wheretolisten.localize import LocalizeConfig, LocalizeResult, layer_delta, localize, localize_many
from wheretolisten.models import FAMILIES, Adapter
from wheretolisten.scenes import ProceduralBank, lookup, make_scenes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GT = [("siren", 1.0, 2.0), ("knock", 2.5, 3.2)]


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return noise(4.0, seed=5)


@pytest.fixture(scope="module")
def results(adapters: dict[str, Adapter], clip: np.ndarray) -> dict[str, LocalizeResult]:
    """One steered localization per family (α large enough that Δ is not flat)."""
    cfg = LocalizeConfig(alpha=8.0, layers=[1])
    return {family: localize(a, clip, "a siren", cfg) for family, a in adapters.items()}


def test_log_mel_puts_a_tone_in_the_right_band() -> None:
    t = np.arange(SR) / SR
    spec = plots.log_mel(np.sin(2 * np.pi * 1000 * t).astype(np.float32), SR, n_mels=64)
    assert spec.db.shape == (64, 101)
    assert spec.db.max() - spec.db.min() <= 60.0 + 1e-9
    peak_bin = int(np.argmax(spec.db[:, 50]))
    centres = plots.mel_to_hz(np.linspace(plots.hz_to_mel(0), plots.hz_to_mel(SR / 2), 66)[1:-1])
    assert abs(centres[peak_bin] - 1000) < 150
    fb = plots.mel_filterbank(SR, 512, 64)
    assert fb.shape == (64, 257) and np.all(fb.sum(axis=1) > 0) and fb.max() <= 1.0


def test_format_layers_and_query_matching() -> None:
    assert plots.format_layers([8, 9, 10, 12]) == "8–10, 12"
    assert plots.format_layers([3]) == "3"
    assert plots.is_queried("siren", "a siren") and not plots.is_queried("knock", "a siren")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_localization_png_is_deterministic(
    tmp_path: Path, results: dict[str, LocalizeResult], clip: np.ndarray, family: str
) -> None:
    result = results[family]
    a = plots.plot_localization(result, clip, SR, tmp_path / "a.png", gt=GT)
    b = plots.plot_localization(result, clip, SR, tmp_path / "b.png", gt=GT)
    assert png_size(a.read_bytes()) == (1000, 800)
    assert a.read_bytes() == b.read_bytes()
    title = plots.localization_title(plots.LocalizationView.of(result))
    assert "a siren" in title and "layers 1" in title and "α = 8" in title


def test_localization_svg_and_pdf(
    tmp_path: Path, results: dict[str, LocalizeResult], clip: np.ndarray
) -> None:
    result = results["audioflamingo3"]
    for suffix, head in ((".svg", b"<?xml"), (".pdf", b"%PDF-")):
        a = plots.plot_localization(result, clip, SR, tmp_path / f"a{suffix}", gt=GT).read_bytes()
        b = plots.plot_localization(result, clip, SR, tmp_path / f"b{suffix}", gt=GT).read_bytes()
        assert a.startswith(head) and a == b, suffix
    assert b"<svg" in (tmp_path / "a.svg").read_bytes()


def test_localization_from_json_and_flat_delta(
    tmp_path: Path, adapters: dict[str, Adapter], results: dict[str, LocalizeResult], clip: np.ndarray
) -> None:
    data = json.loads(json.dumps(results["qwen2-audio"].to_json()))
    out = plots.plot_localization(data, clip, SR, tmp_path / "j.png")
    assert png_size(out.read_bytes()) == (1000, 800)
    flat = localize(adapters["qwen2-audio"], clip, "x", LocalizeConfig(alpha=0.0, layers=[1]))
    assert flat.peak_s is None
    assert "no peak" in plots.localization_title(plots.LocalizationView.of(flat))
    plots.plot_localization(flat, clip, SR, tmp_path / "flat.png")
    with pytest.raises(DataError):
        plots.LocalizationView.of({"query": "x"})


def test_several_queries_in_one_figure(
    tmp_path: Path,
    adapters: dict[str, Adapter],
    clip: np.ndarray,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tiny_dirs: dict[str, Path],
) -> None:
    many = localize_many(adapters["qwen2-audio"], clip, ["a siren", "a knock"], LocalizeConfig(alpha=8.0))
    a = plots.plot_queries(many.results, clip, SR, tmp_path / "a.png", gt=GT)
    b = plots.plot_queries(many.results, clip, SR, tmp_path / "b.png", gt=GT)
    assert a.read_bytes() == b.read_bytes() and png_size(a.read_bytes()) == (1000, 560)
    with pytest.raises(ValueError, match="at least one"):
        plots.draw_queries([], clip, SR)
    # The CLI draws every query of one call into the one --plot file.
    wav = tmp_path / "clip.wav"
    sf.write(wav, clip, SR)
    code, stdout, err = run_cli(
        monkeypatch, capsys, "localize", wav, "-q", "a siren", "-q", "a knock", "-q", "a bell",
        "--model", tiny_dirs["qwen2-audio"], "--device", "cpu", "--plot", tmp_path / "all.png",
    )  # fmt: skip
    assert code == 0, err
    assert f"wrote {tmp_path / 'all.png'}" in stdout and not list(tmp_path.glob("all.*.png"))
    assert png_size((tmp_path / "all.png").read_bytes()) == (1000, 690)


def test_unknown_suffix_is_a_user_error(results: dict[str, LocalizeResult], clip: np.ndarray) -> None:
    with pytest.raises(WTLError, match="figure format"):
        plots.plot_localization(results["qwen2-audio"], clip, SR, "out.gif")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_layer_delta_matches_localize_and_draws(
    tmp_path: Path,
    adapters: dict[str, Adapter],
    results: dict[str, LocalizeResult],
    clip: np.ndarray,
    family: str,
) -> None:
    adapter, result = adapters[family], results[family]
    data = layer_delta(adapter, clip, "a siren", result.config, vector=result.vector)
    assert data.layers == list(range(adapter.num_layers))
    assert data.matrix.shape == (adapter.num_layers, result.profile.delta.size)
    np.testing.assert_allclose(data.time_s, result.profile.time_s)
    # layers up to the steered one read the unsteered residual stream
    np.testing.assert_array_equal(data.matrix[: min(result.config.layers or [0]) + 1], 0.0)
    probe = [data.layers.index(layer) for layer in result.config.probe_layers or []]
    np.testing.assert_allclose(data.matrix[probe].mean(axis=0), result.profile.delta, atol=1e-9)
    a = plots.plot_layer_delta(data, tmp_path / "a.png", steer_layers=[1], gt=GT, query="a siren")
    b = plots.plot_layer_delta(data, tmp_path / "b.png", steer_layers=[1], gt=GT, query="a siren")
    assert png_size(a.read_bytes())[0] == 1000 and a.read_bytes() == b.read_bytes()


@pytest.fixture(scope="module")
def scene_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plot_scenes")
    make_scenes(ProceduralBank(), 2, out, duration_s=4.0, seed=3, progress=False)
    return out


def test_gt_for_scene_wavs(scene_dir: Path, tmp_path: Path) -> None:
    wav = scene_dir / "audio" / "scene_00001.wav"
    auto = lookup.gt_for_audio(wav)
    assert len(auto) == 3 and auto == lookup.gt_for_audio(wav, scene_dir / "manifest.jsonl")
    other = tmp_path / "other.wav"
    sf.write(other, noise(1.0), SR)
    assert lookup.gt_for_audio(other) == []
    with pytest.raises(DataError, match="not one of the scenes"):
        lookup.gt_for_audio(other, scene_dir)


def test_cli_localize_plot_with_scene_ground_truth(
    scene_dir: Path,
    tmp_path: Path,
    tiny_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wav = scene_dir / "audio" / "scene_00000.wav"
    out = tmp_path / "fig" / "loc.svg"
    args = ("localize", wav, "-q", "a siren", "--model", tiny_dirs["audioflamingo3"], "--alpha", "8")
    code, stdout, err = run_cli(monkeypatch, capsys, *args, "--layers", "1", "--plot", out)
    assert code == 0, err
    assert "peak" in stdout and f"wrote {out}" in stdout
    svg = out.read_bytes()
    assert svg.startswith(b"<?xml") and b"<svg" in svg


def test_cli_plot_errors_are_one_line(
    scene_dir: Path,
    tmp_path: Path,
    tiny_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wav = tmp_path / "a.wav"
    sf.write(wav, noise(2.0), SR)
    model = ("--model", tiny_dirs["qwen2-audio"])
    cases = [
        (["--plot", tmp_path / "x.gif"], "figure format"),
        (["--plot", tmp_path / "x.png", "--gt-manifest", scene_dir], "not one of the scenes"),
        (["--gt-manifest", scene_dir], "only matters with --plot"),
    ]
    for extra, message in cases:
        code, _, err = run_cli(monkeypatch, capsys, "localize", wav, "-q", "x", *model, *extra)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and message in lines[0], (extra, err)


def test_cli_plot_without_matplotlib(
    tmp_path: Path,
    tiny_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wav = tmp_path / "a.wav"
    sf.write(wav, noise(2.0), SR)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "localize",
        wav,
        "-q",
        "x",
        "--model",
        tiny_dirs["qwen2-audio"],
        "--plot",
        "o.png",
    )
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert "matplotlib" in lines[0] and "wheretolisten[plot]" in lines[0] and "Traceback" not in err


def test_cli_plot_layers(
    scene_dir: Path,
    tmp_path: Path,
    tiny_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wav = scene_dir / "audio" / "scene_00001.wav"
    out = tmp_path / "layers.png"
    code, stdout, err = run_cli(
        monkeypatch, capsys, "plot-layers", wav, "-q", "knocking", "--model", tiny_dirs["qwen2-audio"],
        "--layers", "1", "--alpha", "8", "--out", out,
    )  # fmt: skip
    assert code == 0, err
    assert "4 layers" in stdout
    assert png_size(out.read_bytes())[0] == 1000


def test_importing_and_plotting_leave_the_backend_alone(tmp_path: Path) -> None:
    """No pyplot, no backend switch, rcParams restored: checked in a fresh interpreter."""
    code = f"""
import sys
import wheretolisten.cli, wheretolisten.plots, wheretolisten.report
assert "matplotlib" not in sys.modules, "importing the package must not import matplotlib"
import matplotlib
before = matplotlib.rcParams.copy()  # copy() does not resolve the backend
from wheretolisten import plots
fig = plots.draw_sweep([{{"layers": [1], "alpha": 2.0, "hit_rate": 10.0}}])
plots.save_figure(fig, {str(tmp_path / "s.png")!r})
assert "matplotlib.pyplot" not in sys.modules
assert matplotlib.rcParams.copy() == before
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_figures_and_report_on_the_shipped_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # No --model: the organism. The demo draws one localization figure per event, and all three in one.
    code, stdout, err = run_cli(monkeypatch, capsys, "demo", "--out-dir", tmp_path / "figs")
    assert code == 0, err
    assert "events localized" in stdout
    pngs = sorted((tmp_path / "figs").glob("demo_*.png"))
    names = ["demo_0_tone.png", "demo_1_bell.png", "demo_2_chirp.png", "demo_all.png"]
    assert [p.name for p in pngs] == names
    assert png_size((tmp_path / "figs" / "demo_all.png").read_bytes()) == (1000, 690)
    for png in pngs:
        width, height = png_size(png.read_bytes())
        assert width >= 800 and height >= 600
    scenes = tmp_path / "scenes"
    assert run_cli(monkeypatch, capsys, "scenes", "make", "--out", scenes, "--n", "3")[0] == 0
    results = tmp_path / "results.jsonl"
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "bench",
        "run",
        scenes,
        "--conditions",
        "steered,random",
        "--save-profiles",
        "--out",
        results,
        "--no-progress",
    )
    assert code == 0, err
    html = tmp_path / "report.html"
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "report",
        results,
        "--scenes",
        scenes / "manifest.jsonl",
        "--out",
        html,
        "--no-progress",
    )
    assert code == 0, err
    text = html.read_text()
    assert "steered" in text and "data:image/png;base64," in text and 'src="http' not in text
    assert '<section id="curves">' in text
    code, summary, err = run_cli(monkeypatch, capsys, "bench", "summary", results)
    assert code == 0, err
    curves = summary.split("## Δ curves as detectors")[1]
    assert "| steered | 3 |" in curves and "random" not in curves  # random rows carry no profile
