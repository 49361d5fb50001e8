"""The shared-prefix engine must give the same readouts as running every prompt in full."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from helpers import noise
from wheretolisten.localize import LocalizeConfig, instruction_vector, localize, localize_many
from wheretolisten.models import Adapter
from wheretolisten.probe import temporal_attention
from wheretolisten.session import ClipSession
from wheretolisten.steering import add_steering, read_residual
from wheretolisten.vectors import SteeringVector

QUERIES = ["a siren", "the dog barking", "a bell ringing"]


@pytest.mark.parametrize(
    ("read_positions", "positions"),
    [("last", "last"), ("instruction", "last"), ("last", "audio"), ("instruction", "all"), ("last", "text")],
)
def test_shared_prefix_equals_full_path(adapter: Adapter, read_positions: str, positions: str) -> None:
    clip = noise(6.0, seed=5)
    common = {"alpha": 8.0, "read_positions": read_positions, "positions": positions}
    shared = localize_many(adapter, clip, QUERIES, LocalizeConfig(**common))
    naive = LocalizeConfig(**common, engine="full", probe="eager")
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


@pytest.mark.parametrize("positions", ["audio", "text", "all"])
def test_prefix_steering_recomputes_from_the_first_steered_layer(adapter: Adapter, positions: str) -> None:
    """Steering inside the prefix: shared layers below the first steered one, recomputed above it."""
    clip = noise(4.0, seed=3)
    vector = instruction_vector(adapter, clip, "a siren", layers=[1, 2])
    prompt = "Describe the audio."
    session = ClipSession(adapter, clip)  # nothing kept: the hidden states are computed on demand
    run = session.run(
        [prompt, prompt],
        probe_layers=[2, 3],
        vectors=[None, vector],
        alpha=8.0,
        steer_positions=positions,
        steer_layers=[1, 2],
    )
    batch = adapter.encode([clip, clip], [prompt, prompt])
    with add_steering(adapter, vector, 8.0, batch, positions, rows=[False, True], layers=[1, 2]):
        reference = temporal_attention(adapter, batch, [2, 3], method="eager")
    for i, layer in enumerate((2, 3)):
        expected = torch.stack([reference.per_row[row][i, :, 0, :] for row in (0, 1)])
        torch.testing.assert_close(run.attention[layer], expected, atol=1e-6, rtol=1e-4)
        assert (run.attention[layer][1] - run.attention[layer][0]).abs().max() > 1e-6  # steering acted
    kept = ClipSession(adapter, clip, keep_hidden=[1])
    torch.testing.assert_close(kept.prefix_hidden(1), session.prefix_hidden(1), atol=1e-6, rtol=1e-5)


def test_prefix_steering_at_zero_strength_changes_nothing(
    adapter: Adapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = noise(3.0, seed=1)
    vector = instruction_vector(adapter, clip, "a bell ringing", layers=[1])
    prompts = ["Describe the audio."] * 2
    run = ClipSession(adapter, clip).run(
        prompts, probe_layers=[3], vectors=[None, vector], alpha=0.0, steer_positions="all"
    )
    assert torch.equal(run.attention[3][0], run.attention[3][1])
    # One row per pass: the unsteered row, alone in its chunk, is recomputed like the steered one.
    recomputed: list[list[bool]] = []
    original = ClipSession._steered_prefix

    def spy(self: ClipSession, vectors: list[Any], *args: Any) -> Any:
        recomputed.append([v is not None for v in vectors])
        return original(self, vectors, *args)

    monkeypatch.setattr(ClipSession, "_steered_prefix", spy)
    chunked = ClipSession(adapter, clip, cache_budget_bytes=1).run(
        prompts, probe_layers=[3], vectors=[None, vector], alpha=0.0, steer_positions="all"
    )
    assert recomputed == [[False], [True]]
    assert torch.equal(chunked.attention[3][0], chunked.attention[3][1])


def test_the_engines_never_batch_two_clips(adapter: Adapter, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ``encode`` call of both engines holds one clip (some encoders are not batch-invariant)."""
    calls: list[list[np.ndarray]] = []
    encode = adapter.encode

    def recording(audios: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(list(audios))
        return encode(audios, *args, **kwargs)

    monkeypatch.setattr(adapter, "encode", recording)
    clip = noise(2.0, seed=4)
    for engine in ("shared", "full"):
        for positions in ("last", "audio"):
            localize_many(adapter, clip, QUERIES[:2], LocalizeConfig(positions=positions, engine=engine))
    assert calls and sum(len(c) > 1 for c in calls) > 0  # whole prompts batch several rows
    assert all(np.array_equal(a, clip) for c in calls for a in c)


def test_a_refused_steering_leaves_no_hooks(adapter: Adapter) -> None:
    """A pass whose steering arguments are refused (α out of range, a vector without a layer) leaves no
    hook on the model, on the shared prefix and on whole prompts (a left-over residual hook broke every
    later pass of another shape); an empty pass is one error."""
    from wheretolisten.engine import make_engine
    from wheretolisten.engine.base import Rows
    from wheretolisten.errors import ModelError, OptionError

    def hooks() -> list[int]:
        layers = [len(x._forward_hooks) + len(x._forward_pre_hooks) for x in adapter.decoder_layers]
        return [*layers, len(adapter.model._forward_pre_hooks)]

    clip = noise(2.0)
    vector = SteeringVector({1: torch.ones(adapter.hidden_size)})
    session = ClipSession(adapter, clip)
    before = hooks()  # the suite's shared adapters may carry other tests' hooks: count what this adds
    with pytest.raises(OptionError):
        session.run(["Is there a siren?"], read_layers=[1], vectors=[vector], alpha=1e9)
    full = make_engine(adapter, clip, LocalizeConfig(engine="full", layers=[2]).resolved(adapter))
    with pytest.raises(ModelError, match="no direction for layer 2"):
        full.run_rows(Rows(["Is there a siren?"], [1], (), [vector], [1.0]))
    assert hooks() == before
    run = session.run(["Describe the audio in detail, please.", "Yes?"], read_layers=[1])
    assert run.residual[1].shape[0] == 2
    with pytest.raises(OptionError, match="at least one prompt"):
        session.run([])
