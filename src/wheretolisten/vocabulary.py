"""What a checkpoint says it knows: the sounds and spoken texts it was trained on (``wheretolisten.json``).

A small trained model (like the shipped one) answers about any query, including ones it never heard of,
with a confident-looking peak. A checkpoint may therefore declare its vocabulary beside its weights::

    {"vocabulary": {"sounds": ["a siren", ...], "speech": ["seven", ...],
                    "speech_query": "someone saying '{text}'"}}

and ``localize`` warns (one line) when a query is outside it. Checkpoints without the key (every real
LALM) declare nothing and are never warned about.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ModelError

log = logging.getLogger("wheretolisten")

#: How a spoken text is asked for when the checkpoint does not say.
DEFAULT_SPEECH_QUERY = "someone saying '{text}'"


def _norm(text: str) -> str:
    return " ".join(text.strip().rstrip(".").lower().split())


@dataclass(frozen=True)
class Vocabulary:
    """Declared sound queries and spoken texts, and the query form of a spoken text."""

    sounds: tuple[str, ...]
    speech: tuple[str, ...]
    speech_query: str = DEFAULT_SPEECH_QUERY

    def queries(self) -> list[str]:
        """Every query the checkpoint was trained on."""
        return [*self.sounds, *(self.speech_query.format(text=t) for t in self.speech)]

    def knows(self, query: str) -> bool:
        """Whether ``query`` (case, spaces and a final period aside) is one of the declared queries."""
        return _norm(query) in {_norm(q) for q in self.queries()}

    def summary(self, limit: int = 8) -> str:
        """One line naming what is known (the first ``limit`` sounds and texts)."""

        def few(items: tuple[str, ...]) -> str:
            more = f", … ({len(items)} in all)" if len(items) > limit else ""
            return ", ".join(items[:limit]) + more

        parts = [f"sounds: {few(self.sounds)}"] if self.sounds else []
        if self.speech:
            parts.append(f"speech ({self.speech_query.format(text='…')}): {few(self.speech)}")
        return "; ".join(parts)


def declared_vocabulary(recommended: Mapping[str, Any]) -> Vocabulary | None:
    """The vocabulary of a checkpoint's ``wheretolisten.json`` contents, None if it declares none."""
    data = recommended.get("vocabulary")
    if data is None:
        return None
    where = "wheretolisten.json: vocabulary"
    if not isinstance(data, Mapping):
        raise ModelError(f"{where} must be an object with 'sounds' and 'speech' lists")

    def strings(key: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ModelError(f"{where}.{key} must be a list of non-empty strings")
        return tuple(value)

    form = data.get("speech_query", DEFAULT_SPEECH_QUERY)
    if not isinstance(form, str) or "{text}" not in form:
        raise ModelError(f"{where}.speech_query must be a string with the placeholder {{text}}")
    return Vocabulary(strings("sounds"), strings("speech"), form)


def warn_unknown(
    recommended: Mapping[str, Any], queries: Iterable[str], seen: set[str] | None = None
) -> list[str]:
    """Log one warning line per query outside the declared vocabulary (once per query when ``seen``,
    the caller's set of queries already warned about, is given); returns those queries."""
    vocab = declared_vocabulary(recommended)
    if vocab is None:
        return []
    unknown = [q for q in dict.fromkeys(queries) if not vocab.knows(q) and q not in (seen or ())]
    if seen is not None:
        seen.update(unknown)
    for q in unknown:
        log.warning(
            "query %r is not in this model's vocabulary: its peak is not meaningful (%s)", q, vocab.summary(4)
        )
    return unknown


__all__ = ["DEFAULT_SPEECH_QUERY", "Vocabulary", "declared_vocabulary", "warn_unknown"]
