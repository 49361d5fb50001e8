"""Benchmarks and sweeps on a Ray cluster: one command, from a laptop's local instance to many GPU nodes.

The driver (this process) reads the scenes, opens the results file and keeps it: it is the one writer,
in the local runner's format (:func:`~.runner.open_run`), so a rerun resumes and ``bench summary``
reads the file as it reads any. Workers (:mod:`.cluster_pool`) load the model once and compute units.
Ray is optional (``pip install "wheretolisten[ray]"``); nothing here imports it, or torch, at import.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import OptionError, WTLError
from .conditions import get_conditions, parse_conditions
from .config import BenchConfig

if TYPE_CHECKING:
    from ..progress import Advance
    from ..records import ResultRow
    from ..scenes import Scene
    from .cluster_pool import Pool
    from .runner import RunReport
    from .sweep import Point, SweepPlan, SweepReport

INSTALL_HINT = 'pip install "wheretolisten[ray]"'
#: Default seconds to wait for a Ray cluster's address to answer (``--ray-timeout``).
DEFAULT_TIMEOUT_S = 30.0
log = logging.getLogger("wheretolisten")


def require_ray() -> ModuleType:
    """The ``ray`` module, or one WTLError line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise WTLError(
            f"the Ray runner needs Ray, which is not installed; install it with: {INSTALL_HINT}"
        ) from None
    return ray


