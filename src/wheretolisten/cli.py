"""Command line: ``wheretolisten localize | generate | plot-layers | report | demo | env | vector | …``

User errors (bad files, options, models) print one line on stderr and exit non-zero, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from .errors import WTLError

app = typer.Typer(
    help="Steer where a Large Audio-Language Model listens, and read out when a queried sound happens.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"wheretolisten {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Steer where a Large Audio-Language Model listens, and read out when a queried sound happens."""


scenes_app = typer.Typer(help="Synthesize controlled multi-event scenes.", no_args_is_help=True)
vector_app = typer.Typer(help="Build and inspect steering vectors.", no_args_is_help=True)
app.add_typer(scenes_app, name="scenes")
app.add_typer(vector_app, name="vector")

ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", help="Hub id or local directory (default: the small model shipped in the package)."
    ),
]
DeviceOpt = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N, mps.")]
DtypeOpt = Annotated[
    str, typer.Option(help="auto (bfloat16 on GPU, float32 on CPU), float32, float16, bfloat16.")
]
LayersOpt = Annotated[
    str | None, typer.Option(help="Decoder layers to steer, e.g. '8,9,10' or '8-12' (default: n/3 to n/2).")
]
PlotOpt = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        help="Also draw waveform, log-mel, attention and Δ to this .png/.svg/.pdf (needs matplotlib).",
    ),
]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar on stderr.")]
GTManifestOpt = Annotated[
    Path | None,
    typer.Option(
        help="Scene manifest listing AUDIO, for ground truth in the figure (default: DIR/manifest.jsonl "
        "when AUDIO is DIR/audio/*.wav)."
    ),
]


def parse_layers(text: str | None) -> list[int] | None:
    """'1,3,5-7' → [1, 3, 5, 6, 7]; None stays None."""
    if text is None or not text.strip():
        return None
    out: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part[1:]:
                lo, hi = (
                    part.split("-", 1)
                    if not part.startswith("-")
                    else ("-" + part[1:].split("-")[0], part[1:].split("-", 1)[1])
                )
                out.extend(range(int(lo), int(hi) + 1))
            else:
                out.append(int(part))
    except ValueError:
        raise WTLError(f"cannot parse layers {text!r}; use e.g. '8,9,10' or '8-12'") from None
    return out


def resolved_config(adapter: Any, layers: str | None, steer: Any = None, **options: Any) -> Any:
    """The localization settings of a command: --layers (else a saved vector's layers), the other options,
    the checkpoint's recommendations, the defaults; checked against the model (bad values: one line)."""
    from .localize import recommended_config

    chosen = parse_layers(layers) or (steer.layers if steer is not None else None)
    try:
        return recommended_config(adapter, layers=chosen, **options).resolved(adapter)
    except ValueError as exc:  # bad option values surface as ValueError from the library
        raise WTLError(str(exc)) from None


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temp file beside ``path`` then rename it over, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
    os.replace(tmp, path)


