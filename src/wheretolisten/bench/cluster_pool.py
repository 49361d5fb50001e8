"""Ray workers that load the model once and run work units, and the driver's scheduler that feeds them.

A :class:`UnitWorker` (one Ray actor per GPU, or per CPU slot) runs :func:`~.runner.run_unit` on
whatever unit it is handed. :class:`Pool` hands a unit to each idle worker and the next one to whichever
finishes first (``ray.wait``), so a slow worker never holds the others back. A worker that dies is
restarted by Ray (``max_restarts``); the driver resubmits its unit, a bounded number of times.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import WTLError
from ..progress import progress
from ..records import ResultRow
from ..scenes import Scene
from .conditions import REGISTRY, Condition, register
from .config import BenchConfig
from .runner import RunReport, Todo, open_run, run_unit
from .sweep import Point, grid_points

if TYPE_CHECKING:
    from ..models.base import Adapter

T = TypeVar("T")


@dataclass(frozen=True)
class Failed:
    """A unit not computed, and why; ``retry``: worth resubmitting (its worker died or ran out of memory)."""

    why: str
    retry: bool = False


def _out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError"


class UnitWorker:
    """One worker's state: the model, loaded once, and the conditions the driver's registry holds."""

    def __init__(
        self, model: str | None, device: str, dtype: str, conditions: Sequence[Condition], needs_model: bool
    ) -> None:
        for condition in conditions:  # conditions registered in the driver only (plugins, tests)
            if condition.name not in REGISTRY:
                register(condition)
        self.adapter: Adapter | None = None
        self.error: str | None = None
        try:
            if needs_model:
                self.adapter = _load(model, device, dtype)
        except WTLError as exc:  # reported by ready(): one line on the driver, no restarts
            self.error = str(exc)

    def ready(self) -> str | None:
        """None once the model is loaded; the error message when it could not be."""
        return self.error

    def describe(self, config: BenchConfig) -> tuple[BenchConfig, str | None]:
        """``config`` resolved against this worker's model, and the model's name."""
        return config.resolved(self.adapter), self.adapter.name if self.adapter is not None else None

    def computed_with(self) -> dict[str, str | None] | None:
        """This worker's model's weights and precision (``Adapter.computed_with``; None without a model)."""
        return None if self.adapter is None else self.adapter.computed_with

    def grid(
        self, layers_grid: Sequence[Sequence[int]], alphas: Sequence[float], config: BenchConfig
    ) -> tuple[list[Point], str]:
        """The sweep's grid points resolved against this worker's model, and the model's name."""
        if self.adapter is None:
            raise WTLError("a sweep needs a model")
        return grid_points(self.adapter, layers_grid, alphas, config), self.adapter.name

    def run(
        self,
        scene: Scene,
        manifest_dir: str,
        conditions: list[str],
        config: BenchConfig,
        scene_hash: str | None,
    ) -> list[ResultRow] | Failed:
        """One unit's rows, or why it failed (a user error: bad audio; or out of memory: retried)."""
        try:
            return run_unit(self.adapter, scene, manifest_dir, conditions, config, scene_hash)
        except WTLError as exc:
            return Failed(str(exc))
        except (MemoryError, RuntimeError) as exc:
            if not _out_of_memory(exc):
                raise  # a bug: the driver shows its traceback
            _free_accelerator_memory()
            return Failed(f"out of memory ({str(exc).strip().splitlines()[0] if str(exc) else ''})", True)


def _load(model: str | None, device: str, dtype: str) -> Adapter:
    """The model named by ``model`` (None: the organism shipped in this worker's installation)."""
    from ..models import load_model
    from ..organism import default_model_path

    return load_model(model if model is not None else default_model_path(), device=device, dtype=dtype)


