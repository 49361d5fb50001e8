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
