"""The localization benchmark: conditions (a registry), the work unit, the runner, the sweep.

Every (scene, query, condition) gives one typed result row (:class:`wheretolisten.records.ResultRow`),
scored later by :mod:`wheretolisten.metrics`.
"""

from __future__ import annotations

from ..lazy import lazy_exports

#: Public name -> the module that defines it; loaded on first use, so that ``wheretolisten.bench.config``
#: (and the command line's option checks) do not import torch.
_EXPORTS = {
    "energy_prediction": "baselines",
    "erase_event": "baselines",
    "item_rng": "baselines",
    "random_prediction": "baselines",
    "RaySpec": "cluster",
    "run_bench_ray": "cluster",
    "sweep_ray": "cluster",
    "CONDITIONS": "conditions",
    "MODEL_FREE": "conditions",
    "REGISTRY": "controls",  # the registry with the control conditions registered
    "CONTROLS": "controls",
    "Condition": "conditions",
    "get_conditions": "controls",
    "parse_conditions": "controls",
    "register": "conditions",
    "BENCH_VERSION": "config",
    "DIRECT_PROMPT": "config",
    "PROMPTED_TEMPLATE": "config",
    "BenchConfig": "config",
    "bench_config": "config",
    "config_hash": "config",
    "check_scenes": "inputs",
    "load_scenes": "inputs",
    "manifest_path": "inputs",
    "RunReport": "runner",
    "run_bench": "runner",
    "run_unit": "runner",
    "RESULTS_NAME": "sweep",
    "SWEEP_NAME": "sweep",
    "SweepPlan": "sweep",
    "SweepReport": "sweep",
    "split_dev_test": "sweep",
    "sweep": "sweep",
    "Outcome": "outcome",
    "Protocol": "protocol_file",
    "load_protocol": "protocol_file",
    "save_protocol": "protocol_file",
    "run_protocol": "protocol",
    "Unit": "unit",
    "select_events": "inputs",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = sorted(_EXPORTS)
