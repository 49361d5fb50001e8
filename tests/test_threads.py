"""The CPU thread policy: the model's size and the free physical cores, overridable, applied once."""

from __future__ import annotations

from pathlib import Path

import pytest

from wheretolisten.errors import OptionError
from wheretolisten.threads import (
    ENV_VAR,
    PARAMS_PER_THREAD,
    ThreadChoice,
    apply_threads,
    choose_threads,
    physical_cores,
    resolve_threads,
)


def test_small_models_get_two_threads_large_ones_the_free_cores() -> None:
    assert choose_threads(2_600_000, cores=8) == 2  # the shipped model: 1.5x faster on 2 than 1, idle
    assert choose_threads(2_600_000, cores=2) == 2
    assert choose_threads(2_600_000, cores=2, busy=1.0) == 1  # one core taken: 2 threads would spin
    assert choose_threads(2_600_000, cores=1) == 1
    assert choose_threads(3 * PARAMS_PER_THREAD, cores=8) == 3
    assert choose_threads(7_000_000_000, cores=8) == 8
    assert choose_threads(7_000_000_000, cores=8, busy=5.2) == 3  # 5 cores taken by others
    assert choose_threads(7_000_000_000, cores=2, busy=9.0) == 1  # never below one
    assert choose_threads(0, cores=1) == 1


def _sysfs(root: Path, cores: list[tuple[int, int]]) -> Path:
    for cpu, (package, core) in enumerate(cores):
        topology = root / f"cpu{cpu}" / "topology"
        topology.mkdir(parents=True)
        (topology / "physical_package_id").write_text(f"{package}\n")
        (topology / "core_id").write_text(f"{core}\n")
    return root


def test_hyper_threads_count_once(tmp_path: Path) -> None:
    sysfs = _sysfs(tmp_path, [(0, 0), (0, 1), (0, 0), (0, 1), (1, 0), (1, 0)])
    assert physical_cores({0, 1, 2, 3, 4, 5}, sysfs) == 3
    assert physical_cores({0, 2}, sysfs) == 1  # two hyper-threads of one core
    assert physical_cores({0, 9}, sysfs) == 2  # no topology for cpu9: the logical count


def test_precedence_option_then_variable_then_omp_then_policy() -> None:
    big = 100 * PARAMS_PER_THREAD
    env = {ENV_VAR: "3", "OMP_NUM_THREADS": "2"}
    assert resolve_threads(5, big, env) == ThreadChoice(5, "--threads")
    assert resolve_threads(None, big, env) == ThreadChoice(3, ENV_VAR)
    assert resolve_threads(None, big, {"OMP_NUM_THREADS": "2"}) == ThreadChoice(None, "OMP_NUM_THREADS")
    chosen = resolve_threads(None, 1, {})
    assert chosen.reason == "policy" and chosen.threads is not None and 1 <= chosen.threads <= 2


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_bad_thread_counts_are_refused(bad: str) -> None:
    with pytest.raises(OptionError, match=ENV_VAR):
        resolve_threads(None, 1, {ENV_VAR: bad})


def test_apply_sets_torch_and_leaves_omp_alone() -> None:
    import torch

    before = torch.get_num_threads()
    try:
        assert apply_threads(ThreadChoice(1, "--threads")) == 1 == torch.get_num_threads()
        assert apply_threads(ThreadChoice(None, "OMP_NUM_THREADS")) == 1
    finally:
        torch.set_num_threads(before)


def test_a_bad_omp_num_threads_is_one_line_and_a_thread_count_has_a_ceiling() -> None:
    """OMP_NUM_THREADS that OpenMP would reject with its own message, and a count far beyond the CPUs
    (100 000 crashed OpenMP), are refused before torch; OpenMP's nested form "4,2" is left to it."""
    from wheretolisten.threads import max_threads, resolve_threads

    for bad in ("-3", "0", "two"):
        with pytest.raises(OptionError, match="OMP_NUM_THREADS"):
            resolve_threads(None, 1, {"OMP_NUM_THREADS": bad})
    assert resolve_threads(None, 1, {"OMP_NUM_THREADS": "4,2"}).reason == "OMP_NUM_THREADS"
    assert resolve_threads(max_threads(), 1, {}).threads == max_threads()
    with pytest.raises(OptionError, match="give at most"):
        resolve_threads(max_threads() + 1, 1, {})
