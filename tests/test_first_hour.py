"""A new user's first hour: one answer by every route, honest help, a light install, every format read."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import tomllib

from helpers import SR, run_cli
from wheretolisten.audio import AUDIO_SUFFIXES
from wheretolisten.localize import LocalizeConfig, localize
from wheretolisten.models import Adapter
from wheretolisten.organism import default_model_path, load_organism
from wheretolisten.scenes import ProceduralBank, make_scene, scene_seed

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def organism() -> Adapter:
    return load_organism(device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A held-out scene of the shipped model's test stream, and its target's query."""
    seed = scene_seed(0, 7)
    scene, audio = make_scene(
        ProceduralBank(), np.random.default_rng(seed), "s", 3, 10.0, SR, target=1, seed=seed
    )
    path = tmp_path_factory.mktemp("first_hour") / "scene.wav"
    sf.write(path, audio, SR)
    return path, scene.target_event.query


def test_every_route_gives_the_same_answer(
    organism: Adapter,
    clip: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """API default, CLI default, a saved --vector and the default layers named explicitly agree."""
    wav, query = clip
    tuned = json.loads((default_model_path() / "wheretolisten.json").read_text())["localize"]
    api = localize(organism, wav, query)
    assert (api.config.layers, api.config.probe_layers, api.config.alpha) == (
        tuned["layers"],
        tuned["probe_layers"],
        tuned["alpha"],
    )

    def cli_peak(*extra: str | Path) -> float:
        out = tmp_path / "out.json"
        code, _, err = run_cli(monkeypatch, capsys, "localize", wav, "-q", query, "--json", out, *extra)
        assert code == 0, err
        return float(json.loads(out.read_text())["peak_s"])

    vector = tmp_path / "q.safetensors"
    assert cli_peak("--save-vector", vector) == api.peak_s
    assert cli_peak("--vector", vector) == api.peak_s
    layers = ",".join(map(str, tuned["layers"]))
    assert cli_peak("--layers", layers) == api.peak_s
    assert localize(organism, wav, query, LocalizeConfig(layers=tuned["layers"])).peak_s == api.peak_s


def test_times_are_rounded_to_the_microsecond(organism: Adapter, clip: tuple[Path, str]) -> None:
    result = localize(organism, clip[0], clip[1])
    assert result.peak_s is not None and result.interval_s is not None
    for t in (result.peak_s, *result.interval_s):
        assert round(t, 6) == t and len(repr(t)) <= 10, t


def test_a_span_of_a_longer_file_in_file_time(
    clip: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--start/--end pick a span the model accepts; times come back in the file's seconds."""
    wav, query = clip
    audio, _ = sf.read(wav, dtype="float32")
    longer = tmp_path / "longer.wav"
    sf.write(longer, np.concatenate([np.zeros(5 * SR, np.float32) + 1e-3, audio]), SR)
    out = tmp_path / "span.json"
    code, _, err = run_cli(
        monkeypatch, capsys, "localize", longer, "-q", query, "--start", "5", "--end", "15", "--json", out
    )
    assert code == 0, err
    span = json.loads(out.read_text())
    code, _, err = run_cli(
        monkeypatch, capsys, "localize", wav, "-q", query, "--json", tmp_path / "plain.json"
    )
    plain = json.loads((tmp_path / "plain.json").read_text())
    assert span["peak_s"] == pytest.approx(plain["peak_s"] + 5.0, abs=1e-6)
    assert span["profile"]["time_s"][0] == pytest.approx(5.0)


@pytest.mark.parametrize("suffix", [s for s in (".oga", ".ogg", ".flac", ".mp3") if s in AUDIO_SUFFIXES])
def test_every_listed_format_is_read(
    suffix: str,
    clip: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    audio, _ = sf.read(clip[0], dtype="float32")
    path = tmp_path / f"clip{suffix}"
    fmt = {".oga": "OGG", ".ogg": "OGG", ".flac": "FLAC", ".mp3": "MP3"}[suffix]
    sf.write(path, audio, SR, format=fmt)
    code, stdout, err = run_cli(monkeypatch, capsys, "localize", path, "-q", clip[1])
    assert code == 0, err
    assert "peak" in stdout


def _help(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run_cli(monkeypatch, capsys, *args, "--help")
    assert code == 0
    return out


def test_help_says_what_the_code_does(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from wheretolisten.cli.options import _check_defaults

    _check_defaults()  # the defaults the help texts name are the settings' own
    root = _help(monkeypatch, capsys)
    assert not re.search(r"--version\s+<bool>", root)
    loc = _help(monkeypatch, capsys, "localize")
    assert "{audio}" not in loc and "{AUDIO}..." in loc  # typer's notation for "one or more"
    assert "wheretolisten.json" not in loc and "--help-all" in loc  # --layers is behind --help-all
    everything = _help(monkeypatch, capsys, "localize", "--help-all")
    assert "wheretolisten.json" in everything  # the layers' default is the model's own, said so
    assert "cut into overlapping windows" in everything  # the whole description
    assert all(s.lstrip(".") in loc for s in AUDIO_SUFFIXES)  # the formats the loader reads
    assert "demo_all.png" in _help(monkeypatch, capsys, "demo")


@pytest.mark.parametrize("command", ["localize", "generate"])
def test_help_is_short_at_80_columns_and_help_all_has_everything(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from wheretolisten.cli.help import SHOWN

    monkeypatch.setenv("COLUMNS", "80")
    code, short, _ = run_cli(monkeypatch, capsys, command, "--help")
    assert code == 0 and len(short.splitlines()) <= 60, len(short.splitlines())
    assert all(len(line) <= 80 for line in short.splitlines())
    code, full, _ = run_cli(monkeypatch, capsys, command, "--help-all")
    assert code == 0 and len(full.splitlines()) > len(short.splitlines())
    for option in ("--layers", "--device", "--dtype"):
        assert option not in short and option in full
    for panel in ("What to find", "Steering", "Running"):
        assert panel in short and panel in full
    assert len(SHOWN[(command,)]) >= 5
    code, again, _ = run_cli(monkeypatch, capsys, command, "--help")
    assert again == short  # --help-all changed nothing for the next call


def test_the_core_install_is_light_and_leaves_setuptools_alone() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = [re.split(r"[<>=!~\[ ]", d)[0].lower() for d in project["dependencies"]]
    for heavy in (
        "setuptools",
        "sed_eval",
        "sed_scores_eval",
        "dcase_util",
        "tqdm",
        "pathlib",
        "librosa",
        "pandas",
    ):
        assert heavy not in core, heavy
    extras = project["optional-dependencies"]
    assert {"plot", "sed", "ray", "dev"} <= set(extras)
    # dev leaves setuptools alone: the pin dcase_util needs comes with the sed extra only
    dev = [re.split(r"[<>=!~\[ ;]", d)[0].lower() for d in extras["dev"]]
    assert "setuptools" not in dev and "sed_scores_eval" not in dev
    assert any(d.startswith("setuptools<") for d in extras["sed"])
