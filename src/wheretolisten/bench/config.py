"""What determines the rows of a benchmark run (besides the model and the scenes)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..detections import DetectConfig
from ..errors import OptionError
from ..readout import ReadoutRule
from ..settings import IntervalMethod, LocalizeConfig, Resolved, check_shifts, resolve
from ..windows import WindowConfig

if TYPE_CHECKING:
    from ..models.base import Adapter

#: Bump when a condition's algorithm changes: rows of another version are not resumed into.
BENCH_VERSION = 2
QUERY_MODES = ("target", "all", "classes")
#: The energy detector's threshold: dB above the recording's noise floor (``bench/detection.py``).
ENERGY_MIN_DB = 45.0
DIRECT_PROMPT = "When does {query} start and end? Answer in seconds."
PROMPTED_TEMPLATE = "Listen for {query}."


#: The interval every condition reads as its own unless the settings name one: the paper's threshold
#: (half the peak), whatever interval the checkpoint declares for ``localize`` (the shipped model's is
#: ``edges``). The benchmark's conditions, config hashes and committed results stay those of that rule;
#: ``bench protocol``'s dev study compares the other rules, ``edges`` among them, on its own.
BENCH_INTERVAL: IntervalMethod = "threshold"


@dataclass(frozen=True)
class BenchConfig:
    """Benchmark settings; ``localize`` is resolved against the model once, by :meth:`resolved`."""

    localize: LocalizeConfig | Resolved = field(default_factory=LocalizeConfig)
    #: "target": the scene's target event; "all": every event; "classes": each label once (its first event)
    queries: str = "target"
    query: str | None = None  # one query (event query text or label) asked in every scene
    seed: int = 0  # random baseline and the noise used to erase events
    energy_window_s: float = 1.0
    #: The direct condition's question; None: the checkpoint's (:func:`checkpoint_question`), else
    #: DIRECT_PROMPT.
    direct_prompt: str | None = None
    prompted_template: str = PROMPTED_TEMPLATE
    max_new_tokens: int = 24
    #: Also store each row's profiles (time_s, base, steered, delta): larger files, Δ curves in reports.
    save_profiles: bool = False
    #: Detection conditions (``bench/detection.py``): windows, peak picking, the energy detector's threshold.
    windows: WindowConfig = field(default_factory=WindowConfig)
    detection: DetectConfig = field(default_factory=DetectConfig)
    energy_min_db: float = ENERGY_MIN_DB
    #: Peak and interval of every row (None: each condition's own); ``bench protocol`` picks it on dev.
    readout_rule: ReadoutRule | None = None
    #: More rules whose intervals every row also records (``intervals``, by rule name), for comparison.
    compare_rules: tuple[ReadoutRule, ...] = ()
    #: Where the settings came from, recorded in every row (e.g. "dev"); None: given or defaults.
    tuned: str | None = None
    #: Control conditions: random directions per query, and queries of classes absent from the scenes.
    random_draws: int = 5
    absent_queries: tuple[str, ...] = ()
    #: The model these settings were resolved for (None: not yet): they are resolved once per run, not
    #: again for every scene.
    resolved_for: str | None = field(default=None, compare=False, repr=False)

    def resolved(self, adapter: Adapter | None) -> BenchConfig:
        """A copy with localize, window and detection settings resolved for ``adapter`` (unchanged without
        one, or when already resolved for it): the checkpoint's declared values enter the config hash, so a
        resumed run never keeps rows made with other ones."""
        if adapter is None or (self.resolved_for == adapter.name and isinstance(self.localize, Resolved)):
            return self
        segment, overlap = self.windows.resolved(adapter.max_audio_limit_s, adapter.token_s)
        loc = self.localize
        if isinstance(loc, LocalizeConfig) and loc.interval is None:
            loc = replace(loc, interval=BENCH_INTERVAL)
        return replace(
            self,
            localize=resolve(adapter, loc),
            windows=WindowConfig(segment, overlap),
            detection=self.detection.filled(adapter.recommended),
            direct_prompt=self.direct_prompt or checkpoint_question(adapter) or DIRECT_PROMPT,
            resolved_for=adapter.name,
        )

    @property
    def question(self) -> str:
        """The direct condition's question (the default when not resolved against a model)."""
        return self.direct_prompt or DIRECT_PROMPT

    @property
    def loc(self) -> Resolved:
        """The resolved localize settings (only after :meth:`resolved` with a model)."""
        if not isinstance(self.localize, Resolved):
            raise RuntimeError("the benchmark settings were not resolved against a model")
        return self.localize


#: Key of ``wheretolisten.json`` naming the question the checkpoint answers with times (with {query}).
QUESTION_KEY = "direct_question"


def checkpoint_question(adapter: Adapter) -> str | None:
    """The direct question the checkpoint declares in its ``wheretolisten.json`` (``direct_question``), or
    None; a value without exactly the {query} placeholder is refused (OptionError)."""
    question = adapter.recommended.get(QUESTION_KEY)
    if question is None:
        return None
    if not isinstance(question, str) or not _has_only_query_placeholder(question):
        raise OptionError(
            f"the checkpoint's wheretolisten.json: {QUESTION_KEY!r} must be a string with {{query}} and no "
            f"other placeholder, got {question!r}"
        )
    return question


def _has_only_query_placeholder(text: str) -> bool:
    try:
        text.format(query="x")
    except (KeyError, IndexError, ValueError):
        return False
    return "{query}" in text


def bench_config(
    layers: list[int] | None = None,
    alpha: float | None = None,
    queries: str = "target",
    query: str | None = None,
    seed: int = 0,
    save_profiles: bool = False,
    direct_prompt: str | None = None,
    positions: str | None = None,
    windows: WindowConfig | None = None,
    detection: DetectConfig | None = None,
    energy_min_db: float | None = None,
    shifts: int | None = None,
) -> BenchConfig:
    """A BenchConfig from command-line options, every value checked (one OptionError line)."""
    if queries not in QUERY_MODES:
        raise OptionError(f"unknown queries mode {queries!r}; choose {', '.join(QUERY_MODES)}")
    if direct_prompt is not None and not _has_only_query_placeholder(direct_prompt):
        raise OptionError(
            f"direct_prompt must contain {{query}} and no other placeholder, got {direct_prompt!r}"
        )
    shifts = None if shifts is None else check_shifts(shifts)
    loc = LocalizeConfig(layers=layers, alpha=alpha, positions=positions, shifts=shifts)
    return BenchConfig(
        loc,
        queries,
        query,
        seed,
        direct_prompt=direct_prompt,
        save_profiles=save_profiles,
        windows=windows or WindowConfig(),
        detection=detection or DetectConfig(),
        energy_min_db=ENERGY_MIN_DB if energy_min_db is None else energy_min_db,
    )


def config_hash(condition: str, settings: Mapping[str, Any]) -> str:
    """Short stable hash of a condition's settings (and the benchmark version)."""
    blob = json.dumps(
        {"condition": condition, "version": BENCH_VERSION, **settings}, sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
