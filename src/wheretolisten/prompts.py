"""What a person writes for the model: queries, prompts and templates, checked before any pass.

Every entry point reads its queries with :func:`as_queries` (one string is one query, a generator is read
once) and every prompt template with :func:`check_templates`; the settings resolution
(``settings.resolve``) checks a configuration's prompt and templates with them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import OptionError

#: Instructed paraphrases; ``{query}`` is the sound to listen for ("the dog barking").
INSTRUCTED_TEMPLATES = (
    "Listen for {query}.",
    "Focus on the sound of {query}.",
    "Pay attention to {query}.",
)
#: Neutral prompts with no target; the same instruction slot, no sound named.
NEUTRAL_TEMPLATES = (
    "Describe the audio.",
    "What do you hear?",
    "Listen to the recording.",
)
#: The prompt the model reads while being steered (and for the unsteered baseline).
PROBE_PROMPT = "Describe the audio."
#: Longest query: a sound named in words (an 80-kB query ran out of memory after 48 s).
MAX_QUERY_CHARS = 500
#: Longest prompt or template (a 100-kB prompt to generate ran for minutes past the model's context).
MAX_PROMPT_CHARS = 4000


def check_text_length(text: str, limit: int, what: str) -> str:
    """``text`` when it has at most ``limit`` characters, else one OptionError naming its length (not
    echoing it)."""
    if len(text) > limit:
        raise OptionError(f"{what} has {len(text)} characters; at most {limit} are taken: {text[:40]!r}…")
    return text


def as_queries(queries: str | Iterable[str]) -> list[str]:
    """The queries of a call as a list: one string is one query (never its characters), any iterable
    (a generator too) is read once; every query a non-empty string, at least one (else OptionError)."""
    if isinstance(queries, str):
        items: list[Any] | None = [queries]
    else:
        items = list(queries) if isinstance(queries, Iterable) else None
    if items is None or not all(isinstance(q, str) for q in items):
        raise OptionError(f"queries must be strings such as 'a dog barking', got {queries!r}")
    if not items:
        raise OptionError("give at least one query")
    if any(not q.strip() for q in items):
        raise OptionError("a query is empty: name the sound to find (e.g. 'a dog barking')")
    for q in items:
        check_text_length(q, MAX_QUERY_CHARS, "a query (name the sound in a few words)")
    return items


def one_query(query: Any) -> str:
    """The one query of a call that takes one: a non-empty string (a list once became the prompt "Listen for
    ['a siren']."), else one OptionError line."""
    (item,) = as_queries(query) if isinstance(query, str) else as_queries([query])
    return item


def one_template(template: Any) -> str:
    """One prompt to compare with the neutral one: a string whose only placeholder is {query} (without
    it, the comparison of two fixed prompts)."""
    return check_templates([template], "template", need_query=False)[0]


def check_templates(value: Any, name: str, need_query: bool) -> list[str]:
    """Prompts of one kind (instructed: each with {query}, its only placeholder; neutral), each a string
    of at most :data:`MAX_PROMPT_CHARS`, at least one (else one OptionError line)."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise OptionError(f"{name} must be a list of prompts, got {value!r}")
    if not all(isinstance(t, str) for t in value):  # prompt=123 was read as the prompt "123"
        raise OptionError(f"{name} must be strings, got {value!r}")
    items = list(value)
    if not items:
        raise OptionError(f"{name} must hold at least one prompt")
    for t in items:
        check_text_length(t, MAX_PROMPT_CHARS, f"a prompt of the {name}")
        if need_query and "{query}" not in t:
            raise OptionError(f"every instructed template must contain {{query}}, got {t!r}")
        try:
            t.format(query="x")
        except (KeyError, IndexError, ValueError):
            raise OptionError(f"{name}: {t!r} may only use the placeholder {{query}}") from None
    return items
