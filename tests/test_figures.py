"""Figures: what they draw (artists checked, not pixels), determinism, imports, CLI --plot and plot-layers."""

from __future__ import annotations

import ast
import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from helpers import CORE_FAMILIES, SR, noise, run_cli
from wheretolisten import figures
from wheretolisten.errors import DataError, WTLError
from wheretolisten.localize import (
    LocalizeConfig,
    LocalizeResult,
    alpha_sweep,
    layer_delta,
    localize,
    localize_many,
)
from wheretolisten.models import Adapter
from wheretolisten.scenes import ProceduralBank, lookup, make_scenes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GT = [("siren", 1.0, 2.0), ("knock", 2.5, 3.2)]
FIGURES_DIR = Path(figures.__file__).parent
#: What figures must never import: they draw what they are given and never run a model.
MODEL_CODE = {"steering", "probe", "session", "engine", "localize", "models"}

FAMILIES = CORE_FAMILIES


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def marks(fig: Any, gid: str) -> list[Any]:
    """The artists of a figure with this gid (``"<axes label>:<what>"``)."""
    return list(fig.findobj(lambda artist: artist.get_gid() == gid))


def one(fig: Any, gid: str) -> Any:
    found = marks(fig, gid)
    assert len(found) == 1, (gid, found)
    return found[0]


def span_x(patch: Any) -> tuple[float, float]:
    """(left, right) in data units of an axvspan, whichever patch type this matplotlib makes."""
    xs = patch.get_patch_transform().transform(patch.get_path().vertices)[:, 0]
    return float(xs.min()), float(xs.max())


def legend_texts(fig: Any) -> list[str]:
    return [text.get_text() for legend in fig.legends for text in legend.get_texts()]


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return noise(4.0, seed=5)