@app.command()
def localize(
    audio: Annotated[
        list[Path],
        typer.Argument(
            help="Audio file(s) (wav, flac, ogg); resampled and downmixed as needed. With several files, "
            "each is localized in turn (see --jsonl)."
        ),
    ],
    query: Annotated[
        list[str] | None,
        typer.Option(
            "--query",
            "-q",
            metavar="<str>",
            help="The sound to find, e.g. 'the dog barking' (or use --vector). Repeat it to find several "
            "sounds in one pass over the audio.",
        ),
    ] = None,
    vector: Annotated[
        Path | None,
        typer.Option(
            help="Steer with this saved vector (from --save-vector or 'vector build') instead of building "
            "one; its query and layers are used unless --query / --layers are given."
        ),
    ] = None,
    model: ModelOpt = None,
    layers: LayersOpt = None,
    alpha: Annotated[
        float | None, typer.Option(help="Steering strength α (0: unsteered; default 4 or the model's own).")
    ] = None,
    probe: Annotated[str, typer.Option(help="fast (SDPA + needed rows) or eager (reference).")] = "fast",
    positions: Annotated[
        str, typer.Option(help="Where to add the vector: last, instruction, audio, text, all.")
    ] = "last",
    interval: Annotated[
        str, typer.Option(help="threshold (region above half the peak) or window.")
    ] = "threshold",
    window_s: Annotated[float, typer.Option(help="Window width in seconds for --interval window.")] = 1.0,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the full result (profiles, config) here.")
    ] = None,
    save_vector: Annotated[
        Path | None, typer.Option(help="Also save the steering vector (.safetensors + .json).")
    ] = None,
    plot: PlotOpt = None,
    gt_manifest: GTManifestOpt = None,
    jsonl: Annotated[
        Path | None,
        typer.Option(
            help="Append one JSON line per (file, query) to this file; a rerun skips the pairs already in "
            "it (resumable, append-only)."
        ),
    ] = None,
    progress: ProgressOpt = True,
) -> None:
    """Find when QUERY happens in AUDIO by instruction steering; print the peak time and interval.

    With several --query options the audio is encoded once and every query shares it. --json and
    --save-vector then write one file per query, numbered in query order (OUT.1.json, OUT.2.json, ...),
    and --plot draws every query's Δ in one figure.
    With several audio files, results go to stdout and --jsonl; a file that cannot be read is reported
    on stderr and skipped, and the exit status is 2 if any was.
    """
    from .bench import progress_bar
    from .models import load_model
    from .steering import SteeringVector

    queries = [q for q in (query or []) if q.strip()]
    steer = SteeringVector.load(vector) if vector is not None else None
    if steer is not None and not queries and steer.metadata.get("query"):
        queries = [str(steer.metadata["query"])]
    if not queries:
        raise WTLError("give the sound to find with --query (or a saved --vector that names one)")
    if steer is not None and len(queries) > 1:
        raise WTLError("--vector steers one query; give at most one --query with it")
    if probe not in ("fast", "eager"):
        raise WTLError(f"unknown probe {probe!r}; choose fast or eager")
    if interval not in ("threshold", "window"):
        raise WTLError(f"unknown interval method {interval!r}; choose threshold or window")
    several = len(audio) > 1
    if several and (json_out or plot or save_vector):
        raise WTLError("--json, --plot and --save-vector take one audio file; with several, use --jsonl")
    gt = [] if several else _plot_gt(plot, audio[0], gt_manifest)
    adapter = load_model(model, device=device, dtype=dtype)
    options = {"alpha": alpha, "probe": probe, "positions": positions, "interval": interval}
    config = resolved_config(adapter, layers, steer, window_s=window_s, **options)
    with _results_log(jsonl, adapter.name, config) as (done, log):
        failed = 0
        todo = [(f, [q for q in queries if (str(f), q) not in done]) for f in audio]
        todo = [(f, qs) for f, qs in todo if qs]
        with progress_bar(progress and several, len(todo), "localize") as advance:
            for path, wanted in todo:
                try:
                    results = _localize_file(adapter, path, wanted, config, steer)
                except WTLError as exc:
                    if not several:
                        raise
                    message = str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}"
                    typer.echo(f"wheretolisten: error: {message}", err=True)
                    failed += 1
                    advance(1, path.name)
                    continue
                outputs = (json_out, save_vector, plot)
                _emit(results, path, several, outputs, gt, adapter.sample_rate)
                log([r.to_json() for r in results])
                advance(1, path.name)
    skipped = len(audio) - len(todo)
    if jsonl is not None and skipped:
        typer.echo(f"{skipped} file(s) already in {jsonl}: skipped")
    if failed:
        raise WTLError(f"{failed} of {len(audio)} audio files failed (see above)")


def _emit(
    results: list[Any],
    path: Path,
    several: bool,
    outputs: tuple[Path | None, Path | None, Path | None],
    gt: list[Any],
    sample_rate: int,
) -> None:
    """Print one line per result (prefixed with the file when several run); write --json, --save-vector
    and --plot (``outputs``) for it."""
    json_out, save_vector, plot = outputs
    where = f"{path}: " if several else ""
    for i, result in enumerate(results):
        if result.peak_s is None or result.interval_s is None:
            typer.echo(f"{where}{result.query!r}: no attention shift (Δ is flat); peak undefined")
        else:
            start, end = result.interval_s
            span = f"interval {start:.2f}–{end:.2f} s"
            typer.echo(f"{where}{result.query!r}: peak {result.peak_s:.2f} s, {span}")
        if json_out is not None:
            write_json_atomic(numbered(json_out, i, len(results)), result.to_json())
        if save_vector is not None:
            result.vector.save(numbered(save_vector, i, len(results)))
    if plot is not None:
        from .figures import plot_localization, plot_queries

        if len(results) == 1:
            plot_localization(results[0], path, sample_rate, plot, gt)
        else:
            plot_queries(results, path, sample_rate, plot, gt)
        typer.echo(f"wrote {plot}")


def _localize_file(adapter: Any, path: Path, queries: list[str], config: Any, steer: Any) -> list[Any]:
    """Every query of one file: the shared-prefix pass for several queries, one localize otherwise."""
    from .localize import localize as run_localize
    from .localize import localize_many

    try:
        if len(queries) == 1:
            return [run_localize(adapter, path, queries[0], config, vector=steer)]
        return localize_many(adapter, path, queries, config).results
    except ValueError as exc:  # bad option values surface as ValueError from the library
        raise WTLError(str(exc)) from None


