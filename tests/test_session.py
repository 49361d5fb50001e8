"""The shared-prefix engine must give the same readouts as running every prompt in full."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import noise
from wheretolisten.localize import LocalizeConfig, localize, localize_many
from wheretolisten.models import Adapter
from wheretolisten.session import ClipSession
from wheretolisten.steering import read_residual

QUERIES = ["a siren", "the dog barking", "a bell ringing"]


@pytest.mark.parametrize("read_positions", ["last", "instruction"])
def test_shared_prefix_equals_full_path(adapter: Adapter, read_positions: str) -> None:
    clip = noise(6.0, seed=5)
    shared = localize_many(adapter, clip, QUERIES, LocalizeConfig(alpha=8.0, read_positions=read_positions))
    naive = LocalizeConfig(alpha=8.0, read_positions=read_positions, engine="full", probe="eager")
    full = localize_many(adapter, clip, QUERIES, naive)
    for s, f in zip(shared.results, full.results, strict=True):
        np.testing.assert_allclose(s.profile.base, f.profile.base, atol=1e-6)
        np.testing.assert_allclose(s.profile.delta, f.profile.delta, atol=1e-6)
        assert np.abs(s.profile.delta).max() > 1e-8  # the comparison is not between two zeros
        assert s.peak_s == f.peak_s and s.interval_s == f.interval_s
        for layer in s.vector.layers:
            torch.testing.assert_close(
                s.vector.directions[layer], f.vector.directions[layer], atol=1e-5, rtol=1e-4
            )
    for p, q in zip(shared.prompted, full.prompted, strict=True):
        np.testing.assert_allclose(p, q, atol=1e-6)


def test_single_query_localize_uses_the_same_numbers(adapter: Adapter) -> None:
    clip = noise(4.0, seed=2)
    one = localize(adapter, clip, "a siren", LocalizeConfig(alpha=8.0))
    many = localize_many(adapter, clip, ["a bell ringing", "a siren"], LocalizeConfig(alpha=8.0))
    np.testing.assert_allclose(one.profile.delta, many.results[1].profile.delta, atol=1e-9)


def test_suffix_tokens_match_the_processor(adapter: Adapter) -> None:
    clip = noise(3.0)
    session = ClipSession(adapter, clip)
    for prompt in ["Describe the audio.", "Listen for the dog barking."]:
        ids = adapter.encode([clip], [prompt])["input_ids"][0].tolist()
        assert ids == session.prefix_ids.tolist() + session.suffix_ids(prompt)
    assert session.n_audio == 75


def test_suffix_residuals_equal_full_forward(adapter: Adapter) -> None:
    clip = noise(3.0)
    prompts = ["Describe the audio.", "Listen for the dog barking.", "What?"]
    run = ClipSession(adapter, clip).run(prompts, read_layers=[0, 2])
    full = read_residual(adapter, adapter.encode([clip] * 3, prompts), [0, 2], "last")
    for layer in (0, 2):
        torch.testing.assert_close(run.residual[layer], full[layer], atol=1e-5, rtol=1e-4)


def test_prefix_touching_positions_are_refused_by_the_session(adapter: Adapter) -> None:
    session = ClipSession(adapter, noise(2.0))
    with pytest.raises(ValueError, match="shared prefix"):
        session.run(["Describe the audio."], read_layers=[1], read_positions="all")


def test_chunked_suffix_passes_give_the_same_rows(adapter: Adapter) -> None:
    clip = noise(3.0)
    prompts = ["Describe the audio.", "Listen for the dog barking.", "What?", "Listen for a siren."]
    whole = ClipSession(adapter, clip)
    chunked = ClipSession(adapter, clip, cache_budget_bytes=1)  # one row per pass
    assert chunked.rows_per_pass == 1 and whole.rows_per_pass >= len(prompts)
    a = whole.run(prompts, read_layers=[1], probe_layers=[2, 3])
    b = chunked.run(prompts, read_layers=[1], probe_layers=[2, 3])
    torch.testing.assert_close(a.residual[1], b.residual[1], atol=1e-5, rtol=1e-4)
    for layer in (2, 3):
        torch.testing.assert_close(a.attention[layer], b.attention[layer], atol=1e-6, rtol=1e-4)
