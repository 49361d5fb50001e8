"""The localization benchmark: conditions (a registry), the work unit, the runner, the sweep.

Every (scene, query, condition) gives one typed result row (:class:`wheretolisten.records.ResultRow`),
scored later by :mod:`wheretolisten.metrics`.
"""

from .baselines import energy_prediction, erase_event, item_rng, random_prediction
from .conditions import (
    CONDITIONS,
    MODEL_FREE,
    REGISTRY,
    Condition,
    get_conditions,
    parse_conditions,
    register,
)
from .config import BENCH_VERSION, DIRECT_PROMPT, PROMPTED_TEMPLATE, BenchConfig, bench_config, config_hash
from .runner import RunReport, load_scenes, manifest_path, run_bench, run_unit
from .sweep import RESULTS_NAME, SWEEP_NAME, SweepReport, split_dev_test, sweep
from .unit import Outcome, Unit, select_events

__all__ = [
    "BENCH_VERSION",
    "CONDITIONS",
    "DIRECT_PROMPT",
    "MODEL_FREE",
    "PROMPTED_TEMPLATE",
    "REGISTRY",
    "RESULTS_NAME",
    "SWEEP_NAME",
    "BenchConfig",
    "Condition",
    "Outcome",
    "RunReport",
    "SweepReport",
    "Unit",
    "bench_config",
    "config_hash",
    "energy_prediction",
    "erase_event",
    "get_conditions",
    "item_rng",
    "load_scenes",
    "manifest_path",
    "parse_conditions",
    "random_prediction",
    "register",
    "run_bench",
    "run_unit",
    "select_events",
    "split_dev_test",
    "sweep",
]