@contextmanager
def _results_log(
    path: Path | None, model: str, config: Any
) -> Iterator[tuple[set[tuple[str, str]], Callable[[list[dict[str, Any]]], None]]]:
    """(done (audio path, query) pairs, append function) for --jsonl; a no-op pair without it.

    The file is locked while in use; rows of another model or configuration are refused, so a resumed
    file never mixes settings.
    """
    if path is None:
        yield set(), lambda _rows: None
        return
    from dataclasses import asdict

    from .bench import append_rows, open_jsonl

    wanted = json.loads(json.dumps(asdict(config)))
    with open_jsonl(path, required=("audio", "query", "config")) as (handle, rows):
        for i, row in enumerate(rows, start=1):
            if row.get("model") != model or row.get("config") != wanted:
                raise WTLError(
                    f"{path}: line {i} was computed with another model or configuration; use the same "
                    f"options or another --jsonl"
                )
        done = {(str(r["audio"].get("path")), str(r["query"])) for r in rows if isinstance(r["audio"], dict)}
        yield done, lambda new: append_rows(handle, new)


def numbered(path: Path, index: int, count: int) -> Path:
    """``path`` itself for a single output; ``stem.N.suffix`` (N from 1) when there are several."""
    if count == 1:
        return path
    return path.with_name(f"{path.stem}.{index + 1}{path.suffix}")


def _plot_gt(out: Path | None, audio: Path, manifest: Path | None) -> list[Any]:
    """Check plotting can work before the model runs, and find the clip's ground-truth events."""
    if out is None:
        if manifest is not None:
            raise WTLError("--gt-manifest only matters with --plot (or plot-layers)")
        return []
    from .figures import figure_format, require_matplotlib
    from .scenes.lookup import gt_for_audio

    require_matplotlib()
    figure_format(out)
    return gt_for_audio(audio, manifest)


@app.command("plot-layers")
def plot_layers(
    audio: Annotated[Path, typer.Argument(help="Audio file (wav, flac, ogg).")],
    query: Annotated[str, typer.Option("--query", "-q", help="The sound to find, e.g. 'the dog barking'.")],
    out: Annotated[Path, typer.Option(help="Output figure (.png, .svg or .pdf).")],
    model: ModelOpt = None,
    layers: LayersOpt = None,
    alpha: Annotated[
        float | None, typer.Option(help="Steering strength α (default 4 or the model's own).")
    ] = None,
    probe: Annotated[str, typer.Option(help="fast (SDPA + needed rows) or eager (reference).")] = "fast",
    gt_manifest: GTManifestOpt = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
) -> None:
    """Draw a layer × time heatmap of Δ attention: where each decoder layer's attention moved."""
    from .figures import layer_delta_title, plot_layer_delta
    from .localize import layer_delta
    from .models import load_model

    if probe not in ("fast", "eager"):
        raise WTLError(f"unknown probe {probe!r}; choose fast or eager")
    gt = _plot_gt(out, audio, gt_manifest)
    adapter = load_model(model, device=device, dtype=dtype)
    config = resolved_config(adapter, layers, alpha=alpha, probe=probe)
    try:
        data = layer_delta(adapter, audio, query, config)
    except ValueError as exc:
        raise WTLError(str(exc)) from None
    steer = config.layers or []
    title = layer_delta_title(adapter.name, query, steer, config.alpha)
    plot_layer_delta(data, out, steer, title, gt, query)
    typer.echo(f"wrote {out} ({len(data.layers)} layers × {data.matrix.shape[1]} audio tokens)")


