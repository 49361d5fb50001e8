from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import noise
from wheretolisten.errors import DataError, ModelError, OptionError
from wheretolisten.localize import LocalizeConfig, audio_vector, instruction_vector
from wheretolisten.models import Adapter
from wheretolisten.positions import Positions, position_mask
from wheretolisten.steering import add_steering, read_residual, steering
from wheretolisten.vectors import SteeringVector

PROMPTS = ["Listen for the dog barking.", "Describe the audio."]


def random_vector(adapter: Adapter, layers: list[int], seed: int = 0, scale: float = 1.0) -> SteeringVector:
    g = torch.Generator().manual_seed(seed)
    return SteeringVector({layer: torch.randn(adapter.hidden_size, generator=g) * scale for layer in layers})


def last_logits(adapter: Adapter, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    from wheretolisten.positions import last_positions

    with torch.no_grad():
        logits = adapter.model(**batch, use_cache=False).logits
    idx = last_positions(batch["attention_mask"])
    return logits[torch.arange(logits.shape[0]), idx]


@pytest.mark.parametrize("positions", [p.value for p in Positions])
def test_position_masks_agree_across_padding_sides(adapter: Adapter, positions: str) -> None:
    clips = [noise(2.0), noise(3.0, seed=1)]
    left = adapter.encode(clips, PROMPTS, "left")
    right = adapter.encode(clips, PROMPTS, "right")
    ml = position_mask(adapter, left["input_ids"], left["attention_mask"], positions)
    mr = position_mask(adapter, right["input_ids"], right["attention_mask"], positions)
    for row in range(2):
        # The same tokens are selected, whatever side the padding is on.
        assert torch.equal(left["input_ids"][row][ml[row]], right["input_ids"][row][mr[row]])
        assert int(ml[row].sum()) > 0
    assert not (ml & ~left["attention_mask"].bool()).any()


@pytest.mark.parametrize("padding_side", ["left", "right"])
@pytest.mark.parametrize("positions", ["last", "instruction", "audio", "all"])
def test_batched_steering_equals_unbatched(adapter: Adapter, padding_side: str, positions: str) -> None:
    clips = [noise(2.0), noise(3.5, seed=1)]
    vec = random_vector(adapter, [1, 2])
    batch = adapter.encode(clips, PROMPTS, padding_side)
    with steering(adapter, vec, 3.0, batch, positions):
        batched = last_logits(adapter, batch)
    plain = last_logits(adapter, batch)
    for row in range(2):
        single = adapter.encode(clips[row : row + 1], PROMPTS[row : row + 1])
        with steering(adapter, vec, 3.0, single, positions):
            alone = last_logits(adapter, single)[0]
        torch.testing.assert_close(batched[row], alone, atol=1e-4, rtol=1e-4)
        assert not torch.allclose(batched[row], plain[row], atol=1e-4)  # steering did something


def test_alpha_zero_is_the_identity_and_hooks_are_removed(adapter: Adapter) -> None:
    batch = adapter.encode([noise(2.0)], PROMPTS[:1])
    vec = random_vector(adapter, [0, 1])
    before = last_logits(adapter, batch)
    with steering(adapter, vec, 0.0, batch, "all"):
        torch.testing.assert_close(last_logits(adapter, batch), before)
    with steering(adapter, vec, 2.0, batch, "all"):
        assert not torch.allclose(last_logits(adapter, batch), before)
    torch.testing.assert_close(last_logits(adapter, batch), before)  # hooks gone after the block
    handle = add_steering(adapter, vec, 2.0, batch, "all")
    handle.remove()
    torch.testing.assert_close(last_logits(adapter, batch), before)


def test_per_row_selection_and_alphas(adapter: Adapter) -> None:
    clip = noise(2.0)
    batch = adapter.encode([clip, clip], PROMPTS[1:] * 2)
    vec = random_vector(adapter, [1])
    with steering(adapter, vec, 2.0, batch, "last", rows=[False, True]):
        out = last_logits(adapter, batch)
    plain = last_logits(adapter, batch)
    torch.testing.assert_close(out[0], plain[0])
    assert not torch.allclose(out[1], plain[1])
    with pytest.raises(ValueError, match="alphas"):
        add_steering(adapter, vec, [1.0, 2.0, 3.0], batch)


def test_rows_hold_one_bool_per_row_and_vectors_are_vectors(adapter: Adapter) -> None:
    """rows=[False] broadcast to both rows, [True, False, True] was a torch RuntimeError, ['no', 'no'] a
    ValueError, [0.5, 0.0] steered row 0; a path among the vectors was an AttributeError. numpy bools
    and a bool tensor of the right length select rows like a list of bools."""
    clip = noise(2.0)
    batch = adapter.encode([clip, clip], PROMPTS[1:] * 2)
    vec = random_vector(adapter, [1])
    for rows in ([False], [True, False, True], ["no", "no"], [0.5, 0.0], [1, 0], "ab", torch.ones(2)):
        with pytest.raises(OptionError, match="one True or False per row"):
            add_steering(adapter, vec, 2.0, batch, rows=rows)  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="vector 1 must be a SteeringVector"):
        add_steering(adapter, [vec, "dog.safetensors"], 2.0, batch)  # type: ignore[list-item]
    plain = last_logits(adapter, batch)
    for rows in ([np.False_, np.True_], np.array([False, True]), torch.tensor([False, True])):
        with steering(adapter, vec, 2.0, batch, "last", rows=rows):  # type: ignore[arg-type]
            out = last_logits(adapter, batch)
        torch.testing.assert_close(out[0], plain[0])
        assert not torch.allclose(out[1], plain[1])


