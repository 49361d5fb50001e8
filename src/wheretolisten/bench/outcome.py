"""What a condition predicts for one query (a light module: the registry imports it without torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..readout import Readout

if TYPE_CHECKING:
    from ..results import Profile


@dataclass
class Outcome:
    """What a condition predicts for one query: a readout, the profile it came from, extra row fields."""

    readout: Readout
    profile: Profile | None = None
    extra: dict[str, Any] = field(default_factory=dict)