@pytest.fixture(scope="module")
def results(adapters: dict[str, Adapter], clip: np.ndarray) -> dict[str, LocalizeResult]:
    """One steered localization per family (α large enough that Δ is not flat)."""
    cfg = LocalizeConfig(alpha=8.0, layers=[1])
    return {family: localize(a, clip, "a siren", cfg) for family, a in adapters.items()}


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports (relative imports resolved), including under TYPE_CHECKING."""
    package = ["wheretolisten", *path.relative_to(FIGURES_DIR.parent).parent.parts]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_figures_never_import_model_code() -> None:
    sources = sorted(FIGURES_DIR.glob("*.py"))
    assert {p.name for p in sources} >= {"style.py", "signal.py", "localization.py", "layers.py", "panels.py"}
    for path in sources:
        for module in imported_modules(path):
            parts = module.split(".")
            bad = parts[0] == "wheretolisten" and len(parts) > 1 and parts[1] in MODEL_CODE
            assert not bad, f"{path.name} imports {module}"
    # the checker itself sees relative, absolute and from-package imports
    probe = FIGURES_DIR / "style.py"
    assert "wheretolisten.files.atomic_path" in imported_modules(probe)


def test_log_mel_is_the_whisper_front_end() -> None:
    """The figure's log-mel is what Whisper's feature extractor gives the encoder (before its rescaling)."""
    from transformers import WhisperFeatureExtractor
    from transformers.audio_utils import hertz_to_mel, mel_to_hertz

    t = np.arange(SR) / SR
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32) + noise(1.0, seed=1, amplitude=0.01)
    spec = figures.log_mel(tone, SR)
    whisper = WhisperFeatureExtractor(feature_size=128)._np_extract_fbank_features(tone[None], "cpu")[0]
    assert spec.log10.shape == whisper.shape == (128, 100) and spec.hop_s == 0.01
    np.testing.assert_allclose(spec.log10, 4.0 * whisper - 4.0, atol=1e-4)  # Whisper scales (x + 4) / 4
    pure = figures.log_mel(np.sin(2 * np.pi * 1000 * t).astype(np.float32), SR).log10
    assert pure.min() == pytest.approx(pure.max() - 8.0)  # Whisper's floor: 8 log10 units below the max
    top = float(hertz_to_mel(8000.0, mel_scale="slaney"))
    centres = mel_to_hertz(np.linspace(0.0, top, 130), mel_scale="slaney")[1:-1]
    assert abs(centres[int(np.argmax(spec.log10[:, 50]))] - 1000) < 60
    # another rate is resampled to 16 kHz first: the frames are the model's
    assert figures.log_mel(tone[::2], 8000).log10.shape == (128, 100)


def test_format_layers_and_query_matching() -> None:
    assert figures.format_layers([8, 9, 10, 12]) == "8–10, 12"
    assert figures.format_layers([3]) == "3"
    assert figures.is_queried("siren", "a siren") and not figures.is_queried("knock", "a siren")


def test_localization_figure_draws_the_result(results: dict[str, LocalizeResult], clip: np.ndarray) -> None:
    result = results["audioflamingo3"]
    assert result.peak_s is not None and result.interval_s is not None
    fig = figures.draw_localization(result, clip, SR, gt=GT)
    assert [ax.get_label() for ax in fig.axes if ax.get_label() != "<colorbar>"] == [
        "waveform", "log-mel", "attention", "delta",
    ]  # fmt: skip
    for panel in ("waveform", "log-mel", "attention", "delta"):
        assert list(one(fig, f"{panel}:peak").get_xdata()) == [result.peak_s, result.peak_s]
    for panel in ("attention", "delta"):
        assert span_x(one(fig, f"{panel}:interval")) == pytest.approx(result.interval_s)
        for i, (_, onset, offset) in enumerate(GT):
            assert span_x(one(fig, f"{panel}:gt{i}")) == pytest.approx((onset, offset))
    assert not marks(fig, "waveform:interval")  # the band is drawn on the curves, not over the signal
    prof = result.profile
    centres = prof.time_s + (prof.time_s[1] - prof.time_s[0]) / 2
    delta = one(fig, "delta:delta")
    np.testing.assert_allclose(delta.get_xdata(), centres)
    np.testing.assert_allclose(delta.get_ydata(), prof.delta)
    np.testing.assert_allclose(one(fig, "attention:base").get_ydata(), prof.base)
    np.testing.assert_allclose(one(fig, "attention:steered").get_ydata(), prof.steered)
    assert [one(fig, f"waveform:gt{i}-label").get_text() for i in range(2)] == ["siren", "knock"]
    assert [one(fig, f"log-mel:gt1-{end}").get_xdata()[0] for end in ("onset", "offset")] == [2.5, 3.2]
    image = one(fig, "log-mel:log-mel").get_array()
    np.testing.assert_allclose(image, figures.log_mel(clip, SR).log10)
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1 and "log10" in bars[0].get_ylabel()
    texts = legend_texts(fig)
    assert "ground truth (queried)" in texts and "other events" in texts and "predicted interval" in texts
    assert fig.axes[-1].get_xlim() == pytest.approx((0.0, 4.0))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_localization_png_is_deterministic(
    tmp_path: Path, results: dict[str, LocalizeResult], clip: np.ndarray, family: str
) -> None:
    result = results[family]
    a = figures.plot_localization(result, clip, SR, tmp_path / "a.png", gt=GT)
    b = figures.plot_localization(result, clip, SR, tmp_path / "b.png", gt=GT)
    assert a.read_bytes()[:8] == PNG_SIGNATURE and a.read_bytes() == b.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]  # no temp files left
    title = figures.localization_title(figures.LocalizationView.of(result))
    assert "a siren" in title and "layers 1" in title and "α = 8" in title


def test_localization_svg_and_pdf(
    tmp_path: Path, results: dict[str, LocalizeResult], clip: np.ndarray
) -> None:
    result = results["audioflamingo3"]
    for suffix, head in ((".svg", b"<?xml"), (".pdf", b"%PDF-")):
        a = figures.plot_localization(result, clip, SR, tmp_path / f"a{suffix}", gt=GT).read_bytes()
        b = figures.plot_localization(result, clip, SR, tmp_path / f"b{suffix}", gt=GT).read_bytes()
        assert a.startswith(head) and a == b, suffix
    assert b"<svg" in (tmp_path / "a.svg").read_bytes()


def test_localization_from_json_and_flat_delta(
    tmp_path: Path, adapters: dict[str, Adapter], results: dict[str, LocalizeResult], clip: np.ndarray
) -> None:
    data = json.loads(json.dumps(results["qwen2-audio"].to_json()))
    fig = figures.draw_localization(data, clip, SR)
    np.testing.assert_allclose(one(fig, "delta:delta").get_ydata(), data["profile"]["delta"])
    assert not marks(fig, "delta:gt0") and "other events" not in legend_texts(fig)
    flat = localize(adapters["qwen2-audio"], clip, "x", LocalizeConfig(alpha=0.0, layers=[1]))
    assert flat.peak_s is None
    assert "no peak" in figures.localization_title(figures.LocalizationView.of(flat))
    fig = figures.draw_localization(flat, clip, SR)
    assert not marks(fig, "delta:peak") and not marks(fig, "delta:interval")
    assert "predicted peak" not in legend_texts(fig)
    with pytest.raises(DataError):
        figures.LocalizationView.of({"query": "x"})


def test_several_queries_in_one_figure(
    tmp_path: Path,
    adapters: dict[str, Adapter],
    clip: np.ndarray,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tiny_dirs: dict[str, Path],
) -> None:
    many = localize_many(adapters["qwen2-audio"], clip, ["a siren", "a knock"], LocalizeConfig(alpha=8.0))
    fig = figures.draw_queries(many.results, clip, SR, gt=GT)
    for i, result in enumerate(many.results, start=1):
        ax = next(ax for ax in fig.axes if ax.get_label() == f"delta{i}")
        assert result.query in ax.get_ylabel()
        if result.peak_s is not None:
            assert one(fig, f"delta{i}:peak").get_xdata()[0] == result.peak_s
            assert one(fig, f"log-mel:peak{i}").get_xdata()[0] == result.peak_s
    # the panel's own event is green, the other grey
    assert one(fig, "delta1:gt0").get_facecolor() != one(fig, "delta1:gt1").get_facecolor()
    assert one(fig, "delta2:gt1").get_facecolor() == one(fig, "delta1:gt0").get_facecolor()
    a = figures.plot_queries(many.results, clip, SR, tmp_path / "a.png", gt=GT)
    b = figures.plot_queries(many.results, clip, SR, tmp_path / "b.png", gt=GT)
    assert a.read_bytes() == b.read_bytes()
    with pytest.raises(ValueError, match="at least one"):
        figures.draw_queries([], clip, SR)
    # The CLI draws every query of one call into the one --plot file: one Δ panel each.
    wav = tmp_path / "clip.wav"
    sf.write(wav, clip, SR)
    code, stdout, err = run_cli(
        monkeypatch, capsys, "localize", wav, "-q", "a siren", "-q", "a knock", "-q", "a bell",
        "--model", tiny_dirs["qwen2-audio"], "--device", "cpu", "--plot", tmp_path / "all.svg",
    )  # fmt: skip
    assert code == 0, err
    assert f"wrote {tmp_path / 'all.svg'}" in stdout and not list(tmp_path.glob("all.*.svg"))
    svg = (tmp_path / "all.svg").read_text(encoding="utf-8")
    assert all(f'id="delta{i}:delta-smoothed"' in svg for i in (1, 2, 3)) and "delta4:" not in svg


def test_unknown_suffix_is_a_user_error(results: dict[str, LocalizeResult], clip: np.ndarray) -> None:
    with pytest.raises(WTLError, match="figure format"):
        figures.plot_localization(results["qwen2-audio"], clip, SR, "out.gif")


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
    fig = figures.draw_layer_delta(data, steer_layers=[1], gt=GT, query="a siren")
    image = one(fig, "layers:delta")
    np.testing.assert_array_equal(np.asarray(image.get_array()), data.matrix)
    limit = float(np.max(np.abs(data.matrix)))
    assert image.get_clim() == pytest.approx((-limit, limit))
    assert image.get_extent()[1] == pytest.approx(data.matrix.shape[1] * (data.time_s[1] - data.time_s[0]))
    assert list(one(fig, "layers:downstream").get_ydata()) == [1.5, 1.5]  # above layer 1: downstream
    ax = fig.axes[0]
    red = [t.get_text() for t in ax.get_yticklabels() if t.get_color() == figures.style.C_PEAK]
    assert red == ["1"]
    assert one(fig, "layers:gt0-onset").get_color() == figures.style.C_GT  # the queried siren
    assert one(fig, "layers:gt1-offset").get_color() == figures.style.C_OTHER
    a = figures.plot_layer_delta(data, tmp_path / "a.png", steer_layers=[1], gt=GT, query="a siren")
    b = figures.plot_layer_delta(data, tmp_path / "b.png", steer_layers=[1], gt=GT, query="a siren")
    assert a.read_bytes()[:8] == PNG_SIGNATURE and a.read_bytes() == b.read_bytes()


def test_alpha_sweep_draws_each_readout_and_says_what_it_is(
    tmp_path: Path, adapters: dict[str, Adapter], clip: np.ndarray
) -> None:
    config = LocalizeConfig(layers=[1])
    sweep = alpha_sweep(adapters["qwen2-audio"], clip, "a siren", [0.0, 2.0, 8.0], config)
    fig = figures.draw_alpha_sweep(sweep, gt=GT, query="a siren")
    np.testing.assert_array_equal(np.asarray(one(fig, "sweep:delta").get_array()), sweep.deltas)
    assert sweep.readouts[0].peak_s is None and not marks(fig, "sweep:peak0")
    for i in (1, 2):
        readout = sweep.readouts[i]
        assert readout.peak_s is not None and readout.interval_s is not None
        peak = one(fig, f"sweep:peak{i}")
        assert list(peak.get_xdata()) == [readout.peak_s] and list(peak.get_ydata()) == [i]
        interval = one(fig, f"sweep:interval{i}")
        assert list(interval.get_xdata()) == list(readout.interval_s) and list(interval.get_ydata()) == [i, i]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["0", "2", "8"]
    assert legend_texts(fig) == [
        "predicted peak at this α",
        "predicted interval at this α",
        "ground truth (queried): onset, offset",
        "other events: onset, offset",
    ]
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1 and bars[0].get_ylabel() == "Δ attention (steered − base)"
    assert legend_texts(figures.draw_alpha_sweep(sweep)) == legend_texts(fig)[:2]  # no GT, no GT entries
    a = figures.plot_alpha_sweep(sweep, tmp_path / "a.svg", gt=GT, query="a siren").read_bytes()
    assert a == figures.plot_alpha_sweep(sweep, tmp_path / "b.svg", gt=GT, query="a siren").read_bytes()
    assert "<!-- predicted peak at this α -->" in a.decode("utf-8")


def test_the_delta_image_starts_at_the_span_s_first_second(
    tmp_path: Path, adapters: dict[str, Adapter], clip: np.ndarray
) -> None:
    """With --start, the Δ image was drawn from 0 s under marks in the file's seconds (3 s apart)."""
    wav = tmp_path / "long.wav"
    sf.write(wav, np.concatenate([clip, clip]), 16000)
    sweep = alpha_sweep(
        adapters["qwen2-audio"], wav, "a siren", [2.0], LocalizeConfig(layers=[1]), span=(1.5, None)
    )
    extent = one(figures.draw_alpha_sweep(sweep), "sweep:delta").get_extent()
    assert sweep.time_s[0] == pytest.approx(1.5) and extent[0] == pytest.approx(1.5)
    assert extent[1] == pytest.approx(1.5 + sweep.deltas.shape[1] * (sweep.time_s[1] - sweep.time_s[0]))


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
    code, stdout, err = run_cli(monkeypatch, capsys, *args, "--layers", "1", "--plot", out, "--mkdir")
    assert code == 0, err
    assert "peak" in stdout and f"wrote {out}" in stdout
    svg = out.read_text(encoding="utf-8")
    assert svg.startswith("<?xml") and "<svg" in svg
    # the scene's events, found beside the wav without --gt-manifest, are drawn and labelled
    events = lookup.gt_from_scene(lookup.find_scene_for_audio(wav, scene_dir / "manifest.jsonl"))
    assert events
    for i, (label, _, _) in enumerate(events):
        for panel in ("waveform", "attention", "delta"):
            assert f'id="{panel}:gt{i}"' in svg, (panel, i)
        assert f'id="waveform:gt{i}-label"' in svg and f"<!-- {label} -->" in svg
    assert f'id="waveform:gt{len(events)}"' not in svg
    assert "<!-- other events -->" in svg or "<!-- ground truth (queried) -->" in svg


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


