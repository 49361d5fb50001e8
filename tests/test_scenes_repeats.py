"""Repeated labels: with ``repeats=R`` a label may fill up to R slots of a scene (long recordings)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wheretolisten.errors import OptionError
from wheretolisten.scenes import ProceduralBank, load_manifest, make_scene, make_scenes

SR = 8000


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), repeats=st.integers(2, 3), extra=st.integers(0, 4))
def test_repeats_let_a_label_fill_several_slots(seed: int, repeats: int, extra: int) -> None:
    bank = ProceduralBank()
    n_events = min(len(bank.labels) + extra, len(bank.labels) * repeats)
    scene, audio = make_scene(
        bank, np.random.default_rng(seed), "r", n_events, n_events * 1.0, SR, seed=seed, repeats=repeats
    )
    assert len(scene.events) == n_events and len(audio) == round(n_events * SR)
    counts = Counter(e.label for e in scene.events)
    assert max(counts.values()) <= repeats
    assert n_events <= len(bank.labels) or max(counts.values()) >= 2  # more slots than labels
    for prev, nxt in zip(scene.events, scene.events[1:], strict=False):
        assert prev.slot[1] == nxt.slot[0] and prev.offset_s < nxt.onset_s
    for e in scene.events:
        assert e.slot[0] <= e.onset_s <= e.active[0] < e.active[1] <= e.offset_s <= e.slot[1]


def test_repeats_are_deterministic_and_fit_a_long_scene(tmp_path: Path) -> None:
    bank = ProceduralBank()
    runs = [
        make_scenes(bank, 2, tmp_path / d, 8, 120.0, seed=3, sample_rate=4000, progress=False, repeats=3)
        for d in "ab"
    ]
    assert _tree_bytes(tmp_path / "a") == _tree_bytes(tmp_path / "b")
    for scene in runs[0]:
        assert scene.duration_s == 120.0 and len(scene.events) == 8
        assert max(Counter(e.label for e in scene.events).values()) <= 3
        assert all(a.offset_s < b.onset_s for a, b in zip(scene.events, scene.events[1:], strict=False))
    assert load_manifest(tmp_path / "a") == runs[0]
    with pytest.raises(OptionError, match="at most 2 times"):
        make_scene(bank, np.random.default_rng(0), "s", 17, 40.0, SR, repeats=2)


def test_one_repeat_is_the_default_scene(tmp_path: Path) -> None:
    bank = ProceduralBank()
    make_scenes(bank, 2, tmp_path / "a", duration_s=3.0, seed=4, sample_rate=SR, progress=False)
    make_scenes(bank, 2, tmp_path / "b", duration_s=3.0, seed=4, sample_rate=SR, progress=False, repeats=1)
    assert _tree_bytes(tmp_path / "a") == _tree_bytes(tmp_path / "b")


def test_a_repeated_label_is_one_query_with_every_interval() -> None:
    """--queries all asks a repeated sound once; its rows carry every interval (scored against all)."""
    from wheretolisten.bench.config import BenchConfig
    from wheretolisten.bench.inputs import query_intervals, select_events

    bank = ProceduralBank()
    scene, _ = make_scene(bank, np.random.default_rng(5), "r", 12, 12.0, SR, seed=5, repeats=2)
    picked = select_events(scene, BenchConfig(queries="all"))
    assert [e.query for _, e in picked] == list(dict.fromkeys(e.query for e in scene.events))
    for k, e in picked:
        spans = query_intervals(scene, k) or [[e.onset_s, e.offset_s]]
        assert spans == sorted([x.onset_s, x.offset_s] for x in scene.events if x.query == e.query)
    assert any(query_intervals(scene, k) for k, _ in picked)  # 12 events of 8 labels: some repeat
