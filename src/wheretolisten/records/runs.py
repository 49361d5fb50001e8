"""Which rows may be mixed: one run per file, shards of one run merged, resumes only into the same run.

The one refusal of "files of another configuration": a row belongs to the run of its (condition,
config_hash, model) and was computed from one scene content (``scene_hash``); rows that disagree on
these are never pooled, resumed into or merged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from ..errors import DataError, WTLError
from .jsonl import read_jsonl
from .rows import ResultRow, RowKey, check_row, row_key

#: The first key of every row ``bench run`` writes (how an unfinished line of ours is recognized).
FIRST_KEY = "scene_id"


def check_one_run(rows: Sequence[Mapping[str, Any]], where: str) -> None:
    """Refuse rows of one condition computed with different configurations or models (by their weights and
    precision where rows record them, so a run resumed from a moved model folder is one run; else by the
    model's name), and repeats."""
    seen: dict[str, tuple[tuple[Any, Any], Any]] = {}  # condition -> its first row's ident and weights
    made: dict[str, Any] = {}  # condition -> the first weights recorded (rows before them carry none)
    keys: set[RowKey] = set()
    for i, row in enumerate(rows, start=1):
        key = row_key(row)
        if key in keys:
            raise DataError(
                f"{where}: row {i} repeats scene {key[0]!r}, query {key[1]!r}, condition {key[2]!r}"
            )
        keys.add(key)
        ident, weights = (row.get("config_hash"), row.get("model")), row.get("computed_with")
        if weights is not None and made.setdefault(key[2], weights) != weights:
            raise DataError(
                f"{where}: rows of condition {key[2]!r} were computed with different weights or "
                f"precision ({describe_weights(made[key[2]])} vs {describe_weights(weights)}); summarize one "
                "run at a time"
            )
        first, first_weights = seen.setdefault(key[2], (ident, weights))
        moved = _known_weights(weights) and weights == first_weights  # the same weights, another name
        if first != ident and not (first[0] == ident[0] and moved):
            raise DataError(
                f"{where}: rows of condition {key[2]!r} were computed with different configurations or "
                f"models ({first[0]} vs {ident[0]}); summarize one run at a time"
            )


def _known_weights(computed_with: Any) -> bool:
    """Whether a ``computed_with`` names its weights (a model loaded from files, not built in memory)."""
    return isinstance(computed_with, Mapping) and computed_with.get("weights") is not None


def other_model(
    recorded: Mapping[str, Any], model: str | None, computed_with: Mapping[str, Any] | None
) -> str | None:
    """Why a row, log line, sweep line or run record (its ``model`` and ``computed_with``) is not this
    model's, or None: by the weights and precision where both are known (the same weights under another
    name, a moved folder, are the same model), else by the name when ``model`` is given."""
    made = recorded.get("computed_with")
    if computed_with is not None and isinstance(made, Mapping):
        if dict(made) != dict(computed_with):
            return f"other weights or precision ({describe_weights(made)})"
        if _known_weights(made):
            return None
    if model is not None and recorded.get("model") != model:
        return f"another model ({recorded.get('model')!r}, not {model!r})"
    return None


def describe_weights(computed_with: Any) -> str:
    """A row's ``computed_with`` ({"weights": ..., "dtype": ...}) in a few words, for messages."""
    if not isinstance(computed_with, Mapping):
        return repr(computed_with)
    return f"weights {computed_with.get('weights')}, {computed_with.get('dtype')}"


def other_scene_version(row: Mapping[str, Any], scene_hashes: Mapping[str, str]) -> bool:
    """Whether ``row`` was computed on other content than ``scene_hashes`` (content hash by scene id) holds
    for its scene: scene ids are names, and a manifest made again with another seed reuses them."""
    expected = scene_hashes.get(str(row["scene_id"]))
    return expected is not None and row.get("scene_hash") != expected


def check_one_scene_version(sources: Sequence[tuple[Path, Sequence[Mapping[str, Any]]]]) -> None:
    """Refuse rows of one scene id computed on different scene contents (``scene_hash``), in one file or
    across files: they come from different scene sets that reuse the ids, and pooling them mixes scenes."""
    first: dict[str, tuple[Any, Path, int]] = {}
    for path, rows in sources:
        for i, row in enumerate(rows, start=1):
            scene, version = str(row["scene_id"]), row.get("scene_hash")
            seen, first_path, first_i = first.setdefault(scene, (version, path, i))
            if version != seen:
                raise DataError(
                    f"{path}: row {i} was computed on another version of scene {scene!r} than {first_path} "
                    f"row {first_i} (scene_hash {version} vs {seen}): they come from different scene sets; "
                    f"pool only results of one scene set"
                )


def check_resumable(
    rows: Sequence[Mapping[str, Any]],
    path: Path,
    hashes: Mapping[str, str],
    model: str | None,
    scene_hashes: Mapping[str, str],
    model_free: frozenset[str] = frozenset(),
    computed_with: Mapping[str, Any] | None = None,
) -> set[RowKey]:
    """Keys already done in ``path``; refuses rows of another configuration, model or scene content.

    ``hashes``: config hash per condition of this run; ``scene_hashes``: content hash per scene id of
    the manifest being run (a row of a scene id whose content changed is stale, not done);
    ``computed_with``: this run's weights and precision (``Adapter.computed_with``): a row computed with
    others is refused, and one with the same weights under another name (a moved folder) is not.
    """
    check_one_run(rows, str(path))
    done: set[RowKey] = set()
    for i, row in enumerate(rows, start=1):
        key = row_key(row)
        done.add(key)
        cond = key[2]
        if cond in hashes and row.get("config_hash") != hashes[cond]:
            raise DataError(
                f"{path}: row {i} ({cond}) was computed with another configuration "
                f"({row.get('config_hash')} vs {hashes[cond]}); use the same options or another out folder"
            )
        why = other_model(row, model, computed_with) if cond in hashes and cond not in model_free else None
        if why is not None and why.startswith("other weights"):
            raise DataError(
                f"{path}: row {i} ({cond}) was computed with {describe_weights(row.get('computed_with'))}, "
                f"not {describe_weights(computed_with)} (other weights saved under the name, or another "
                "--dtype); use the same model and precision, or another out folder"
            )
        if why is not None:
            raise DataError(
                f"{path}: row {i} ({cond}) was computed with model {row.get('model')!r}, not {model!r}; "
                f"use another out folder"
            )
        if other_scene_version(row, scene_hashes):
            raise DataError(
                f"{path}: row {i} was computed on another version of scene {key[0]!r} (its events or audio "
                f"changed since); use another out folder"
            )
    return done


def _agree(field: str, first: Mapping[str, Any], row: Mapping[str, Any]) -> bool:
    """Whether two rows of one key agree on ``field``; a row without ``computed_with`` (written before rows
    recorded their weights) agrees with any, as :func:`check_one_run` lets it share a file with them."""
    if field == "computed_with" and (field not in first or field not in row):
        return True
    return first.get(field) == row.get(field)


def merge_rows(
    sources: Sequence[tuple[Path, Sequence[Mapping[str, Any]]]],
    key_fields: Sequence[str] = ("scene_id", "query", "condition"),
    same_fields: Sequence[str] = ("config_hash", "model", "scene_hash", "computed_with"),
) -> tuple[list[dict[str, Any]], int]:
    """Rows of several files as one list, and how many repeats were dropped.

    A row whose key was already seen is dropped when it agrees on ``same_fields`` (the same work done
    twice, e.g. a shard rerun into another file); if it disagrees, the files come from different runs
    and merging them would mix configurations: a DataError names both files.
    """
    merged: list[dict[str, Any]] = []
    seen: dict[tuple[Any, ...], tuple[Path, Mapping[str, Any]]] = {}
    dropped = 0
    for path, rows in sources:
        for row in rows:
            key = tuple(str(row.get(f)) for f in key_fields)
            if key in seen:
                first_path, first = seen[key]
                differ = [f for f in same_fields if not _agree(f, first, row)]
                if differ:
                    what = ", ".join(f"{f} {v!r}" for f, v in zip(key_fields, key, strict=True))
                    raise DataError(
                        f"{first_path} and {path} both hold {what} with a different {differ[0]}: they "
                        f"come from different runs; merge only the shards of one run"
                    )
                dropped += 1
                continue
            seen[key] = (path, row)
            merged.append(dict(row))
    return merged, dropped


def read_results(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[ResultRow], list[str]]:
    """Validated rows of one results file or of the shards of one run, and notes for the reader.

    Repeats across files are counted once (noted); rows of different runs or scene sets, in one file or
    across files, are refused. One shard may be empty (more shards than scenes), not all.
    """
    if not paths:
        raise WTLError("no results file given")
    sources: list[tuple[Path, Sequence[Mapping[str, Any]]]] = []
    notes: list[str] = []
    for p in paths:
        path = Path(p)
        rows, file_notes = read_jsonl(path, check_row, FIRST_KEY, "results file")
        check_one_run(rows, str(path))
        notes.extend(file_notes)
        if not rows and len(paths) > 1:
            notes.append(f"{path.name} has no rows")
        sources.append((path, rows))
    check_one_scene_version(sources)
    merged, dropped = merge_rows(sources)
    if not merged:
        only = f"results file {paths[0]}" if len(paths) == 1 else f"none of the {len(paths)} results files"
        raise DataError(f"{only} has no rows" if len(paths) == 1 else f"{only} has rows")
    check_one_run(merged, " + ".join(str(p) for p in paths))
    if dropped:
        notes.append(f"{dropped} row(s) present in more than one results file were counted once")
    return cast(list[ResultRow], merged), notes
