"""The Python API as a notebook uses it: the shapes and types a researcher passes by mistake are read as
meant or refused with one wheretolisten error, never read as something else (found by a misuse hunt)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

from helpers import SR, noise
from wheretolisten.detections import DetectConfig
from wheretolisten.errors import AudioError, DataError, OptionError
from wheretolisten.localize import LocalizeConfig, alpha_sweep, localize, localize_many, prompted_profiles
from wheretolisten.models import Adapter
from wheretolisten.models.base import cache_param
from wheretolisten.steering import steering
from wheretolisten.vectors import SteeringVector


@pytest.fixture(scope="module")
def qwen(adapters: dict[str, Adapter]) -> Adapter:
    return adapters["qwen2-audio"]


CLIP = noise(2.0, seed=4)


def test_queries_one_string_is_one_query_and_a_generator_is_read_once(qwen: Adapter) -> None:
    one = localize_many(qwen, CLIP, "a siren", sample_rate=SR).results
    assert [r.query for r in one] == ["a siren"]  # was 7 queries, one per character
    both = localize_many(qwen, CLIP, (q for q in ["a siren", "a bell"]), sample_rate=SR).results
    assert [r.query for r in both] == ["a siren", "a bell"]  # was an empty result
    for bad in ([], [1, 2], None):
        with pytest.raises(OptionError):
            localize_many(qwen, CLIP, bad, sample_rate=SR)  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="strings"):
        localize(qwen, CLIP, ["a siren"], sample_rate=SR)  # type: ignore[arg-type]


def test_alpha_sweep_takes_arrays_and_numbers_and_refuses_the_rest(qwen: Adapter) -> None:
    sweep = alpha_sweep(qwen, CLIP, "a siren", np.linspace(0, 4, 3), sample_rate=SR)
    assert sweep.alphas == [0.0, 2.0, 4.0] and sweep.deltas.shape[0] == 3
    assert alpha_sweep(qwen, CLIP, "a siren", torch.tensor([2.0]), sample_rate=SR).alphas == [2.0]
    assert alpha_sweep(qwen, CLIP, "a siren", np.float64(2.0), sample_rate=SR).alphas == [2.0]
    for bad, message in (([], "at least one"), ([1e9], "finite number between"), ("ab", "numbers")):
        with pytest.raises(OptionError, match=message):
            alpha_sweep(qwen, CLIP, "a siren", bad, sample_rate=SR)  # type: ignore[arg-type]


def test_settings_of_the_wrong_type_are_refused_not_coerced(qwen: Adapter) -> None:
    bad = [
        LocalizeConfig(layers=5),  # type: ignore[arg-type]
        LocalizeConfig(layers="12"),  # type: ignore[arg-type]  (was layers [1, 2])
        LocalizeConfig(layers=[1.5]),  # type: ignore[list-item]  (was layer 1)
        LocalizeConfig(normalize="no"),  # type: ignore[arg-type]  (was True)
        LocalizeConfig(neutral_templates="abc"),  # type: ignore[arg-type]  (was three one-letter prompts)
    ]
    for config in bad:
        with pytest.raises(OptionError):
            localize(qwen, CLIP, "a siren", config, sample_rate=SR)
    with pytest.raises(OptionError, match="LocalizeConfig"):
        localize(qwen, CLIP, "a siren", {"layers": [1]}, sample_rate=SR)  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="DetectConfig"):
        localize(qwen, CLIP, "a siren", detection={"top_k": 2}, sample_rate=SR)  # type: ignore[arg-type]
    for kwargs in ({"top_k": 2.5}, {"top_k": "3"}, {"min_score": "1"}):
        with pytest.raises(OptionError):
            DetectConfig(**kwargs)  # type: ignore[arg-type]
    result = localize(qwen, CLIP, "a siren", LocalizeConfig(shifts=np.int64(2)), sample_rate=SR)  # type: ignore[arg-type]
    assert result.config.shifts == 2


def test_a_sample_rate_is_checked_and_an_assumed_one_is_named(qwen: Adapter) -> None:
    for rate in (0, -1, 16000.5):
        with pytest.raises(OptionError, match="sample_rate"):
            localize(qwen, CLIP, "a siren", sample_rate=rate)  # type: ignore[arg-type]
    at_44k = noise(qwen.max_audio_limit_s * 44100 / SR, seed=5)  # the longest clip, if it were 44.1 kHz
    with pytest.raises(AudioError, match="pass sample_rate="):
        localize(qwen, at_44k, "a siren")  # read at the assumed 16 kHz: too long


def test_a_steering_handle_serves_one_with_block_and_alpha_is_bounded(qwen: Adapter) -> None:
    batch = qwen.encode([CLIP], ["Describe the audio."])
    vector = SteeringVector({1: torch.ones(qwen.hidden_size)})
    handle = steering(qwen, vector, 1.0, batch)
    with handle, pytest.raises(OptionError, match="already in a with-block"), handle:
        pass
    with pytest.raises(OptionError, match="was removed"), handle:
        pass
    for alpha in (1e9, "x"):
        with pytest.raises(OptionError):
            steering(qwen, vector, alpha, batch)  # type: ignore[arg-type]


def test_a_steering_handle_refuses_a_batch_it_was_not_set_up_for(qwen: Adapter) -> None:
    """A handle built for one batch and run on another (shorter or longer prompts, other tokens) was
    steered as if the other batch were a decoding step, or at the first batch's positions: refused now;
    the batch itself, and generation from it on the KV cache, still run steered."""
    batch = qwen.encode([CLIP], ["Describe the audio."])
    vector = SteeringVector({1: torch.ones(qwen.hidden_size)})
    with torch.no_grad():
        plain = qwen.model(**batch).logits
        for other in (["Yes?"], ["Describe the audio in detail, please."], ["Describe the sound."]):
            with steering(qwen, vector, 1.0, batch), pytest.raises(OptionError, match="another batch"):
                qwen.model(**qwen.encode([CLIP], other))
        with steering(qwen, vector, 1.0, batch), pytest.raises(OptionError, match="beam search"):
            qwen.model.generate(**batch, max_new_tokens=2, num_beams=2, do_sample=False)
        with steering(qwen, vector, 1.0, batch):
            steered = qwen.model(**batch).logits
            out = qwen.model.generate(**batch, max_new_tokens=3, do_sample=False)
    assert not torch.allclose(plain, steered)  # the handle still steers its own batch
    assert out.shape[1] > batch["input_ids"].shape[1]  # generated on the cache, steered


def test_a_steering_handle_refuses_another_batch_s_cache_and_embeddings(qwen: Adapter) -> None:
    """A decoding step on the cache of a shorter batch, or of more rows, and embeddings of another shape
    were trusted as this batch's: refused now; this batch's own decoding step and embeddings still run."""
    batch = qwen.encode([CLIP], ["Describe the audio in detail, please."])
    short = qwen.encode([CLIP], ["Yes?"])
    two = qwen.encode([CLIP, CLIP], ["Describe the audio in detail, please."] * 2)
    vector = SteeringVector({1: torch.ones(qwen.hidden_size)})
    step = torch.tensor([[qwen.tokenizer.eos_token_id or 0]])
    embed = qwen.model.get_input_embeddings()
    kw = cache_param(qwen.model.forward)  # "cache" in newer transformers, "past_key_values" before
    with torch.no_grad():
        caches = {}
        for name, inputs in (("short", short), ("two", two), ("own", batch)):
            out = qwen.model(**inputs, use_cache=True)
            caches[name] = getattr(out, "cache", None) or out.past_key_values
        with steering(qwen, vector, 1.0, batch):
            with pytest.raises(OptionError, match="decoding step of 1 rows on a cache of"):
                qwen.model(input_ids=step, **{kw: caches["short"]})
            with pytest.raises(OptionError, match="decoding step of 2 rows"):
                qwen.model(input_ids=step.expand(2, 1), **{kw: caches["two"]})
            with pytest.raises(OptionError, match="embeddings of"):
                qwen.model(inputs_embeds=embed(short["input_ids"]))
            qwen.model(input_ids=step, **{kw: caches["own"]})
            qwen.model(inputs_embeds=embed(batch["input_ids"]))


def test_a_sample_rate_given_with_a_file_must_be_the_file_s(qwen: Adapter, tmp_path: Path) -> None:
    """``sample_rate=`` with a file path was ignored without notice: a different rate is refused, the
    file's own one accepted."""
    wav = tmp_path / "clip.wav"
    sf.write(wav, CLIP, SR)
    with pytest.raises(OptionError, match=f"is {SR} Hz but sample_rate=8000"):
        localize(qwen, wav, "a siren", sample_rate=8000)
    assert localize(qwen, wav, "a siren", sample_rate=SR).query == "a siren"


