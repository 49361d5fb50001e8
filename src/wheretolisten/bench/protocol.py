"""``bench protocol``: a dev split and held-out test sets, equal tuning, every condition and control, one
summary and one report; resumable (append-only keyed files in DIR) and shardable (``K/N``).

Stages, each resumed where it stopped:

1. scenes: every set synthesized into ``DIR/scenes/<set>/`` (deterministic; kept when present);
2. tuning: every tunable condition's grid on dev (``tuning.jsonl``) → the dev-chosen settings, ``tuned.json``;
3. dev run: the tuned conditions on dev with their profiles (``results/<dev>.jsonl``) → the interval study and
   each condition's dev-chosen readout, ``readouts.json``;
4. test: every condition and control on every test set (``results/<set>.jsonl``);
5. ``summary.md``, ``summary.json`` and ``report.html`` once every test set is complete.

A shard that finishes stage 2 or 3 before the others says so and returns; rerun it once they are done.
Stages 3 and 4 are lists of :class:`Job` run by :func:`run_jobs`. Each test set's rows are read once, when
its jobs are done, and the summary and the report are made from them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError, OptionError
from ..files import write_atomic
from ..readout import ReadoutRule
from ..records import read_results, row_key
from ..records.documents import read_json, strict_json
from ..records.layout import (
    PROTOCOL_NAME,
    READOUTS_NAME,
    REPORT_NAME,
    SCENES_DIR,
    SUMMARY_JSON_NAME,
    SUMMARY_NAME,
    TUNED_NAME,
    results_path,
)
from ..scenes import MANIFEST_NAME, Bank, Scene, get_bank, load_manifest, make_scenes, scene_seed
from ..shards import Shard, shard_files, shard_of, shard_path
from .config import BenchConfig
from .controls import CONTROLS, parse_conditions
from .protocol_file import (
    TUNABLE,
    Protocol,
    SceneSet,
    draw_groups,
    held_out,
    sets_of,
)
from .protocol_record import check_recorded
from .protocol_sets import check_layouts, runnable, set_layout
from .readout_study import Envelopes, choose_readout, extent_facts
from .runner import run_bench, unit_keys
from .tuning import Point, choose, grid_points, peak_rule, point_config, scoring_rule
from .tuning_eval import tune

if TYPE_CHECKING:
    from ..models.base import Adapter


@dataclass(frozen=True)
class Job:
    """One run of some conditions with one configuration on (a shard of) one scene set."""

    set_name: str
    scenes: tuple[Scene, ...]
    manifest_dir: Path
    conditions: tuple[str, ...]
    config: BenchConfig
    out: Path


def run_jobs(adapter: Adapter, jobs: Sequence[Job], show_progress: bool = True) -> None:
    """Run every job in this process, one after another (``run_bench``: resumable, append-only)."""
    for job in jobs:
        run_bench(adapter, job.scenes, job.manifest_dir, job.conditions, job.config, job.out, show_progress)


#: What the summary and the report are made from: rows per test set, tuned.json and readouts.json.
Inputs = tuple[dict[str, list[dict[str, Any]]], dict[str, Any], dict[str, Any]]


@dataclass
class ProtocolReport:
    """Where a protocol run stands: ``stage`` is ``done``, or the stage waiting for other shards."""

    stage: str
    out: Path
    waiting: str = ""
    tuned: dict[str, Any] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    #: A finished run's (rows per test set, tuned.json, readouts.json), for the report (``protocol_inputs``).
    inputs: Inputs | None = None


@dataclass
class _Sets:
    scenes: dict[str, list[Scene]]
    dirs: dict[str, Path]


def _record(protocol: Protocol, adapter: Adapter, out: Path) -> None:
    """Write DIR/protocol.json, or refuse a DIR that holds another protocol or model."""
    if check_recorded(protocol, out, adapter.name, adapter.computed_with):
        return
    record = {"protocol": protocol.to_dict(), "model": adapter.name, "computed_with": adapter.computed_with}
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / PROTOCOL_NAME, json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def _scenes(spec: SceneSet, bank: Bank, out: Path, show_progress: bool) -> list[Scene]:
    """The set's scenes: those in DIR/scenes/<set> when they are the set's, else synthesized there."""
    options, own_bank = set_layout(spec)
    bank = get_bank(own_bank) if own_bank else bank
    root = out / SCENES_DIR / spec.name
    if (root / MANIFEST_NAME).is_file():
        scenes = load_manifest(root)
        expected = [scene_seed(spec.seed, i) for i in range(spec.n)]
        if [s.seed for s in scenes] != expected or any(
            s.bank != bank.name or len(s.events) != spec.events or abs(s.duration_s - spec.duration_s) > 1e-3
            for s in scenes
        ):
            raise DataError(
                f"{root} holds other scenes than set {spec.name!r} of the protocol; use another out folder"
            )
        return scenes
    return make_scenes(
        bank, spec.n, root, spec.events, spec.duration_s, spec.seed, progress=show_progress, options=options
    )


def set_rows(out: Path, set_name: str) -> list[dict[str, Any]]:
    """Every row of a set, all shard files merged ([] when none is written yet), in ``row_key`` order: the
    means of the summary are sums, so a run in shards must add its rows in the one-piece run's order."""
    paths = shard_files(results_path(out, set_name))
    if not paths:
        return []
    rows, _ = read_results(paths)
    return sorted((dict(r) for r in rows), key=row_key)


