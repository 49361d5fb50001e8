"""What every registered family must satisfy, on its tiny model (and its full-size config on the meta device).

A family is an adapter (``wheretolisten.models``) plus a tiny builder (``wheretolisten.models.tiny``); these
tests run on each, with no family-specific code: token counts against the processor, the time axis against
the encoder, fast probe == eager attention, shared prefix == whole prompts (also with sliding-window layers,
where the family's decoder has them), steered generation with a KV cache == decoding by full forwards, the
prompt, the real architecture's shape, and the CLI end to end.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import DynamicCache

from helpers import SR, noise, run_cli
from wheretolisten.engine import FullEngine, SharedEngine, make_engine
from wheretolisten.errors import ModelError
from wheretolisten.localize import LocalizeConfig, localize, localize_many
from wheretolisten.models import FAMILIES as REGISTERED
from wheretolisten.models import Adapter, load_model, wrap
from wheretolisten.models.families import NAMES
from wheretolisten.models.registry import FAMILIES as BY_FAMILY
from wheretolisten.models.registry import KNOWN
from wheretolisten.models.tiny import FAMILIES as TINY_FAMILIES
from wheretolisten.models.tiny import build_tiny_model
from wheretolisten.positions import last_positions
from wheretolisten.probe import temporal_attention
from wheretolisten.session import ClipSession, check_prefix_cache
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


def test_the_torch_free_family_names_are_the_registry_s() -> None:
    """make-tiny-model refuses an unknown family before torch from ``families.NAMES``: it must list every
    adapter the registry knows (available here or not), in its order."""
    assert tuple(cls.family for cls in KNOWN) == NAMES


def test_a_known_family_that_cannot_run_here_says_why_not_unknown() -> None:
    """A tiny model of a family whose optional packages are missing (Gemma 3n without timm) said "unknown
    family", listing the others; it names what to install."""
    from wheretolisten.errors import ModelError
    from wheretolisten.models.registry import UNAVAILABLE_FAMILIES
    from wheretolisten.models.tiny import build_tiny_model

    if not UNAVAILABLE_FAMILIES:
        pytest.skip("every family can run here")
    family, reason = next(iter(UNAVAILABLE_FAMILIES.items()))
    with pytest.raises(ModelError, match="cannot run here") as raised:
        build_tiny_model(family)
    assert reason in str(raised.value) and "unknown" not in str(raised.value)


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


def test_batching_with_a_longer_clip_as_the_adapter_says(family_adapter: Adapter) -> None:
    """``batch_invariant``: a clip's decoder inputs at its audio tokens are the same alone and batched with a
    longer clip (to float rounding), or they are not, as the adapter declares (the engines never batch two
    clips, so this concerns callers of ``encode`` only)."""
    a = family_adapter
    short, longer = noise(2.0, seed=3), noise(3.1, seed=4)

    def audio_inputs(clips: list[np.ndarray]) -> torch.Tensor:
        batch = a.encode(clips, ["Describe the audio."] * len(clips))
        with torch.no_grad():
            out = a.model(**batch, output_hidden_states=True, use_cache=False)
        return a.layer_hidden(out.hidden_states[0])[0][a.audio_mask(batch["input_ids"])[0]].float()

    alone, batched = audio_inputs([short]), audio_inputs([short, longer])
    n = min(len(alone), len(batched))
    change = float((alone[:n] - batched[:n]).abs().max() / alone.abs().max())
    if a.batch_invariant:
        assert len(alone) == len(batched) and change < 1e-5, change
    else:
        assert len(alone) != len(batched) or change > 1e-4, change


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


# ---- sliding-window layers ---------------------------------------------------------------------------------
#: Which decoder layers slide: the upper half (as Qwen2's ``max_window_layers`` does it) or all of them.
LAYOUTS = ("upper", "all")


