from __future__ import annotations

import pytest
import torch

from helpers import noise
from wheretolisten.models import Adapter
from wheretolisten.positions import last_positions
from wheretolisten.probe import attention_rows, temporal_attention


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_fast_probe_equals_eager_reference(adapter: Adapter, padding_side: str) -> None:
    # Two clips of different lengths and prompts, so the batch is padded.
    batch = adapter.encode(
        [noise(3.0, seed=1), noise(5.0, seed=2)],
        ["Listen for the dog barking.", "Describe the audio."],
        padding_side,
    )
    # Query rows: the last token, plus one text token inside the prompt.
    last = last_positions(batch["attention_mask"])
    query_index = torch.stack([last, last - 2], dim=1)
    fast = temporal_attention(adapter, batch, query_index=query_index, method="fast")
    eager = temporal_attention(adapter, batch, query_index=query_index, method="eager")
    assert fast.layers == eager.layers == list(range(adapter.num_layers))
    for f, e, n in zip(fast.per_row, eager.per_row, (75, 125), strict=True):
        assert f.shape == (adapter.num_layers, adapter.language_model.config.num_attention_heads, 2, n)
        torch.testing.assert_close(f, e, atol=1e-5, rtol=0)
        # Rows are probabilities over all keys: the audio part sums to at most one.
        assert float(f.sum(-1).max()) <= 1 + 1e-5 and float(f.min()) >= 0


def test_probe_rows_do_not_depend_on_padding(adapter: Adapter) -> None:
    clips = [noise(3.0, seed=1), noise(5.0, seed=2)]
    prompts = ["Listen for the dog barking.", "Describe the audio."]
    left = temporal_attention(adapter, adapter.encode(clips, prompts, "left"), method="fast")
    right = temporal_attention(adapter, adapter.encode(clips, prompts, "right"), method="fast")
    alone = temporal_attention(adapter, adapter.encode(clips[:1], prompts[:1]), method="fast")
    torch.testing.assert_close(left.per_row[0], right.per_row[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(left.per_row[0], alone.per_row[0], atol=1e-5, rtol=0)


def test_attention_rows_gqa_head_mapping() -> None:
    # Head h must read kv head h // n_rep, like transformers' repeat_kv.
    torch.manual_seed(0)
    q = torch.randn(1, 4, 5, 8)
    k = torch.randn(1, 2, 5, 8)
    idx = torch.tensor([[4, 2]])
    rows = attention_rows(q, k, None, idx, 8**-0.5)
    k_rep = k.repeat_interleave(2, dim=1)
    full = torch.softmax(
        (q @ k_rep.transpose(-1, -2)) * 8**-0.5 + torch.triu(torch.full((5, 5), float("-inf")), 1), -1
    )
    torch.testing.assert_close(rows, full[:, :, [4, 2], :])


def test_probe_layer_subset_and_range(adapter: Adapter) -> None:
    batch = adapter.encode([noise(2.0)], ["Describe the audio."])
    out = temporal_attention(adapter, batch, layers=[1, 3])
    assert out.layers == [1, 3] and out.per_row[0].shape[0] == 2
    from wheretolisten.errors import ModelError

    with pytest.raises(ModelError, match="out of range"):
        temporal_attention(adapter, batch, layers=[adapter.num_layers])