def test_a_setting_of_another_interval_is_refused_not_ignored(qwen: Adapter) -> None:
    """``window_s`` without the window interval, and ``fraction`` with it, were ignored without notice."""
    with pytest.raises(OptionError, match="window-s sets the span of the 'window' interval"):
        localize(qwen, CLIP, "a siren", LocalizeConfig(window_s=2.0), sample_rate=SR)
    with pytest.raises(OptionError, match="fraction applies to"):
        localize(qwen, CLIP, "a siren", LocalizeConfig(interval="window", fraction=0.3), sample_rate=SR)
    found = localize(qwen, CLIP, "a siren", LocalizeConfig(interval="window", window_s=0.5), sample_rate=SR)
    assert found.interval_s is not None
    assert found.interval_s[1] - found.interval_s[0] == pytest.approx(0.5, abs=0.05)


def test_a_malformed_steering_vector_is_refused_where_it_is_made() -> None:
    for directions in (
        {1: torch.full((8,), float("nan"))},
        {1: torch.ones(1, 8)},
        {},
        {1: torch.ones(4), 2: torch.ones(8)},
    ):
        with pytest.raises(DataError):
            SteeringVector(directions)


def test_a_span_an_array_for_a_file_and_a_bf16_tensor(qwen: Adapter, tmp_path: Path) -> None:
    """A bare number as span and an array given to the file calls are one OptionError (were TypeErrors);
    a bfloat16 tensor is read as audio like a float32 one (numpy cannot hold bfloat16)."""
    from wheretolisten.long import localize_file, localize_long

    wav = tmp_path / "clip.wav"
    sf.write(wav, CLIP, SR)
    with pytest.raises(OptionError, match="span must be"):
        localize(qwen, wav, "a siren", span=3)  # type: ignore[arg-type]
    for call in (localize_file, localize_long):
        with pytest.raises(OptionError, match="takes an audio file's path"):
            call(qwen, CLIP, ["a siren"])  # type: ignore[arg-type]
    as_bf16 = localize(qwen, torch.from_numpy(CLIP).to(torch.bfloat16), "a siren", sample_rate=SR)
    rounded = torch.from_numpy(CLIP).to(torch.bfloat16).float().numpy()
    assert np.array_equal(
        as_bf16.profile.delta, localize(qwen, rounded, "a siren", sample_rate=SR).profile.delta
    )


