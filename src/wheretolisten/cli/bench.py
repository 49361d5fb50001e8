"""``bench run|summary|sweep`` and ``report``: the benchmark and its HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import DataError, OptionError
from ..settings import parse_layers
from .app import app, bench_app
from .bench_flags import AskFlags, BenchFlags, ScenesArg, SeedOpt, ShardOpt, check_read
from .groups import DetectionFlags, grouped
from .model_folder import check_clip_length, check_model
from .options import (
    AlphaOpt,
    Format,
    LayersOpt,
    MkdirOpt,
    ModelOpt,
    PositionsOpt,
    ProgressOpt,
    Queries,
    ShiftsOpt,
    check_html_name,
    check_outputs,
    check_seed,
    finite,
    strength,
    strengths,
    value,
)
from .ray import RayFlags, ray_counts

if TYPE_CHECKING:
    from ..bench.runner import RunReport


def check_failed(report: RunReport, out: Path) -> None:
    """Units given up on make the command fail (exit 2) once everything else is written."""
    if report.failed:
        raise DataError(
            f"{len(report.failed)} scene unit(s) failed (see the warnings above) and are not in {out}; "
            "fix them and rerun the command: only those are computed"
        )


@bench_app.command("run")
@grouped
def bench_run(
    scenes: ScenesArg,
    out: Annotated[Path, typer.Option(help="Results file (JSON lines); an existing one is resumed.")],
    model: ModelOpt = None,
    asked: AskFlags = AskFlags(),
    limit: Annotated[int | None, typer.Option(help="Only the first N scenes of the manifest.")] = None,
    layers: LayersOpt = None,
    alpha: AlphaOpt = None,
    seed: SeedOpt = 0,
    bench: BenchFlags = BenchFlags(),
    shard: ShardOpt = None,
    positions: PositionsOpt = None,
    shifts: ShiftsOpt = None,
    save_profiles: Annotated[
        bool, typer.Option(help="Store each row's attention profiles (for Δ curves in 'report').", metavar="")
    ] = False,
    direct_prompt: Annotated[
        str | None,
        typer.Option(
            help="Question of the direct condition, with {query} (default: the model's own, "
            "'direct_question' in its wheretolisten.json, else 'When does {query} start and end? Answer in "
            "seconds.')."
        ),
    ] = None,
    ray: RayFlags = RayFlags(),
    found_by: DetectionFlags = DetectionFlags(),
    energy_min_db: Annotated[
        float | None,
        typer.Option(help="energy-det: lowest level of a detection, dB above the noise floor (default: 45)."),
    ] = None,
) -> None:
    """Run the benchmark conditions on every scene; append one JSON line per (scene, query, condition).

    To use several GPUs, give --ray (one worker per GPU, the rows in the one --out), or run one process
    per GPU with --shard K/N and its own --out, then give all the files to 'bench summary' or 'report'.
    """
    spec = ray.spec(shard, model, bench)
    from ..bench.config import bench_config
    from ..bench.controls import get_conditions
    from ..bench.inputs import load_scenes, manifest_path
    from ..shards import parse_shard, shard_of

    conds = get_conditions(asked.conditions)
    part = parse_shard(shard)
    check_seed(seed)
    finite(energy_min_db, "--energy-min-db")
    if energy_min_db is not None and "energy-det" not in [c.name for c in conds]:
        raise OptionError(
            "--energy-min-db sets the energy-det condition's threshold: add energy-det to --conditions"
        )
    given = {
        "layers": parse_layers(layers),
        "alpha": strength(alpha, "--alpha"),
        "queries": asked.queries.value,
        "query": asked.query,
        "seed": seed,
        "save_profiles": save_profiles,
        "direct_prompt": direct_prompt,
        "positions": value(positions),
        "windows": found_by.windows(),
        "detection": found_by.detection(),
        "energy_min_db": energy_min_db,
        "shifts": shifts,
    }
    config = bench_config(**given)
    check_read(conds, given, found_by, model, bench)  # model-free conditions; the others once loaded
    if asked.query is not None and asked.queries is not Queries.target:
        raise OptionError("--query asks one query in every scene: --queries would be unused")
    manifest = manifest_path(scenes)
    scene_list, manifest_dir = load_scenes(scenes, config, limit)
    inputs = [manifest, *(s.audio_path(manifest_dir) for s in scene_list)]
    check_outputs([("--out", out)], inputs, bench.mkdir)
    if out.is_file() and out.stat().st_size:  # results lines, not another file (its rows: once it opens)
        from ..records import check_row, read_jsonl
        from ..records.runs import FIRST_KEY

        read_jsonl(out, check_row, FIRST_KEY, "results file")
    scene_list = shard_of(scene_list, part)
    names = [c.name for c in conds]
    if spec is not None:
        from ..bench.cluster import run_bench_ray

        report = run_bench_ray(scene_list, manifest_dir, names, config, out, spec, bench.progress)
    else:
        adapter = bench.load(model) if any(c.needs_model for c in conds) else None
        if adapter is not None:
            check_read(conds, given, found_by, model, bench, adapter)
        from ..bench.runner import run_bench

        report = run_bench(adapter, scene_list, manifest_dir, names, config, out, bench.progress)
    typer.echo(
        f"wrote {report.rows_written} rows ({report.units_run} scenes run, {report.units_skipped} already "
        f"done) to {out}: {report.rows_total} rows in all, {report.seconds:.1f} s"
        + (ray_counts(report) if spec is not None else "")
    )
    check_failed(report, out)


@bench_app.command("summary")
def bench_summary(
    results: Annotated[
        list[Path],
        typer.Argument(
            help="results.jsonl written by 'bench run' (or all shards of one run).", metavar="RESULTS..."
        ),
    ],
    format: Annotated[
        Format, typer.Option("--format", help="markdown or csv (csv: every column).")
    ] = Format.markdown,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide", help="Every column in the markdown tables (wider than 100 columns).", metavar=""
        ),
    ] = False,
) -> None:
    """Metrics with CIs per condition, hit rate by target position and event class, paired tests vs steered.

    The markdown tables fit 100 columns; a legend under each explains its columns.
    """
    if wide and format is not Format.markdown:
        raise OptionError("--wide widens the markdown tables; csv has every column already")
    from ..records import read_results

    rows, notes = read_results(results)
    from ..tables import summary_text

    for note in notes:
        typer.echo(f"wheretolisten: note: {note}", err=True)
    typer.echo(summary_text(rows, format.value, wide=wide), nl=False)


@bench_app.command("sweep")
@grouped
def bench_sweep(
    scenes: ScenesArg,
    out: Annotated[Path, typer.Option(help="Directory for sweep.jsonl (dev grid) and results.jsonl (test).")],
    model: ModelOpt = None,
    layers_grid: Annotated[str, typer.Option(help="Layer sets separated by ';', e.g. '8-10;12,13'.")] = "",
    alphas: Annotated[str, typer.Option(help="Comma-separated α values, e.g. '2,4,8'.")] = "2,4,8",
    dev_fraction: Annotated[float, typer.Option(help="Share of scenes used to pick the setting.")] = 0.5,
    asked: AskFlags = AskFlags(),
    seed: SeedOpt = 0,
    bench: BenchFlags = BenchFlags(),
    positions: PositionsOpt = None,
    shard: Annotated[
        str | None,
        typer.Option(
            help="Shard K of N (e.g. 0/4): every N-th grid point, then every N-th test scene once all "
            "shards' grid points are in OUT (rerun it then; finished work is kept)."
        ),
    ] = None,
    ray: RayFlags = RayFlags(),
) -> None:
    """Pick (layers, α) by steered hit rate on a dev split, then run CONDITIONS on the held-out test split.

    With --ray, in one launch: grid points × dev scenes spread over the workers, then the test split.
    """
    spec = ray.spec(shard, model, bench)
    from ..bench.config import bench_config
    from ..bench.controls import parse_conditions
    from ..bench.inputs import load_scenes, manifest_path
    from ..files import check_output
    from ..shards import parse_shard

    names = parse_conditions(asked.conditions)
    check_seed(seed)
    parts = layers_grid.split(";")
    if not layers_grid.strip():
        raise OptionError("--layers-grid is empty; give layer sets separated by ';', e.g. '8-10;12,13'")
    if any(not part.strip() for part in parts):  # "1;;2" and "1;" as --alphas refuses "1,,2"
        raise OptionError(f"--layers-grid {layers_grid!r}: no empty layer set between ';'")
    layer_sets = [parse_layers(part, "--layers-grid") or [] for part in parts]
    seen = [sorted(g) for g in layer_sets]
    repeated = next((g for i, g in enumerate(seen) if g in seen[:i]), None)
    if repeated is not None:  # a grid point run twice, as --alphas refuses "4,4"
        raise OptionError(f"--layers-grid {layers_grid!r} repeats the layer set {repeated}")
    alpha_list = strengths(alphas, "--alphas")
    if not 0.0 < dev_fraction < 1.0:
        raise OptionError(f"--dev-fraction must be between 0 and 1, got {dev_fraction}")
    part = parse_shard(shard)
    config = bench_config(None, None, asked.queries.value, asked.query, seed, positions=value(positions))
    check_output(out, [manifest_path(scenes)], directory=True, option="--out", mkdir=bench.mkdir)
    if spec is None:  # the grid's layers against the model folder's config.json (a cluster loads its own)
        check_model(model, sorted({layer for layers in layer_sets for layer in layers}))
    scene_list, manifest_dir = load_scenes(scenes, config)
    from ..bench.sweep import SweepPlan, check_resume, sweep  # imports torch: after the checks above

    plan = SweepPlan(scene_list, manifest_dir, layer_sets, alpha_list, dev_fraction, names, config, out)
    check_resume(plan)  # another sweep's grid lines in --out: refused before the model loads
    if spec is not None:
        from ..bench.cluster import sweep_ray

        report = sweep_ray(plan, spec, bench.progress)
    else:
        adapter = bench.load(model)
        report = sweep(adapter, plan, bench.progress, part)
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
        + (f"; on Ray: {report.units_retried} unit(s) of grid and test retried" if spec is not None else "")
    )
    check_failed(run, report.results_path or out)


@bench_app.command("protocol")
@grouped
def bench_protocol(
    out: Annotated[
        Path | None, typer.Option(help="Directory of the run (scenes, tuning, results, summary, report).")
    ] = None,
    model: ModelOpt = None,
    protocol: Annotated[
        Path | None, typer.Option(help="Protocol file (.toml or .json); default: the built-in protocol.")
    ] = None,
    bank: Annotated[
        str | None, typer.Option(help="Sound bank of every set: procedural, esc50:DIR[:folds=..], or DIR.")
    ] = None,
    write_protocol: Annotated[
        Path | None,
        typer.Option(help="Only write the protocol that would run to this file (.toml or .json), and exit."),
    ] = None,
    bench: BenchFlags = BenchFlags(),
    shard: ShardOpt = None,
) -> None:
    """The whole benchmark protocol: dev split and held-out test sets, every tunable condition tuned on dev
    with the same budget, every condition and control on every test set, one summary and one report.

    Resumable (rerun the same command after a kill) and shardable (--shard K/N with the same --out; a
    shard that finishes a stage before the others exits: rerun it once they are done).
    """
    from dataclasses import replace

    from ..bench.protocol_file import check_protocol_path, load_protocol, save_protocol, sets_of
    from ..bench.protocol_record import check_recorded
    from ..bench.protocol_sets import check_layouts
    from ..files import check_output
    from ..scenes import get_bank
    from ..shards import parse_shard

    chosen = load_protocol(protocol)
    if bank is not None:
        chosen = replace(chosen, bank=bank)
    if write_protocol is not None:
        unused = [
            flag
            for flag, given in (
                ("--out", out is not None),
                ("--model", model is not None),
                ("--shard", shard is not None),
                ("--device", bench.device != "auto"),
                ("--dtype", bench.dtype != "auto"),
            )
            if given
        ]
        if unused:
            raise OptionError(
                f"--write-protocol only writes the protocol: {', '.join(unused)} would be unused"
            )
        check_protocol_path(write_protocol, "--write-protocol")
        check_outputs([("--write-protocol", write_protocol)], [protocol] if protocol else [], bench.mkdir)
        get_bank(chosen.bank)  # a protocol of an unknown bank is not written
        typer.echo(f"wrote {save_protocol(chosen, write_protocol)}")
        return
    if out is None:
        raise OptionError("give --out DIR (the run's directory), or --write-protocol FILE")
    part = parse_shard(shard)
    folders = get_bank(chosen.bank).folders()  # an unknown or missing bank is one line before the model
    inputs = [protocol] if protocol else []
    check_output(out, inputs, directory=True, option="--out", mkdir=bench.mkdir, input_folders=folders)
    check_recorded(chosen, out)  # a folder of another protocol (its model is compared once loaded)
    check_layouts(chosen)  # each set's scene options and bank, before torch
    check_clip_length(model, max(s.duration_s for s in sets_of(chosen)), "protocol")
    adapter = bench.load(model)
    from ..bench.protocol import run_protocol
    from ..records.layout import REPORT_NAME

    report = run_protocol(adapter, chosen, out, part, bench.progress)
    if report.stage != "done":
        typer.echo(f"shard {shard}: {report.waiting}; rerun this command when the other shards are done")
        return
    from ..report.protocol import write_protocol_report

    paths = [*report.written, write_protocol_report(out, chosen, out / REPORT_NAME, report.inputs)]
    typer.echo(f"protocol done in {report.seconds:.0f} s: " + ", ".join(str(p) for p in paths))


@app.command("report")
def report_html(
    results: Annotated[
        list[Path],
        typer.Argument(
            help="A results.jsonl of the benchmark (or all shards of one run).", metavar="RESULTS..."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output HTML file (self-contained: images and sounds embedded).")],
    scenes: Annotated[
        Path | None,
        typer.Option(
            help="Scene manifest (or its directory): draws every event of a scene, and gives each gallery "
            "figure its scene's audio (click the figure to hear it there)."
        ),
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
    progress: ProgressOpt = True,
    mkdir: MkdirOpt = False,
) -> None:
    """Write one self-contained HTML report: tables with CIs, position breakdown, attention, gallery."""
    if gallery < 0:
        raise OptionError("--gallery must be at least 0")
    check_seed(seed)
    from ..scenes.manifest import manifest_file

    inputs = [*results, *(p for p in (scenes, sweep) if p is not None)]
    if scenes is not None:
        inputs.append(manifest_file(scenes))  # a folder's manifest is what is read
    check_html_name(out, "--out")
    check_outputs([("--out", out)], inputs, mkdir)
    from ..report import write_report

    path = write_report(
        results, out, scenes, sweep, per_group=gallery, seed=seed, condition=condition, progress=progress
    )
    typer.echo(f"wrote {path}")
