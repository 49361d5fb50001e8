"""What ``localize`` computes for one file and how it reports it: lines, --json, --tsv, --plot.

What is computed is the library's (``long.localize_file``: one clip, or windows for a file longer than
one segment); this module prints and writes it. Every result carries its detections.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import OptionError, WTLError
from .options import check_vector_outputs, numbered, vector_file

if TYPE_CHECKING:
    from ..results import LocalizeResult, WindowedResult
    from ..scenes.lookup import GTSpan

    Result = LocalizeResult | WindowedResult

#: Detections printed per query on the terminal (all of them go to --json and --tsv).
SHOWN = 5


def summary_line(result: Result) -> str:
    """One line a newcomer can read: where the sound was found (detections: stretches scoring at least
    --min-score), which of them holds the attention peak (the single strongest moment of the shift), and,
    when none counts, the best candidate's score next to the threshold it missed."""
    query, threshold, peak = repr(result.query), result.detection.min_score, result.peak_s
    if peak is None:
        return f"{query}: not found (steering moved no attention: Δ is flat, no peak)"
    found = result.detections
    if not found:
        best = result.strongest()
        if best is None:
            return f"{query}: not found (no moment rose); the attention peak is at {peak:.2f} s"
        span = f"{best.onset_s:.2f}–{best.offset_s:.2f} s"
        return (
            f"{query}: not found: the best candidate, {span}, scores {best.score:.2g}, below the "
            f"{threshold:g} a detection needs (--min-score); the attention peak (the single strongest "
            f"moment) is at {peak:.2f} s"
        )
    holder = next((i for i, d in enumerate(found) if d.onset_s <= peak < d.offset_s), None)
    parts = []
    for i, d in enumerate(found[:SHOWN]):
        note = f", holds the attention peak {peak:.2f} s" if i == holder else ""
        parts.append(f"{d.onset_s:.2f}–{d.offset_s:.2f} s (score {d.score:.2g}{note})")
    more = f", … {len(found) - SHOWN} more (--json, --tsv)" if len(found) > SHOWN else ""
    line = f"{query}: found {len(found)}× (score >= {threshold:g}): {', '.join(parts)}{more}"
    if holder is None:
        line += f"; the attention peak, {peak:.2f} s, is outside every detection"
    elif holder >= SHOWN:
        line += f"; the attention peak, {peak:.2f} s, is in detection {holder + 1}"
    return line


@dataclass(frozen=True)
class ClipFiles:
    """--json, --save-vector and --plot: the files written for the results of one audio file, one per
    query (numbered when there are several), or one figure of them all."""

    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the full result (profiles, settings) here.")
    ] = None
    save_vector: Annotated[
        Path | None, typer.Option(help="Also save the steering vector (.safetensors + .json).")
    ] = None
    plot: Annotated[
        Path | None,
        typer.Option(
            help="Also draw waveform, log-mel, attention and Δ to this .png/.svg/.pdf (needs matplotlib)."
        ),
    ] = None

    @property
    def named(self) -> bool:
        """Whether any of the three is asked for."""
        return any(p is not None for p in (self.json_out, self.save_vector, self.plot))

    def outputs(self, queries: int, overwrite: bool) -> list[tuple[str, Path | None]]:
        """Every file written for ``queries`` queries, by option (for ``options.check_outputs``); with
        several queries the numbered files (OUT.1.json, ...) were not named by the user, so an existing one
        is refused unless ``overwrite`` (it was replaced without a word)."""
        from ..files import check_replace

        outputs = [
            ("--json", numbered(self.json_out, i, queries) if self.json_out else None) for i in range(queries)
        ]
        for i in range(queries if self.save_vector else 0):
            assert self.save_vector is not None
            target = numbered(vector_file(self.save_vector, "--save-vector"), i, queries)
            outputs += check_vector_outputs(target, "--save-vector", overwrite)
        if queries > 1:  # (a vector's numbered .json is checked as every vector's metadata is)
            for option, path in outputs:
                if path is not None and (option == "--json" or path.suffix == ".safetensors"):
                    check_replace(path, option, overwrite)
        return [*outputs, ("--plot", self.plot)]

    def refuse_windows(self) -> None:
        """--plot and --save-vector need one clip: a windowed recording has one vector per window."""
        if self.plot is not None or self.save_vector is not None:
            raise WTLError(
                "the audio is longer than one segment and is cut into windows (one vector each): --plot and "
                "--save-vector need one clip; pick a span with --start/--end, or use --json / --tsv"
            )


