"""Control conditions (one registry entry each) and the norm-matched audio-steered variant.

A control runs with the steered condition's settings and changes one thing: the direction (random-vector:
random directions with the instruction vector's norm at every layer; neutral-contrast: one neutral prompt
minus a neutral paraphrase), the query (wrong-query: another event of the same scene; absent-class: a class
the scene does not hold) or the sign (negative: −α). Every row names its control (``control``);
``metrics.controls`` scores them. Importing this module registers them; it re-exports the registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import WTLError
from ..scenes import PROCEDURAL_CLASSES
from .baselines import item_rng
from .conditions import REGISTRY, Condition, get_conditions, parse_conditions, register
from .config import BenchConfig
from .outcome import Outcome

if TYPE_CHECKING:
    from ..vectors import SteeringVector
    from .unit import Unit

#: The control conditions, in the order tables show them.
CONTROLS = ("random-vector", "wrong-query", "absent-class", "neutral-contrast", "negative")
#: Queries an absent-class control draws from when the benchmark names none: the procedural classes.
PROCEDURAL_QUERIES = tuple(query for _, query in PROCEDURAL_CLASSES.values())


def norm_matched(vector: SteeringVector, like: SteeringVector) -> SteeringVector:
    """``vector`` rescaled at every layer to the norm of ``like`` there (a zero direction stays zero)."""
    from ..vectors import SteeringVector

    directions = {}
    for layer, d in vector.directions.items():
        norm, target = float(d.float().norm()), float(like.directions[layer].float().norm())
        directions[layer] = d * (target / norm) if norm > 0 else d
    return SteeringVector(directions, {**vector.metadata, "norm_matched": True})


def _queries(unit: Unit, indices: Sequence[int]) -> list[str]:
    return [unit.scene.events[k].query for k in indices]


def _rng(unit: Unit, control: str, query: str) -> Any:
    return item_rng(unit.config.seed, unit.scene.scene_id, f"{control}\0{query}")


def _random_vector(unit: Unit, indices: list[int]) -> list[Outcome]:
    """k random directions per query, each scaled to the instruction vector's norm at every layer."""
    import torch

    from ..vectors import SteeringVector

    outcomes = []
    queries = _queries(unit, indices)
    for query, vector in zip(queries, unit.vector_pass(queries).vectors, strict=True):
        rng = _rng(unit, "random-vector", query)
        draws = []
        for _ in range(max(1, unit.config.random_draws)):
            directions = {}
            for layer, d in sorted(vector.directions.items()):
                g = torch.from_numpy(rng.standard_normal(d.numel())).to(d.dtype).reshape(d.shape)
                directions[layer] = g * (float(d.float().norm()) / float(g.float().norm()))
            draws.append(SteeringVector(directions, {"kind": "random", "query": query}))
        base, rows = unit.engine.profiles(draws)
        read = [unit.outcome(base, steered) for steered in rows]
        token_s = unit.model.token_s
        first = read[0]
        first.extra["draw_peaks_s"] = [unit.read(o, token_s)[0].peak_s for o in read]
        outcomes.append(first)
    return outcomes


def _other_event(unit: Unit, k: int) -> int:
    """A seeded choice among the scene's other events (those with another query)."""
    events = unit.scene.events
    others = [j for j, e in enumerate(events) if e.query != events[k].query]
    if not others:
        raise WTLError(f"scene {unit.scene.scene_id!r}: the wrong-query control needs another event")
    return others[int(_rng(unit, "wrong-query", events[k].query).integers(len(others)))]


def _wrong_query(unit: Unit, indices: list[int]) -> list[Outcome]:
    """The vector of another event of the same scene, read against the queried event."""
    chosen = [_other_event(unit, k) for k in indices]
    events = unit.scene.events
    found = unit.vector_pass([events[j].query for j in chosen])
    base, rows = unit.engine.profiles(found.vectors)
    return [
        unit.outcome(base, steered, vector_query=events[j].query, vector_event=j)
        for j, steered in zip(chosen, rows, strict=True)
    ]


def absent_pool(config: BenchConfig) -> tuple[str, ...]:
    """The queries an absent-class control draws from."""
    return config.absent_queries or PROCEDURAL_QUERIES


