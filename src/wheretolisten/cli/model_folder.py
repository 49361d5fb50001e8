"""What a model folder's own files say, checked before torch is imported: the checkpoint is whole, the
layers asked for exist, and the audio and windows fit what the model takes (a hub id is checked once it
loads)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..windows import WindowConfig


def model_source(model: str | None) -> str:
    """The model to load: the option, or the shipped organism's directory."""
    if model is not None:
        return model
    from ..organism import default_model_path

    return str(default_model_path())


def check_model(model: str | None, layers: list[int] | None = None) -> None:
    """Before torch is imported: the model folder holds a config and whole weights (or the hub id can be
    fetched), and ``layers`` exist in its language model (read from its ``config.json``)."""
    from ..models.checkpoint import check_layer_indices, check_source, decoder_layers, read_config

    source = model_source(model)
    if check_source(source):
        check_layer_indices(layers or [], decoder_layers(read_config(Path(source))))
    else:
        from ..models.hub import local_files_only

        local_files_only(source)


def folder_limit_s(model: str | None) -> tuple[str, float] | None:
    """(the model's source, the longest clip its folder's files say it takes); None for a hub id or an
    unknown family (checked once the model is loaded)."""
    from ..models.checkpoint import audio_limit_s, check_source

    source = model_source(model)
    if not check_source(source):
        return None
    limit = audio_limit_s(Path(source))
    return None if limit is None else (source, limit)


def check_fits(model: str | None, audio: Path, start: float | None, end: float | None) -> None:
    """Before torch: ``audio`` (its span) is no longer than the model folder's files say it takes
    (``checkpoint.audio_limit_s``); a hub id or an unknown family is checked once the model is loaded."""
    from ..audio import audio_info, check_length
    from ..audio import check_span as span_in

    found = folder_limit_s(model)
    if found is None:
        return
    head = audio_info(audio)
    lo, hi = span_in(start, end, head.duration_s, str(head.path))
    check_length(hi - lo, str(head.path), found[1])


def check_segment_fits(model: str | None, windows: WindowConfig) -> None:
    """Before torch: --segment-s is no longer than the model folder's files say it takes."""
    from ..windows import check_segment

    found = None if windows.segment_s is None else folder_limit_s(model)
    if found is not None:
        check_segment(float(windows.segment_s or 0.0), float(windows.overlap_s or 0.0), found[1])


def check_clip_length(model: str | None, seconds: float, what: str) -> None:
    """Before torch: clips of ``seconds`` are no longer than the model folder's files say it takes."""
    found = folder_limit_s(model)
    if found is not None and seconds > found[1] + 1e-9:
        from ..errors import OptionError

        source, limit = found
        raise OptionError(f"{what}: clips of {seconds:g} s are longer than {source} accepts ({limit:g} s)")