@pytest.mark.parametrize("positions", ["last", "all", "instruction"])
@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_generation_with_kv_cache_matches_cacheless_generation(
    adapter: Adapter, positions: str, padding_side: str
) -> None:
    clips = [noise(1.5), noise(2.5, seed=1)]
    batch = adapter.encode(clips, PROMPTS, padding_side="left")
    vec = random_vector(adapter, [1, 2], scale=4.0)
    kwargs = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": adapter.tokenizer.pad_token_id}
    with steering(adapter, vec, 2.0, batch, positions):
        cached = adapter.model.generate(**batch, use_cache=True, **kwargs)
        uncached = adapter.model.generate(**batch, use_cache=False, **kwargs)
    plain = adapter.model.generate(**batch, use_cache=True, **kwargs)
    assert torch.equal(cached, uncached)
    assert cached.shape[1] == batch["input_ids"].shape[1] + 6
    assert not torch.equal(cached, plain)


def test_wrong_batch_size_is_refused(adapter: Adapter) -> None:
    batch = adapter.encode([noise(1.0)], PROMPTS[:1])
    other = adapter.encode([noise(1.0), noise(1.0)], PROMPTS)
    with (
        steering(adapter, random_vector(adapter, [1]), 1.0, batch),
        pytest.raises(OptionError, match="another batch"),  # before any layer runs
    ):
        adapter.model(**other)


def test_out_of_range_layer(adapter: Adapter) -> None:
    batch = adapter.encode([noise(1.0)], PROMPTS[:1])
    vec = random_vector(adapter, [adapter.num_layers])
    with pytest.raises(ModelError, match="out of range"):
        add_steering(adapter, vec, 1.0, batch)


def test_instruction_vector_is_the_mean_difference(adapter: Adapter) -> None:
    clip = noise(2.0)
    templates = {
        "instructed_templates": ["Listen for {query}."],
        "neutral_templates": ["Describe the audio."],
    }
    vec = instruction_vector(adapter, clip, "a siren", LocalizeConfig(layers=[1, 2], **templates))
    batch = adapter.encode([clip, clip], ["Listen for a siren.", "Describe the audio."])
    acts = read_residual(adapter, batch, [1, 2], "last")
    for layer in (1, 2):
        torch.testing.assert_close(vec.directions[layer], acts[layer][0] - acts[layer][1])
    other = instruction_vector(adapter, clip, "a bell ringing", layers=[1])
    assert not torch.allclose(
        other.directions[1], instruction_vector(adapter, clip, "a siren", layers=[1]).directions[1]
    )
    assert vec.metadata["kind"] == "instruction" and vec.metadata["query"] == "a siren"


