"""``plot-layers``, ``plot-alpha`` and ``demo``: where the model listens, drawn."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .app import app
from .groups import MachineFlags, SpanFlags, SteeringFlags, grouped
from .localize import AudioArg, plot_ground_truth
from .model_folder import check_fits
from .options import (
    AlphaOpt,
    GTManifestOpt,
    LayersOpt,
    MkdirOpt,
    ModelOpt,
    OverwriteOpt,
    PositionsOpt,
    ProbeOpt,
    check_audio,
    check_outputs,
    check_query,
    check_seed,
    check_span,
    resolved,
    strengths,
)

if TYPE_CHECKING:
    from ..scenes.lookup import GTSpan

QueryArg = Annotated[str, typer.Option("--query", "-q", help="The sound to find, e.g. 'the dog barking'.")]
FigureOut = Annotated[Path, typer.Option(help="Output figure (.png, .svg or .pdf).")]


@dataclass(frozen=True)
class FigureFlags:
    """What the figure commands take besides what they draw: ground truth, span, machine, --mkdir."""

    gt_manifest: GTManifestOpt = None
    span: SpanFlags = field(default_factory=SpanFlags)
    machine: MachineFlags = field(default_factory=MachineFlags)
    mkdir: MkdirOpt = False

    def ground_truth(self, audio: Path, out: Path, model: str | None) -> list[GTSpan]:
        """Check the audio, its span (against the model's limit) and the figure's path before the model
        loads; the clip's ground truth, if known."""
        check_audio([audio])
        check_span([audio], *self.span.pair)
        check_fits(model, audio, *self.span.pair)
        check_outputs(
            [("--out", out)], [audio, *([self.gt_manifest] if self.gt_manifest else [])], self.mkdir
        )
        return plot_ground_truth(out, audio, self.gt_manifest)


@app.command("plot-layers")
@grouped
def plot_layers(
    audio: AudioArg,
    query: QueryArg,
    out: FigureOut,
    model: ModelOpt = None,
    layers: LayersOpt = None,
    alpha: AlphaOpt = None,
    probe: ProbeOpt = None,
    figure: FigureFlags = FigureFlags(),
) -> None:
    """Draw a layer × time heatmap of Δ attention: where each decoder layer's attention moved."""
    check_query(query)
    config = SteeringFlags(layers, alpha, probe).config()
    gt = figure.ground_truth(audio, out, model)
    adapter = figure.machine.load(model, config.layers)
    cfg = resolved(adapter, config)
    from ..figures import layer_delta_title, plot_layer_delta
    from ..localize import layer_delta

    data = layer_delta(adapter, audio, query, cfg, span=figure.span.pair)
    title = layer_delta_title(adapter.name, query, cfg.layers, cfg.alpha)
    plot_layer_delta(data, out, cfg.layers, title, gt, query)
    typer.echo(f"wrote {out} ({len(data.layers)} layers × {data.matrix.shape[1]} audio tokens)")


@app.command("plot-alpha")
@grouped
def plot_alpha(
    audio: AudioArg,
    query: QueryArg,
    out: FigureOut,
    alphas: Annotated[str, typer.Option(help="Comma-separated steering strengths.")] = "0.5,1,2,4,8,16",
    model: ModelOpt = None,
    layers: LayersOpt = None,
    positions: PositionsOpt = None,
    figure: FigureFlags = FigureFlags(),
) -> None:
    """Draw an α × time heatmap of Δ attention and print each α's readout: how strongly to steer."""
    check_query(query)
    values = strengths(alphas, "--alphas")
    config = SteeringFlags(layers, positions=positions).config()
    gt = figure.ground_truth(audio, out, model)
    adapter = figure.machine.load(model, config.layers)
    from ..figures import plot_alpha_sweep, short_model_name
    from ..localize import alpha_sweep

    sweep = alpha_sweep(adapter, audio, query, values, resolved(adapter, config), span=figure.span.pair)
    for value, found in zip(sweep.alphas, sweep.readouts, strict=True):
        if found.peak_s is None or found.interval_s is None:
            typer.echo(f"α = {value:g}: no attention shift (Δ is flat)")
        else:
            a, b = found.interval_s
            typer.echo(f"α = {value:g}: peak {found.peak_s:.2f} s, interval {a:.2f}–{b:.2f} s")
    title = (
        f"Δ attention by steering strength · {short_model_name(adapter.name)} · query “{query}” · "
        f"steered layers {sweep.config.layers}"
    )
    plot_alpha_sweep(sweep, out, title, gt, query)
    typer.echo(f"wrote {out}")


@app.command()
@grouped
def demo(
    model: ModelOpt = None,
    seed: Annotated[
        int, typer.Option(help="Seed of the synthesized scene (held out from the organism's training).")
    ] = 0,
    alpha: AlphaOpt = None,
    layers: LayersOpt = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            help="Save one figure per event and one of all events (demo_all.png) here (default: none)."
        ),
    ] = None,
    machine: MachineFlags = MachineFlags(),
    mkdir: MkdirOpt = False,
    overwrite: OverwriteOpt = False,
) -> None:
    """Synthesize a three-event scene, localize each event by steering, print a table (and figures)."""
    check_seed(seed)
    config = SteeringFlags(layers, alpha).config()
    if out_dir is not None:
        from ..figures import require_matplotlib
        from ..files import check_output, check_replace

        check_output(out_dir, directory=True, option="--out-dir", mkdir=mkdir)
        for earlier in sorted(out_dir.glob("demo_*.png")) if out_dir.is_dir() else []:
            check_replace(earlier, "--out-dir", overwrite)  # figures of an earlier demo, or the user's
        require_matplotlib()
    adapter = machine.load(model, config.layers)
    cfg = resolved(adapter, config)
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from ..localize import localize_many
    from ..metrics import hit
    from ..organism import demo_scene

    rate = adapter.sample_rate
    scene, audio = demo_scene(seed, rate, adapter.max_audio_limit_s)
    results = localize_many(adapter, audio, [e.query for e in scene.events], cfg, rate).results
    table = Table(
        title=f"where does {adapter.name.split('/')[-1]} listen? (scene seed {seed}, α = {cfg.alpha:g}"
        + (f", {cfg.shifts} shifts)" if cfg.shifts > 1 else ")")
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
        from ..figures import plot_localization, plot_queries

        gt = [(e.label, e.onset_s, e.offset_s) for e in scene.events]
        for i, (event, result) in enumerate(zip(scene.events, results, strict=True)):
            path = out_dir / f"demo_{i}_{event.label}.png"
            spans = [g if g[0] == event.label else (f"({g[0]})", g[1], g[2]) for g in gt]
            plot_localization(result, audio, rate, path, spans)
            console.print(f"wrote {path}")
        overview = plot_queries(results, audio, rate, out_dir / "demo_all.png", gt)
        console.print(f"wrote {overview}")