@dataclass(frozen=True)
class RaySpec:
    """Where to run and with what: the cluster, the workers, the model each loads, the fault bounds."""

    #: None: this process's Ray connection if it has one, else a new local instance; "local": a new
    #: local instance; "auto": the cluster this machine belongs to; "ray://HOST:PORT": a remote one.
    address: str | None = None
    #: Workers (actors); None: one per GPU of the cluster, or 1 on a cluster without GPUs.
    workers: int | None = None
    model: str | None = None  # None: the organism shipped in each worker's installation
    device: str = "auto"
    dtype: str = "auto"
    #: How often a unit whose worker died (or ran out of memory) is resubmitted before it is given up.
    retries: int = 2
    #: How often Ray restarts each worker after it died.
    restarts: int = 4
    #: Seconds to wait for a cluster's address to answer before giving up with one line.
    timeout_s: float = DEFAULT_TIMEOUT_S

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise OptionError(f"RaySpec.workers must be at least 1, got {self.workers}")
        if not (math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise OptionError(
                f"RaySpec.timeout_s must be a finite number of seconds > 0, got {self.timeout_s!r}"
            )


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of ``HOST:PORT`` or ``ray://HOST:PORT``; for ``auto``, of the cluster this machine
    joined (``RAY_ADDRESS``, else Ray's own record of it); None when there is none to check."""
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS", "")
        record = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if not address and record.is_file():
            with contextlib.suppress(OSError):
                address = record.read_text().strip()
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    return host.strip("[]"), int(port)


def check_address(spec: RaySpec) -> None:
    """Refuse, within ``spec.timeout_s``, a cluster address nothing answers on (before any work)."""
    if spec.address not in (None, "local"):
        wait_for(spec.address, spec.timeout_s)


def wait_for(address: str, timeout_s: float) -> None:
    """Wait until ``address`` accepts a TCP connection, at most ``timeout_s`` seconds; else one line.

    Ray's own connection retries for many minutes when nothing listens; this deadline comes first.
    """
    target = _host_port(address)
    if target is None:
        return
    deadline = time.monotonic() + timeout_s
    why = "no answer"
    while True:
        left = deadline - time.monotonic()
        try:
            with socket.create_connection(target, timeout=max(0.1, min(left, 5.0))):
                return
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
        if time.monotonic() + 1.0 > deadline:
            raise WTLError(
                f"cannot connect to the Ray cluster at {address!r} within {timeout_s:g} s ({why}); is it "
                "running? (RaySpec.timeout_s sets the wait)"
            )
        time.sleep(1.0)


def _connect(ray: ModuleType, spec: RaySpec) -> bool:
    """Connect to (or start) Ray with its own logs kept quiet; True when this call started it."""
    if ray.is_initialized():
        return False
    quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    if spec.address in (None, "local"):
        cpus = max(os.cpu_count() or 1, spec.workers or 1)
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, **quiet)
    else:
        wait_for(spec.address, spec.timeout_s)
        try:
            ray.init(address=spec.address, **quiet)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise WTLError(f"cannot connect to the Ray cluster at {spec.address!r}: {exc}") from None
    return True


def _actor_options(ray: ModuleType, spec: RaySpec, needs_model: bool) -> tuple[int, str, dict[str, Any]]:
    """(workers, each worker's device, actor options): one GPU per worker where the cluster has GPUs."""
    gpus = int(ray.cluster_resources().get("GPU", 0))
    on_gpu = needs_model and gpus > 0 and spec.device != "cpu"
    if needs_model and spec.device.startswith("cuda") and gpus == 0:
        raise WTLError(f"RaySpec.device {spec.device}, but the Ray cluster has no GPU")
    count = spec.workers or (gpus if on_gpu else 1)
    device = "auto" if on_gpu else spec.device  # a GPU worker uses the GPU Ray gave it
    options = {
        "num_cpus": 1,
        "num_gpus": 1 if on_gpu else 0,
        "max_restarts": spec.restarts,
        "max_task_retries": 0,  # the driver resubmits, and counts, the units of a dead worker
    }
    return count, device, options


@contextlib.contextmanager
def ray_pool(spec: RaySpec, conditions: Sequence[str]) -> Iterator[Pool]:
    """Workers for ``conditions`` (their model loaded once each); removed, and Ray stopped if started here."""
    from .cluster_pool import Pool, UnitWorker

    ray = require_ray()
    conds = get_conditions(conditions)
    needs_model = any(c.needs_model for c in conds)
    started = _connect(ray, spec)
    actors: list[Any] = []
    try:
        count, device, options = _actor_options(ray, spec, needs_model)
        worker = ray.remote(**options)(UnitWorker)
        actors = [worker.remote(spec.model, device, spec.dtype, conds, needs_model) for _ in range(count)]
        yield Pool(ray, actors, spec.retries)
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()


def _warn_failed(scene_id: str, why: str) -> None:
    log.warning("scene %s failed: %s", scene_id, why)


def run_bench_ray(
    scenes: Sequence[Scene],
    manifest_dir: str | os.PathLike[str],
    conditions: Sequence[str],
    config: BenchConfig,
    out: str | os.PathLike[str],
    spec: RaySpec = RaySpec(),
    show_progress: bool = True,
) -> RunReport:
    """:func:`~.runner.run_bench` on Ray: the same rows in the same file, units spread over workers.

    A unit that fails for a user reason (a :class:`~wheretolisten.errors.WTLError`, e.g. bad audio) is
    not written; it is listed in the report's ``failed`` and logged, and a rerun computes it again.
    """
    from .cluster_pool import run_on_pool

    names = parse_conditions(conditions)
    with ray_pool(spec, names) as pool:
        cfg, model = pool.ask("describe", config)
        return run_on_pool(pool, scenes, manifest_dir, names, cfg, model, out, show_progress, _warn_failed)


def sweep_ray(plan: SweepPlan, spec: RaySpec = RaySpec(), show_progress: bool = True) -> SweepReport:
    """:func:`~.sweep.sweep` on Ray in one launch: grid points × dev scenes as units, then the chosen
    setting on the held-out scenes, on the same workers; the same ``sweep.jsonl`` and ``results.jsonl``."""
    from .cluster_pool import Failed, run_on_pool
    from .sweep import check_resume, check_sweep, run_sweep

    names, dev, test = check_sweep(plan)
    key = check_resume(plan)  # another sweep's lines in the folder: refused before Ray starts
    root = str(Path(plan.manifest_dir))
    with ray_pool(spec, list(dict.fromkeys(["steered", *names]))) as pool:
        points, model = pool.ask("grid", plan.layers_grid, plan.alphas, plan.config)
        made_with = pool.ask("computed_with")  # grid lines of other weights or precision: refused below

        def evaluate(
            todo: list[Point], advance: Advance
        ) -> Iterator[tuple[BenchConfig, str, list[ResultRow]]]:
            jobs = [(p, d) for p in range(len(todo)) for d in range(len(dev))]
            found: list[dict[int, list[ResultRow]]] = [{} for _ in todo]
            failed = 0

            def submit(actor: Any, job: tuple[int, int]) -> Any:
                return actor.run.remote(dev[job[1]], root, ["steered"], todo[job[0]][0], None)

            for (p, d), result in pool.map(jobs, submit):
                advance(1, dev[d].scene_id)
                if isinstance(result, Failed):
                    failed += 1
                    _warn_failed(dev[d].scene_id, result.why)
                    continue
                found[p][d] = result
                if len(found[p]) == len(dev):  # rows in dev order, as the local sweep summarizes them
                    yield todo[p][0], todo[p][1], [r for k in range(len(dev)) for r in found[p][k]]
            if failed:
                raise WTLError(
                    f"{failed} dev unit(s) failed (see the warnings above): the grid is incomplete; "
                    f"fix them and rerun (finished grid points are kept)"
                )

        def run_test(cfg: BenchConfig, part: list[Scene], path: Path) -> RunReport:
            return run_on_pool(
                pool, part, plan.manifest_dir, names, cfg, model, path, show_progress, _warn_failed
            )

        report = run_sweep(
            points,
            model,
            dev,
            test,
            plan.out_dir,
            evaluate,
            run_test,
            show_progress,
            key=key,
            made_with=made_with,
        )
        report.units_retried = pool.retried
        return report
