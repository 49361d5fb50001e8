"""Qwen2.5-Omni and Qwen3-Omni: what the conformance suite does not reach for these two thinkers.

Their encoders work in windows (2 s and 1 s) that the generic checks barely cross: token counts at every
window edge, clicks in later windows, Qwen3-Omni's 13 tokens per second; the prompts (system turn or none);
a real checkpoint's layout (thinker + talker under one config) loading the thinker only; the positions of
suffixes on a shared prefix; and the full-size numbers recorded in docs/adapters.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from helpers import SR, noise
from test_families import _audio_embeddings
from wheretolisten.errors import ModelError
from wheretolisten.models import Adapter, load_model, wrap
from wheretolisten.models.registry import FAMILIES as BY_FAMILY
from wheretolisten.models.tiny import build_tiny_model, make_tiny_model
from wheretolisten.models.tiny.qwen_omni import build_processor
from wheretolisten.models.tiny.tokenizer import train_tokenizer
from wheretolisten.probe import temporal_attention

pytestmark = pytest.mark.usefixtures("one_thread")

OMNI = ("qwen2.5-omni", "qwen3-omni")
#: The composite checkpoint's model_type (thinker + talker + vocoder) for each family.
COMPOSITE = {"qwen2.5-omni": "qwen2_5_omni", "qwen3-omni": "qwen3_omni_moe"}


@pytest.fixture(scope="module")
def omni() -> dict[str, Adapter]:
    return {family: wrap(*build_tiny_model(family, seed=0), name=f"tiny-{family}") for family in OMNI}


@pytest.fixture(params=OMNI)
def adapter(request: pytest.FixtureRequest, omni: dict[str, Adapter]) -> Adapter:
    return omni[request.param]


def test_token_counts_at_every_window_edge(adapter: Adapter) -> None:
    """One sample either side of each window edge (and of each mel hop) gives the processor's count."""
    hop = int(adapter.processor.feature_extractor.hop_length)
    window = int(round(adapter.window_s * SR))
    for edge in (window, 2 * window, 3 * window):
        for n in (edge - hop - 1, edge - 1, edge, edge + 1, edge + hop, edge + hop + 1):
            batch = adapter.encode([noise(n / SR, seed=n)], ["Describe the audio."])
            assert int(adapter.audio_mask(batch["input_ids"]).sum()) == sum(adapter.window_token_counts(n)), n


def test_tokens_per_window(omni: dict[str, Adapter]) -> None:
    """Qwen2.5-Omni: 50 tokens per 2-s window (25 per second); Qwen3-Omni: 13 per 1-s window, and a half
    window gives ceil(50 / 8) = 7 (its tokens step 80 ms inside a window)."""
    expected = {"qwen2.5-omni": (2.0, 50, 25), "qwen3-omni": (1.0, 13, 7)}
    for family, (window_s, per_window, per_half) in expected.items():
        a = omni[family]
        assert a.window_s == window_s
        assert a.window_token_counts(int(3.5 * window_s * SR)) == [per_window] * 3 + [per_half]
        assert a.token_s == pytest.approx(window_s / per_window)
        np.testing.assert_allclose(np.diff(a.time_axis(3 * per_window)), a.token_s)


def test_clicks_in_later_windows_land_on_their_tokens(adapter: Adapter) -> None:
    """The generic check stays in the first window; here clicks fall in every window of a 3.5-window clip,
    at a window's first and last frames too."""
    w = adapter.window_s
    quiet = noise(3.5 * w, seed=2, amplitude=0.01)
    base = _audio_embeddings(adapter, quiet)
    starts = adapter.time_axis(base.shape[0])
    for t in (0.45 * w, 1.02 * w, 1.97 * w, 2.5 * w, 3.3 * w):
        clicked = quiet.copy()
        i = int(t * SR)
        clicked[i : i + 80] += 0.8
        token = int((_audio_embeddings(adapter, clicked) - base).norm(dim=-1).argmax())
        lo, hi = starts[max(0, token - 1)], starts[min(len(starts) - 1, token + 1)] + adapter.token_s
        assert lo <= t + 1e-6 < hi, (t, token, starts[token])


