"""Benchmarks and sweeps on Ray: the local runner's rows and files, worker deaths, a killed driver, no Ray.

The Ray tests share one local instance (2 CPUs) and use CPU workers with the tiny model or model-free
conditions; conditions registered here only (``hook_condition``) inject slowness, failures and deaths.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from helpers import run_cli
from wheretolisten.bench.cluster_pool import Failed, Pool
from wheretolisten.bench.conditions import REGISTRY, Condition, register
from wheretolisten.records import row_key
from wheretolisten.scenes import ProceduralBank, make_scenes

ROOT = Path(__file__).resolve().parents[1]
CPU = ("--device", "cpu", "--dtype", "float32", "--no-progress")


@pytest.fixture(scope="module")
def ray_local() -> Iterator[ModuleType]:
    """One local Ray instance for the module's tests (the runner reuses a connection it finds)."""
    ray = pytest.importorskip("ray")
    env = {"env_vars": {"OMP_NUM_THREADS": "1"}}
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING, "include_dashboard": False}
    ray.init(address="local", num_cpus=2, runtime_env=env, **quiet)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def scenes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cluster_scenes")
    make_scenes(ProceduralBank(), 4, out, n_events=3, duration_s=8.0, seed=5, progress=False)
    return out


def hook_condition(name: str, before: Callable[[Any], None]) -> Condition:
    """A model-free condition (the energy baseline) that first calls ``before(unit)``: a test hook."""
    energy = REGISTRY["energy"]

    def run(unit: Any, indices: list[int]) -> Any:
        before(unit)
        return energy.run(unit, indices)

    return Condition(name, "test hook", False, False, lambda c: {"hook": name}, run)


@pytest.fixture
def hooks() -> Iterator[Callable[[Condition], None]]:
    """Register conditions for one test only (the workers get them from the driver's registry)."""
    added: list[str] = []

    def add(condition: Condition) -> None:
        register(condition)
        added.append(condition.name)

    yield add
    for name in added:
        REGISTRY.pop(name)


def rows_of(path: Path) -> list[dict[str, Any]]:
    text = path.read_text()
    assert text.endswith("\n")  # no torn line
    return [json.loads(line) for line in text.splitlines()]


