"""Suffix rows reading a shared prefix in place (``wheretolisten.prefix_attention``) equal attention over a
copy of the prefix per row: the function against SDPA on whole keys, and sessions with and without copies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import noise
from wheretolisten.errors import ModelError
from wheretolisten.models import Adapter
from wheretolisten.prefix_attention import SharedPrefix, attend, probe_rows
from wheretolisten.probe import attention_rows
from wheretolisten.session import ClipSession
from wheretolisten.vectors import SteeringVector


class _Layer(torch.nn.Module):
    def __init__(self, index: int) -> None:
        super().__init__()
        self.layer_idx = index


#: Rows' clips: scattered (one computation per clip), equal blocks of every clip in order (one for all),
#: equal blocks of some clips (one for all, on those clips' prefixes).
LAYOUTS = {"scattered": [2, 0, 0, 1, 2], "blocks": [0, 0, 1, 1, 2, 2], "some": [1, 1, 2, 2]}


def _case(dtype: torch.dtype, seed: int = 0, layout: str = "scattered", window: int | None = None) -> dict:
    """Three clips' prefixes (GQA: 4 query heads on 2 key heads), suffix rows of 2–5 real tokens (right-padded
    to 5) on the clips of ``layout``; masks as transformers builds them (bool, causal + padding)."""
    g = torch.Generator().manual_seed(seed)
    clips, heads, kv, prefix, width, dim = 3, 4, 2, 11, 5, 8
    rows = torch.tensor(LAYOUTS[layout])
    lengths = [5, 2, 4, 3, 5, 1][: len(rows)]

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g).to(dtype)

    keys_p, values_p = rand(clips, kv, prefix, dim), rand(clips, kv, prefix, dim)
    query = rand(len(rows), heads, width, dim)
    keys_s, values_s = rand(len(rows), kv, width, dim), rand(len(rows), kv, width, dim)
    allowed = torch.zeros(len(rows), 1, width, prefix + width, dtype=torch.bool)
    for i, n in enumerate(lengths):
        for q in range(width):
            # A sliding window of ``window`` keys hides the oldest prefix keys from each query.
            first = 0 if window is None else max(0, prefix + q + 1 - window)
            allowed[i, 0, q, first:prefix] = True
            allowed[i, 0, q, prefix : prefix + min(q, n - 1) + 1] = True
    return dict(
        prefix=SharedPrefix([(keys_p, values_p)], rows, prefix),
        query=query,
        keys=(keys_s, values_s),
        whole=(torch.cat([keys_p[rows], keys_s], 2), torch.cat([values_p[rows], values_s], 2)),
        allowed=allowed,
        heads=heads,
        kv=kv,
    )


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("masked", ["causal", "window", None])
def test_attend_equals_sdpa_over_the_whole_keys(dtype: torch.dtype, masked: str | None, layout: str) -> None:
    case = _case(dtype, layout=layout, window=8 if masked == "window" else None)
    assert case["prefix"].blocked(len(LAYOUTS[layout])) is (layout != "scattered")
    mask = case["allowed"] if masked else None
    assert masked != "window" or not bool(case["allowed"][..., :11].all())  # prefix keys hidden
    got = attend(_Layer(0), case["query"], *case["keys"], mask, case["prefix"], 0.3)
    rep = case["heads"] // case["kv"]
    keys, values = (x.float().repeat_interleave(rep, dim=1) for x in case["whole"])
    # No mask: causal with the queries at the end of the keys (transformers passes None only where that is
    # what it means); torch's own is_causal aligns them at the start, so the reference spells it out.
    q_len, k_len = case["query"].shape[2], keys.shape[2]
    causal = torch.ones(q_len, k_len, dtype=torch.bool).tril(k_len - q_len)
    want = torch.nn.functional.scaled_dot_product_attention(
        case["query"].float(), keys, values, attn_mask=causal if mask is None else mask, scale=0.3
    ).transpose(1, 2)
    assert got.dtype == dtype and got.shape == want.shape
    tol = 1e-5 if dtype == torch.float32 else 1e-2
    torch.testing.assert_close(got.float(), want, rtol=tol, atol=tol)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_probe_rows_equal_the_rows_over_the_whole_keys(layout: str) -> None:
    case = _case(torch.float32, seed=1, layout=layout)
    picked = torch.tensor([[4], [1], [3], [2], [4], [0]][: len(LAYOUTS[layout])])  # each row's last token
    got = probe_rows(case["query"], case["keys"][0], case["allowed"], picked, case["prefix"], 0, 0.3)
    want = attention_rows(case["query"], case["whole"][0], case["allowed"], picked, 0.3)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert torch.allclose(got.sum(-1), torch.ones(()))


def test_a_prefix_that_lacks_keys_is_refused() -> None:
    case = _case(torch.float32)
    short = SharedPrefix(case["prefix"].layers, case["prefix"].clips, case["prefix"].length + 1)
    with pytest.raises(ModelError, match="cannot serve this model exactly"):
        attend(_Layer(0), case["query"], *case["keys"], case["allowed"], short, 0.3)
    with pytest.raises(ModelError, match="no keys for decoder layer 1"):
        attend(_Layer(1), case["query"], *case["keys"], case["allowed"], case["prefix"], 0.3)
    # Arguments that would change the scores are refused, not ignored; the ones a layer always passes run.
    with pytest.raises(ModelError, match="passes softcap to its attention"):
        attend(_Layer(0), case["query"], *case["keys"], None, case["prefix"], 0.3, {"softcap": 30.0})
    attend(_Layer(0), case["query"], *case["keys"], None, case["prefix"], 0.3, {"sliding_window": None})


@pytest.mark.parametrize("order", [(2, 0, 1), (0, 1, 2)])
@pytest.mark.parametrize("family", ["qwen2-audio", "audioflamingo3"])
def test_sessions_in_place_and_with_copies_agree(
    adapters: dict[str, Adapter], family: str, order: tuple[int, ...]
) -> None:
    """Three windows on one session, rows of different lengths on different clips (in clip order: one
    computation for all; else one per clip), steered rows, residuals and probed attention: the in-place
    pass gives the copying pass's numbers."""
    adapter = adapters[family]
    clips = [noise(2.0, seed=s) for s in (1, 2, 3)]
    prompts = ["Describe the audio.", "Listen for the dog barking.", "Is there a siren?", "Yes?"]
    g = torch.Generator().manual_seed(0)
    vector = SteeringVector({1: torch.randn(adapter.hidden_size, generator=g)})
    layers = list(range(adapter.num_layers))
    runs = []
    for in_place in (True, False):
        session = ClipSession(adapter, clips, in_place=in_place)
        runs.append(
            session.run(
                prompts * 3,
                read_layers=[1],
                probe_layers=layers,
                vectors=[None, vector, vector, None] * 3,
                alpha=[0.0, 2.0, -1.0, 0.0] * 3,
                clips=[c for c in order for _ in prompts],
            )
        )
    fast, copied = runs
    for layer in layers:
        np.testing.assert_allclose(fast.attention[layer], copied.attention[layer], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fast.residual[1], copied.residual[1], rtol=1e-4, atol=1e-5)
    # The rows differ by clip and steering (the comparison is not between equal rows).
    assert not torch.allclose(fast.attention[layers[-1]][0], fast.attention[layers[-1]][4])