@app.command("plot-alpha")
def plot_alpha(
    audio: Annotated[Path, typer.Argument(help="Audio file (wav, flac, ogg).")],
    query: Annotated[str, typer.Option("--query", "-q", help="The sound to find, e.g. 'the dog barking'.")],
    out: Annotated[Path, typer.Option(help="Output figure (.png, .svg or .pdf).")],
    alphas: Annotated[str, typer.Option(help="Comma-separated steering strengths.")] = "0.5,1,2,4,8,16",
    model: ModelOpt = None,
    layers: LayersOpt = None,
    positions: Annotated[
        str, typer.Option(help="Where to add the vector: last, instruction, audio, text, all.")
    ] = "last",
    gt_manifest: GTManifestOpt = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
) -> None:
    """Draw an α × time heatmap of Δ attention and print each α's readout: how strongly to steer."""
    from .figures import plot_alpha_sweep, short_model_name
    from .localize import alpha_sweep, recommended_config
    from .models import load_model

    try:
        values = [float(a) for a in alphas.split(",") if a.strip()]
    except ValueError:
        raise WTLError(f"cannot parse --alphas {alphas!r}; use e.g. '1,2,4,8'") from None
    if not values:
        raise WTLError("--alphas is empty; give e.g. '1,2,4,8'")
    gt = _plot_gt(out, audio, gt_manifest)
    adapter = load_model(model, device=device, dtype=dtype)
    try:
        config = recommended_config(adapter, layers=parse_layers(layers), positions=positions)
        sweep = alpha_sweep(adapter, audio, query, values, config)
    except ValueError as exc:
        raise WTLError(str(exc)) from None
    for alpha, readout in zip(sweep.alphas, sweep.readouts, strict=True):
        if readout.peak_s is None or readout.interval_s is None:
            typer.echo(f"α = {alpha:g}: no attention shift (Δ is flat)")
        else:
            start, end = readout.interval_s
            typer.echo(f"α = {alpha:g}: peak {readout.peak_s:.2f} s, interval {start:.2f}–{end:.2f} s")
    title = (
        f"Δ attention by steering strength · {short_model_name(adapter.name)} · query “{query}” · "
        f"steered layers {sweep.config.layers}"
    )
    plot_alpha_sweep(sweep, out, title, gt, query)
    typer.echo(f"wrote {out}")


@app.command("report")
def report_html(
    results: Annotated[
        list[Path], typer.Argument(help="A results.jsonl of the benchmark (or all shards of one run).")
    ],
    out: Annotated[Path, typer.Option(help="Output HTML file (self-contained: images embedded).")],
    scenes: Annotated[
        Path | None, typer.Option(help="Scene manifest (or its directory): draws every event of a scene.")
    ] = None,
    sweep: Annotated[
        Path | None,
        typer.Option(help="Sweep grid (default: sweep.jsonl and its shards beside RESULTS, if present)."),
    ] = None,
    gallery: Annotated[int, typer.Option(help="Figures per gallery group (best, worst, random).")] = 4,
    condition: Annotated[
        str | None, typer.Option(help="Condition shown in the gallery (default: steered).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and of the random gallery sample.")] = 0,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show progress on stderr.")
    ] = True,
) -> None:
    """Write one self-contained HTML report: tables with CIs, position breakdown, attention, gallery."""
    from .report import write_report

    if gallery < 0:
        raise WTLError("--gallery must be at least 0")
    path = write_report(results, out, scenes, sweep, gallery, seed, condition, progress=progress)
    typer.echo(f"wrote {path}")


@app.command()
def demo(
    model: ModelOpt = None,
    seed: Annotated[
        int, typer.Option(help="Seed of the synthesized scene (held out from the organism's training).")
    ] = 0,
    alpha: Annotated[
        float | None, typer.Option(help="Steering strength α (default: the model's tuned value).")
    ] = None,
    layers: LayersOpt = None,
    out_dir: Annotated[
        Path | None, typer.Option(help="Save one figure per event here (default: no figures).")
    ] = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
) -> None:
    """Synthesize a three-event scene, localize each event by steering, print a table (and figures)."""
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from .localize import localize_many, recommended_config
    from .metrics import hit
    from .models import load_model
    from .scenes import ProceduralBank, make_scene, scene_seed

    if out_dir is not None:
        from .figures import require_matplotlib

        require_matplotlib()
    adapter = load_model(model, device=device, dtype=dtype)
    config = recommended_config(adapter, layers=parse_layers(layers), alpha=alpha)
    rate = adapter.sample_rate
    duration = min(10.0, adapter.max_audio_limit_s)
    scene_rng = np.random.default_rng(scene_seed(seed, 0))
    scene, audio = make_scene(
        ProceduralBank(), scene_rng, f"demo-{seed}", 3, duration, rate, target=0, seed=seed
    )
    results = localize_many(adapter, audio, [e.query for e in scene.events], config, rate).results
    table = Table(
        title=f"where does {adapter.name.split('/')[-1]} listen? (scene seed {seed}, α = {config.alpha:g})"
    )
    for col in ("event", "query", "ground truth (s)", "peak (s)", "interval (s)", "hit"):
        table.add_column(col)
    hits = 0
    for event, result in zip(scene.events, results, strict=True):
        ok = hit(result.peak_s, (event.onset_s, event.offset_s))
        hits += ok
        peak = "—" if result.peak_s is None else f"{result.peak_s:.2f}"
        span = "—" if result.interval_s is None else f"{result.interval_s[0]:.2f}–{result.interval_s[1]:.2f}"
        table.add_row(
            f"{event.position}: {event.label}",
            event.query,
            f"{event.onset_s:.2f}–{event.offset_s:.2f}",
            peak,
            span,
            "yes" if ok else "no",
        )
    console = Console()
    console.print(table)
    chance = np.mean([(e.offset_s - e.onset_s) / scene.duration_s for e in scene.events])
    console.print(
        f"{hits}/3 events localized "
        f"(a uniformly random peak hits these events {100 * chance:.0f} % of the time)"
    )
    if out_dir is not None:
        from .figures import plot_localization, plot_queries

        out_dir.mkdir(parents=True, exist_ok=True)
        gt = [(e.label, e.onset_s, e.offset_s) for e in scene.events]
        for i, (event, result) in enumerate(zip(scene.events, results, strict=True)):
            path = out_dir / f"demo_{i}_{event.label}.png"
            spans = [g if g[0] == event.label else (f"({g[0]})", g[1], g[2]) for g in gt]
            plot_localization(result, audio, rate, path, spans)
            console.print(f"wrote {path}")
        overview = plot_queries(results, audio, rate, out_dir / "demo_all.png", gt)
        console.print(f"wrote {overview}")