def sliding_variant(adapter: Adapter, window: int, layout: str) -> Adapter | None:
    """The same tiny model (same weights) with a ``window``-key sliding window on the ``layout`` layers of
    its decoder; None where the decoder config has no ``sliding_window`` field or cannot slide some layers."""
    config = copy.deepcopy(adapter.model.config)
    text = config.get_text_config(decoder=True)
    if not hasattr(type(text), "sliding_window"):
        return None
    n = adapter.num_layers
    sliding = range(n // 2 if layout == "upper" else 0, n)
    text.sliding_window = window
    if hasattr(text, "use_sliding_window"):
        text.use_sliding_window = True
    if hasattr(type(text), "layer_types"):
        text.layer_types = ["sliding_attention" if i in sliding else "full_attention" for i in range(n)]
    elif len(sliding) != n:
        return None
    model = type(adapter.model)(config)
    model.load_state_dict(adapter.model.state_dict())
    return wrap(model, adapter.processor, name=f"{adapter.name}-window{window}-{layout}")


def variant_or_skip(adapter: Adapter, window: int, layout: str) -> Adapter:
    variant = sliding_variant(adapter, window, layout)
    if variant is None:
        pytest.skip(f"{adapter.family}'s decoder has no {layout}-layer sliding window")
    return variant


def prefix_length(adapter: Adapter, seconds: float) -> int:
    """Tokens before the instruction (the shared prefix) for a clip of ``seconds``."""
    return adapter.instruction_span(adapter.encode([noise(seconds)], ["A"])["input_ids"][0])[0]


def assert_shared_equals_whole(adapter: Adapter, clip: np.ndarray, positions: str) -> None:
    """The default engine gives the whole-prompt (eager) profiles, prompted profiles and peaks."""
    default = LocalizeConfig(alpha=8.0, positions=positions)
    engine = make_engine(adapter, clip, resolve(adapter, default))
    assert isinstance(engine, SharedEngine if adapter.shared_prefix else FullEngine)
    queries = ["a siren"]
    shared = localize_many(adapter, clip, queries, default, engine=engine)
    whole = LocalizeConfig(alpha=8.0, positions=positions, engine="full", probe="eager")
    full = localize_many(adapter, clip, queries, whole)
    for s, f in zip(shared.results, full.results, strict=True):
        np.testing.assert_allclose(s.profile.base, f.profile.base, atol=1e-6)
        np.testing.assert_allclose(s.profile.delta, f.profile.delta, atol=1e-6)
        assert np.abs(s.profile.delta).max() > 1e-8
        assert s.peak_s == f.peak_s
    for p, q in zip(shared.prompted, full.prompted, strict=True):
        np.testing.assert_allclose(p, q, atol=1e-6)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_sliding_window_narrower_than_the_prefix(family_adapter: Adapter, layout: str) -> None:
    """Window 19 on a 3-s clip (issue 26): shared prefix == whole prompts, and the window acts."""
    a = family_adapter
    variant = variant_or_skip(a, 19, layout)
    clip = noise(3.0, seed=5)
    assert prefix_length(variant, 3.0) > 19
    windowed = "sliding_attention" in variant.layer_types
    # The window changes the whole prompt's attention exactly where the family's decoder honours it.
    cfg = LocalizeConfig(engine="full", probe="eager")
    before = FullEngine(a, clip, resolve(a, cfg)).attention(["Describe the audio."])[0]
    after = FullEngine(variant, clip, resolve(variant, cfg)).attention(["Describe the audio."])[0]
    assert (np.abs(after - before).max() > 1e-6) == windowed
    assert_shared_equals_whole(variant, clip, "all")


@pytest.mark.slow
@pytest.mark.parametrize("layout", LAYOUTS)
def test_sliding_windows_around_the_prefix(family_adapter: Adapter, layout: str) -> None:
    """Windows at the 2-s clip's prefix length and past the whole prompt; clips just shorter and longer."""
    a = family_adapter
    at = prefix_length(a, 2.0)
    for window, lengths in ((at, (1.8, 2.0, 2.2)), (at + 64, (2.0,))):
        variant = variant_or_skip(a, window, layout)
        for seconds in lengths:
            for positions in ("last", "all"):
                assert_shared_equals_whole(variant, noise(seconds, seed=5), positions)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_truncated_prefix_cache_is_refused(family_adapter: Adapter, layout: str) -> None:
    """The guard: the model's own cache (window - 1 keys on a sliding layer) cannot serve suffixes exactly, so
    it is refused at the session (prefix) and at every probed suffix pass, never read with shifted columns."""
    variant = variant_or_skip(family_adapter, 19, layout)
    if not variant.shared_prefix:
        pytest.skip(f"{variant.family} runs whole prompts only")
    session = ClipSession(variant, noise(3.0, seed=5))
    inputs = {"input_ids": session.prefix_ids[None], **session._inputs}
    own = DynamicCache(config=variant.model.config)
    with torch.no_grad():
        variant.model(**inputs, use_cache=True, **{session._cache_kwarg: own})
    # transformers sizes its cache from the config's window even where the decoder ignores it (Qwen3-Omni).
    assert own.layers[0].get_seq_length() == session.prefix_len
    assert min(x.keys.shape[-2] for x in own.layers) == 18  # type: ignore[union-attr]
    with pytest.raises(ModelError, match="kept 18 of the prefix's"):
        check_prefix_cache(own, session.prefix_len, variant.num_layers)
    # What the session did before issue 26: suffixes on those keys. Refused, not silently wrong.
    session._layers = [(x.keys, x.values) for x in own.layers]
    with pytest.raises((ModelError, RuntimeError)):
        session.run(["Describe the audio."], probe_layers=[variant.num_layers - 1])
    if layout == "all":  # no shape error on the way: the guard on the probed rows is what refuses it
        with pytest.raises(ModelError, match="cannot serve this model exactly"):
            session.run(["Describe the audio."], probe_layers=[variant.num_layers - 1])


def test_unserved_layer_types_are_refused(tiny: dict[str, Adapter]) -> None:
    """A decoder layer kind the session does not know (here chunked attention) never reaches it."""
    a = tiny["qwen2-audio"]
    config = copy.deepcopy(a.model.config)
    config.text_config.layer_types = ["chunked_attention"] + ["full_attention"] * (a.num_layers - 1)
    model = type(a.model)(config)
    model.load_state_dict(a.model.state_dict())
    chunked = wrap(model, a.processor, name="chunked")
    with pytest.raises(ModelError, match="chunked_attention decoder layers"):
        ClipSession(chunked, noise(1.0))


def test_cli_on_the_issue_26_reproduction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tiny Qwen2-Audio checkpoint with the upper half sliding (window 19) on a 3-s clip: the CLI exits 0
    through the default (shared) engine with the whole-prompt profile."""
    model_dir = tmp_path / "model"
    code, _, err = run_cli(
        monkeypatch, capsys, "make-tiny-model", "--family", "qwen2-audio", "--out", model_dir
    )
    assert code == 0, err
    config_path = model_dir / "config.json"
    config = json.loads(config_path.read_text())
    config["text_config"].update(use_sliding_window=True, sliding_window=19, max_window_layers=2)
    config["text_config"].pop("layer_types", None)
    config_path.write_text(json.dumps(config))
    wav = tmp_path / "clip.wav"
    sf.write(wav, noise(3.0, seed=7), SR)
    out = tmp_path / "out.json"
    args = ("localize", wav, "-q", "a bell", "--model", model_dir, "--device", "cpu", "--json", out)
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    data = json.loads(out.read_text())
    assert data["config"]["engine"] == "shared" and data["config"]["probe"] == "fast"
    adapter = load_model(model_dir, device="cpu", dtype="float32")
    assert adapter.layer_types == ["full_attention"] * 2 + ["sliding_attention"] * 2
    assert set(data["config"]["probe_layers"]) <= {2, 3}  # the profile is read on the sliding layers
    whole = localize(adapter, wav, "a bell", LocalizeConfig(engine="full", probe="eager"))
    np.testing.assert_allclose(data["profile"]["base"], whole.profile.base, atol=1e-6)
    np.testing.assert_allclose(data["profile"]["delta"], whole.profile.delta, atol=1e-6)
    assert np.abs(whole.profile.delta).max() > 1e-8
    assert data["peak_s"] == pytest.approx(whole.peak_s)


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


@pytest.mark.parametrize("family", FAMILIES)
def test_the_limit_read_before_loading_holds_for_the_loaded_model(family: str, tmp_path: Path) -> None:
    """The command line refuses a file too long for a model folder before loading it
    (``checkpoint.audio_limit_s``, from the folder's files): never below the loaded model's limit, and
    equal to it where the files determine it (a family's own limit, or a feature extractor's chunk)."""
    from wheretolisten.models.checkpoint import audio_limit_s
    from wheretolisten.models.families import LIMITED_BY_CHUNK, MAX_AUDIO_S
    from wheretolisten.models.tiny import make_tiny_model

    folder = make_tiny_model(family, tmp_path / "model", seed=0)
    loaded = load_model(folder, device="cpu", dtype="float32").max_audio_limit_s
    limit = audio_limit_s(folder)
    assert limit is not None and limit >= loaded
    if family in LIMITED_BY_CHUNK or loaded == MAX_AUDIO_S[family]:
        assert limit == loaded