@dataclass(frozen=True)
class RunFiles:
    """--jsonl and --tsv: the files that gather the results of every audio file of a run (with several
    files, where the results go besides stdout)."""

    jsonl: Annotated[
        Path | None,
        typer.Option(
            help="Append one JSON line per (file, query) to this file; a rerun skips the pairs already in "
            "it (resumable, append-only)."
        ),
    ] = None
    tsv: Annotated[
        Path | None,
        typer.Option(
            help="Write every detection to this DCASE TSV (filename onset offset event_label; the "
            "label is the query)."
        ),
    ] = None

    def outputs(self) -> list[tuple[str, Path | None]]:
        """Both files, by option (for ``options.check_outputs``)."""
        return [("--jsonl", self.jsonl), ("--tsv", self.tsv)]

    def check_names(self, audio: list[Path]) -> None:
        """--tsv names each file by its base name (as DCASE references do): two files of one name would
        share their rows, so they are refused before anything runs."""
        if self.tsv is None:
            return
        seen: dict[str, Path] = {}
        for path in audio:
            if path.name in seen:
                raise OptionError(
                    f"--tsv names files by their base name, and {seen[path.name]} and {path} are both "
                    f"{path.name!r}: give each name once (run them separately, or use --jsonl alone)"
                )
            seen[path.name] = path


def emit(
    results: list[Result], path: Path, several: bool, files: ClipFiles, gt: list[GTSpan], sample_rate: int
) -> None:
    """Print one line per result, its peak and detections (prefixed with the file when several run);
    write the ``files`` (--json, --save-vector, --plot) for it."""
    from ..files import write_atomic
    from ..results import LocalizeResult

    json_out, save_vector, plot = files.json_out, files.save_vector, files.plot
    where = f"{path}: " if several else ""
    for i, result in enumerate(results):
        typer.echo(f"{where}{summary_line(result)}")
        if json_out is not None:
            write_atomic(numbered(json_out, i, len(results)), json.dumps(result.to_json(), indent=2) + "\n")
        if save_vector is not None and isinstance(result, LocalizeResult):
            # the path ClipFiles.outputs checked (its --overwrite too) before anything was computed
            target = numbered(vector_file(save_vector, "--save-vector"), i, len(results))
            result.vector.save(target, overwrite=True)
    single = [r for r in results if isinstance(r, LocalizeResult)]
    if plot is not None and len(single) == len(results):
        from ..figures import plot_localization, plot_queries

        if len(single) == 1:
            plot_localization(single[0], path, sample_rate, plot, gt)
        else:
            plot_queries(single, path, sample_rate, plot, gt)
        typer.echo(f"wrote {plot}")


def write_html(results: list[Result], path: Path, out: Path, gt: list[GTSpan], link_audio: bool) -> None:
    """The page of one file's run (every query), with its audio embedded or linked; say so."""
    from ..page import write_page

    write_page(results, path, out, gt=gt, link_audio=link_audio)
    typer.echo(
        f"wrote {out}"
        + (f" (the audio is linked: keep {path} where the page finds it)" if link_audio else "")
    )


def tsv_rows(
    path: str, query: str, detections: list[dict[str, Any]]
) -> tuple[str, str, list[dict[str, Any]]]:
    """One (filename, label, detections) item of the --tsv output: the file's name, the query as label."""
    return Path(path).name, query, detections


def write_tsv(out: Path, items: list[tuple[str, str, list[dict[str, Any]]]]) -> None:
    """Write the DESED/DCASE detection TSV atomically and say so."""
    from ..detections import tsv_text
    from ..files import write_atomic

    write_atomic(out, tsv_text(items))
    typer.echo(f"wrote {sum(len(d) for _, _, d in items)} detections to {out}")
