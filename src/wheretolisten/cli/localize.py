"""``localize``, ``generate`` and ``vector build|show``: steer a model on your own audio."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..audio import FORMATS_TEXT
from ..errors import WTLError
from .app import app, vector_app
from .flags import as_flags
from .found import ClipFiles, RunFiles, emit, tsv_rows, write_html, write_tsv
from .groups import DetectionFlags, MachineFlags, SpanFlags, SteeringFlags, grouped
from .model_folder import check_fits, check_segment_fits
from .options import (
    AlphaOpt,
    LayersOpt,
    MkdirOpt,
    ModelOpt,
    OverwriteOpt,
    PositionsOpt,
    ProgressOpt,
    check_audio,
    check_html_name,
    check_outputs,
    check_query,
    check_span,
    check_vector_outputs,
    resolved,
)

if TYPE_CHECKING:
    from ..scenes.lookup import GTSpan

AudioArg = Annotated[Path, typer.Argument(help=f"Audio file ({FORMATS_TEXT}).", metavar="AUDIO")]

#: Key of a checkpoint's ``wheretolisten.json`` whose text ``generate`` prints under the answers.
GENERATE_NOTE_KEY = "generate_note"


def plot_ground_truth(
    out: Path | None, audio: Path, manifest: Path | None, page: Path | None = None
) -> list[GTSpan]:
    """Check that plotting (``out``) can work before the model runs, and find the clip's ground-truth
    events for the figure or the page (``page``)."""
    if out is None and page is None:
        if manifest is not None:
            raise WTLError("--gt-manifest only matters with --plot or --html (or plot-layers)")
        return []
    from ..scenes.lookup import gt_for_audio

    if out is not None:
        from ..figures import figure_format, require_matplotlib

        require_matplotlib()
        figure_format(out)
    return gt_for_audio(audio, manifest)


def check_page(page: Path | None, link_audio: bool) -> None:
    """--html needs an .html name; --link-audio only matters with it."""
    if page is None:
        if link_audio:
            raise WTLError("--link-audio only matters with --html")
        return
    check_html_name(page, "--html")


@app.command()
@grouped
def localize(
    audio: Annotated[
        list[Path],
        typer.Argument(
            help=f"Audio file(s) ({FORMATS_TEXT}); resampled and downmixed as needed. With several files, "
            "each is localized in turn (see --jsonl).",
            metavar="AUDIO",
        ),
    ],
    query: Annotated[
        list[str] | None,
        typer.Option(
            "--query",
            "-q",
            metavar="TEXT",
            help="The sound to find, e.g. 'the dog barking'; repeat it for several sounds.",
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
    steering: SteeringFlags = SteeringFlags(),
    span: SpanFlags = SpanFlags(),
    machine: MachineFlags = MachineFlags(),
    files: ClipFiles = ClipFiles(),
    gt_manifest: Annotated[
        Path | None,
        typer.Option(
            "--gt-manifest",
            "--scenes",
            help="Scene manifest listing AUDIO, for ground truth in --plot and --html (default: "
            "DIR/manifest.jsonl when AUDIO is DIR/audio/*.wav).",
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write one self-contained page of the run: the audio with a player, its spectrogram, "
            "base/steered/Δ per query, detections, ground truth and settings; click to play from there.",
        ),
    ] = None,
    link_audio: Annotated[
        bool,
        typer.Option(
            "--link-audio",
            help="With --html: link the audio file (by its path relative to the page) instead of "
            "embedding a compressed copy.",
        ),
    ] = False,
    run: RunFiles = RunFiles(),
    progress: ProgressOpt = True,
    found_by: DetectionFlags = DetectionFlags(),
    overwrite: OverwriteOpt = False,
    mkdir: MkdirOpt = False,
) -> None:
    """Find when QUERY happens in AUDIO by steering where the model listens; print every occurrence.

    Audio longer than the model takes at once (or than --segment-s) is cut into overlapping windows,
    each localized on its own and stitched onto one time axis.
    With several --query options the audio is encoded once and every query shares it. --json and
    --save-vector then write one file per query, numbered in query order (OUT.1.json, OUT.2.json, ...),
    and --plot draws every query's Δ in one figure.
    With several audio files, results go to stdout, --jsonl and --tsv; a file that cannot be read is
    reported on stderr and skipped, and the exit status is 2 if any was.
    """
    for q in query or []:
        check_query(q)
    queries = list(query or [])
    steer = None
    if vector is not None:
        from ..vectors import SteeringVector

        steer = SteeringVector.load(vector)
    if steer is not None and not queries and steer.metadata.get("query"):
        queries = [str(steer.metadata["query"])]
    if not queries:
        raise WTLError("give the sound to find with --query (or a saved --vector that names one)")
    if steer is not None and len(queries) > 1:
        raise WTLError("--vector steers one query; give at most one --query with it")
    several = len(audio) > 1
    if several and (files.named or html):
        raise WTLError(
            "--json, --plot, --html and --save-vector take one audio file; with several, use --jsonl"
        )
    check_page(html, link_audio)
    run.check_names(audio)
    config = steering.config()
    windows, detection = found_by.windows(), found_by.detection()
    check_segment_fits(model, windows)
    if steer is not None and config.layers:  # a layer the saved vector has no direction for
        missing = [layer for layer in config.layers if layer not in steer.directions]
        if missing:
            raise WTLError(
                f"--layers {','.join(map(str, config.layers))}: the vector {vector} has no direction for "
                f"layer {missing[0]} (it has layers {','.join(map(str, steer.layers))})"
            )
    if not several:
        check_audio(audio)
    else:  # unreadable files are skipped, but with none readable the model need not load
        problems = []
        for path in audio:
            try:
                check_audio([path])
            except WTLError as exc:
                problems.append(str(exc))
        if len(problems) == len(audio):
            raise WTLError(f"none of the {len(audio)} audio files can be read (the first: {problems[0]})")
    check_span(audio, *span.pair)
    inputs = [*audio, *(p for p in (vector, gt_manifest) if p is not None)]
    if vector is not None:  # the vector's metadata beside it is its input too (vector build wrote it)
        from ..vectors import metadata_path

        inputs.append(metadata_path(vector))
    if not several and (files.plot is not None or html is not None):
        from ..scenes.lookup import gt_manifest_read

        inputs += [p for p in (gt_manifest_read(audio[0], gt_manifest),) if p is not None]
    outputs = [*files.outputs(len(queries), overwrite), ("--html", html), *run.outputs()]
    check_outputs(outputs, inputs, mkdir)
    from ..records.localize_log import check_log

    check_log(run.jsonl)
    gt = [] if several else plot_ground_truth(files.plot, audio[0], gt_manifest, html)
    adapter = machine.load(model, steer.layers if steer and config.layers is None else config.layers)
    cfg = resolved(adapter, config, steer)
    detection = detection.filled(adapter.recommended)  # the model's detection settings where none given
    segments = windows.resolved(adapter.max_audio_limit_s, adapter.token_s)  # refuses what it cannot take
    from ..long import is_long, localize_file
    from ..progress import progress as progress_bar
    from ..records.localize_log import done_key, log_lines, results_log, resume_key

    if not several and is_long(adapter, audio[0], span.pair, windows):
        files.refuse_windows()
    keys = {f: resume_key(f, span.pair, vector, segments) for f in audio} if run.jsonl else {}
    made_with = adapter.computed_with
    with results_log(run.jsonl, adapter.name, cfg.to_json(), detection.to_json(), segments, made_with) as (
        done,
        log,
    ):
        failed = 0
        todo = [(f, [q for q in queries if done_key(f, q, keys) not in done]) for f in audio]
        todo = [(f, qs) for f, qs in todo if qs]
        asked = {done_key(f, q, keys) for f in audio for q in queries}
        found = [tsv_rows(k[0], k[1], d) for k, d in done.items() if k in asked]  # resumed pairs
        with progress_bar(len(todo), "localize", progress and several, unit="file") as advance:
            for path, wanted in todo:
                try:
                    bar = progress and not several  # one bar at a time: windows of one file, or files
                    results = localize_file(
                        adapter,
                        path,
                        wanted,
                        cfg,
                        windows=windows,
                        detection=detection,
                        vector=steer,
                        span=span.pair,
                        show_progress=bar,
                    )
                except WTLError as exc:
                    if not several:
                        raise
                    message = str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}"
                    typer.echo(f"wheretolisten: error: {as_flags(message)}", err=True)
                    failed += 1
                    advance(1, path.name)
                    continue
                emit(results, path, several, files, gt, adapter.sample_rate)
                if html is not None:
                    write_html(results, path, html, gt, link_audio)
                rows = log_lines(results, keys.get(path), made_with)
                found += [tsv_rows(str(path), row["query"], row["detections"]) for row in rows]
                log(rows)
                advance(1, path.name)
    if run.tsv is not None:
        write_tsv(run.tsv, found)
    skipped = len(audio) - len(todo)
    if run.jsonl is not None and skipped:
        typer.echo(f"{skipped} file(s) already in {run.jsonl}: skipped")
    if failed:
        raise WTLError(f"{failed} of {len(audio)} audio files failed (see above)")


@app.command()
@grouped
def generate(
    audio: AudioArg,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="The sound to steer towards (or use --vector).")
    ] = None,
    vector: Annotated[Path | None, typer.Option(help="Steer with this saved vector instead.")] = None,
    prompt: Annotated[str, typer.Option(help="What the model is asked.")] = "Describe the audio.",
    model: ModelOpt = None,
    layers: LayersOpt = None,
    alpha: AlphaOpt = None,
    positions: PositionsOpt = None,
    steer_answer: Annotated[
        bool,
        typer.Option(
            "--steer-answer/--steer-prompt-only",
            help="Keep steering the generated tokens (positions last, text, all), or steer the prompt only.",
            metavar="",
        ),
    ] = False,
    max_new_tokens: Annotated[int, typer.Option(help="Longest answer, in tokens.")] = 64,
    span: SpanFlags = SpanFlags(),
    machine: MachineFlags = MachineFlags(),
) -> None:
    """What the model says about AUDIO without and with steering towards QUERY (greedy decoding).

    The steering vector is the one localize builds (instructed − neutral prompts on this clip) or a saved
    one. By default only the prompt is steered: steering every generated token at the strength that
    localizes best tends to make the answer repeat itself (docs/generation.md has the measurement).
    """
    steer = None
    if vector is not None:
        from ..vectors import SteeringVector

        steer = SteeringVector.load(vector)
    if steer is None and not (query and query.strip()):
        raise WTLError("give the sound to steer towards with --query (or a saved --vector)")
    if max_new_tokens < 1:
        raise WTLError("--max-new-tokens must be at least 1")
    check_query(query)
    if not prompt.strip():
        raise WTLError("--prompt is empty; give what the model is asked (default: 'Describe the audio.')")
    from ..prompts import MAX_PROMPT_CHARS, check_text_length

    check_text_length(prompt, MAX_PROMPT_CHARS, "--prompt")
    config = SteeringFlags(layers, alpha, positions=positions).config()
    if steer_answer and config.positions is not None:
        from ..settings import Positions

        if not Positions.parse(config.positions).continues_in_generation:  # it was accepted and did nothing
            raise WTLError(
                f"--steer-answer keeps steering the generated tokens, which positions {config.positions} do "
                "not include: use --positions last, text or all, or leave --steer-answer out"
            )
    check_audio([audio])
    check_span([audio], *span.pair)
    check_fits(model, audio, *span.pair)
    adapter = machine.load(model, config.layers)
    cfg = resolved(adapter, config, steer)
    from ..localize import instruction_vector, prepare_audio
    from ..steering import steered_generate

    clip, _ = prepare_audio(adapter, audio, start_s=span.start, end_s=span.end)
    if steer is None:
        assert query is not None
        steer = instruction_vector(adapter, clip, query, cfg, sample_rate=adapter.sample_rate)
    base, steered = steered_generate(
        adapter, clip, steer, cfg.alpha, prompt, cfg.positions, cfg.layers, max_new_tokens, steer_answer
    )
    if vector is None:
        target = repr(query)
    else:  # the saved vector steers towards its own sound, whatever --query says
        built = steer.metadata.get("query")
        target = f"the vector {vector.name}" + (f" (built for {built!r})" if built else "")
    typer.echo(f"prompt: {prompt}")
    typer.echo(f"unsteered: {base}")
    typer.echo(f"steered towards {target} (layers {cfg.layers}, α = {cfg.alpha:g}): {steered}")
    note = adapter.recommended.get(GENERATE_NOTE_KEY)
    if isinstance(note, str) and note:  # what the checkpoint's steered answers mean (its wheretolisten.json)
        typer.echo(f"note: {note}")


@vector_app.command("build")
@grouped
def vector_build(
    audio: Annotated[Path, typer.Argument(help="The clip the vector is contrasted on.", metavar="AUDIO")],
    query: Annotated[str, typer.Option("--query", "-q", help="The sound named in the instructed prompts.")],
    out: Annotated[
        Path, typer.Option(help="Output .safetensors path (a .json with the metadata is written beside it).")
    ],
    model: ModelOpt = None,
    layers: LayersOpt = None,
    positions: Annotated[
        str, typer.Option(help="Where activations are read: last, instruction, text or all.")
    ] = "last",
    span: SpanFlags = SpanFlags(),
    machine: MachineFlags = MachineFlags(),
    overwrite: OverwriteOpt = False,
    mkdir: MkdirOpt = False,
) -> None:
    """Build an instruction steering vector (instructed − neutral prompts on the same audio) and save it."""
    from ..settings import LocalizeConfig, check_read_positions

    check_query(query)
    check_read_positions(positions, "--positions")
    check_audio([audio])
    check_span([audio], *span.pair)
    check_outputs(check_vector_outputs(out, "--out", overwrite), [audio], mkdir)
    check_fits(model, audio, *span.pair)
    base = SteeringFlags(layers).config()
    config = LocalizeConfig(layers=base.layers, read_positions=positions)
    adapter = machine.load(model, config.layers)
    from ..localize import instruction_vector, prepare_audio

    cfg = resolved(adapter, config)
    clip, _ = prepare_audio(adapter, audio, start_s=span.start, end_s=span.end)
    vec = instruction_vector(adapter, clip, query, cfg, sample_rate=adapter.sample_rate)
    vec.metadata["audio"] = str(audio)
    path = vec.save(out, overwrite=overwrite)
    norms = ", ".join(f"{k}: {v:.3g}" for k, v in vec.norms().items())
    typer.echo(f"wrote {path} (layer norms {norms})")


@vector_app.command("show")
def vector_show(
    vectors: Annotated[
        list[Path],
        typer.Argument(help="Saved vectors (.safetensors); two or more are compared.", metavar="V..."),
    ],
) -> None:
    """Print what a saved vector was built from (model, query, positions, templates) and its layer norms;
    with several vectors, their cosine similarity per common layer."""
    from ..vectors import SteeringVector

    loaded = [SteeringVector.load(v) for v in vectors]
    for path, vec in zip(vectors, loaded, strict=True):
        meta = vec.metadata
        typer.echo(f"{path}")
        for key in ("kind", "model", "family", "query", "positions", "audio", "prompt"):
            if meta.get(key) is not None:
                typer.echo(f"  {key}: {meta[key]}")
        for key in ("instructed_templates", "neutral_templates"):
            if isinstance(meta.get(key), list) and meta[key]:
                typer.echo(f"  {key}: " + " | ".join(str(t) for t in meta[key]))
        typer.echo("  layer norms: " + ", ".join(f"{k}: {v:.4g}" for k, v in vec.norms().items()))
    for i in range(len(loaded)):
        for j in range(i + 1, len(loaded)):
            cos = loaded[i].cosine(loaded[j])
            shown = ", ".join(f"{k}: {v:+.3f}" for k, v in cos.items()) if cos else "no common layer"
            typer.echo(f"cosine {vectors[i].name} vs {vectors[j].name}: {shown}")