@app.command()
def generate(
    audio: Annotated[Path, typer.Argument(help="Audio file (wav, flac, ogg).")],
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="The sound to steer towards (or use --vector).")
    ] = None,
    vector: Annotated[Path | None, typer.Option(help="Steer with this saved vector instead.")] = None,
    prompt: Annotated[str, typer.Option(help="What the model is asked.")] = "Describe the audio.",
    model: ModelOpt = None,
    layers: LayersOpt = None,
    alpha: Annotated[
        float | None, typer.Option(help="Steering strength α (default 4 or the model's own).")
    ] = None,
    positions: Annotated[
        str, typer.Option(help="Where to add the vector: last, instruction, audio, text, all.")
    ] = "last",
    max_new_tokens: Annotated[int, typer.Option(help="Longest answer, in tokens.")] = 64,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
) -> None:
    """What the model says about AUDIO without and with steering towards QUERY (greedy decoding).

    The steering vector is the one localize builds (instructed − neutral prompts on this clip) or a saved
    one; it stays active while the answer is generated.
    """
    from .localize import prepare_audio
    from .models import load_model
    from .steering import SteeringVector, instruction_vector, steered_generate

    steer = SteeringVector.load(vector) if vector is not None else None
    if steer is None and not (query and query.strip()):
        raise WTLError("give the sound to steer towards with --query (or a saved --vector)")
    if max_new_tokens < 1:
        raise WTLError("--max-new-tokens must be at least 1")
    adapter = load_model(model, device=device, dtype=dtype)
    config = resolved_config(adapter, layers, steer, alpha=alpha, positions=positions)
    try:
        assert config.layers is not None
        clip, _ = prepare_audio(adapter, audio)
        if steer is None:
            assert query is not None
            steer = instruction_vector(
                adapter, clip, query, config.layers, config.read_positions,
                config.instructed_templates, config.neutral_templates,
            )  # fmt: skip
        base, steered = steered_generate(
            adapter, clip, steer, config.alpha, prompt, config.positions, config.layers, max_new_tokens
        )
    except ValueError as exc:  # bad option values surface as ValueError from the library
        raise WTLError(str(exc)) from None
    target = query or steer.metadata.get("query") or "the vector"
    typer.echo(f"prompt: {prompt}")
    typer.echo(f"unsteered: {base}")
    typer.echo(f"steered towards {target!r} (layers {config.layers}, α = {config.alpha:g}): {steered}")


@app.command("env")
def env(
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of lines.")] = False,
) -> None:
    """Versions, devices and supported model families: paste this into a bug report."""
    import importlib.metadata
    import platform

    import torch

    from . import __version__
    from .models import FAMILIES
    from .organism import default_model_path

    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    info: dict[str, Any] = {
        "wheretolisten": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        **{name: version(name) for name in ("torch", "transformers", "numpy", "safetensors", "soundfile")},
        **{name: version(name) for name in ("soxr", "sed_eval", "sed_scores_eval", "matplotlib")},
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "cpu_threads": torch.get_num_threads(),
        "families": sorted(FAMILIES),
    }
    try:
        info["shipped_model"] = str(default_model_path())
    except WTLError as exc:  # a broken install should still be describable
        info["shipped_model"] = f"missing ({exc})"
    if json_out:
        typer.echo(json.dumps(info, indent=2))
        return
    for key, value in info.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        typer.echo(f"{key}: {shown if shown not in (None, '') else 'none'}")


