"""``env``, ``make-tiny-model`` and ``scenes make|import``: the environment, test models and scenes."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import OptionError, OutputError, WTLError
from .app import app, scenes_app
from .groups import grouped
from .options import MkdirOpt, OverwriteOpt, ProgressOpt, check_seed, finite, parse_pair

if TYPE_CHECKING:
    from ..scenes import SceneOptions


def torch_build(version: str, cuda: str | None, hip: str | None) -> str:
    """Which torch build this is, in words: "CUDA 13.0", "ROCm 6.3" or "CPU only" (bug reports need it:
    a CUDA build on a machine without a GPU is twice the memory of a CPU one)."""
    if cuda:
        return f"CUDA {cuda} ({version})"
    if hip:
        return f"ROCm {hip} ({version})"
    return f"CPU only ({version})"


def _declared_settings(declared: dict[str, Any]) -> dict[str, str]:
    """The localize and detection settings a checkpoint's ``wheretolisten.json`` declares, for ``env``
    (detection settings prefixed ``detect_``: both sections may name ``smooth_s`` and ``fraction``)."""
    detect = {f"detect_{k}": v for k, v in declared.get("detect", {}).items()}
    shown = {**declared.get("localize", {}), **detect}
    return {k: ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in shown.items()}


def _thread_policy(model: Path) -> str:
    """What ``wheretolisten.threads`` would choose for ``model`` now, and why."""
    from ..models.checkpoint import parameter_count
    from ..threads import physical_cores, resolve_threads, usable_cpus

    cpus = usable_cpus()
    choice = resolve_threads(None, parameter_count(model))
    count = "torch's own" if choice.threads is None else str(choice.threads)
    return f"{count} (from {choice.reason}; {len(cpus)} usable CPUs on {physical_cores(cpus)} physical cores)"


@app.command("env")
def env(
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of lines.", metavar="")
    ] = False,
) -> None:
    """Versions, devices and supported model families: paste this into a bug report."""
    import importlib.metadata
    import platform

    import torch

    from .. import __version__
    from ..models import FAMILIES
    from ..models.registry import UNAVAILABLE_FAMILIES, read_recommended
    from ..organism import default_model_path
    from ..vocabulary import declared_vocabulary

    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    packages = ("torch", "transformers", "numpy", "safetensors", "soundfile", "soxr")
    extras = ("matplotlib", "sed_scores_eval", "sed_eval", "ray")
    info: dict[str, Any] = {
        "wheretolisten": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        **{name: version(name) for name in (*packages, *extras)},
        "torch_build": torch_build(
            torch.__version__, torch.version.cuda, getattr(torch.version, "hip", None)
        ),
        "cuda": torch.version.cuda,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "cpu_threads": torch.get_num_threads(),
        "families": sorted(FAMILIES),
        "unavailable_families": {name: reason for name, reason in sorted(UNAVAILABLE_FAMILIES.items())},
    }
    try:
        info["shipped_model"] = str(default_model_path())
        info["threads_for_shipped_model"] = _thread_policy(default_model_path())
        declared = read_recommended(default_model_path())
        info["shipped_model_settings"] = _declared_settings(declared)
        vocab = declared_vocabulary(declared)
        if vocab is not None:  # what a query to the shipped model may name
            info["shipped_model_sounds"] = list(vocab.sounds)
            info["shipped_model_speech"] = [vocab.speech_query.format(text=t) for t in vocab.speech]
    except WTLError as exc:  # a broken install should still be describable
        info["shipped_model"] = f"missing ({exc})"
    if json_out:
        typer.echo(json.dumps(info, indent=2))
        return
    for key, shown in info.items():
        if isinstance(shown, dict):
            text = "; ".join(f"{k} ({v})" for k, v in shown.items())
        else:
            text = ", ".join(shown) if isinstance(shown, list) else shown
        typer.echo(f"{key}: {text if text not in (None, '') else 'none'}")


@app.command("make-tiny-model")
def make_tiny_model(
    family: Annotated[str, typer.Option(help="A supported family (see 'wheretolisten env').")],
    out: Annotated[Path, typer.Option(help="Directory to write the model and processor to.")],
    seed: Annotated[int, typer.Option(help="Seed for the random weights.")] = 0,
    mkdir: MkdirOpt = False,
    overwrite: OverwriteOpt = False,
) -> None:
    """Write a random-weight model of the exact architecture (a few MB) with a working processor."""
    from ..files import check_output
    from ..models.families import NAMES

    if family not in NAMES:  # before torch; whether a known family can run here is the registry's answer
        raise OptionError(f"unknown family {family!r}; choose one of {', '.join(NAMES)}")
    check_seed(seed)
    check_output(out, directory=True, option="--out", mkdir=mkdir)
    if not overwrite and out.is_dir() and any(out.iterdir()):  # a checkpoint folder is never replaced unasked
        raise OutputError(
            f"--out {out} is not empty (a model folder?); pass --overwrite to write the tiny model into it, "
            "or give a new folder"
        )
    from ..models.registry import UNAVAILABLE_FAMILIES

    if family in UNAVAILABLE_FAMILIES:
        raise OptionError(f"family {family!r} cannot run here: {UNAVAILABLE_FAMILIES[family]}")
    from transformers.utils import logging as hf_logging

    from ..models.tiny import make_tiny_model as build

    hf_logging.disable_progress_bar()  # a shard-writing bar is noise (and not one error line on failure)

    path = build(family, out, seed, overwrite=overwrite)
    typer.echo(f"wrote a tiny {family} model to {path}")


@dataclass(frozen=True)
class LayoutFlags:
    """--placement, --max-overlap, --level-db, --background, --background-db and --event-s: how the events
    of a scene are placed, how loud, over what (``scenes.SceneOptions``; the defaults give the original
    scenes)."""

    placement: Annotated[
        str, typer.Option(help="slots: one event per equal slot; free: anywhere (see --max-overlap).")
    ] = "slots"
    max_overlap: Annotated[
        float, typer.Option(help="Free placement: largest fraction of an event that may overlap others.")
    ] = 0.0
    level_db: Annotated[
        str, typer.Option(help="LO,HI: per-event gain in dB drawn uniformly (relative to the usual level).")
    ] = "0,0"
    background: Annotated[
        str,
        typer.Option(
            help="none, white, pink, brown, babble (synthetic talkers) or sounds (quiet other sounds)."
        ),
    ] = "none"
    background_db: Annotated[
        str, typer.Option(help="LO,HI: background level in dB relative to the events (-60..-10).")
    ] = "-30,-20"
    event_s: Annotated[str, typer.Option(help="MIN,MAX: event length in seconds (free placement).")] = "1,4"

    def options(self) -> SceneOptions:
        """The scene layout these options give, checked (numbers finite, LO,HI pairs well formed)."""
        from ..scenes import SceneOptions

        finite(self.max_overlap, "--max-overlap")
        options = SceneOptions(
            placement=self.placement,
            max_overlap=self.max_overlap,
            level_db=parse_pair(self.level_db, "--level-db"),
            background=self.background,
            background_db=parse_pair(self.background_db, "--background-db"),
            event_s=parse_pair(self.event_s, "--event-s"),
        )
        given = {f.name for f in dataclasses.fields(self) if getattr(self, f.name) != f.default}
        if "event_s" in given and self.placement != "free":  # an option that would change nothing
            raise OptionError("--event-s needs --placement free (slots size their events)")
        if "background_db" in given and self.background == "none":
            raise OptionError("--background-db needs --background (e.g. white)")
        return options


@scenes_app.command("make")
@grouped
def scenes_make(
    out: Annotated[Path, typer.Option(help="Output directory (audio/, manifest.jsonl, events.tsv).")],
    n: Annotated[int, typer.Option(help="Number of scenes.")] = 100,
    bank: Annotated[
        str,
        typer.Option(
            help="procedural, speech[:telephone=P][:engines=espeak-ng,flite], asterisk-words, freedesktop, "
            "a folder DIR/label/<audio files>, an ESC-50 directory, or several joined by '+'; add "
            "':labels=a,b' to keep only some labels."
        ),
    ] = "procedural",
    events: Annotated[int, typer.Option(help="Events per scene.")] = 3,
    duration: Annotated[float, typer.Option(help="Scene duration in seconds.")] = 10.0,
    seed: Annotated[int, typer.Option(help="Seed (same seed, same scenes).")] = 0,
    sample_rate: Annotated[int, typer.Option(help="Sample rate of the written wavs.")] = 16000,
    repeats: Annotated[
        int, typer.Option(help="How often one sound class may occur in a scene (1: every event distinct).")
    ] = 1,
    layout: LayoutFlags = LayoutFlags(),
    progress: ProgressOpt = True,
    mkdir: MkdirOpt = False,
    overwrite: OverwriteOpt = False,
) -> None:
    """Write N scenes of EVENTS sound events each (distinct classes unless --repeats): one per slot by
    default, or placed freely, at spread levels, over a background."""
    from ..scenes import get_bank, make_scenes

    if n < 1:
        raise OptionError("--n must be at least 1")
    check_seed(seed)
    finite(duration, "--duration", positive=True)
    options = layout.options()
    from ..files import check_output

    chosen = get_bank(bank)
    check_output(out, directory=True, option="--out", mkdir=mkdir, input_folders=chosen.folders())
    scenes = make_scenes(
        chosen,
        n,
        out,
        n_events=events,
        duration_s=duration,
        seed=seed,
        sample_rate=sample_rate,
        repeats=repeats,
        progress=progress,
        options=options,
        overwrite=overwrite,
    )
    typer.echo(f"wrote {len(scenes)} scenes to {out}")


@scenes_app.command("import")
def scenes_import(
    labels: Annotated[
        Path,
        typer.Option(
            "--labels",
            "--tsv",
            help="The data set's label file, as published (desed: a TSV filename, onset, offset, "
            "event_label; see docs/datasets.md for the others).",
        ),
    ],
    audio: Annotated[Path, typer.Option(help="Folder holding the annotated audio files.")],
    out: Annotated[Path, typer.Option(help="Output directory for manifest.jsonl (and events.tsv).")],
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="desed, audiogrounding, tacos, audioset-strong or castella (docs/datasets.md)."
        ),
    ] = "desed",
    queries: Annotated[
        Path | None,
        typer.Option(
            help="JSON {label: query text} (default: the data set's text, else the label in lower case); "
            "each label must occur in the label file, each text must not be empty."
        ),
    ] = None,
    label_map: Annotated[
        Path | None,
        typer.Option(help="audioset-strong: mid_to_display_name.tsv (MID, tab, display name per line)."),
    ] = None,
    single: Annotated[
        bool,
        typer.Option(
            "--single",
            help="Skip clips whose labels repeat or whose events overlap (default: keep them; a query "
            "may have several intervals).",
        ),
    ] = False,
    overwrite: OverwriteOpt = False,
    mkdir: MkdirOpt = False,
) -> None:
    """Make a benchmark manifest from annotated real recordings; clips that do not fit are listed."""
    from ..files import check_output
    from ..scenes.datasets import FORMATS, import_dataset

    if fmt not in FORMATS:
        raise OptionError(f"unknown --format {fmt!r}; choose {', '.join(FORMATS)}")
    inputs = [labels, *([queries] if queries else []), *([label_map] if label_map else [])]
    check_output(out, inputs, directory=True, option="--out", mkdir=mkdir)
    report = import_dataset(fmt, labels, audio, out, queries, label_map, single, overwrite)
    for name, reason in list(report.skipped.items())[:10]:
        typer.echo(f"skipped {name}: {reason}")
    if len(report.skipped) > 10:
        typer.echo(f"... and {len(report.skipped) - 10} more skipped")
    if report.manifest is None:
        raise WTLError(f"no annotated clip could be imported from {labels}")
    several = sum(len({e.query for e in s.events}) < len(s.events) for s in report.scenes)
    typer.echo(
        f"wrote {len(report.scenes)} scenes to {report.manifest} ({len(report.skipped)} skipped; "
        f"{several} with a query of several intervals)"
    )
