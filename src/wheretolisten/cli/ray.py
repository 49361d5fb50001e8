"""--ray, --workers and --ray-timeout: whether and how a benchmark command runs on Ray (``bench run`` and
``bench sweep`` take them together)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import OptionError
from .groups import DeviceFlags

if TYPE_CHECKING:
    from ..bench.cluster import RaySpec
    from ..bench.runner import RunReport

RayOpt = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="ADDRESS",
        help="Run on Ray: 'local' (start a local instance), 'auto' (the cluster this machine joined with "
        "'ray start') or ray://HOST:10001. Needs the ray extra; see docs/cluster.md.",
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(help="With --ray: workers, each loading the model once (default: one per GPU, else 1)."),
]
#: Default --ray-timeout, seconds (``bench.cluster.DEFAULT_TIMEOUT_S``; a test keeps them equal).
RAY_TIMEOUT_S = 30.0
RayTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--ray-timeout",
        metavar="SECONDS",
        help="With --ray ADDRESS: how long to wait for the cluster to answer before giving up.",
    ),
]


@dataclass(frozen=True)
class RayFlags:
    """--ray, --workers and --ray-timeout: whether and how a benchmark command runs on Ray."""

    ray: RayOpt = None
    workers: WorkersOpt = None
    ray_timeout: RayTimeoutOpt = RAY_TIMEOUT_S

    def spec(self, shard: str | None, model: str | None, device: DeviceFlags) -> RaySpec | None:
        """The Ray settings (None: run here); Ray missing is one line, before any work."""
        if self.ray is None:
            if self.workers is not None:
                raise OptionError("--workers needs --ray")
            if self.ray_timeout != RAY_TIMEOUT_S:
                raise OptionError("--ray-timeout needs --ray ADDRESS (it bounds the wait for a cluster)")
            return None
        from ..bench.cluster import RaySpec, check_address, require_ray

        require_ray()
        if shard is not None:
            raise OptionError("--shard and --ray do not mix: on Ray the units are spread over the workers")
        if model is not None:  # a bad --model is one line here, not after Ray and its workers have started
            from ..models.checkpoint import check_source

            check_source(model)
        spec = RaySpec(
            address=self.ray,
            workers=self.workers,
            model=model,
            device=device.device,
            dtype=device.dtype,
            timeout_s=self.ray_timeout,
        )
        check_address(spec)  # nothing answering is one line within --ray-timeout, not minutes of retries
        return spec


def ray_counts(report: RunReport) -> str:
    """How the units of a Ray run ended, for its summary line."""
    done, retried, failed = report.units_run, report.units_retried, len(report.failed)
    return f"; on Ray: {done} units done, {retried} retried, {failed} failed"
