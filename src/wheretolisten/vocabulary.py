"""What a checkpoint says it knows: the sounds and spoken texts it was trained on (``wheretolisten.json``).

A small trained model (like the shipped one) answers about any query, including ones it never heard of,
with a confident-looking peak. A checkpoint may therefore declare its vocabulary beside its weights::

    {"vocabulary": {"sounds": ["a siren", ...], "speech": ["seven", ...],
                    "speech_query": "someone saying '{text}'"}}

and ``localize`` warns (one line) when a query is outside it. Checkpoints without the key (every real
LALM) declare nothing and are never warned about.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ModelError

log = logging.getLogger("wheretolisten")

#: How a spoken text is asked for when the checkpoint does not say.
DEFAULT_SPEECH_QUERY = "someone saying '{text}'"


def _norm(text: str) -> str:
    return " ".join(text.strip().rstrip(".").lower().split())


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


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

    def closest(self, query: str) -> str | None:
        """The declared query a mistyped or shortened ``query`` most likely meant ("bell" → "a bell
        ringing", "someone saying seven" → "someone saying 'seven'", "the word 'seven'" → "someone saying
        'seven'"), None when none is close. A quoted text is matched against the spoken texts alone
        (close spelling only: "eleven" is not "seven"); else the one query whose words hold all of
        ``query``'s, else the nearest spelling (difflib, ratio ≥ 0.6)."""
        quoted = re.findall(r"['\"‘’“”]([^'\"‘’“”]+)['\"‘’“”]", query)
        if quoted and self.speech:
            texts = {_norm(t): t for t in self.speech}
            near = difflib.get_close_matches(_norm(quoted[-1]), list(texts), n=1, cutoff=0.8)
            return self.speech_query.format(text=texts[near[0]]) if near else None
        known = self.queries()
        words = _words(query)
        holding = [q for q in known if words and words <= _words(q)]
        if len(holding) == 1:
            return holding[0]
        by_norm = {_norm(q): q for q in known}
        near = difflib.get_close_matches(_norm(query), list(by_norm), n=1, cutoff=0.6)
        return by_norm[near[0]] if near else None

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
        near = vocab.closest(q)
        hint = f"; did you mean {near!r}?" if near is not None else ""
        log.warning(
            "query %r is not in this model's vocabulary: its peak is not meaningful%s (%s)",
            q,
            hint,
            vocab.summary(4),
        )
    return unknown


__all__ = ["DEFAULT_SPEECH_QUERY", "Vocabulary", "declared_vocabulary", "warn_unknown"]