def _missing(rows: Sequence[Mapping[str, Any]], jobs: Sequence[Job], scenes: Sequence[Scene]) -> int:
    """Rows the jobs of a set (on every shard) produce that are not in ``rows``."""
    have = {row_key(r) for r in rows}
    need = {k for job in jobs for s in scenes for k in unit_keys(s, job.conditions, job.config)}
    return len(need - have)


def _jobs(
    spec: str,
    sets: _Sets,
    groups: Mapping[str, tuple[tuple[str, ...], BenchConfig]],
    out: Path,
    shard: Shard | None,
) -> list[Job]:
    scenes = tuple(shard_of(sets.scenes[spec], shard))
    path = shard_path(results_path(out, spec), shard)
    return [Job(spec, scenes, sets.dirs[spec], names, cfg, path) for names, cfg in groups.values()]


def _check(protocol: Protocol, adapter: Adapter) -> list[str]:
    names = parse_conditions(list(protocol.conditions))
    if any(c in CONTROLS for c in names) and "steered" not in names:
        raise OptionError(
            "protocol: the control conditions use the steered condition's settings; add steered"
        )
    for condition, grid in protocol.grids.items():
        wrong = [layer for layers in grid.layers for layer in layers if layer >= adapter.num_layers]
        if wrong:
            raise OptionError(
                f"protocol: grids.{condition}.layers: layer {wrong[0]} is out of range for {adapter.name} "
                f"(layers 0..{adapter.num_layers - 1})"
            )
    check_layouts(protocol)  # a set's own layout and bank, before anything is written (the CLI: before torch)
    limit = adapter.max_audio_limit_s
    longest = max(s.duration_s for s in sets_of(protocol))
    if longest > limit:
        raise OptionError(
            f"protocol: clips of {longest:g} s are longer than {adapter.name} accepts ({limit:g} s)"
        )
    return names