def test_steering_make_scenes_and_loud_arrays_say_what_is_wrong(
    qwen: Adapter, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """steering() without a vector or with a batch that is not encode()'s, make_scenes with a bank name
    or a fractional count: one OptionError each (were TypeError, KeyError, AttributeError); a float clip
    far outside [-1, 1] (integer PCM stored as floats) runs with one warning saying so."""
    import logging

    from wheretolisten.scenes import ProceduralBank, make_scenes

    batch = qwen.encode([CLIP], ["Describe the audio."])
    with pytest.raises(OptionError, match="vector must be"):
        steering(qwen, None, 1.0, batch)  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="attention_mask"):
        steering(
            qwen, SteeringVector({1: torch.ones(qwen.hidden_size)}), 1.0, {"input_ids": batch["input_ids"]}
        )
    with pytest.raises(OptionError, match="positions"):
        steering(qwen, SteeringVector({1: torch.ones(qwen.hidden_size)}), 1.0, batch, positions="nowhere")
    with pytest.raises(OptionError, match="bank must be a Bank"):
        make_scenes("procedural", 1, tmp_path / "a", progress=False)  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="whole number"):
        make_scenes(ProceduralBank(), 2.5, tmp_path / "b", progress=False)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="wheretolisten"):
        localize(qwen, CLIP * 3000.0, "a siren", sample_rate=SR)
    assert any("far outside [-1, 1]" in r.getMessage() for r in caplog.records)