@pytest.mark.parametrize("command", ["plot-layers", "plot-alpha", "report"])
def test_the_drawing_commands_without_matplotlib_say_what_to_install(
    tmp_path: Path,
    tiny_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    """docs/figures.md: ``--plot``, ``plot-layers``, ``plot-alpha`` and ``report`` stop with one line."""
    wav = tmp_path / "a.wav"
    sf.write(wav, noise(2.0), SR)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    if command == "report":
        results = tmp_path / "r.jsonl"
        row = {"scene_id": "s", "query": "q", "condition": "random", "gt": [1.0, 2.0], "peak_s": 1.5}
        results.write_text(json.dumps({**row, "interval_s": [1.0, 2.0], "duration_s": 10.0}) + "\n")
        args: tuple[Any, ...] = (results, "--out", tmp_path / "r.html", "--no-progress")
    else:
        args = (wav, "-q", "x", "--model", tiny_dirs["qwen2-audio"], "--out", tmp_path / "o.png")
    code, _, err = run_cli(monkeypatch, capsys, command, *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "matplotlib" in lines[0] and "wheretolisten[plot]" in lines[0] and "Traceback" not in err
    assert not list(tmp_path.glob("o.png*")) and not (tmp_path / "r.html").exists()


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
    assert out.read_bytes()[:8] == PNG_SIGNATURE


def test_importing_and_plotting_leave_the_backend_alone(tmp_path: Path) -> None:
    """No pyplot, no backend switch, rcParams restored: checked in a fresh interpreter."""
    code = f"""
import sys
import wheretolisten.cli, wheretolisten.figures, wheretolisten.report
assert "matplotlib" not in sys.modules, "importing the package must not import matplotlib"
import matplotlib
before = matplotlib.rcParams.copy()  # copy() does not resolve the backend
from wheretolisten import figures
fig = figures.draw_sweep([{{"layers": [1], "alpha": 2.0, "hit_rate": 10.0}}])
figures.save_figure(fig, {str(tmp_path / "s.png")!r})
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
    assert all(png.read_bytes()[:8] == PNG_SIGNATURE for png in pngs)
    code, _, err = run_cli(monkeypatch, capsys, "demo", "--out-dir", tmp_path / "figs")  # were replaced
    assert code == 2 and "--overwrite" in err
    assert run_cli(monkeypatch, capsys, "demo", "--out-dir", tmp_path / "figs", "--overwrite")[0] == 0
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
    curves = summary.split("## Δ curves as detectors")[1].split("\n## ")[0]  # up to the next section
    assert "| steered | 3 |" in curves and "random" not in curves  # random rows carry no profile


def test_a_character_the_font_lacks_draws_without_a_warning() -> None:
    """An emoji in a query put matplotlib's two-line glyph warning on stderr."""
    import warnings

    from wheretolisten.figures.style import figure_bytes, new_figure

    fig = new_figure(3, 2)
    fig.add_subplot().set_title("чайник 🔔")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert figure_bytes(fig)[:8] == PNG_SIGNATURE