def run_protocol(
    adapter: Adapter,
    protocol: Protocol,
    out_dir: str | os.PathLike[str],
    shard: Shard | None = None,
    show_progress: bool = True,
) -> ProtocolReport:
    """Run (or resume) the whole protocol into ``out_dir``; see the module docstring for the stages."""
    started, out = time.perf_counter(), Path(out_dir)
    full = protocol
    protocol = runnable(full)[0]  # optional sets whose bank is not installed: skipped
    names = _check(protocol, adapter)
    bank = get_bank(protocol.bank)
    base = BenchConfig(
        queries=protocol.queries,
        seed=protocol.seed,
        random_draws=protocol.random_draws,
        absent_queries=tuple(bank.query_text(label) for label in bank.labels),
    ).resolved(adapter)
    tunable = [c for c in TUNABLE if c in names]
    points = {c: grid_points(protocol, c, adapter, base) for c in tunable}  # checks the grids: before
    _record(full, adapter, out)  # anything is written
    sets = _Sets({}, {})
    for spec in sets_of(protocol):
        sets.scenes[spec.name] = _scenes(spec, bank, out, show_progress)
        sets.dirs[spec.name] = out / SCENES_DIR / spec.name
    dev, dev_scenes = protocol.dev.name, sets.scenes[protocol.dev.name]
    lines = tune(adapter, dev_scenes, sets.dirs[dev], base, points, out, shard, show_progress)
    left = sum(s.scene_id not in lines for s in dev_scenes)
    if left:
        return ProtocolReport("tuning", out, f"{left} dev scene(s) of other shards are not tuned yet")
    tuned = choose(points, [lines[s.scene_id] for s in dev_scenes])
    write_atomic(out / TUNED_NAME, json.dumps(tuned, indent=1) + "\n")
    chosen = {c: Point.from_json(tuned[c]["point"]) for c in tunable}
    stage1 = {c: point_config(c, chosen[c], base) for c in tunable}
    plain = [c for c in names if c not in CONTROLS]
    dev_groups = {c: ((c,), _dev_config(c, stage1, chosen, base)) for c in plain}
    dev_jobs = _jobs(dev, sets, dev_groups, out, shard)
    run_jobs(adapter, dev_jobs, show_progress)
    dev_rows = set_rows(out, dev)
    left = _missing(dev_rows, dev_jobs, dev_scenes)
    if left:
        return ProtocolReport("dev", out, f"{left} dev row(s) of other shards are not in yet", tuned)
    readouts = _study(dev_rows, plain, chosen, base, protocol, sets, adapter.token_s)
    write_atomic(out / READOUTS_NAME, json.dumps(readouts, indent=1) + "\n")
    groups = _test_groups(names, stage1, base, readouts["conditions"])
    missing, per_set = 0, {}
    for spec in held_out(protocol):
        jobs = _jobs(spec.name, sets, groups, out, shard)
        run_jobs(adapter, jobs, show_progress)
        per_set[spec.name] = set_rows(out, spec.name)
        missing += _missing(per_set[spec.name], jobs, sets.scenes[spec.name])
    if missing:
        return ProtocolReport("test", out, f"{missing} test row(s) of other shards are not in yet", tuned)
    inputs = (per_set, *_documents(out))
    written = write_outputs(out, full, inputs)
    return ProtocolReport("done", out, "", tuned, written, time.perf_counter() - started, inputs)