def _absent_query(unit: Unit, k: int) -> str:
    scene = unit.scene
    present = {e.query for e in scene.events} | {e.label for e in scene.events}
    choices = [q for q in absent_pool(unit.config) if q not in present]
    if not choices:
        raise WTLError(f"scene {scene.scene_id!r} holds every class the absent-class control can ask for")
    return choices[int(_rng(unit, "absent-class", scene.events[k].query).integers(len(choices)))]


def _absent_class(unit: Unit, indices: list[int]) -> list[Outcome]:
    """The vector of a class the scene does not hold, read against the queried event."""
    asked = [_absent_query(unit, k) for k in indices]
    base, rows = unit.engine.profiles(unit.vector_pass(asked).vectors)
    return [unit.outcome(base, steered, vector_query=q) for q, steered in zip(asked, rows, strict=True)]


def _neutral_contrast(unit: Unit, indices: list[int]) -> list[Outcome]:
    """The first neutral prompt minus the second (no sound named), at each query's instruction-vector norm."""
    neutral = list(unit.config.loc.neutral_templates)
    if len(neutral) < 2:
        raise WTLError("the neutral-contrast control needs at least two neutral templates")
    meta = {"kind": "neutral-contrast", "prompts": neutral[:2]}
    contrast = unit.engine.contrast_vector(neutral[0], neutral[1], meta)
    vectors = [norm_matched(contrast, v) for v in unit.vector_pass(_queries(unit, indices)).vectors]
    base, rows = unit.engine.profiles(vectors)
    return [unit.outcome(base, steered) for steered in rows]


def _negative(unit: Unit, indices: list[int]) -> list[Outcome]:
    """The instruction vector with −α."""
    found = unit.vector_pass(_queries(unit, indices))
    base, rows = unit.engine.profiles(found.vectors, -unit.config.loc.alpha)
    return [unit.outcome(base, steered) for steered in rows]


def _audio_steered_norm(unit: Unit, indices: list[int]) -> list[Outcome]:
    """The audio-contrast vector rescaled to the instruction vector's norm at every layer (like for like)."""
    found = unit.vector_pass(_queries(unit, indices))
    outcomes = []
    for k, instruction in zip(indices, found.vectors, strict=True):
        base, (steered,) = unit.engine.profiles([norm_matched(unit.audio_vector(k), instruction)])
        outcomes.append(unit.outcome(base, steered))
    return outcomes


def _steered_settings(config: BenchConfig, **extra: Any) -> dict[str, Any]:
    return {**config.loc.to_json(), **extra}


def _control(name: str, doc: str, run: Any, settings: Any) -> None:
    register(Condition(name, doc, True, True, settings, run, shares_pass1=True, control=name))


_control(
    "random-vector",
    "random directions with the instruction vector's norm at every layer (k seeded draws)",
    _random_vector,
    lambda c: _steered_settings(c, draws=max(1, c.random_draws), seed=c.seed),
)
_control(
    "wrong-query",
    "the instruction vector of another event of the same scene",
    _wrong_query,
    lambda c: _steered_settings(c, seed=c.seed),
)
_control(
    "absent-class",
    "the instruction vector of a class the scene does not hold",
    _absent_class,
    lambda c: _steered_settings(c, seed=c.seed, absent_queries=list(absent_pool(c))),
)
_control(
    "neutral-contrast",
    "neutral prompt minus a neutral paraphrase, at the instruction vector's norm",
    _neutral_contrast,
    lambda c: _steered_settings(c, norm="instruction"),
)
_control("negative", "the instruction vector with −α", _negative, lambda c: _steered_settings(c, sign=-1))
register(
    Condition(
        "audio-steered-norm",
        "audio-contrast vector rescaled to the instruction vector's norm at every layer",
        True,
        True,
        lambda c: {**REGISTRY["audio-steered"].settings(c), "norm": "instruction", **c.loc.to_json()},
        _audio_steered_norm,
        shares_pass1=True,
    )
)

__all__ = [
    "CONTROLS",
    "PROCEDURAL_QUERIES",
    "REGISTRY",
    "absent_pool",
    "get_conditions",
    "norm_matched",
    "parse_conditions",
]