def _free_accelerator_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class Pool:
    """Workers fed dynamically: each idle worker takes the next unit; dead ones rejoin once restarted."""

    #: Seconds between ready probes of a worker that Ray is restarting.
    PROBE_EVERY_S = 0.5

    def __init__(self, ray: ModuleType, actors: Sequence[Any], retries: int) -> None:
        self._ray = ray
        self._probes: dict[Any, Any] = {actor.ready.remote(): actor for actor in actors}
        self._restarting: list[tuple[float, Any]] = []  # (when to probe again, worker)
        self._idle: list[Any] = []
        self.retries = retries
        #: Units resubmitted so far (their worker died or ran out of memory).
        self.retried = 0

    def _join(self, ref: Any) -> None:
        """A worker answered its ready probe: idle it, probe it again later, or drop it for good."""
        actor = self._probes.pop(ref)
        errors = self._ray.exceptions
        try:
            error = self._ray.get(ref)
        except getattr(errors, "ActorUnavailableError", ()):  # restarting: ask again soon
            self._restarting.append((time.monotonic() + self.PROBE_EVERY_S, actor))
            return
        except errors.RayActorError:
            return  # its restarts are used up
        if error is not None:
            raise WTLError(error)
        self._idle.append(actor)

    def _wait(self, running: Sequence[Any]) -> Any | None:
        """The next finished call or probe (None: nothing yet, or nothing left to wait for)."""
        now, later = time.monotonic(), []
        for due, actor in self._restarting:
            if due <= now:
                self._probes[actor.ready.remote()] = actor
            else:
                later.append((due, actor))
        self._restarting = later
        waiting = [*running, *self._probes]
        if not waiting:
            if later:
                time.sleep(max(0.0, min(due for due, _ in later) - now))
            return None
        timeout = self.PROBE_EVERY_S if later else None
        ready, _ = self._ray.wait(waiting, num_returns=1, timeout=timeout)
        return ready[0] if ready else None

    def _alive(self) -> bool:
        return bool(self._idle or self._probes or self._restarting)

    def first(self) -> Any:
        """The first worker to be ready (its model loaded)."""
        while not self._idle:
            if not self._alive():
                raise WTLError("no Ray worker could start (see the Ray logs: ray status, /tmp/ray/session_*)")
            ref = self._wait([])
            if ref is not None:
                self._join(ref)
        return self._idle[-1]

    def ready_all(self) -> int:
        """Wait until every worker has started (or is dead for good); how many are ready."""
        while self._probes or self._restarting:
            ref = self._wait([])
            if ref is not None:
                self._join(ref)
        return len(self._idle)

    def ask(self, method: str, *args: Any) -> Any:
        """Call ``method`` on the first ready worker and wait for its answer."""
        return self._ray.get(getattr(self.first(), method).remote(*args))

    def map(
        self, jobs: Sequence[T], submit: Callable[[Any, T], Any]
    ) -> Iterator[tuple[T, list[ResultRow] | Failed]]:
        """Each job's result as it comes (any order); ``submit(actor, job)`` starts one on a worker.

        A job whose worker died is resubmitted up to ``retries`` times, then reported as :class:`Failed`.
        """
        queue, tries = deque(range(len(jobs))), [0] * len(jobs)
        running: dict[Any, tuple[Any, int]] = {}
        while queue or running:
            while queue and self._idle:
                actor, i = self._idle.pop(), queue.popleft()
                running[submit(actor, jobs[i])] = (actor, i)
            if not running and not self._alive():
                why = "no Ray worker left: each died more often than its restarts allow"
                yield from ((jobs[i], Failed(why)) for i in queue)
                return
            ref = self._wait(list(running))
            if ref is None or ref in self._probes:
                if ref is not None:
                    self._join(ref)
                continue
            actor, i = running.pop(ref)
            result = self._result(ref, actor)
            if isinstance(result, Failed) and result.retry:
                tries[i] += 1
                if tries[i] <= self.retries:
                    self.retried += 1
                    queue.appendleft(i)
                    continue
                result = Failed(f"{result.why}, {tries[i]} times: given up")
            yield jobs[i], result

    def _result(self, ref: Any, actor: Any) -> list[ResultRow] | Failed:
        """A finished unit's result; a worker that died is probed until Ray has restarted it."""
        try:
            result: list[ResultRow] | Failed = self._ray.get(ref)
        except self._ray.exceptions.RayActorError:
            self._probes[actor.ready.remote()] = actor
            return Failed("its worker died (killed, out of host memory or crashed)", retry=True)
        self._idle.append(actor)
        return result


def run_on_pool(
    pool: Pool,
    scenes: Sequence[Scene],
    manifest_dir: str | os.PathLike[str],
    conditions: Sequence[str],
    config: BenchConfig,
    model: str | None,
    out: str | os.PathLike[str],
    show_progress: bool,
    on_failure: Callable[[str, str], None],
) -> RunReport:
    """The units of ``scenes`` not yet in ``out`` run on the pool; this process is the one writer.

    ``config`` is resolved; a unit that fails is reported through ``on_failure(scene id, why)`` and
    left out of the file (a rerun computes it again).
    """
    root, retried, failed = str(Path(manifest_dir)), pool.retried, []

    def submit(actor: Any, unit: Todo) -> Any:
        return actor.run.remote(unit.scene, root, unit.conditions, config, unit.scene_hash)

    made_with = pool.ask("computed_with") if model is not None else None
    with open_run(out, conditions, config, model, scenes, manifest_dir, made_with) as store:
        with progress(len(store.todo), "bench (ray)", show_progress, unit="scene") as advance:
            for unit, result in pool.map(store.todo, submit):
                if isinstance(result, Failed):
                    failed.append((unit.scene.scene_id, result.why))
                    on_failure(unit.scene.scene_id, result.why)
                else:
                    store.write(unit, result)
                advance(1, unit.scene.scene_id)
        return store.report(pool.retried - retried, failed)
