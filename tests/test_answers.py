"""Tests for the free-text time-answer parser."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wheretolisten.answers import parse_time_answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from 2.5 to 4 seconds", (2.5, 4.0)),
        ("2.5s-4s", (2.5, 4.0)),
        ("2.5 - 4.0 s", (2.5, 4.0)),
        ("00:02-00:04", (2.0, 4.0)),
        ("0:02.5 to 0:04", (2.5, 4.0)),
        ("[2.5, 4.0]", (2.5, 4.0)),
        ("(2.5, 4)", (2.5, 4.0)),
        ("between 2 and 4 s", (2.0, 4.0)),
        ("starts at 2.5 seconds and ends at 4 seconds", (2.5, 4.0)),
        ("2.5 to 4", (2.5, 4.0)),
        ("at 3 seconds", (3.0, 3.0)),
        ("The dog barks from 1.2s until 3.4s.", (1.2, 3.4)),
        ("2.5–4 s", (2.5, 4.0)),
        ("2.5 — 4 seconds", (2.5, 4.0)),
        ("2.5 − 4 s", (2.5, 4.0)),
        ("2,5 - 4,0 s", (2.5, 4.0)),
        ("2,5 s to 4 s", (2.5, 4.0)),
        ("[2,4]", (2.0, 4.0)),
        ("The 2 dogs bark from 1.2s until 3.4s.", (1.2, 3.4)),
        ("Onset: 1.5, offset: 2.5", (1.5, 2.5)),
        ("It begins around 1 s and continues to about 3 s.", (1.0, 3.0)),
        ("from 2500 ms to 4000 ms", (2.5, 4.0)),
        ("0.5 to 1 minutes", (30.0, 60.0)),
        ("00:00:01.5 --> 00:00:03", (1.5, 3.0)),
        ("1:30 - 1:45", (90.0, 105.0)),
        ("The sound starts at 1.0s and lasts until 2s", (1.0, 2.0)),
        ("AT 3 SECONDS", (3.0, 3.0)),
        ("around 3.5", (3.5, 3.5)),
        ("3", (3.0, 3.0)),
        ("Answer: [0.00, 10.00]", (0.0, 10.0)),
        ("from\u00a02\u00a0to\u00a04\u00a0s", (2.0, 4.0)),
    ],
)
def test_parses_common_forms(text: str, expected: tuple[float, float]) -> None:
    got = parse_time_answer(text)
    assert got is not None
    assert got == pytest.approx(expected)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "no sound",
        "I cannot tell when the dog barks.",
        "The dog barks 2 times",
        "It happens at the 3rd second",
        "the sound is loud",
    ],
)
def test_unparseable_is_none(text: str) -> None:
    assert parse_time_answer(text) is None


def test_swaps_reversed_interval() -> None:
    assert parse_time_answer("from 4 to 2 seconds") == (2.0, 4.0)


def test_clips_to_duration() -> None:
    assert parse_time_answer("from 8 to 15 s", duration_s=10.0) == (8.0, 10.0)
    assert parse_time_answer("at 10 s", duration_s=10.0) == (10.0, 10.0)


def test_outside_clip_is_none() -> None:
    assert parse_time_answer("from 12 to 15 s", duration_s=10.0) is None
    assert parse_time_answer("at 11 seconds", duration_s=10.0) is None


def test_non_string_is_none() -> None:
    assert parse_time_answer(None) is None  # type: ignore[arg-type]


def _mmss(cs: int) -> str:
    """Centiseconds as mm:ss.ff."""
    return f"{cs // 6000:02d}:{(cs % 6000) / 100:05.2f}"


def _dec(cs: int) -> str:
    return f"{cs / 100:.2f}"


TEMPLATES = [
    lambda a, b: f"from {_dec(a)} to {_dec(b)} seconds",
    lambda a, b: f"{_dec(a)}s-{_dec(b)}s",
    lambda a, b: f"{_dec(a)} - {_dec(b)} s",
    lambda a, b: f"[{_dec(a)}, {_dec(b)}]",
    lambda a, b: f"({_dec(a)}, {_dec(b)})",
    lambda a, b: f"between {_dec(a)} and {_dec(b)} s",
    lambda a, b: f"starts at {_dec(a)} seconds and ends at {_dec(b)} seconds",
    lambda a, b: f"{_dec(a)} to {_dec(b)}",
    lambda a, b: f"The dog barks from {_dec(a)}s until {_dec(b)}s.",
    lambda a, b: f"{_dec(a)}–{_dec(b)} s",
    lambda a, b: f"{_dec(a)} — {_dec(b)} seconds",
    lambda a, b: f"{_mmss(a)}-{_mmss(b)}",
    lambda a, b: f"{_mmss(a)} to {_mmss(b)}",
    lambda a, b: f"{_dec(a).replace('.', ',')} - {_dec(b).replace('.', ',')} s",
]

_pairs = st.tuples(st.integers(0, 59_999), st.integers(1, 60_000)).filter(lambda ab: ab[0] < ab[1])


@settings(max_examples=60, deadline=None)
@given(ab=_pairs, template=st.sampled_from(range(len(TEMPLATES))))
def test_templates_round_trip(ab: tuple[int, int], template: int) -> None:
    a, b = ab
    text = TEMPLATES[template](a, b)
    got = parse_time_answer(text)
    assert got is not None, text
    assert got == pytest.approx((a / 100, b / 100), abs=1e-6), text


@settings(max_examples=40, deadline=None)
@given(ab=_pairs, template=st.sampled_from(range(len(TEMPLATES))))
def test_reversed_templates_swap(ab: tuple[int, int], template: int) -> None:
    a, b = ab
    got = parse_time_answer(TEMPLATES[template](b, a))
    assert got == pytest.approx((a / 100, b / 100), abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(ab=_pairs, duration_cs=st.integers(1, 60_000), template=st.sampled_from(range(len(TEMPLATES))))
def test_clipping_property(ab: tuple[int, int], duration_cs: int, template: int) -> None:
    a, b = ab
    duration = duration_cs / 100
    got = parse_time_answer(TEMPLATES[template](a, b), duration_s=duration)
    if a / 100 > duration:
        assert got is None
    else:
        assert got is not None
        assert 0.0 <= got[0] <= got[1] <= duration
        assert got == pytest.approx((a / 100, min(b / 100, duration)), abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80), duration=st.none() | st.floats(0.1, 100.0))
def test_never_raises_and_is_ordered(text: str, duration: float | None) -> None:
    got = parse_time_answer(text, duration_s=duration)
    if got is not None:
        assert got[0] <= got[1]
        if duration is not None:
            assert got[0] >= 0.0 and got[1] <= duration
