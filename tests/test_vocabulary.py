"""A checkpoint's declared vocabulary: parsed strictly, and localize warns once per unknown query."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from wheretolisten.errors import ModelError
from wheretolisten.localize import localize, localize_many
from wheretolisten.models import Adapter
from wheretolisten.vocabulary import declared_vocabulary, warn_unknown

DECLARED = {"vocabulary": {"sounds": ["a siren", "a bell ringing"], "speech": ["seven", "good morning"]}}


def test_declared_queries_are_known_up_to_case_spaces_and_a_final_period() -> None:
    vocab = declared_vocabulary(DECLARED)
    assert vocab is not None
    assert vocab.knows("A Siren.") and vocab.knows("someone  saying 'seven'")
    assert not vocab.knows("a dog barking") and not vocab.knows("someone saying 'eight'")
    assert vocab.queries()[-1] == "someone saying 'good morning'"
    assert declared_vocabulary({}) is None


@pytest.mark.parametrize(
    "bad",
    [[], {"sounds": "a siren"}, {"sounds": [""]}, {"speech": [3]}, {"sounds": [], "speech_query": "no slot"}],
)
def test_a_malformed_vocabulary_is_one_model_error(bad: object) -> None:
    with pytest.raises(ModelError, match=r"wheretolisten\.json: vocabulary"):
        declared_vocabulary({"vocabulary": bad})


def test_warn_unknown_warns_once_per_query(caplog: pytest.LogCaptureFixture) -> None:
    seen: set[str] = set()
    with caplog.at_level(logging.WARNING, logger="wheretolisten"):
        assert warn_unknown(DECLARED, ["xyzzy", "a siren", "xyzzy"], seen) == ["xyzzy"]
        assert warn_unknown(DECLARED, ["xyzzy"], seen) == []
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "'xyzzy' is not in this model's vocabulary" in lines[0]
    assert "\n" not in lines[0]


def test_localize_warns_only_for_checkpoints_that_declare_a_vocabulary(
    adapter: Adapter, caplog: pytest.LogCaptureFixture
) -> None:
    clip = np.random.default_rng(0).normal(0, 0.05, 16000 * 2).astype(np.float32)
    saved, warned = dict(adapter.recommended), set(adapter.warned_queries)
    try:
        adapter.recommended, adapter.warned_queries = {}, set()
        with caplog.at_level(logging.WARNING, logger="wheretolisten"):
            localize(adapter, clip, "xyzzy", sample_rate=16000)
        assert not caplog.records
        adapter.recommended = {**saved, **DECLARED}
        with caplog.at_level(logging.WARNING, logger="wheretolisten"):
            localize(adapter, clip, "xyzzy", sample_rate=16000)
            localize_many(adapter, clip, ["xyzzy", "a siren"], sample_rate=16000)
        assert [r.getMessage().split(" is not")[0] for r in caplog.records] == ["query 'xyzzy'"]
    finally:
        adapter.recommended, adapter.warned_queries = saved, warned


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("bell", "a bell ringing"),
        ("Siren", "a siren"),
        ("someone saying seven", "someone saying 'seven'"),
        ('the word "Seven"', "someone saying 'seven'"),
        ("someone saying 'sevn'", "someone saying 'seven'"),
        ("good morning", "someone saying 'good morning'"),
        ("someone saying 'eleven'", None),  # an unknown word is not a near spelling of a known one
        ("a dog barking", None),
        ("xyzzy", None),
    ],
)
def test_closest_names_the_declared_query_a_user_most_likely_meant(typed: str, meant: str | None) -> None:
    vocab = declared_vocabulary(DECLARED)
    assert vocab is not None
    assert vocab.closest(typed) == meant


def test_the_warning_suggests_the_closest_declared_query(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="wheretolisten"):
        warn_unknown(DECLARED, ["bell", "a dog barking"])
    first, second = (r.getMessage() for r in caplog.records)
    assert "did you mean 'a bell ringing'?" in first
    assert "did you mean" not in second and "\n" not in first