@app.command("make-tiny-model")
def make_tiny_model(
    family: Annotated[str, typer.Option(help="qwen2-audio or audioflamingo3.")],
    out: Annotated[Path, typer.Option(help="Directory to write the model and processor to.")],
    seed: Annotated[int, typer.Option(help="Seed for the random weights.")] = 0,
) -> None:
    """Write a random-weight model of the exact architecture (a few MB) with a working processor."""
    from .models.tiny import FAMILIES
    from .models.tiny import make_tiny_model as build

    if family not in FAMILIES:
        raise WTLError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    path = build(family, out, seed)
    typer.echo(f"wrote a tiny {family} model to {path}")


@vector_app.command("build")
def vector_build(
    audio: Annotated[Path, typer.Argument(help="The clip the vector is contrasted on.")],
    query: Annotated[str, typer.Option("--query", "-q", help="The sound named in the instructed prompts.")],
    out: Annotated[
        Path, typer.Option(help="Output .safetensors path (a .json with the metadata is written beside it).")
    ],
    model: ModelOpt = None,
    layers: LayersOpt = None,
    positions: Annotated[str, typer.Option(help="Where activations are read: last or instruction.")] = "last",
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
) -> None:
    """Build an instruction steering vector (instructed − neutral prompts on the same audio) and save it."""
    from .localize import prepare_audio
    from .models import load_model
    from .steering import instruction_vector

    adapter = load_model(model, device=device, dtype=dtype)
    clip, _ = prepare_audio(adapter, audio)
    # The layers localize would steer: --layers, else the checkpoint's recommendation, else n/3 .. n/2.
    chosen = resolved_config(adapter, layers).layers
    vec = instruction_vector(adapter, clip, query, chosen, positions)
    vec.metadata["audio"] = str(audio)
    path = vec.save(out)
    norms = ", ".join(f"{k}: {v:.3g}" for k, v in vec.norms().items())
    typer.echo(f"wrote {path} (layer norms {norms})")


@vector_app.command("show")
def vector_show(
    vectors: Annotated[
        list[Path], typer.Argument(help="Saved vectors (.safetensors); two or more are compared.")
    ],
) -> None:
    """Print what a saved vector was built from (model, query, positions, templates) and its layer norms;
    with several vectors, their cosine similarity per common layer."""
    from .steering import SteeringVector

    loaded = [SteeringVector.load(v) for v in vectors]
    for path, vec in zip(vectors, loaded, strict=True):
        meta = vec.metadata
        typer.echo(f"{path}")
        for key in ("kind", "model", "family", "query", "positions", "audio", "prompt"):
            if meta.get(key) is not None:
                typer.echo(f"  {key}: {meta[key]}")
        for key in ("instructed_templates", "neutral_templates"):
            if meta.get(key):
                typer.echo(f"  {key}: " + " | ".join(str(t) for t in meta[key]))
        typer.echo("  layer norms: " + ", ".join(f"{k}: {v:.4g}" for k, v in vec.norms().items()))
    for i in range(len(loaded)):
        for j in range(i + 1, len(loaded)):
            cos = loaded[i].cosine(loaded[j])
            shown = ", ".join(f"{k}: {v:+.3f}" for k, v in cos.items()) if cos else "no common layer"
            typer.echo(f"cosine {vectors[i].name} vs {vectors[j].name}: {shown}")


@scenes_app.command("make")
def scenes_make(
    out: Annotated[Path, typer.Option(help="Output directory (audio/, manifest.jsonl, events.tsv).")],
    n: Annotated[int, typer.Option(help="Number of scenes.")] = 100,
    bank: Annotated[
        str, typer.Option(help="procedural, a folder DIR/label/*.wav, or an ESC-50 directory.")
    ] = "procedural",
    events: Annotated[int, typer.Option(help="Events per scene.")] = 3,
    duration: Annotated[float, typer.Option(help="Scene duration in seconds.")] = 10.0,
    seed: Annotated[int, typer.Option(help="Seed (same seed, same scenes).")] = 0,
    sample_rate: Annotated[int, typer.Option(help="Sample rate of the written wavs.")] = 16000,
) -> None:
    """Write N scenes of EVENTS distinct, non-overlapping sound events each."""
    from .scenes import get_bank, make_scenes

    if n < 1:
        raise WTLError("--n must be at least 1")
    scenes = make_scenes(
        get_bank(bank), n, out, n_events=events, duration_s=duration, seed=seed, sample_rate=sample_rate
    )
    typer.echo(f"wrote {len(scenes)} scenes to {out}")


