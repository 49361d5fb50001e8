"""What the report is built from: result rows (one file or the shards of one run), the optional scene
manifest, and the sweep grid, read through ``records`` so the report accepts exactly what
``bench summary`` accepts."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ..errors import DataError
from ..records import merge_rows, other_scene_version, read_results
from ..records.sweep import SWEEP_FIELDS, SWEEP_NAME, check_sweep_line, read_sweep
from ..shards import shard_files

Row = dict[str, Any]
PathArg = str | os.PathLike[str]


@dataclass
class ReportInputs:
    """Everything the page is built from."""

    rows: list[Row]
    name: str
    scenes: dict[str, Any] = field(default_factory=dict)
    #: The folder the scenes' audio paths are relative to (the manifest's), when a manifest was given.
    scenes_dir: Path | None = None
    sweep: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _sweep(first_results: Path, sweep: PathArg | None) -> list[Row]:
    """The grid given, or ``sweep.jsonl`` and its shard files beside the results, merged; [] if none."""
    paths = [Path(sweep)] if sweep is not None else shard_files(first_results.parent / SWEEP_NAME)
    grids = [(path, read_sweep(path)) for path in paths]
    keys = ("layers", "alpha", "config_hash")
    return merge_rows(grids, key_fields=keys, same_fields=("model", "dev_hash"))[0]


def _check_scene_versions(inputs: ReportInputs, manifest: PathArg, root: Path) -> None:
    """Refuse rows computed on other content than the manifest's scene of their id (scene ids are names: a
    manifest made again with another seed reuses them, and the gallery would draw the wrong scene); note
    the scenes not in the manifest, and those whose rows carry no scene_hash to check."""
    ids = {str(r["scene_id"]) for r in inputs.rows}
    unknown = ids - set(inputs.scenes)
    if unknown:
        inputs.notes.append(f"{len(unknown)} scene(s) of the results are not in the manifest")
    # one scene_hash per scene id (records.read_results): hash each listed scene that carries one, once
    hashed = {str(r["scene_id"]) for r in inputs.rows if r.get("scene_hash") is not None} - unknown
    hashes = {i: inputs.scenes[i].content_hash(root) for i in sorted(hashed)}
    stale = next((str(r["scene_id"]) for r in inputs.rows if other_scene_version(r, hashes)), None)
    if stale is not None:
        raise DataError(
            f"{inputs.name}: the rows of scene {stale!r} were computed on other content than scene {stale!r} "
            f"of {manifest} (its events or audio differ); give the manifest the results were computed on"
        )
    unchecked = len(ids - unknown - hashed)
    if unchecked:
        inputs.notes.append(
            f"{unchecked} scene(s) of the results carry no scene_hash: not checked against the manifest"
        )


def load_inputs(
    results: PathArg | Sequence[PathArg], scenes: PathArg | None = None, sweep: PathArg | None = None
) -> ReportInputs:
    """Read results (one file, or the shards of one run), the optional scene manifest, and the sweep grid
    (given, or ``sweep.jsonl`` and its shard files beside the first results file)."""
    paths = [Path(results)] if isinstance(results, (str, os.PathLike)) else [Path(r) for r in results]
    if not paths:
        raise DataError("no results file given")
    rows, notes = read_results(paths)
    merged = cast(list[Row], rows)  # fresh dicts: merge_rows copies every row
    name = paths[0].name if len(paths) == 1 else f"{paths[0].name} and {len(paths) - 1} more file(s)"
    inputs = ReportInputs(merged, name, notes=notes)
    if scenes is not None:
        from ..scenes import load_manifest

        inputs.scenes = {s.scene_id: s for s in load_manifest(scenes)}
        inputs.scenes_dir = Path(scenes) if Path(scenes).is_dir() else Path(scenes).parent
        _check_scene_versions(inputs, scenes, inputs.scenes_dir)
    inputs.sweep = _sweep(paths[0], sweep)
    return inputs


__all__ = ["SWEEP_FIELDS", "SWEEP_NAME", "ReportInputs", "check_sweep_line", "load_inputs", "read_sweep"]
