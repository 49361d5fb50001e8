"""The registry of benchmark conditions: adding a condition is one :func:`register` call.

A condition declares its name, whether it needs a model, whether it yields an attention profile,
whether it uses the unit's shared pass 1, the settings that enter its config hash, and one ``run``
that turns a unit's queried events into outcomes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..answers import parse_time_answer
from ..errors import OptionError
from ..readout import Readout
from .baselines import energy_prediction, item_rng, random_prediction
from .config import BenchConfig, config_hash
from .detection import DETECTION_CONDITIONS
from .outcome import Outcome

if TYPE_CHECKING:
    from .unit import Unit


@dataclass(frozen=True)
class Condition:
    """One way of predicting when the queried event happens."""

    name: str
    doc: str
    needs_model: bool
    has_profile: bool
    #: Settings that change this condition's rows (they enter its config hash).
    settings: Callable[[BenchConfig], dict[str, Any]]
    #: Outcomes for the unit's queried event indices, in order.
    run: Callable[[Unit, list[int]], list[Outcome]]
    #: Uses the unit's pass 1 (vectors and prompted attention), whose time is shared among its users.
    shares_pass1: bool = False
    #: Which control this condition is (None: not a control).
    control: str | None = None


REGISTRY: dict[str, Condition] = {}


def register(condition: Condition) -> Condition:
    """Add a condition to the registry (names are unique)."""
    if condition.name in REGISTRY:
        raise ValueError(f"condition {condition.name!r} is registered twice")
    REGISTRY[condition.name] = condition
    return condition


#: Modules that register more conditions (the controls): imported before any lookup, so the registry is
#: whole in a fresh interpreter whatever was imported first.
_REGISTERING = ("controls",)


def _load_registry() -> None:
    import importlib

    for name in _REGISTERING:
        importlib.import_module(f"{__package__}.{name}")


def parse_conditions(text: str | Sequence[str]) -> list[str]:
    """'steered,random' (or a list) → validated, de-duplicated condition names in the given order."""
    _load_registry()
    items = text.split(",") if isinstance(text, str) else list(text)
    names = [c.strip() for c in items if c.strip()]
    if not names:
        raise OptionError(f"no conditions given; choose from {', '.join(REGISTRY)}")
    unknown = [c for c in names if c not in REGISTRY]
    if unknown:
        raise OptionError(f"unknown condition {unknown[0]!r}; choose from {', '.join(REGISTRY)}")
    return list(dict.fromkeys(names))


def get_conditions(names: str | Sequence[str]) -> list[Condition]:
    """The registered conditions named in ``names`` (validated)."""
    return [REGISTRY[n] for n in parse_conditions(names)]


def unread_options(
    conditions: Sequence[Condition], config: BenchConfig, changed: Mapping[str, BenchConfig]
) -> list[str]:
    """The options no condition of ``conditions`` reads: ``changed[option]`` is ``config`` with that option
    set to another value, and every condition's settings (so its rows' hash) come out the same."""

    def hashes(cfg: BenchConfig) -> list[str]:
        return [config_hash(c.name, c.settings(cfg)) for c in conditions]

    mine = hashes(config)
    return [option for option, other in changed.items() if hashes(other) == mine]


# ---- settings that enter each condition's hash -----------------------------------------------------

_READOUT_KEYS = ("probe_layers", "probe", "normalize", "smooth_s", "interval", "fraction", "window_s")


def _localize_settings(config: BenchConfig) -> dict[str, Any]:
    return config.loc.to_json()


def _readout_settings(config: BenchConfig) -> dict[str, Any]:
    loc = config.loc.to_json()
    return {k: loc[k] for k in _READOUT_KEYS}


# ---- model conditions ----------------------------------------------------------------------------


def _steered(unit: Unit, indices: list[int]) -> list[Outcome]:
    """Instruction vector of each query on this clip; Δ = steered − unsteered attention."""
    queries = [unit.scene.events[k].query for k in indices]
    found = unit.vector_pass(queries)
    base, rows = unit.engine.profiles(found.vectors)
    return [unit.outcome(base, steered) for steered in rows]


def _prompted(unit: Unit, indices: list[int]) -> list[Outcome]:
    """No steering: Δ = attention under "Listen for {query}." − attention under the neutral prompt."""
    cfg, loc = unit.config, unit.config.loc
    queries = [unit.scene.events[k].query for k in indices]
    if cfg.prompted_template == loc.instructed_templates[0]:
        found = unit.vector_pass(queries)
        pairs = [(found.prompted_base, p) for p in found.prompted]
    else:
        rows = unit.engine.attention([loc.prompt, *(cfg.prompted_template.format(query=q) for q in queries)])
        pairs = [(rows[0], r) for r in rows[1:]]
    return [unit.outcome(base, instructed) for base, instructed in pairs]


def _audio_steered(unit: Unit, indices: list[int]) -> list[Outcome]:
    """Audio-contrast vector: the clip with − without the event (erased by gap-level noise); Δ readout."""
    outcomes = []
    for k in indices:
        base, (steered,) = unit.engine.profiles([unit.audio_vector(k)])
        outcomes.append(unit.outcome(base, steered))
    return outcomes


def ask_when(unit: Unit, query: str) -> str:
    """Greedy answer of the unsteered model to the direct localization question."""
    import torch

    adapter, cfg = unit.model, unit.config
    batch = adapter.encode([unit.clip], [cfg.question.format(query=query)])
    with torch.no_grad():
        out = adapter.model.generate(**batch, max_new_tokens=cfg.max_new_tokens, do_sample=False, num_beams=1)
    new = out[0, batch["input_ids"].shape[1] :]
    return str(adapter.tokenizer.decode(new, skip_special_tokens=True)).strip()


def _direct(unit: Unit, indices: list[int]) -> list[Outcome]:
    """Ask the model when the sound starts and ends; parse the answer (unparseable: a miss, reported)."""
    outcomes = []
    for k in indices:
        answer = ask_when(unit, unit.scene.events[k].query)
        parsed = parse_time_answer(answer, unit.scene.duration_s)
        r = Readout(None, None, None) if parsed is None else Readout(sum(parsed) / 2, parsed, None)
        outcomes.append(Outcome(r, extra={"parse_failed": parsed is None, "answer": answer}))
    return outcomes


# ---- model-free baselines ----------------------------------------------------------------------------


def _random(unit: Unit, indices: list[int]) -> list[Outcome]:
    """Seeded uniform peak and interval."""
    scene, seed = unit.scene, unit.config.seed
    return [
        Outcome(random_prediction(item_rng(seed, scene.scene_id, scene.events[k].query), scene.duration_s))
        for k in indices
    ]


def _energy(unit: Unit, indices: list[int]) -> list[Outcome]:
    """The loudest window of the clip (the same for every query)."""
    r = energy_prediction(unit.native, unit.scene.sample_rate, unit.config.energy_window_s)
    return [Outcome(r) for _ in indices]


register(
    Condition("steered", "instruction vector, Δ readout", True, True, _localize_settings, _steered, True)
)
register(
    Condition(
        "prompted",
        "instruction in the prompt, no steering; instructed − neutral attention",
        True,
        True,
        lambda c: {**_readout_settings(c), "prompt": c.loc.prompt, "template": c.prompted_template},
        _prompted,
        True,
    )
)
register(
    Condition(
        "audio-steered",
        "audio-contrast vector (clip with − without the event), Δ readout",
        True,
        True,
        lambda c: {
            **{k: v for k, v in _localize_settings(c).items() if not k.endswith("_templates")},
            "erase": "gap-rms-noise",
            "seed": c.seed,
        },
        _audio_steered,
    )
)
register(
    Condition(
        "direct",
        "the model is asked for start and end times",
        True,
        False,
        lambda c: {"prompt": c.question, "max_new_tokens": c.max_new_tokens},
        _direct,
    )
)
register(
    Condition(
        "random", "seeded uniform point and interval", False, False, lambda c: {"seed": c.seed}, _random
    )
)
register(
    Condition(
        "energy",
        "loudest window",
        False,
        False,
        lambda c: {"window_s": c.energy_window_s},
        _energy,
    )
)

#: The conditions of the paper's setting, in the order tables show them.
CONDITIONS = tuple(REGISTRY)
#: Detection of every occurrence in long recordings (``bench/detection.py``).
DETECTION = tuple(register(Condition(**spec)).name for spec in DETECTION_CONDITIONS)
MODEL_FREE = frozenset(name for name, c in REGISTRY.items() if not c.needs_model)


def condition_settings(name: str, config: BenchConfig) -> dict[str, Any]:
    """The settings of condition ``name`` that enter its config hash."""
    return REGISTRY[parse_conditions([name])[0]].settings(config)


__all__ = [
    "CONDITIONS",
    "DETECTION",
    "MODEL_FREE",
    "REGISTRY",
    "Condition",
    "ask_when",
    "condition_settings",
    "get_conditions",
    "parse_conditions",
    "register",
]