def by_key(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Rows by key without their timing; a repeated key fails."""
    out = {row_key(r): {k: v for k, v in r.items() if k != "elapsed_s"} for r in rows}
    assert len(out) == len(rows), "a row is repeated"
    return out


# ---- without Ray, and the options -------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_without_ray_the_option_is_one_line_before_any_work(
    command: str,
    scenes_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if it were not installed
    out = tmp_path / ("r.jsonl" if command == "run" else "sweep")
    extra = ("--layers-grid", "1") if command == "sweep" else ()
    code, stdout, err = run_cli(monkeypatch, capsys, "bench", command, scenes_dir, "--out", out, "--ray",
                                "local", *extra)  # fmt: skip
    assert code == 2 and stdout == ""
    assert err.count("\n") == 1 and err.startswith("wheretolisten: error: --ray needs Ray"), err
    assert 'pip install "wheretolisten[ray]"' in err
    assert not out.exists()


def test_ray_options_are_checked_first(
    scenes_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("ray")
    run = ("bench", "run", scenes_dir, "--out", tmp_path / "r.jsonl")
    for extra, needle in [
        (("--workers", "2"), "--workers needs --ray"),
        (("--ray", "local", "--shard", "0/2"), "--shard and --ray do not mix"),
        (("--ray", "local", "--workers", "0"), "--workers must be at least 1"),
    ]:
        code, _, err = run_cli(monkeypatch, capsys, *run, *extra)
        assert code == 2 and err.count("\n") == 1 and needle in err, err
    assert not (tmp_path / "r.jsonl").exists()


# ---- the scheduler, on stand-ins for Ray's calls (no cluster) ---------------------------------------


class _Died(Exception):
    """What a call on a dead worker raises (Ray's RayActorError)."""


class _Call:
    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def remote(self, *args: Any) -> Callable[[], Any]:
        return lambda: self.fn(*args)


class _Actor:
    """A worker that dies on the job 'poison' and stays dead after ``restarts`` deaths."""

    def __init__(self, restarts: int) -> None:
        self.deaths, self.restarts = 0, restarts
        self.ready, self.run = _Call(self._ready), _Call(self._run)

    def _ready(self) -> None:
        if self.deaths > self.restarts:
            raise _Died

    def _run(self, job: str) -> Any:
        if job == "poison":
            self.deaths += 1
            raise _Died
        return (
            Failed("bad audio") if job == "bad" else Failed("out of memory", True) if job == "big" else [job]
        )


class _Ray:
    class exceptions:
        RayActorError = _Died

    @staticmethod
    def wait(refs: list[Any], num_returns: int, timeout: float | None) -> tuple[list[Any], list[Any]]:
        return refs[:num_returns], refs[num_returns:]

    @staticmethod
    def get(ref: Callable[[], Any]) -> Any:
        return ref()


def test_pool_resubmits_units_of_dead_workers_a_bounded_number_of_times() -> None:
    pool = Pool(_Ray, [_Actor(restarts=10)], retries=2)  # type: ignore[arg-type]
    results = dict(pool.map(["a", "poison", "bad", "big", "b"], lambda actor, job: actor.run.remote(job)))
    assert results["a"] == ["a"] and results["b"] == ["b"]
    assert results["bad"] == Failed("bad audio")  # a user error: reported, not retried
    assert isinstance(results["poison"], Failed) and "died" in results["poison"].why
    assert "3 times: given up" in results["poison"].why
    assert "out of memory, 3 times" in results["big"].why  # type: ignore[union-attr]
    assert pool.retried == 4  # two resubmissions each for 'poison' and 'big'


def test_pool_without_workers_left_reports_the_rest_as_failed() -> None:
    pool = Pool(_Ray, [_Actor(restarts=0)], retries=5)  # type: ignore[arg-type]
    results = list(pool.map(["poison", "a"], lambda actor, job: actor.run.remote(job)))
    assert [job for job, _ in results] == ["poison", "a"]
    assert all(isinstance(r, Failed) and "no Ray worker left" in r.why for _, r in results)


# ---- on a local Ray instance ------------------------------------------------------------------------


@pytest.mark.slow
def test_ray_run_gives_the_local_rows(
    ray_local: ModuleType,
    scenes_dir: Path,
    tiny_dirs: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ("bench", "run", scenes_dir, "--model", tiny_dirs["qwen2-audio"], "--queries", "all",
            "--conditions", "steered,prompted,random,energy", *CPU)  # fmt: skip
    code, _, err = run_cli(monkeypatch, capsys, *args, "--out", tmp_path / "l.jsonl")
    assert code == 0, err
    code, stdout, err = run_cli(monkeypatch, capsys, *args, "--out", tmp_path / "r.jsonl", "--ray", "local",
                                "--workers", "2")  # fmt: skip
    assert code == 0, err
    assert (
        "(4 scenes run, 0 already done)" in stdout and "on Ray: 4 units done, 0 retried, 0 failed" in stdout
    )
    assert by_key(rows_of(tmp_path / "r.jsonl")) == by_key(rows_of(tmp_path / "l.jsonl"))
    summaries = [run_cli(monkeypatch, capsys, "bench", "summary", tmp_path / f"{n}.jsonl")[1] for n in "lr"]
    assert summaries[0] == summaries[1] and "steered" in summaries[0]


@pytest.mark.slow
def test_dead_workers_are_restarted_and_failing_units_reported(
    ray_local: ModuleType,
    scenes_dir: Path,
    hooks: Callable[[Condition], None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    flags = tmp_path / "flags"
    flags.mkdir()
    bad = json.loads((scenes_dir / "manifest.jsonl").read_text().splitlines()[1])["scene_id"]

    def faulty(unit: Any) -> None:
        """Exit the worker process on its first unit (once per worker); refuse the audio of one scene."""
        import os

        import ray

        from wheretolisten.errors import AudioError

        flag = flags / ray.get_runtime_context().get_actor_id()
        if not flag.exists():
            flag.touch()
            os._exit(1)
        if unit.scene.scene_id == bad:
            raise AudioError(f"{unit.path}: unreadable (test)")

    hooks(hook_condition("faulty", faulty))
    out = tmp_path / "r.jsonl"
    code, stdout, err = run_cli(monkeypatch, capsys, "bench", "run", scenes_dir, "--conditions",
                                "faulty,random", "--out", out, "--ray", "local", "--workers", "2",
                                "--no-progress")  # fmt: skip
    deaths = len(list(flags.iterdir()))
    assert code == 2 and deaths >= 1
    assert f"on Ray: 3 units done, {deaths} retried, 1 failed" in stdout
    lines = [line for line in err.splitlines() if line.startswith("wheretolisten:")]
    assert lines[0].startswith(f"wheretolisten: warning: scene {bad} failed: ") and "(test)" in lines[0]
    assert lines[1].startswith("wheretolisten: error: 1 scene unit(s) failed") and len(lines) == 2
    rows = by_key(rows_of(out))  # every other unit once, no duplicate, no torn line
    assert len(rows) == 6 and bad not in {k[0] for k in rows}


SLOW_CLI = """
import sys, time
from wheretolisten.bench.conditions import REGISTRY, Condition, register
from wheretolisten.records import row_key
energy = REGISTRY["energy"]
def run(unit, indices):
    time.sleep(0.4)
    return energy.run(unit, indices)
register(Condition("sleepy", "test hook", False, False, lambda c: {"hook": "sleepy"}, run))
from wheretolisten.cli import main
sys.argv = ["wheretolisten", *sys.argv[1:]]
main()
"""


@pytest.mark.slow
def test_a_killed_driver_is_resumed_by_a_rerun(
    ray_local: ModuleType,
    hooks: Callable[[Condition], None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scenes = tmp_path / "scenes"
    make_scenes(ProceduralBank(), 8, scenes, n_events=3, duration_s=4.0, seed=1, progress=False)
    out = tmp_path / "r.jsonl"
    args = ("bench", "run", str(scenes), "--conditions", "sleepy", "--out", str(out), "--no-progress",
            "--ray", "local", "--workers", "1")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    # Its own session: killing the group kills the driver and the local Ray instance it started.
    driver = subprocess.Popen([sys.executable, "-c", SLOW_CLI, *args], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not (out.exists() and out.read_bytes().count(b"\n") >= 2):
            assert driver.poll() is None, driver.stderr.read().decode() if driver.stderr else ""
            assert time.monotonic() < deadline, "no rows written in time"
            time.sleep(0.02)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    written = out.read_bytes().count(b"\n")
    assert 2 <= written < 8

    hooks(hook_condition("sleepy", lambda unit: time.sleep(0.4)))
    code, stdout, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    assert f"({8 - written} scenes run, {written} already done)" in stdout
    rows = by_key(rows_of(out))
    assert len(rows) == 8 and len({k[0] for k in rows}) == 8


@pytest.mark.slow
def test_a_sweep_in_one_launch_picks_the_local_setting(
    ray_local: ModuleType,
    scenes_dir: Path,
    tiny_dirs: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    common = ("bench", "sweep", scenes_dir, "--model", tiny_dirs["qwen2-audio"], "--layers-grid", "1;2",
              "--alphas", "2,8", "--conditions", "steered,random", *CPU)  # fmt: skip
    code, local, err = run_cli(monkeypatch, capsys, *common, "--out", tmp_path / "local")
    assert code == 0, err
    code, on_ray, err = run_cli(monkeypatch, capsys, *common, "--out", tmp_path / "ray", "--ray", "local",
                                "--workers", "2")  # fmt: skip
    assert code == 0, err
    assert on_ray.split(" (dev")[0] == local.split(" (dev")[0] and "chose layers" in local
    assert "on Ray: 0 unit(s) of grid and test retried" in on_ray

    def grid(path: Path) -> dict[str, dict[str, Any]]:
        return {line["config_hash"]: line for line in rows_of(path / "sweep.jsonl")}

    assert grid(tmp_path / "ray") == grid(tmp_path / "local") and len(grid(tmp_path / "local")) == 4
    assert by_key(rows_of(tmp_path / "ray" / "results.jsonl")) == by_key(
        rows_of(tmp_path / "local" / "results.jsonl")
    )


@pytest.mark.slow
def test_a_sweep_on_ray_refuses_grid_lines_of_other_weights(
    ray_local: ModuleType,
    scenes_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ray sweeps resumed grid lines by the model's name only (the local sweep compared the weights): other
    weights saved in the same folder reused the first weights' grid and chose from it."""
    from wheretolisten.models.tiny import make_tiny_model

    model = make_tiny_model("qwen2-audio", tmp_path / "m", seed=0)
    common = ("bench", "sweep", scenes_dir, "--model", model, "--layers-grid", "1", "--alphas", "2",
              "--conditions", "steered", "--out", tmp_path / "out", *CPU)  # fmt: skip
    code, _, err = run_cli(monkeypatch, capsys, *common)
    assert code == 0, err
    grid = (tmp_path / "out" / "sweep.jsonl").read_bytes()
    make_tiny_model("qwen2-audio", tmp_path / "m", seed=1, overwrite=True)  # other weights, same folder
    code, _, err = run_cli(monkeypatch, capsys, *common, "--ray", "local", "--workers", "1")
    assert code == 2 and "other weights or precision" in err, err
    assert (tmp_path / "out" / "sweep.jsonl").read_bytes() == grid


def test_the_benchmark_script_parses() -> None:
    script = ROOT / "benchmarks" / "cluster.py"
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--workers" in done.stdout, done.stderr
