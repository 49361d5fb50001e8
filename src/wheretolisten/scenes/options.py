"""How a scene is laid out beyond its bank: placement, per-event levels, background, event lengths.

:class:`SceneOptions` is frozen and its default is the original scene (one event per equal slot, every
event at the same RMS, only the -45 dB noise floor), so existing seeds give the same audio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import OptionError

PLACEMENTS = ("slots", "free")
BACKGROUNDS = ("none", "white", "pink", "brown", "babble", "sounds")
#: Background level range, dB relative to the event RMS (TARGET_RMS).
BACKGROUND_DB_RANGE = (-60.0, -10.0)
#: Per-event gain range, dB relative to TARGET_RMS.
LEVEL_DB_RANGE = (-40.0, 40.0)
#: Shortest event of a free-placement scene, seconds.
MIN_FREE_EVENT_S = 0.2
MAX_EVENTS = 6


def _pair(value: object, name: str) -> tuple[float, float]:
    """A (lo, hi) pair of finite numbers with lo <= hi, or one OptionError line."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise OptionError(f"{name} must be a (lo, hi) pair, got {value!r}")
    lo, hi = value
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise OptionError(f"{name} must hold two finite numbers, got {value!r}")
    if hi < lo:
        raise OptionError(f"{name} must be (lo, hi) with lo <= hi, got {value!r}")
    return float(lo), float(hi)


def _within(pair: tuple[float, float], bounds: tuple[float, float], name: str) -> None:
    if pair[0] < bounds[0] or pair[1] > bounds[1]:
        raise OptionError(f"{name} must lie within [{bounds[0]:g}, {bounds[1]:g}], got {pair}")


@dataclass(frozen=True)
class SceneOptions:
    """Layout of a scene. The default reproduces the original scenes bit for bit.

    ``placement``: "slots" (one event per equal slot, gaps between) or "free" (anywhere in the clip;
    an event may overlap others by at most ``max_overlap`` of its own length, 0 = never).
    ``level_db``: per-event gain drawn uniformly from (lo, hi) dB relative to TARGET_RMS.
    ``background``: "none" (the -45 dB floor only), "white", "pink", "brown", "babble" (4-8 synthetic
    voices) or "sounds" (a few quiet events of other labels); its level is drawn from ``background_db``.
    ``event_s``: (min, max) event length in seconds for free placement (slots size events by slot).
    """

    placement: str = "slots"
    max_overlap: float = 0.0
    level_db: tuple[float, float] = (0.0, 0.0)
    background: str = "none"
    background_db: tuple[float, float] = (-30.0, -20.0)
    event_s: tuple[float, float] = (1.0, 4.0)

    def __post_init__(self) -> None:
        if self.placement not in PLACEMENTS:
            raise OptionError(f"placement must be one of {', '.join(PLACEMENTS)}, got {self.placement!r}")
        overlap = self.max_overlap
        if isinstance(overlap, bool) or not isinstance(overlap, (int, float)) or not 0 <= overlap < 1:
            raise OptionError(f"max_overlap must be a number in [0, 1), got {overlap!r}")
        if overlap > 0 and self.placement != "free":
            raise OptionError("max_overlap needs placement 'free' (slots never overlap)")
        if self.background not in BACKGROUNDS:
            raise OptionError(f"background must be one of {', '.join(BACKGROUNDS)}, got {self.background!r}")
        object.__setattr__(self, "max_overlap", float(overlap))
        object.__setattr__(self, "level_db", _pair(self.level_db, "level_db"))
        object.__setattr__(self, "background_db", _pair(self.background_db, "background_db"))
        object.__setattr__(self, "event_s", _pair(self.event_s, "event_s"))
        _within(self.level_db, LEVEL_DB_RANGE, "level_db")
        _within(self.background_db, BACKGROUND_DB_RANGE, "background_db")
        if self.event_s[0] < MIN_FREE_EVENT_S:
            raise OptionError(f"event_s must be at least {MIN_FREE_EVENT_S} s, got {self.event_s}")

    @property
    def is_default(self) -> bool:
        """Whether these are the original scenes (then the manifest rows carry no new fields)."""
        return self == SceneOptions()

    def check(self, n_events: int, duration_s: float) -> None:
        """Refuse a layout no scene of ``n_events`` in ``duration_s`` can have (one OptionError line)."""
        if self.placement != "free":
            return
        if n_events > MAX_EVENTS:
            raise OptionError(f"free placement takes at most {MAX_EVENTS} events, got n_events={n_events}")
        if self.event_s[0] > duration_s:
            raise OptionError(
                f"event_s minimum {self.event_s[0]} s is longer than the scene ({duration_s} s)"
            )
        if n_events * self.event_s[0] > duration_s:
            raise OptionError(
                f"{n_events} events of at least {self.event_s[0]} s do not fit in {duration_s} s "
                "without overlapping: lower event_s or n_events"
            )


__all__ = ["BACKGROUNDS", "BACKGROUND_DB_RANGE", "LEVEL_DB_RANGE", "PLACEMENTS", "SceneOptions"]