def test_instruction_span_reading_averages_the_span(adapter: Adapter) -> None:
    clip = noise(2.0)
    vec_last = instruction_vector(adapter, clip, "a siren", LocalizeConfig(layers=[1], read_positions="last"))
    span = LocalizeConfig(layers=[1], read_positions="instruction")
    vec_span = instruction_vector(adapter, clip, "a siren", span)
    assert not torch.allclose(vec_last.directions[1], vec_span.directions[1])


def test_audio_vector(adapter: Adapter) -> None:
    clip = noise(2.0)
    quiet = clip.copy()
    quiet[8000:24000] *= 0.01
    vec = audio_vector(adapter, clip, quiet, layers=[1])
    assert float(vec.directions[1].norm()) > 0
    same = audio_vector(adapter, clip, clip, layers=[1])
    assert float(same.directions[1].norm()) == pytest.approx(0.0, abs=1e-6)
    assert vec.metadata["kind"] == "audio"


def test_save_load_round_trip(tmp_path: Path, adapter: Adapter) -> None:
    vec = instruction_vector(adapter, noise(2.0), "a siren", layers=[1, 2])
    path = vec.save(tmp_path / "vecs" / "siren")
    assert path.suffix == ".safetensors" and path.with_suffix(".json").exists()
    loaded = SteeringVector.load(path)
    assert loaded.layers == [1, 2]
    for layer in (1, 2):
        torch.testing.assert_close(loaded.directions[layer], vec.directions[layer])
    meta = loaded.metadata
    assert meta["model"] == adapter.name and meta["family"] == adapter.family
    assert meta["layers"] == [1, 2] and meta["positions"] == "last"
    assert meta["instructed_templates"][0] == "Listen for {query}."
    assert meta["norms"]["1"] == pytest.approx(float(vec.directions[1].norm()))
    assert not list(tmp_path.rglob("*.tmp"))
    # No pickle: the file is plain safetensors.
    assert path.read_bytes()[8:9] == b"{"


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such"):
        SteeringVector.load(tmp_path / "nope.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(np.arange(10, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match="not a readable"):
        SteeringVector.load(bad)


def test_cosine_between_vectors() -> None:
    a = SteeringVector({1: torch.tensor([1.0, 0.0]), 2: torch.tensor([1.0, 1.0]), 3: torch.zeros(2)})
    b = SteeringVector({1: torch.tensor([0.0, 2.0]), 2: torch.tensor([-3.0, -3.0]), 3: torch.ones(2)})
    cos = a.cosine(b)
    assert cos[1] == pytest.approx(0.0) and cos[2] == pytest.approx(-1.0) and np.isnan(cos[3])
    assert a.cosine(SteeringVector({5: torch.ones(2)})) == {}
    with pytest.raises(DataError, match="dimensions"):
        a.cosine(SteeringVector({1: torch.ones(3)}))


def test_cli_vector_build_and_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No --model: the shipped organism; its recommended steering layer is the default."""
    import soundfile as sf

    from helpers import run_cli
    from wheretolisten.organism import default_model_path

    wav = tmp_path / "clip.wav"
    sf.write(wav, noise(4.0, seed=3), 16000)
    for name, query in (("bell", "a bell ringing"), ("siren", "a siren")):
        code, stdout, err = run_cli(
            monkeypatch, capsys, "vector", "build", wav, "-q", query, "--out", tmp_path / name
        )
        assert code == 0, err
        assert stdout.startswith(f"wrote {tmp_path / name}.safetensors")
    bell = SteeringVector.load(tmp_path / "bell.safetensors")
    tuned = json.loads((default_model_path() / "wheretolisten.json").read_text())["localize"]["layers"]
    assert bell.layers == tuned and bell.metadata["audio"] == str(wav)
    code, stdout, err = run_cli(
        monkeypatch, capsys, "vector", "show", tmp_path / "bell.safetensors", tmp_path / "siren.safetensors"
    )
    assert code == 0, err
    assert "query: a bell ringing" in stdout and "query: a siren" in stdout
    expected = bell.cosine(SteeringVector.load(tmp_path / "siren.safetensors"))
    layer = bell.layers[0]
    assert f"cosine bell.safetensors vs siren.safetensors: {layer}: {expected[layer]:+.3f}" in stdout
    code, _, err = run_cli(monkeypatch, capsys, "vector", "show", tmp_path / "nope.safetensors")
    assert code == 2 and "no such steering-vector file" in err


def test_steered_generate_differs_only_when_steered(adapter: Adapter) -> None:
    from wheretolisten.steering import steered_generate

    clip = noise(2.0, seed=4)
    vec = random_vector(adapter, [1, 2], scale=4.0)
    base, same = steered_generate(adapter, clip, vec, 0.0, max_new_tokens=8)
    assert base == same
    base2, steered = steered_generate(adapter, clip, vec, 3.0, max_new_tokens=8)
    assert base2 == base and steered != base


def test_cli_generate(
    tmp_path: Path,
    tiny_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import soundfile as sf

    from helpers import run_cli

    wav = tmp_path / "clip.wav"
    sf.write(wav, noise(3.0, seed=6), 16000)
    model = ["--model", tiny_dirs["audioflamingo3"], "--device", "cpu", "--max-new-tokens", "5"]
    code, stdout, err = run_cli(monkeypatch, capsys, "generate", wav, "-q", "a siren", "--alpha", "6", *model)
    assert code == 0, err
    lines = stdout.splitlines()
    assert lines[0] == "prompt: Describe the audio." and lines[1].startswith("unsteered: ")
    assert lines[2].startswith("steered towards 'a siren' (layers [") and "α = 6" in lines[2]
    code, _, err = run_cli(monkeypatch, capsys, "generate", wav, *model)
    assert code == 2 and "--query" in err


def test_cli_generate_steers_the_answer_only_with_steer_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """README: ``generate`` steers the prompt only unless ``--steer-answer`` (the shipped model: the same
    unsteered answer, another steered one)."""
    from helpers import run_cli
    from wheretolisten.scenes import ProceduralBank, make_scenes

    make_scenes(ProceduralBank(), 1, tmp_path / "s", seed=3, progress=False)
    wav = tmp_path / "s" / "audio" / "scene_00000.wav"
    args = ("generate", wav, "-q", "a siren", "--max-new-tokens", "12")
    code, prompt_only, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    code, every_token, err = run_cli(monkeypatch, capsys, *args, "--steer-answer")
    assert code == 0, err
    first, second = prompt_only.splitlines(), every_token.splitlines()
    assert first[1] == second[1] and first[1].startswith("unsteered: ")
    assert first[2].startswith("steered towards") and first[2] != second[2]


def test_cli_generate_names_the_saved_vector_it_steers_with(
    tmp_path: Path,
    tiny_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``generate -q 'a siren' --vector tone.safetensors`` printed "steered towards 'a siren'" while it
    steered with the tone's vector."""
    import soundfile as sf

    from helpers import run_cli

    wav = tmp_path / "clip.wav"
    sf.write(wav, noise(3.0, seed=6), 16000)
    model = ["--model", tiny_dirs["audioflamingo3"], "--device", "cpu", "--max-new-tokens", "3"]
    code, _, err = run_cli(
        monkeypatch, capsys, "vector", "build", wav, "-q", "a tone", "--out", tmp_path / "tone", *model[:4]
    )
    assert code == 0, err
    args = ("generate", wav, "-q", "a siren", "--vector", tmp_path / "tone.safetensors", *model)
    code, stdout, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    line = stdout.splitlines()[2]
    assert line.startswith("steered towards the vector tone.safetensors (built for 'a tone')"), line
