"""What every registered family must satisfy, on its tiny model (and its full-size config on the meta device).

A family is an adapter (``wheretolisten.models``) plus a tiny builder (``wheretolisten.models.tiny``); these
tests run on each, with no family-specific code: token counts against the processor, the time axis against
the encoder, fast probe == eager attention, shared prefix == whole prompts, steered generation with a KV
cache == decoding by full forwards, the prompt, the real architecture's shape, and the CLI end to end.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from helpers import SR, noise, run_cli
from wheretolisten.engine import FullEngine, SharedEngine, make_engine
from wheretolisten.localize import LocalizeConfig, localize_many
from wheretolisten.models import FAMILIES as REGISTERED
from wheretolisten.models import Adapter, wrap
from wheretolisten.models.registry import FAMILIES as BY_FAMILY
from wheretolisten.models.tiny import FAMILIES as TINY_FAMILIES
from wheretolisten.models.tiny import build_tiny_model
from wheretolisten.positions import last_positions
from wheretolisten.probe import temporal_attention
from wheretolisten.settings import default_layers, resolve
from wheretolisten.steering import steering
from wheretolisten.vectors import SteeringVector

pytestmark = pytest.mark.usefixtures("one_thread")

FAMILIES = tuple(REGISTERED)
PROMPTS = ["Listen for the dog barking.", "Describe the audio."]


class _Tiny(dict[str, Adapter]):
    """Tiny adapters built on first use, so that ``-k family`` builds only that family."""

    def __missing__(self, family: str) -> Adapter:
        self[family] = wrap(*build_tiny_model(family, seed=0), name=f"tiny-{family}")
        return self[family]


@pytest.fixture(scope="module")
def tiny() -> dict[str, Adapter]:
    return _Tiny()


@pytest.fixture(params=FAMILIES)
def family_adapter(request: pytest.FixtureRequest, tiny: dict[str, Adapter]) -> Adapter:
    return tiny[request.param]


def test_every_family_has_a_tiny_builder() -> None:
    assert set(TINY_FAMILIES) == set(REGISTERED)


def lengths_s(adapter: Adapter) -> list[float]:
    """Clip lengths to check: short, non-round, half a window, the window boundary, past it."""
    w, limit = adapter.window_s, adapter.max_audio_limit_s
    wanted = [0.37, 1.0, 2.53, w / 2 + 0.13, w, w + 0.61, 2 * w + 1.7]
    return [x for x in wanted if x <= limit + 1e-9]


def test_token_counts_match_the_processor(family_adapter: Adapter) -> None:
    a = family_adapter
    checked = lengths_s(a)
    assert len(checked) >= 5
    for seconds in checked:
        clip = noise(seconds, seed=1)
        batch = a.encode([clip], ["Describe the audio."])
        n_audio = int(a.audio_mask(batch["input_ids"]).sum())
        assert n_audio == sum(a.window_token_counts(clip.size)), seconds
        starts = a.time_axis(n_audio)
        assert starts.shape == (n_audio,) and np.all(np.diff(starts) > 0)
        covered = a.clip_audio_tokens(clip.size)
        assert starts[(covered or n_audio) - 1] <= seconds + 1e-6
        if covered is not None:  # the tokens that cover the clip reach its end; the rest cover padding
            assert seconds <= starts[covered - 1] + a.token_s + 1e-6


def _audio_embeddings(adapter: Adapter, clip: np.ndarray) -> torch.Tensor:
    """What the decoder reads at the audio positions: its input embeddings there."""
    batch = adapter.encode([clip], ["Describe the audio."])
    with torch.no_grad():
        out = adapter.model(**batch, output_hidden_states=True, use_cache=False)
    hidden = adapter.layer_hidden(out.hidden_states[0])[0]
    return hidden[adapter.audio_mask(batch["input_ids"])[0]].float()


def test_time_axis_follows_the_encoder(family_adapter: Adapter) -> None:
    """A click at a known time changes most the audio tokens that cover it."""
    a = family_adapter
    seconds = min(a.max_audio_limit_s, a.window_s, 6.0)
    if a.clip_audio_tokens(int(seconds * SR)) is not None:
        # An encoder that keeps its padding sees it, and the front end ties the padding's level to the
        # clip's loudest sound: a whole window keeps the click from moving every padding token.
        seconds = min(a.max_audio_limit_s, a.window_s)
    quiet = noise(seconds, seed=2, amplitude=0.01)
    base = _audio_embeddings(a, quiet)
    starts = a.time_axis(base.shape[0])
    # Slack: one token for the encoder's receptive field, or what one token summarizes when that is more.
    slack = max(1, round((a.token_cover_s or a.token_s) / a.token_s))
    for t in (0.3 * seconds, 0.55 * seconds, 0.8 * seconds):
        clicked = quiet.copy()
        i = int(t * SR)
        clicked[i : i + 80] += 0.8
        change = (_audio_embeddings(a, clicked) - base).norm(dim=-1)
        token = int(change.argmax())
        # The most changed token covers the click.
        last = len(starts) - 1
        assert starts[max(0, token - slack)] <= t + 1e-6 < starts[min(last, token + slack)] + a.token_s, (
            t,
            token,
            starts[token],
        )


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_fast_probe_equals_eager_attention(family_adapter: Adapter, padding_side: str) -> None:
    a = family_adapter
    clips = [noise(2.0, seed=3), noise(3.1, seed=4)]
    batch = a.encode(clips, PROMPTS, padding_side)
    layers = list(range(a.num_layers))
    span = torch.stack([last_positions(batch["attention_mask"]) - k for k in (2, 1, 0)], dim=1)
    for rows in (None, span):
        fast = temporal_attention(a, batch, layers, query_index=rows, method="fast")
        eager = temporal_attention(a, batch, layers, query_index=rows, method="eager")
        for f, e in zip(fast.per_row, eager.per_row, strict=True):
            torch.testing.assert_close(f, e, atol=1e-5, rtol=0)


def test_shared_prefix_equals_whole_prompts(family_adapter: Adapter) -> None:
    a = family_adapter
    clip = noise(3.0, seed=5)
    queries = ["a siren", "the dog barking"]
    for positions in ("last", "audio"):
        common = {"alpha": 8.0, "positions": positions}
        engine = make_engine(a, clip, resolve(a, LocalizeConfig(**common)))
        assert isinstance(engine, SharedEngine if a.shared_prefix else FullEngine)
        shared = localize_many(a, clip, queries, LocalizeConfig(**common), engine=engine)
        full = localize_many(a, clip, queries, LocalizeConfig(**common, engine="full", probe="eager"))
        for s, f in zip(shared.results, full.results, strict=True):
            np.testing.assert_allclose(s.profile.base, f.profile.base, atol=1e-6)
            np.testing.assert_allclose(s.profile.delta, f.profile.delta, atol=1e-6)
            assert np.abs(s.profile.delta).max() > 1e-8
            assert s.peak_s == f.peak_s


@pytest.mark.parametrize("positions", ["last", "all"])
def test_steered_generation_with_cache_equals_full_decoding(family_adapter: Adapter, positions: str) -> None:
    a = family_adapter
    batch = a.encode([noise(1.5), noise(2.5, seed=1)], PROMPTS, padding_side="left")
    g = torch.Generator().manual_seed(0)
    vec = SteeringVector({layer: torch.randn(a.hidden_size, generator=g) * 4 for layer in (0, 1)})
    kwargs = {"max_new_tokens": 5, "do_sample": False, "pad_token_id": a.tokenizer.pad_token_id}
    with steering(a, vec, 2.0, batch, positions):
        cached = a.model.generate(**batch, use_cache=True, **kwargs)
        uncached = a.model.generate(**batch, use_cache=False, **kwargs)
    plain = a.model.generate(**batch, use_cache=True, **kwargs)
    assert torch.equal(cached, uncached)
    assert not torch.equal(cached, plain)


def test_prompt_comes_from_the_chat_template(family_adapter: Adapter) -> None:
    a = family_adapter
    text = a.render_prompt("Listen for the dog barking.")
    assert "Listen for the dog barking." in text
    batch = a.encode([noise(1.0)], ["Listen for the dog barking."])
    ids = batch["input_ids"][0]
    start, end = a.instruction_span(ids)
    assert a.tokenizer.decode(ids[start:end]).strip() == "Listen for the dog barking."
    assert int(a.audio_mask(batch["input_ids"]).sum()) > 0


@pytest.mark.parametrize("family", FAMILIES)
def test_full_size_architecture_on_the_meta_device(family: str) -> None:
    """The real checkpoint's architecture (no weights, no download) resolves layers, tower and token."""
    cls = BY_FAMILY[family]
    config = cls.full_size_config()
    with torch.device("meta"):
        model = cls.model_class._from_config(config)  # type: ignore[attr-defined]
    adapter = cls(model, None, f"meta-{family}")
    n = adapter.num_layers
    assert n >= 12 and adapter.hidden_size >= 1024
    assert adapter.audio_tower is not adapter.language_model
    assert all(0 <= layer < n for layer in default_layers(n))
    assert isinstance(adapter.audio_token_id, int)
    assert cls.checkpoints, "name the real checkpoint(s) this adapter serves"


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_cli_localize_on_a_tiny_checkpoint(
    family: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = tmp_path / "model"
    code, _, err = run_cli(monkeypatch, capsys, "make-tiny-model", "--family", family, "--out", model_dir)
    assert code == 0, err
    wav = tmp_path / "clip.wav"
    sf.write(wav, noise(2.0, seed=7), SR)
    out = tmp_path / "out.json"
    args = ("localize", wav, "-q", "a bell", "--model", model_dir, "--device", "cpu", "--json", out)
    code, stdout, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    data = json.loads(out.read_text())
    assert {"model", "audio", "query", "peak_s", "interval_s", "profile", "config"} <= set(data)
    assert len(data["profile"]["delta"]) == len(data["profile"]["time_s"]) > 0
    code, stdout, err = run_cli(monkeypatch, capsys, "env", "--json")
    assert code == 0 and family in json.loads(stdout)["families"]