def test_an_array_without_its_rate_is_warned_about_once(
    tiny_dirs: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """A 48-kHz array given without sample_rate= was read at 16 kHz (three times too long, every time
    wrong) without a word: one warning per model now; an array with its rate gets none."""
    from wheretolisten.models import load_model

    adapter = load_model(tiny_dirs["qwen2-audio"], device="cpu", dtype="float32")  # not warned yet
    with caplog.at_level("WARNING", logger="wheretolisten"):
        localize(adapter, CLIP, "a siren", sample_rate=SR)
        assert not any("sample_rate=" in r.getMessage() for r in caplog.records)
        localize(adapter, CLIP, "a siren")
        localize(adapter, CLIP, "a siren")
    assert sum("without sample_rate=" in r.getMessage() for r in caplog.records) == 1


def test_api_arguments_of_the_wrong_kind_are_one_error_before_the_work(qwen: Adapter, tmp_path: Path) -> None:
    """Each of these ran on a misread value (two queries sharing one saved vector's profile, α = True read
    as 1, a list as a query inside the prompt, another clip's engine) or failed deep in Python or torch."""
    from wheretolisten.engine import make_engine
    from wheretolisten.localize import instruction_vector, layer_delta, prompted_profiles
    from wheretolisten.long import localize_file, localize_long
    from wheretolisten.settings import resolve

    wav = tmp_path / "ten.wav"
    sf.write(wav, noise(12.0, seed=5), SR)
    vector = instruction_vector(qwen, CLIP, "a siren", sample_rate=SR)
    refused: list[tuple[Any, str]] = [
        (lambda: localize_long(qwen, wav, ["a siren", "a bell"], vector=vector), "give one query with it"),
        (lambda: localize_long(qwen, wav, ["a siren"], vector="v.safetensors"), "SteeringVector.load"),
        (lambda: localize_long(qwen, wav, ["a siren"], windows={"segment_s": 2}), "WindowConfig"),
        (lambda: localize_long(qwen, wav, ["a siren"], batch_windows=0), "batch_windows"),
        (lambda: localize_long(qwen, wav, ["a siren"], batch_windows=2.5), "batch_windows"),
        (lambda: localize_long(qwen, wav, ["a siren"], show_progress="no"), "show_progress"),
        (lambda: localize_file(qwen, wav, None), "queries must be strings"),
        (lambda: instruction_vector(qwen, CLIP, "a siren", layers=1, sample_rate=SR), "list of layer"),
        (lambda: layer_delta(qwen, CLIP, ["a siren"], sample_rate=SR), "queries must be strings"),
        (lambda: prompted_profiles(qwen, CLIP, ["a siren"], sample_rate=SR), "queries must be strings"),
        (
            lambda: prompted_profiles(qwen, CLIP, "a siren", template="Hear {sound}.", sample_rate=SR),
            "only use the placeholder {query}",
        ),
        (lambda: prompted_profiles(qwen, CLIP, "a siren", template=7, sample_rate=SR), "must be strings"),
        (lambda: localize(qwen, CLIP, "a siren", LocalizeConfig(alpha=True), sample_rate=SR), "number"),
        (lambda: localize(qwen, CLIP, "a siren", LocalizeConfig(alpha="2"), sample_rate=SR), "number"),
        (lambda: localize(qwen, CLIP, "a siren", LocalizeConfig(prompt=123), sample_rate=SR), "prompt"),
    ]
    other = make_engine(qwen, noise(3.0, seed=9), resolve(qwen, LocalizeConfig(alpha=0.0)))
    refused.append(
        (lambda: localize_many(qwen, CLIP, ["a siren"], engine=other, sample_rate=SR), "another model, clip")
    )
    for call, message in refused:
        with pytest.raises(OptionError, match=re.escape(message)):
            call()
    assert localize(qwen, CLIP, "a siren", LocalizeConfig(alpha=np.float32(2.0)), sample_rate=SR).peak_s
    own = make_engine(qwen, CLIP, resolve(qwen, None))
    assert localize_many(qwen, CLIP, ["a siren"], engine=own, sample_rate=SR).results
    assert localize_long(qwen, wav, ["a siren"], batch_windows=np.int64(2))[0].windows


def test_a_result_s_page_and_figure_draw_only_its_own_audio(qwen: Adapter, tmp_path: Path) -> None:
    """A 1-s clip under 4 s of curves, a rate given for a file, one bare gt tuple or a reversed event
    were drawn as given or failed deep in Python: one OptionError line each."""
    result = localize(qwen, CLIP, "a siren", sample_rate=SR)
    wav = tmp_path / "clip.wav"
    sf.write(wav, CLIP, SR)
    from_file = localize(qwen, wav, "a siren")
    for call, message in (
        (lambda: result.page(CLIP[: SR // 2], SR), "lasts 0.50 s"),
        (lambda: result.page(CLIP), "sample_rate= is needed"),
        (lambda: result.page(b"clip.wav"), "got bytes"),
        (lambda: from_file.page(sample_rate=44100), "is for an array"),
        (lambda: result.plot(CLIP, SR, gt=("siren", 1.0, 2.0)), "gt must be a list"),
        (lambda: result.plot(CLIP, SR, gt=[("siren", 2.0, 1.0)]), "ends before it starts"),
    ):
        with pytest.raises(OptionError, match=re.escape(message)):
            call()
    assert "<html" in result.page(CLIP, SR).lower() and "<html" in from_file.page().lower()
    assert result.plot(np.stack([CLIP, CLIP]), SR, gt=[("siren", 0.5, 1.0)]) is not None


def test_encode_takes_lists_of_mono_float_clips(qwen: Adapter) -> None:
    """The README's lower-level ``adapter.encode`` counted a stereo clip as twice its length, took int16
    unscaled and NaN into the features, and failed deep inside on a bare clip or a file name."""
    stereo = np.stack([CLIP, CLIP], axis=1)
    pcm = np.round(CLIP * 32767).astype(np.int16)
    nan = CLIP.copy()
    nan[100] = np.nan
    for audios, instructions, error, message in (
        (CLIP, "Describe.", OptionError, "takes a list of clips"),
        ([CLIP], "Describe.", OptionError, "takes a list of clips"),
        ([stereo], ["Describe."], OptionError, "mono float clips"),
        ([pcm], ["Describe."], OptionError, "mono float clips"),
        (["clip.wav"], ["Describe."], OptionError, "read a file"),
        ([nan], ["Describe."], AudioError, "NaN"),
        ([CLIP, CLIP], ["Describe."], OptionError, "one instruction per clip"),
    ):
        with pytest.raises(error, match=message):
            qwen.encode(audios, instructions)
    assert qwen.encode([torch.from_numpy(CLIP)], ["Describe."])["input_ids"].shape[0] == 1


def test_probe_layers_that_cannot_see_the_steering_are_refused(qwen: Adapter) -> None:
    """Probing only at or before the first steered layer gave Δ = 0 everywhere and "no peak", silently."""
    config = LocalizeConfig(layers=[2], probe_layers=[1, 2])
    with pytest.raises(OptionError, match="does not see the steering"):
        localize(qwen, CLIP, "a siren", config, sample_rate=SR)
    assert localize(qwen, CLIP, "a siren", LocalizeConfig(layers=[1], probe_layers=[2]), sample_rate=SR)
    # prompted attention does not steer: any layer may be read (organism/layers_by_class.py reads each)
    early = prompted_profiles(
        qwen, CLIP, "a siren", LocalizeConfig(layers=[2], probe_layers=[0]), sample_rate=SR
    )
    assert early.steered.shape == early.base.shape and np.isfinite(early.steered).all()


def test_steering_the_last_layer_without_probe_layers_is_refused(qwen: Adapter) -> None:
    """Steering the last layer with the default probe layers read that same layer: Δ = 0 everywhere and
    "no peak", silently (naming the probe layers was refused)."""
    last = qwen.num_layers - 1
    with pytest.raises(OptionError, match="is the last decoder layer"):
        localize(qwen, CLIP, "a siren", LocalizeConfig(layers=[last]), sample_rate=SR)
    assert localize(qwen, CLIP, "a siren", LocalizeConfig(layers=[last - 1]), sample_rate=SR)


def test_vectors_are_not_read_at_the_audio_positions(adapters: dict[str, Adapter]) -> None:
    """A vector read at the audio positions is float noise (the audio precedes the instruction in every
    core family's prompt, so a causal model's activations there do not depend on it), and its Δ was read
    as a confident peak that moved with the batch (6.82 s alone, 0.02 s among four queries)."""
    for adapter in adapters.values():
        ids = adapter.prompt_ids("Listen for the dog barking.", 5)
        start, _ = adapter.instruction_span(torch.tensor(ids))
        audio = [i for i, t in enumerate(ids) if t == adapter.audio_token_id]
        assert len(audio) == 5 and max(audio) < start, adapter.family
        with pytest.raises(OptionError, match="vector would be zero"):
            localize(adapter, CLIP, "a siren", LocalizeConfig(read_positions="audio"), sample_rate=SR)
    for positions in ("last", "instruction", "text", "all"):
        assert localize(
            adapters["qwen2-audio"], CLIP, "a siren", LocalizeConfig(read_positions=positions), sample_rate=SR
        )


def test_make_tiny_model_keeps_the_users_files_and_random_state(tmp_path: Path) -> None:
    """make_tiny_model replaced a folder's config.json unasked, wrote a model into the working folder for
    out="", and reset the caller's torch random state."""
    from wheretolisten.errors import OutputError
    from wheretolisten.models.tiny import make_tiny_model

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"mine": true}')
    with pytest.raises(OutputError, match="not empty"):
        make_tiny_model("qwen2-audio", mine)
    assert (mine / "config.json").read_text() == '{"mine": true}'
    for bad in ("", "  "):
        with pytest.raises(OptionError, match="must name a folder"):
            make_tiny_model("qwen2-audio", bad)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    make_tiny_model("qwen2-audio", tmp_path / "new")
    assert torch.equal(torch.rand(3), expected)
    assert (
        make_tiny_model("qwen2-audio", mine, overwrite=True) == mine
        and '"mine"' not in (mine / "config.json").read_text()
    )


def test_text_with_a_special_token_is_refused(qwen: Adapter) -> None:
    """``<|AUDIO|>`` in a query gave a result on the shared engine and a bare transformers ValueError on
    whole prompts and in steered_generate (the processor found more audio tokens than clips)."""
    from wheretolisten.steering import steered_generate

    for config in (LocalizeConfig(), LocalizeConfig(engine="full"), LocalizeConfig(probe="eager")):
        with pytest.raises(OptionError, match="special token"):
            localize(qwen, CLIP, "<|AUDIO|>", config, sample_rate=SR)
    with pytest.raises(OptionError, match=re.escape("contains '<|im_end|>'")):
        localize(qwen, CLIP, "a siren<|im_end|>", sample_rate=SR)
    vector = localize(qwen, CLIP, "a siren", sample_rate=SR).vector
    with pytest.raises(OptionError, match="special token"):
        steered_generate(qwen, CLIP, vector, 1.0, prompt="What <|AUDIO|>?", max_new_tokens=2)
    assert "<|AUDIO|>" in qwen.special_texts and "<|im_start|>" in qwen.special_texts
    assert localize(qwen, CLIP, "a siren <|audio", sample_rate=SR)  # not a whole token: words


def test_saving_a_vector_checks_both_files_and_keeps_its_precision(tmp_path: Path) -> None:
    """SteeringVector.save wrote ``v.safetensors`` before finding ``v.json`` was a folder, read
    overwrite="no" as true (replacing the user's JSON), wrote ``dir.safetensors`` beside a folder it was
    given, and stored float64 directions as float32 (the loaded vector was not equal)."""
    from wheretolisten.errors import OutputError

    vec = SteeringVector({1: torch.arange(4, dtype=torch.float64) / 3}, {"query": "x"})
    (tmp_path / "v.json").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        vec.save(tmp_path / "v")
    assert not (tmp_path / "v.safetensors").exists()
    (tmp_path / "res.json").write_text('{"mine": 1}')
    with pytest.raises(OptionError, match="True or False"):
        vec.save(tmp_path / "res", overwrite="no")  # type: ignore[arg-type]
    assert (tmp_path / "res.json").read_text() == '{"mine": 1}'
    folder = tmp_path / "vectors"
    folder.mkdir()
    for name in (folder, f"{folder}/", str(tmp_path / "new") + "/"):
        with pytest.raises(OptionError, match="is a folder"):
            vec.save(name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res.json", "v.json", "vectors"]
    for dtype in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
        made = SteeringVector({2: (torch.arange(4) / 3).to(dtype)})
        loaded = SteeringVector.load(made.save(tmp_path / f"d_{str(dtype)[6:]}"))
        assert loaded.directions[2].dtype == dtype and torch.equal(loaded.directions[2], made.directions[2])


def test_bad_detection_settings_and_foreign_vectors_are_refused_before_any_pass(qwen: Adapter) -> None:
    """A ``detection`` dict, and a vector of another hidden size or without the steered layer, were
    refused only after the audio prefixes and the vector pass had run."""
    from wheretolisten.errors import ModelError

    passes = []
    handle = qwen.model.register_forward_pre_hook(lambda *_: passes.append(1))
    try:
        for call in (
            lambda: localize(qwen, CLIP, "a siren", detection={"top_k": 1}, sample_rate=SR),  # type: ignore[arg-type]
            lambda: localize_many(qwen, CLIP, ["a siren"], detection={"top_k": 1}, sample_rate=SR),  # type: ignore[arg-type]
        ):
            with pytest.raises(OptionError, match="detection"):
                call()
        assert passes == []
        layers = localize(qwen, CLIP, "a siren", sample_rate=SR).config.layers
        assert passes  # the hook sees the passes
        passes.clear()
        wide = SteeringVector({layer: torch.ones(qwen.hidden_size + 1) for layer in layers})
        other = SteeringVector({max(layers) + 1: torch.ones(qwen.hidden_size)})
        for vector, message in ((wide, "dimensions"), (other, "no direction for layer")):
            with pytest.raises(ModelError, match=message):
                localize(qwen, CLIP, "a siren", LocalizeConfig(layers=layers), vector=vector, sample_rate=SR)
        assert passes == []
    finally:
        handle.remove()


def test_steered_generate_and_audio_vector_check_their_inputs(qwen: Adapter) -> None:
    """steered_generate took no vector, an empty prompt, max_new_tokens 0 or 2.5, a string α and unknown
    positions to bare AttributeError / transformers errors or silently; a clip of 0-1 samples (it or
    audio_vector) failed inside the front end, and audio_vector took a path to an AttributeError."""
    from wheretolisten.localize import audio_vector
    from wheretolisten.steering import steered_generate

    vector = localize(qwen, CLIP, "a siren", sample_rate=SR).vector
    for kwargs, error, message in (
        ({"vector": None}, OptionError, "must be a SteeringVector"),
        ({"vector": "v.safetensors"}, OptionError, "must be a SteeringVector"),
        ({"prompt": " "}, OptionError, "non-empty string"),
        ({"max_new_tokens": 0}, OptionError, "whole number >= 1"),
        ({"max_new_tokens": 2.5}, OptionError, "whole number >= 1"),
        ({"max_new_tokens": True}, OptionError, "whole number >= 1"),
        ({"alpha": "4"}, OptionError, "alpha"),
        ({"alpha": float("nan")}, OptionError, "alpha"),
        ({"positions": "x"}, OptionError, "positions"),
        ({"audio": CLIP[:1]}, AudioError, "at least"),
        ({"audio": CLIP[:0]}, AudioError, "at least"),
    ):
        call = {"audio": CLIP, "vector": vector, "alpha": 1.0, "max_new_tokens": 2, **kwargs}
        with pytest.raises(error, match=message):
            steered_generate(qwen, **call)  # type: ignore[arg-type]
    base, steered = steered_generate(qwen, CLIP, vector, 1.0, max_new_tokens=2)
    assert isinstance(base, str) and isinstance(steered, str)
    with pytest.raises(AudioError, match="at least"):
        audio_vector(qwen, CLIP, CLIP[:1])
    with pytest.raises(OptionError, match="mono array"):
        audio_vector(qwen, "clip.wav", CLIP)  # type: ignore[arg-type]


def test_strongest_is_the_top_detection_when_there_are_detections() -> None:
    """With the shipped model's edges, ``result.strongest()`` gave (1.52, 2.72) s while its top detection
    was (1.52, 2.84) s, the same candidate with its edges moved to the audio."""
    from wheretolisten.organism import demo_scene, load_organism

    organism = load_organism(device="cpu")
    _, clip = demo_scene(0)
    result = localize(organism, clip, "chirping", sample_rate=16000)
    assert result.detection.edges and result.detections
    top = max(result.detections, key=lambda d: d.score)
    assert result.strongest() == top
    none_pass = localize(organism, clip, "chirping", sample_rate=16000, detection=DetectConfig(min_score=1e9))
    candidate = none_pass.strongest()
    assert not none_pass.detections and candidate is not None and candidate.score == pytest.approx(top.score)


def test_length_and_vector_messages_say_what_is_wrong(qwen: Adapter, tmp_path: Path) -> None:
    """A clip one sample over the limit was "10.00 s long ... accepts at most 10 s"; two queries with a
    saved vector in localize_long read "give one query with a saved vector, or at least one query"."""
    from wheretolisten.errors import ModelError, over_limit_s
    from wheretolisten.long import localize_long
    from wheretolisten.organism import load_organism

    assert (over_limit_s(10 + 1 / 16000, 10), over_limit_s(20, 10), over_limit_s(10.004, 10)) == (
        "10.0001",
        "20.00",
        "10.004",
    )
    organism = load_organism(device="cpu")
    over = noise(10.0, seed=3)
    with pytest.raises(ModelError, match=r"10\.0001 s long"):
        organism.encode([np.concatenate([over, over[:1]])], ["Describe the audio."])
    vector = localize(qwen, CLIP, "a siren", sample_rate=SR).vector
    wav = tmp_path / "long.wav"
    sf.write(wav, noise(40.0, seed=4), SR)
    with pytest.raises(OptionError, match="give one query with it, got 2"):
        localize_long(qwen, wav, ["a", "b"], vector=vector)


def test_a_resolved_config_made_by_hand_is_checked_like_a_given_one(qwen: Adapter) -> None:
    """A Resolved passed as ``config`` had only its layers checked: engine="foo" ran the full engine,
    interval="foo" the window rule, shifts=0 and an instructed template without {query} were taken."""
    import dataclasses

    from wheretolisten.settings import resolve

    good = resolve(qwen, LocalizeConfig())
    assert resolve(qwen, good) == good and good.resolved(qwen) == good
    for change, message in (
        ({"positions": "foo"}, "unknown positions"),
        ({"engine": "foo"}, "unknown engine"),
        ({"interval": "foo"}, "unknown interval"),
        ({"shifts": 0}, "shifts"),
        ({"prompt": ""}, "prompt"),
        ({"instructed_templates": ["hi"]}, "query"),
        ({"neutral_templates": []}, "at least one"),
        ({"alpha": float("nan")}, "alpha"),
        ({"fraction": 2.0}, "fraction"),
        ({"probe_layers": list(good.layers)}, "does not see the steering"),
        ({"read_positions": "audio"}, "vector would be zero"),
    ):
        with pytest.raises(OptionError, match=message):
            localize(qwen, CLIP, "a siren", dataclasses.replace(good, **change), sample_rate=SR)


def test_spans_and_strengths_must_be_numbers(qwen: Adapter, tmp_path: Path) -> None:
    """span=("1", "2"), alpha_sweep's [True, False] or a 2-D array, and steering(alpha="1") were read as
    numbers; a bool or a string is a mistake, as everywhere else."""
    wav = tmp_path / "clip.wav"
    sf.write(wav, CLIP, SR)
    with pytest.raises(OptionError, match="numbers of seconds"):
        localize(qwen, wav, "a siren", span=("0.5", "2"))  # type: ignore[arg-type]
    assert localize(qwen, wav, "a siren", span=(np.float32(0.5), None)).audio.start_s == 0.5
    for alphas in ([True, False], np.ones((2, 2)), "2"):
        with pytest.raises(OptionError, match="numbers"):
            alpha_sweep(qwen, CLIP, "a siren", alphas, sample_rate=SR)  # type: ignore[arg-type]
    batch = qwen.encode([CLIP], ["Describe the audio."])
    vector = SteeringVector({1: torch.ones(qwen.hidden_size)})
    for alpha in ("1", True, [[1.0]]):
        with pytest.raises(OptionError, match="numbers"):
            steering(qwen, vector, alpha, batch)  # type: ignore[arg-type]


def test_an_overflowing_steered_pass_is_one_error_naming_alpha(tiny_dirs: dict[str, Path]) -> None:
    """In float16 a huge α overflowed the steered pass; the NaN profile ended in a bare ValueError
    ("the Δ profile is empty or not finite"), a traceback on the command line."""
    from wheretolisten.readout import ReadoutRule, apply_rule

    base = np.full(10, 0.1)
    with pytest.raises(DataError, match="overflowed"):
        apply_rule(ReadoutRule(peak="delta", interval="threshold"), None, 0.04, 10, (base, base * np.nan))
    from wheretolisten.models import load_model

    half = load_model(tiny_dirs["qwen2-audio"], device="cpu", dtype="float16")
    vector = SteeringVector({1: torch.full((half.hidden_size,), 60000.0)})
    with pytest.raises(DataError, match="overflowed"):
        localize(half, CLIP, "a siren", LocalizeConfig(layers=[1], alpha=1000.0), SR, vector=vector)


def test_metrics_and_scene_builders_name_what_is_wrong(tmp_path: Path) -> None:
    """Malformed arguments were a KeyError (an event without a label), scipy's error (n_boot=0), silently
    nothing matched (a negative collar), a TypeError / AttributeError (make_scene with n_events=2.5 or no
    rng) or numpy's bare ValueError (make_scenes with seed=-1)."""
    from wheretolisten.metrics.events import event_f1
    from wheretolisten.metrics.stats import bootstrap_ci
    from wheretolisten.scenes import ProceduralBank, make_scenes
    from wheretolisten.scenes.synthesis import make_scene

    ref = [{"onset": 1.0, "offset": 2.0, "event_label": "siren"}]
    with pytest.raises(ValueError, match="event_label"):
        event_f1([{"onset": 1.0, "offset": 2.0}], ref)
    with pytest.raises(ValueError, match="offset"):
        event_f1([{"onset": 1.0, "event_label": "siren"}], ref)
    with pytest.raises(ValueError, match="t_collar"):
        event_f1(ref, ref, t_collar=-1)
    assert event_f1(ref, ref)["f1"] == 1.0
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_ci([0.1, 0.2, 0.3], n_boot=0)
    bank, rng = ProceduralBank(), np.random.default_rng(0)
    for kwargs, message in (
        ({"n_events": 2.5}, "whole number"),
        ({"n_events": "3"}, "whole number"),
        ({"duration_s": "10"}, "duration_s must be a number"),
        ({"sample_rate": 16000.5}, "sample_rate a whole number"),
        ({"rng": None}, "numpy Generator"),
    ):
        with pytest.raises(OptionError, match=message):
            make_scene(bank, **{"rng": rng, "scene_id": "s", **kwargs})  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="seed must be"):
        make_scenes(bank, 1, tmp_path / "s", seed=-1, progress=False)
    assert not (tmp_path / "s").exists()