def _documents(out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``tuned.json`` and ``readouts.json`` of ``out``."""
    return read_json(out / TUNED_NAME, "tuning choices"), read_json(out / READOUTS_NAME, "readout study")


def _dev_config(
    condition: str, stage1: Mapping[str, BenchConfig], chosen: Mapping[str, Point], base: BenchConfig
) -> BenchConfig:
    """A condition's dev-run settings: its dev-chosen ones, its dev-chosen peak with the half-height interval
    (the study's starting point), and profiles kept for the study."""
    cfg = stage1.get(condition, base)
    rule = None
    if condition in chosen and peak_rule(condition, chosen[condition], base).peak != "native":
        rule = scoring_rule(peak_rule(condition, chosen[condition], base), cfg)
    return replace(cfg, save_profiles=True, tuned="dev", readout_rule=rule)


def _study(
    rows: Sequence[Mapping[str, Any]],
    conditions: Sequence[str],
    chosen: Mapping[str, Point],
    base: BenchConfig,
    protocol: Protocol,
    sets: _Sets,
    token_s: float,
) -> dict[str, Any]:
    """Each dev condition's readout chosen on the dev rows, and the study's facts."""
    dev = protocol.dev.name
    envelopes = Envelopes({s.scene_id: s for s in sets.scenes[dev]}, sets.dirs[dev], token_s)
    out: dict[str, Any] = {"conditions": {}, "facts": {}}
    for c in conditions:
        mine = [r for r in rows if r["condition"] == c]
        peak = peak_rule(c, chosen[c], base) if c in chosen else ReadoutRule()
        out["conditions"][c] = choose_readout(mine, peak, protocol.intervals, envelopes, token_s)
        out["facts"][c] = extent_facts(mine, token_s)
    return out


def _test_groups(
    names: Sequence[str],
    stage1: Mapping[str, BenchConfig],
    base: BenchConfig,
    readouts: Mapping[str, Any],
) -> dict[str, tuple[tuple[str, ...], BenchConfig]]:
    """Conditions that share a configuration run together: steered with its controls, the others alone."""
    groups: dict[str, tuple[tuple[str, ...], BenchConfig]] = {}
    for c in names:
        owner = "steered" if c in CONTROLS else c
        if owner in groups:
            groups[owner] = ((*groups[owner][0], c), groups[owner][1])
            continue
        study = readouts[owner]
        cfg = replace(
            stage1.get(owner, base),
            readout_rule=ReadoutRule.from_json(study["chosen"]),
            compare_rules=tuple(ReadoutRule.from_json(r) for r in study["compare"]),
            tuned="dev" if owner in stage1 else "dev (readout)",
        )
        groups[owner] = ((c,), cfg)
    return groups


def present(out: Path, protocol: Protocol) -> tuple[Protocol, dict[str, str]]:
    """The protocol without the optional sets that ``out`` has no rows of (skipped where the run was made:
    their bank was not installed), and a note for each."""
    gone = {
        t.name: f"skipped: its bank ({set_layout(t)[1]}) was not installed where the run was made"
        for t in protocol.tests
        if t.optional and not all(results_path(out, d.name).is_file() for d in t.draw_sets())
    }
    if not gone:
        return protocol, {}
    return replace(protocol, tests=tuple(t for t in protocol.tests if t.name not in gone)), gone


def skipped_note(skipped: Mapping[str, str]) -> str:
    """One markdown paragraph naming the sets a run skipped and why (empty when none)."""
    if not skipped:
        return ""
    return "**Skipped sets.** " + "; ".join(f"`{k}`: {v}" for k, v in sorted(skipped.items())) + ".\n"


def write_outputs(out: Path, protocol: Protocol, inputs: Inputs | None = None) -> list[Path]:
    """``summary.md`` and ``summary.json`` from the rows, tuning and study (``inputs``, else read from
    ``out``; the HTML report: ``report.protocol.write_protocol_report``); optional sets without rows are
    named as skipped."""
    from ..metrics.protocol import unparsed_answers
    from ..tables.protocol import protocol_summary, unparsed_text

    protocol, skipped = present(out, protocol)
    per_set, tuned, readouts = inputs or protocol_inputs(out, protocol)
    text, data = protocol_summary(per_set, tuned, readouts, protocol.to_dict(), groups=draw_groups(protocol))
    unparsed = unparsed_answers(per_set)
    if unparsed:
        text = text.rstrip("\n") + "\n\n" + unparsed_text(unparsed)
        data["direct_unparsed"] = unparsed
    if skipped:
        text = text.rstrip("\n") + "\n\n" + skipped_note(skipped)
        data["skipped_sets"] = skipped
    return [
        write_atomic(out / SUMMARY_NAME, text),
        write_atomic(out / SUMMARY_JSON_NAME, strict_json(data)),
    ]


def protocol_inputs(out: Path, protocol: Protocol) -> Inputs:
    """The rows of every test set's every draw, ``tuned.json`` and ``readouts.json`` of a finished run."""
    return {spec.name: set_rows(out, spec.name) for spec in held_out(protocol)}, *_documents(out)


__all__ = [
    "PROTOCOL_NAME",
    "REPORT_NAME",
    "SUMMARY_NAME",
    "Inputs",
    "Job",
    "ProtocolReport",
    "present",
    "protocol_inputs",
    "results_path",
    "run_jobs",
    "run_protocol",
    "runnable",
    "set_rows",
    "write_outputs",
]
