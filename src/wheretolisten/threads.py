"""How many CPU threads torch uses for one model: chosen from the model's size and the free cores.

torch's default (one thread per logical CPU) is the worst choice on a busy machine: its threads spin
waiting for each other. Measured on a 2-core machine under load, the shipped model took 4-7× longer
with 2 threads than with 1; on the same machine idle, 2 threads were 1.5× faster (docs/performance.md).
So the thread count is chosen, once, where the command line loads the model:

1. ``--threads N`` when given, else ``WHERETOLISTEN_THREADS``;
2. else ``OMP_NUM_THREADS`` when set (torch already follows it; it is left alone);
3. else the policy :func:`choose_threads`: one thread per :data:`PARAMS_PER_THREAD` parameters, at
   least :data:`MIN_POLICY_THREADS`, at most the physical cores this process may run on
   (``os.sched_getaffinity``) less the cores other processes keep busy (the 1-minute load average,
   when this process sees every CPU).

Nothing here imports torch except :func:`apply_threads`, which sets it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import OptionError

#: The environment variable that sets the thread count when --threads is not given.
ENV_VAR = "WHERETOLISTEN_THREADS"
#: Model parameters per thread beyond :data:`MIN_POLICY_THREADS` (docs/performance.md has the
#: measurements and how to redo them).
PARAMS_PER_THREAD = 10_000_000
#: Threads the policy gives any model when that many cores are free: on an idle 2-core machine the
#: shipped 2.6 M-parameter model ran a 20-minute file 1.56x faster on 2 threads than on 1
#: (benchmarks/threads.py); on busy cores the load rule below keeps it at one (2 threads there were
#: 4-5x slower).
MIN_POLICY_THREADS = 2


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count and why (``"--threads"``, ``ENV_VAR``, ``"OMP_NUM_THREADS"`` or ``"policy"``)."""

    threads: int | None  # None: leave torch's own count (OMP_NUM_THREADS is set)
    reason: str


def usable_cpus() -> set[int]:
    """The logical CPUs this process may run on (its affinity mask; every CPU where there is none)."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def physical_cores(cpus: set[int], sysfs: Path = Path("/sys/devices/system/cpu")) -> int:
    """How many distinct physical cores the logical ``cpus`` lie on (hyper-threads share a core); the
    number of logical CPUs when the topology cannot be read."""
    cores = set()
    for cpu in cpus:
        topology = sysfs / f"cpu{cpu}" / "topology"
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            return len(cpus)
        cores.add((package, core))
    return max(1, len(cores))


def busy_cores(cpus: set[int]) -> float:
    """Cores other processes keep busy: the 1-minute load average, when this process may use every CPU
    of the machine (else the load cannot be attributed to its cores: 0)."""
    if not hasattr(os, "getloadavg") or len(cpus) != (os.cpu_count() or 0):
        return 0.0
    return float(os.getloadavg()[0])


def choose_threads(parameters: int, cores: int, busy: float = 0.0) -> int:
    """The policy: one thread per :data:`PARAMS_PER_THREAD` parameters, at least
    :data:`MIN_POLICY_THREADS`, within the free cores."""
    by_size = max(MIN_POLICY_THREADS, math.ceil(parameters / PARAMS_PER_THREAD))
    free = max(1, cores - math.floor(busy + 0.5))
    return max(1, min(by_size, free, cores))


def max_threads() -> int:
    """The most threads accepted: 4 per logical CPU (at least 16); far more crashes OpenMP itself."""
    return max(16, 4 * (os.cpu_count() or 1))


def parse_threads(text: str, source: str) -> int:
    """A thread count from an option or variable: a whole number from 1 to :func:`max_threads`."""
    try:
        value = int(text)
    except ValueError:
        raise OptionError(f"{source} must be a whole number of threads >= 1, got {text!r}") from None
    if value < 1:
        raise OptionError(f"{source} must be a whole number of threads >= 1, got {text!r}")
    if value > max_threads():
        raise OptionError(
            f"{source} {value} is more than this machine can run ({os.cpu_count()} CPUs); "
            f"give at most {max_threads()}"
        )
    return value


def resolve_threads(
    requested: int | None, parameters: int, environ: Mapping[str, str] | None = None
) -> ThreadChoice:
    """The thread count for a model of ``parameters`` (see the module docstring for the order)."""
    env = os.environ if environ is None else environ
    if requested is not None:
        return ThreadChoice(parse_threads(str(requested), "--threads"), "--threads")
    if env.get(ENV_VAR, "").strip():
        return ThreadChoice(parse_threads(env[ENV_VAR].strip(), ENV_VAR), ENV_VAR)
    if env.get("OMP_NUM_THREADS", "").strip():
        omp = env["OMP_NUM_THREADS"].strip()
        if not omp.split(",")[0].strip().isdigit() or int(omp.split(",")[0]) < 1:  # OpenMP allows "4,2"
            raise OptionError(f"OMP_NUM_THREADS must be a whole number of threads >= 1, got {omp!r}")
        return ThreadChoice(None, "OMP_NUM_THREADS")
    cpus = usable_cpus()
    return ThreadChoice(choose_threads(parameters, physical_cores(cpus), busy_cores(cpus)), "policy")


def apply_threads(choice: ThreadChoice) -> int:
    """Set torch's intra-op thread count to ``choice`` (when it names one); the count now in use."""
    import torch

    if choice.threads is not None and torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)
    return torch.get_num_threads()