@scenes_app.command("import")
def scenes_import(
    tsv: Annotated[
        Path, typer.Option(help="Strong labels: tab-separated filename, onset, offset, event_label (DESED).")
    ],
    audio: Annotated[Path, typer.Option(help="Folder holding the annotated audio files.")],
    out: Annotated[Path, typer.Option(help="Output directory for manifest.jsonl (and events.tsv).")],
    queries: Annotated[
        Path | None, typer.Option(help="JSON {label: query text} (default: the label, lower case).")
    ] = None,
) -> None:
    """Make a benchmark manifest from annotated real recordings; clips that do not fit are listed."""
    from .annotations import import_annotations, read_query_map

    report = import_annotations(tsv, audio, out, read_query_map(queries) if queries else None)
    for name, reason in list(report.skipped.items())[:10]:
        typer.echo(f"skipped {name}: {reason}")
    if len(report.skipped) > 10:
        typer.echo(f"... and {len(report.skipped) - 10} more skipped")
    if report.manifest is None:
        raise WTLError(f"no annotated clip fits the benchmark (one interval per label, no overlaps): {tsv}")
    typer.echo(f"wrote {len(report.scenes)} scenes to {report.manifest} ({len(report.skipped)} skipped)")


bench_app = typer.Typer(
    help="Benchmark: the controlled three-event localization setting.", no_args_is_help=True
)
app.add_typer(bench_app, name="bench")

ScenesArg = Annotated[Path, typer.Argument(help="Scenes: a manifest.jsonl or the directory holding one.")]
ConditionsOpt = Annotated[
    str,
    typer.Option(help="Comma-separated: steered, prompted, audio-steered, direct, random, energy."),
]
QueriesOpt = Annotated[str, typer.Option(help="target (the scene's target event) or all (every event).")]
QueryOpt = Annotated[
    str | None,
    typer.Option("--query", "-q", help="Ask this query (an event's query text or label) in every scene."),
]
AlphaOpt = Annotated[float | None, typer.Option(help="Steering strength α (default 4 or the model's own).")]
SeedOpt = Annotated[int, typer.Option(help="Seed of the random baseline and of the event-erasing noise.")]
SteerPositionsOpt = Annotated[
    str, typer.Option(help="Where steered conditions add their vector: last, instruction, audio, text, all.")
]
ShardOpt = Annotated[
    str | None,
    typer.Option(
        help="Run shard K of N (e.g. 0/4): every N-th scene from K, so N processes or GPUs split the work."
    ),
]


@bench_app.command("run")
def bench_run(
    scenes: ScenesArg,
    out: Annotated[Path, typer.Option(help="Results file (JSON lines); an existing one is resumed.")],
    model: ModelOpt = None,
    conditions: ConditionsOpt = "steered,prompted,audio-steered,direct,random,energy",
    queries: QueriesOpt = "target",
    query: QueryOpt = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N scenes of the manifest.")] = None,
    layers: LayersOpt = None,
    alpha: AlphaOpt = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    progress: ProgressOpt = True,
    shard: ShardOpt = None,
    positions: SteerPositionsOpt = "last",
    save_profiles: Annotated[
        bool, typer.Option(help="Store each row's attention profiles (for Δ curves in 'report').")
    ] = False,
    direct_prompt: Annotated[
        str | None,
        typer.Option(
            help="Question of the direct condition, with {query} (default: 'When does {query} start "
            "and end? Answer in seconds.')."
        ),
    ] = None,
) -> None:
    """Run the benchmark conditions on every scene; append one JSON line per (scene, query, condition).

    To use several GPUs, run one process per GPU with --shard K/N and its own --out, then give all the
    files to 'bench summary' or 'report'.
    """
    from .bench import bench_config, load_scenes, needs_model, parse_conditions, run_bench
    from .localize import recommended_config
    from .shards import parse_shard, shard_of

    names = parse_conditions(conditions)
    part = parse_shard(shard)
    config = bench_config(
        parse_layers(layers), alpha, queries, query, seed, save_profiles, direct_prompt, positions
    )
    scene_list, manifest_dir = load_scenes(scenes, config, limit)
    scene_list = shard_of(scene_list, part)
    adapter = None
    if needs_model(names):
        from .models import load_model

        adapter = load_model(model, device=device, dtype=dtype)
        loc = recommended_config(adapter, layers=parse_layers(layers), alpha=alpha, positions=positions)
        config = replace(config, localize=loc)
    try:
        report = run_bench(adapter, scene_list, manifest_dir, names, config, out, progress)
    except ValueError as exc:  # bad option values surface as ValueError from the library
        raise WTLError(str(exc)) from None
    typer.echo(
        f"wrote {report.rows_written} rows ({report.units_run} scenes run, {report.units_skipped} already "
        f"done) to {out}: {report.rows_total} rows in all, {report.seconds:.1f} s"
    )


