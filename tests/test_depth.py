"""Passes stop at the deepest layer they read: the same numbers, without running the layers above."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from helpers import noise
from wheretolisten.depth import needed_depth, run_to_depth
from wheretolisten.localize import LocalizeConfig, localize
from wheretolisten.models import Adapter
from wheretolisten.session import ClipSession
from wheretolisten.vectors import SteeringVector

PROMPTS = ["Describe the audio.", "Listen for the dog barking.", "What do you hear?"]


class Calls:
    """Counts the forward calls of one decoder layer while installed."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.count = 0
        self.handle = module.register_forward_hook(self._seen)

    def _seen(self, *_: Any) -> None:
        self.count += 1


def test_needed_depth_is_one_past_the_deepest_layer() -> None:
    assert needed_depth([1], [4], None) == 5
    assert needed_depth((), None) == 0
    assert needed_depth([0]) == 1


def test_a_shallow_session_reads_the_same_and_never_runs_the_last_layer(adapter: Adapter) -> None:
    last = adapter.num_layers - 1
    assert last >= 2, "the check needs a layer above the pass"
    clip = noise(3.0, seed=4)
    vector = ClipSession(adapter, clip).run(PROMPTS[1:2], read_layers=[0]).residual[0][0]
    direction = SteeringVector({0: vector / vector.norm()}, {"kind": "test"})
    steering: dict[str, Any] = {"vectors": [None, direction], "alpha": 4.0, "steer_layers": [0]}
    whole = ClipSession(adapter, clip).run(PROMPTS[:2], read_layers=[0, 1], probe_layers=[1], **steering)
    calls = Calls(adapter.decoder_layers[last])
    try:
        shallow_session = ClipSession(adapter, clip, depth=2)
        shallow = shallow_session.run(PROMPTS[:2], read_layers=[0, 1], probe_layers=[1], **steering)
    finally:
        calls.handle.remove()
    assert calls.count == 0 and shallow_session.depth == 2
    for layer in (0, 1):
        torch.testing.assert_close(shallow.residual[layer], whole.residual[layer], atol=0, rtol=0)
    torch.testing.assert_close(shallow.attention[1], whole.attention[1], atol=0, rtol=0)
    assert float((whole.attention[1][1] - whole.attention[1][0]).abs().max()) > 1e-8  # steering acted


def test_the_prefix_pass_stops_once_its_deepest_layer_has_stored_keys_and_values(adapter: Adapter) -> None:
    """The prefix keeps keys and values for ``depth`` layers: the deepest one computes its keys and values
    but never its MLP, and they equal those of a session that ran that layer through."""
    clip = noise(3.0, seed=5)
    deepest = adapter.decoder_layers[1]
    mlp, keys = Calls(deepest.mlp), Calls(deepest.self_attn.k_proj)
    try:
        shallow = ClipSession(adapter, clip, depth=2)
    finally:
        mlp.handle.remove()
        keys.handle.remove()
    assert (mlp.count, keys.count) == (0, 1)
    deep = ClipSession(adapter, clip)  # runs layer 1 whole (it stops at the last layer instead)
    for (k, v), (k_deep, v_deep) in zip(shallow._layers, deep._layers[:2], strict=True):
        torch.testing.assert_close(k, k_deep, atol=0, rtol=0)
        torch.testing.assert_close(v, v_deep, atol=0, rtol=0)


def test_a_deeper_pass_extends_the_kept_prefix(adapter: Adapter) -> None:
    clip = noise(3.0, seed=6)
    last = adapter.num_layers - 1
    session = ClipSession(adapter, clip, depth=1)
    deep = session.run(PROMPTS, probe_layers=[last])
    assert session.depth == adapter.num_layers
    whole = ClipSession(adapter, clip).run(PROMPTS, probe_layers=[last])
    torch.testing.assert_close(deep.attention[last], whole.attention[last], atol=0, rtol=0)


def test_localize_is_unchanged_by_stopping_early(adapter: Adapter) -> None:
    """A localization that probes a low layer equals the whole-prompt reference (which never stops)."""
    clip = noise(4.0, seed=8)
    common = {"alpha": 8.0, "layers": [0], "probe_layers": [1]}
    shared = localize(adapter, clip, "a siren", LocalizeConfig(**common))
    full = localize(adapter, clip, "a siren", LocalizeConfig(**common, engine="full", probe="eager"))
    np.testing.assert_allclose(shared.profile.delta, full.profile.delta, atol=1e-6)
    assert np.abs(shared.profile.delta).max() > 1e-8


def test_a_pass_through_every_layer_never_runs_the_head(adapter: Adapter) -> None:
    """Probing the last layer runs every decoder layer but not the final norm and head (their logits are
    never read), and reads what the whole-prompt eager reference reads."""
    clip = noise(4.0, seed=9)
    last = adapter.num_layers - 1
    common = {"alpha": 8.0, "layers": [0], "probe_layers": [last]}
    head = adapter.model.get_output_embeddings()
    assert head is not None
    calls = Calls(head)
    try:
        shared = localize(adapter, clip, "a siren", LocalizeConfig(**common))
    finally:
        calls.handle.remove()
    assert calls.count == 0
    full = localize(adapter, clip, "a siren", LocalizeConfig(**common, engine="full", probe="eager"))
    np.testing.assert_allclose(shared.profile.delta, full.profile.delta, atol=1e-6)
    assert np.abs(shared.profile.delta).max() > 1e-8


def test_run_to_depth_refuses_a_pass_of_no_layers(adapter: Adapter) -> None:
    with pytest.raises(ValueError, match="at least one decoder layer"), run_to_depth(adapter, 0):
        pass