def test_prompts(omni: dict[str, Adapter]) -> None:
    """Qwen2.5-Omni: the model card's system turn; Qwen3-Omni: none; audio block, then the instruction."""
    text = omni["qwen2.5-omni"].render_prompt("Listen for the dog barking.")
    assert text.startswith("<|im_start|>system\nYou are Qwen, a virtual human developed by the Qwen Team")
    user = "<|im_start|>user\n<|audio_bos|><|AUDIO|><|audio_eos|>Listen for the dog barking.<|im_end|>"
    assert user in text
    text = omni["qwen3-omni"].render_prompt("Listen for the dog barking.")
    assert text == (
        "<|im_start|>user\n<|audio_start|><|audio_pad|><|audio_end|>Listen for the dog barking.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    for a in omni.values():
        ids = a.encode([noise(1.0)], ["Listen for the dog barking."])["input_ids"][0]
        start, _ = a.instruction_span(ids)
        assert a.tokenizer.convert_ids_to_tokens(int(ids[start - 1])) == a.audio_delimiters[1]  # type: ignore[attr-defined]


@pytest.mark.parametrize("family", OMNI)
def test_processor_names_its_tokens_when_the_tokenizer_does_not(family: str) -> None:
    """A tokenizer without named multimodal tokens still gives the family's audio placeholder."""
    processor_class = BY_FAMILY[family].processor_class  # type: ignore[attr-defined]
    tokens = processor_class.tokens
    plain = train_tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>", *tokens.values()])
    processor = build_processor(family, tokenizer=plain)
    assert processor.audio_token == tokens["audio_token"]
    assert processor.audio_token_id == plain.convert_tokens_to_ids(tokens["audio_token"])


def test_too_long_audio_is_one_clear_error(omni: dict[str, Adapter]) -> None:
    """Qwen2.5-Omni's feature extractor cuts at chunk_length (30 s in the tiny model, 300 s in the real
    one); Qwen3-Omni cuts nothing, and the published limit is 40 minutes."""
    assert omni["qwen2.5-omni"].max_audio_limit_s == 30.0
    assert omni["qwen3-omni"].max_audio_limit_s == 2400.0
    for a, too_long in ((omni["qwen2.5-omni"], 30.01), (omni["qwen3-omni"], 2400.5)):
        with pytest.raises(ModelError, match="accepts at most"):
            a.check_duration(too_long)
    with pytest.raises(ModelError, match="accepts at most"):
        omni["qwen2.5-omni"].encode([noise(30.5)], ["Describe the audio."])


def test_suffix_positions_continue_the_prefix(adapter: Adapter) -> None:
    """A suffix run on the cached prefix, given the positions after it, equals the whole prompt run."""
    batch = adapter.encode([noise(2.3, seed=3)], ["Describe the audio."])
    ids = batch["input_ids"]
    cut = adapter.instruction_span(ids[0])[0]
    features = {k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask")}
    with torch.no_grad():
        whole = adapter.model(**batch, use_cache=False).logits[0, cut:]
        mask = batch["attention_mask"]
        prefix = adapter.model(input_ids=ids[:, :cut], attention_mask=mask[:, :cut], **features)
        suffix = adapter.model(
            input_ids=ids[:, cut:],
            attention_mask=torch.ones_like(mask),
            use_cache=True,
            **adapter.suffix_inputs(cut, ids[:, cut:]),
            **{"cache" if hasattr(prefix, "cache") else "past_key_values": prefix[1]},
        ).logits[0]
    torch.testing.assert_close(suffix, whole, atol=1e-5, rtol=1e-5)


def _composite_checkpoint(family: str, root: Path) -> Path:
    """A tiny checkpoint laid out as the real one: the thinker's config under ``thinker_config`` of the
    composite model type, its weights under ``thinker.``, and a talker weight beside them."""
    path = make_tiny_model(family, root / family)
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({"model_type": COMPOSITE[family], "thinker_config": config}))
    weights = load_file(path / "model.safetensors")
    weights = {f"thinker.{k}": v for k, v in weights.items()}
    weights["talker.codec_head.weight"] = torch.zeros(2, 2)
    save_file(weights, path / "model.safetensors", metadata={"format": "pt"})
    return path


@pytest.mark.parametrize("family", OMNI)
def test_a_composite_checkpoint_loads_the_thinker_only(family: str, tmp_path: Path) -> None:
    path = _composite_checkpoint(family, tmp_path)
    loaded = load_model(path, device="cpu", dtype="float32")
    assert type(loaded) is BY_FAMILY[family]
    assert isinstance(loaded.model, BY_FAMILY[family].model_class)
    assert not any(name.startswith("talker") for name, _ in loaded.model.named_parameters())
    reference = wrap(*build_tiny_model(family, seed=0), name="reference")
    for (name, mine), (_, theirs) in zip(
        loaded.model.state_dict().items(), reference.model.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(mine, theirs, msg=name)
    # The processor needs no torchvision: tokenizer, feature extractor and chat template only.
    assert type(loaded.processor).get_attributes() == ["feature_extractor", "tokenizer"]
    batch = loaded.encode([noise(1.3)], ["Describe the audio."])
    probed = temporal_attention(loaded, batch, [0, loaded.num_layers - 1])
    assert probed.per_row[0].shape[-1] == sum(loaded.window_token_counts(int(1.3 * SR)))


def test_full_size_numbers() -> None:
    """What docs/adapters.md records: decoder depth, audio tokens per second, longest clip."""
    q25, q3 = BY_FAMILY["qwen2.5-omni"].full_size_config(), BY_FAMILY["qwen3-omni"].full_size_config()
    assert (q25.text_config.num_hidden_layers, q25.text_config.hidden_size) == (28, 3584)
    assert (q25.audio_config.n_window, q25.audio_token_id) == (100, 151646)
    assert (q3.text_config.num_hidden_layers, q3.text_config.hidden_size) == (48, 2048)
    assert (q3.text_config.num_experts, q3.text_config.num_experts_per_tok) == (128, 8)
    assert (q3.audio_config.n_window, q3.audio_config.n_window_infer, q3.audio_token_id) == (50, 800, 151675)
    assert BY_FAMILY["qwen2.5-omni"].max_audio_s == 300.0
    assert BY_FAMILY["qwen3-omni"].max_audio_s == 2400.0


def test_the_documented_family_names_are_the_adapters() -> None:
    """docs/adapters.md's table row names each adapter's ``family`` (the name ``--family`` and ``env`` use)
    and its model types; it once gave the model type as the family."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "adapters.md").read_text()
    row = next(line for line in doc.splitlines() if line.startswith("| `family` / `model_type` |"))
    for family in ("qwen2.5-omni", "qwen3-omni"):
        adapter = BY_FAMILY[family]
        assert f"`{adapter.family}` / " in row
        assert f"`{adapter.model_type}` (+ `{adapter.checkpoint_model_types[0]}`)" in row