@bench_app.command("summary")
def bench_summary(
    results: Annotated[
        list[Path], typer.Argument(help="results.jsonl written by 'bench run' (or all shards of one run).")
    ],
    format: Annotated[str, typer.Option("--format", help="markdown or csv.")] = "markdown",
) -> None:
    """Metrics with CIs per condition, hit rate by target position, and paired tests vs steered."""
    from .bench import read_merged, summary_tables

    typer.echo(summary_tables(read_merged(results), format), nl=False)


@bench_app.command("sweep")
def bench_sweep(
    scenes: ScenesArg,
    out: Annotated[Path, typer.Option(help="Directory for sweep.jsonl (dev grid) and results.jsonl (test).")],
    model: ModelOpt = None,
    layers_grid: Annotated[str, typer.Option(help="Layer sets separated by ';', e.g. '8-10;12,13'.")] = "",
    alphas: Annotated[str, typer.Option(help="Comma-separated α values, e.g. '2,4,8'.")] = "2,4,8",
    dev_fraction: Annotated[float, typer.Option(help="Share of scenes used to pick the setting.")] = 0.5,
    conditions: ConditionsOpt = "steered,prompted,audio-steered,direct,random,energy",
    queries: QueriesOpt = "target",
    query: QueryOpt = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = "auto",
    progress: ProgressOpt = True,
    positions: SteerPositionsOpt = "last",
    shard: Annotated[
        str | None,
        typer.Option(
            help="Shard K of N (e.g. 0/4): every N-th grid point, then every N-th test scene once all "
            "shards' grid points are in OUT (rerun it then; finished work is kept)."
        ),
    ] = None,
) -> None:
    """Pick (layers, α) by steered hit rate on a dev split, then run CONDITIONS on the held-out test split."""
    from .bench import bench_config, load_scenes, parse_conditions, sweep
    from .shards import parse_shard

    names = parse_conditions(conditions)
    grid = [parse_layers(part) for part in layers_grid.split(";") if part.strip()]
    if not grid:
        raise WTLError("--layers-grid is empty; give layer sets separated by ';', e.g. '8-10;12,13'")
    try:
        alpha_list = [float(a) for a in alphas.split(",") if a.strip()]
    except ValueError:
        raise WTLError(f"cannot parse --alphas {alphas!r}; use e.g. '2,4,8'") from None
    config = bench_config(None, None, queries, query, seed, positions=positions)
    scene_list, manifest_dir = load_scenes(scenes, config)
    from .models import load_model

    adapter = load_model(model, device=device, dtype=dtype)
    try:
        layer_sets = [g for g in grid if g]
        report = sweep(
            adapter,
            scene_list,
            manifest_dir,
            layer_sets,
            alpha_list,
            dev_fraction,
            names,
            config,
            out,
            progress=progress,
            shard=parse_shard(shard),
        )
    except ValueError as exc:
        raise WTLError(str(exc)) from None
    best, run = report.best, report.run
    if best is None or run is None:
        typer.echo(
            f"grid shard {shard} done; {report.missing} grid point(s) of other shards are not in {out} yet: "
            f"rerun this command when they are, to choose the setting and run this shard's test scenes"
        )
        return
    typer.echo(
        f"chose layers {best['layers']} alpha {best['alpha']:g} (dev hit rate {best['hit_rate']:.1f}% on "
        f"{len(report.dev_ids)} scenes); {run.rows_total} test rows on "
        f"{run.units_run + run.units_skipped} of {len(report.test_ids)} test scenes in {report.results_path}"
    )


def main() -> None:
    """Entry point: run the app, turning user errors into one stderr line and a non-zero exit."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # weight-loading bars are noise for a one-shot command
    try:
        app()
    except WTLError as exc:
        typer.echo(f"wheretolisten: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("wheretolisten: interrupted", err=True)
        sys.exit(130)
    except (MemoryError, RuntimeError) as exc:
        if not isinstance(exc, MemoryError) and type(exc).__name__ != "OutOfMemoryError":
            raise  # a bug, not a resource limit: keep the traceback
        first = (str(exc).strip().splitlines() or ["no details"])[0]
        typer.echo(
            f"wheretolisten: error: out of memory ({first}); try shorter audio, fewer queries per call, "
            "--dtype bfloat16 or a larger device (results already written are kept)",
            err=True,
        )
        sys.exit(3)


if __name__ == "__main__":
    main()
