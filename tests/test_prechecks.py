"""Bad input that needs no model is refused before torch is imported: one stderr line, exit 2.

Each case runs the command line's ``main`` in a fresh interpreter and reports, at the moment of the
refusal, whether ``torch`` is in ``sys.modules``: a check that ran after the model was loaded fails
here whatever the machine's speed (no timed test; ``benchmarks/startup.py`` measures the seconds).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import SR, noise
from wheretolisten.models.checkpoint import (
    INDEX_SUFFIX,
    check_folder,
    decoder_layers,
    parameter_count,
    read_config,
    weight_files,
)
from wheretolisten.organism import default_model_path

#: Runs ``wheretolisten ARGS`` in this fresh interpreter, then prints whether torch was imported.
RUNNER = """
import json, sys
from wheretolisten import cli
try:
    cli.main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
loaded = {name: name in sys.modules for name in ("torch", "transformers")}
print(json.dumps({"code": code, **loaded}))
"""


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("prechecks")
    sf.write(root / "clip.wav", noise(3.0, seed=1), SR)
    sf.write(root / "silent.wav", np.zeros(2 * SR, dtype=np.float32), SR)
    sf.write(root / "long.wav", noise(12.0, seed=3), SR)  # longer than the shipped model's 10 s
    os.mkfifo(root / "pipe.json")  # a named pipe: a rename would put a regular file in its place
    late = noise(3.0, seed=2)
    late[int(2.5 * SR)] = np.nan  # one bad sample deep in the file
    sf.write(root / "nan_late.wav", late, SR, subtype="FLOAT")
    shipped = default_model_path()
    for name in ("truncated", "noconfig", "noweights", "pickled", "notokenizer"):
        shutil.copytree(shipped, root / name)
    for file in (root / "notokenizer").glob("tokenizer*"):  # transformers loaded a stand-in without audio
        file.unlink()
    weights = weight_files(root / "truncated")[-1]  # one file, or the last shard
    weights.write_bytes(weights.read_bytes()[:-1000])
    (root / "noconfig" / "config.json").unlink()
    for file in [*(root / "noweights").glob("*.safetensors*"), *(root / "pickled").glob("*.safetensors*")]:
        if file.parent.name == "pickled" and file.suffix == ".safetensors":
            file.rename(file.with_suffix(".bin"))
        else:
            file.unlink()
    (root / "prun").mkdir()  # a protocol run's folder, of another protocol than the built-in one
    (root / "prun" / "protocol.json").write_text(json.dumps({"protocol": {"bank": "x"}, "model": "m"}))
    sets = '[dev]\nname = "dev"\nn = 4\nseed = 1\n\n[[tests]]\nname = "t"\nn = 4\nseed = 2\n'
    sets += "\n[tests.options]\n"
    (root / "badopt.toml").write_text(sets + "backgroundd_db = [-10.0, -10.0]\n")  # a typo in a set option
    (root / "badbank.toml").write_text(sets + 'bank = "nosuchbank"\n')
    (root / "badevents.toml").write_text(sets.replace("seed = 2\n", "seed = 2\nevents = 40\n"))
    (root / "longclips.toml").write_text(sets.replace("seed = 2\n", "seed = 2\nduration_s = 20.0\n"))
    (root / "r.jsonl").write_text("{}\n")  # stands for a results file that must not be replaced
    (root / "notes.txt").write_text("my notes\n")  # not a localize log
    from wheretolisten.scenes import ProceduralBank, make_scenes

    make_scenes(ProceduralBank(), 1, root / "sc", seed=1, progress=False)
    (root / "n.1.json").write_text('{"mine": 1}')  # not named by a two-query --json n.json
    (root / "figs").mkdir()
    (root / "figs" / "demo_all.png").write_bytes(b"an earlier figure, or the user's own")
    _write_sharded(shipped, root / "sharded")
    shutil.copytree(root / "sharded", root / "lostshard")
    weight_files(root / "lostshard")[0].unlink()
    return root


def _write_sharded(source: Path, out: Path) -> None:
    """``source`` saved again by transformers in shards of at most 1 MB (with their index), beside the
    source's other files: how a model too large for one file is published."""
    from wheretolisten.models.registry import load_model

    adapter = load_model(source, device="cpu", dtype="float32")
    adapter.model.save_pretrained(out, max_shard_size="1MB")
    for file in source.iterdir():
        if (
            file.is_file()
            and not file.name.startswith("model.safetensors")
            and not file.name.startswith("model-")
        ):
            shutil.copy2(file, out / file.name)  # processor, tokenizer, tuned settings; the source's config


def _loc(w: Path, *more: str | Path) -> list[str | Path]:
    return ["localize", w / "clip.wav", "-q", "a siren", *more]


#: (name, arguments, a word of the message).
CASES: list[tuple[str, Callable[[Path], list[str | Path]], str]] = [
    ("--start after --end", lambda w: _loc(w, "--start", "6", "--end", "3"), "before --end"),
    ("--start past the end", lambda w: _loc(w, "--start", "9"), "past its end"),
    ("negative --start", lambda w: _loc(w, "--start", "-1"), ">= 0"),
    ("--end past the end", lambda w: _loc(w, "--end", "20"), "past its end"),
    ("--dtype float8", lambda w: _loc(w, "--dtype", "float8"), "unknown dtype"),
    ("--device bogus", lambda w: _loc(w, "--device", "bogus"), "unknown device"),
    ("--device cuda:x", lambda w: _loc(w, "--device", "cuda:x"), "unknown device"),
    ("demo over earlier figures", lambda w: ["demo", "--out-dir", w / "figs"], "--overwrite"),
    (
        "--json OUT with two queries over an existing OUT.1.json",
        lambda w: _loc(w, "-q", "y", "--json", w / "n.json"),
        "--overwrite",
    ),
    ("--layers 1,1", lambda w: _loc(w, "--layers", "1,1"), "names a layer twice"),
    (
        "plot-alpha --alphas 4,4,2",
        lambda w: ["plot-alpha", w / "clip.wav", "-q", "x", "--alphas", "4,4,2", "--out", w / "a.png"],
        "repeats a value",
    ),
    (
        "plot-alpha --alphas 1,,2",
        lambda w: ["plot-alpha", w / "clip.wav", "-q", "x", "--alphas", "1,,2", "--out", w / "a.png"],
        "no empty item",
    ),
    ("silent audio", lambda w: ["localize", w / "silent.wav", "-q", "x"], "silent"),
    ("a NaN sample at 2.5 s", lambda w: ["localize", w / "nan_late.wav", "-q", "x"], "the first at 2.50 s"),
    ("silent span", lambda w: ["localize", w / "silent.wav", "-q", "x", "--start", "1"], "silent"),
    ("--layers 99", lambda w: _loc(w, "--layers", "99"), "out of range"),
    ("mistyped model folder", lambda w: _loc(w, "--model", w / "nope"), "no such model"),
    ("model folder without config", lambda w: _loc(w, "--model", w / "noconfig"), "config.json"),
    ("model folder without weights", lambda w: _loc(w, "--model", w / "noweights"), "safetensors"),
    ("pickle-only model", lambda w: _loc(w, "--model", w / "pickled"), "pickle"),
    ("model folder without a tokenizer", lambda w: _loc(w, "--model", w / "notokenizer"), "no tokenizer"),
    ("truncated weights", lambda w: _loc(w, "--model", w / "truncated"), "cut off"),
    ("sharded, a shard missing", lambda w: _loc(w, "--model", w / "lostshard"), "is not here"),
    ("hub id, no network", lambda w: _loc(w, "--model", "nobody/not-a-model"), "Hub"),
    ("--json in a missing folder", lambda w: _loc(w, "--json", w / "nodir" / "x.json"), "--mkdir"),
    ("--json is a named pipe", lambda w: _loc(w, "--json", w / "pipe.json"), "not a regular file"),
    ("--jsonl names a file that is not a localize log", lambda w: _loc(w, "--jsonl", w / "notes.txt"), "log"),
    (
        "bench run --out names an audio file",
        lambda w: ["bench", "run", w / "sc", "--out", w / "clip.wav"],
        "UTF-8",
    ),
    (
        "make-tiny-model, a seed beyond 64 bits",
        lambda w: ["make-tiny-model", "--family", "qwen2-audio", "--out", w / "tm", "--seed", str(10**20)],
        "2**63 - 1",
    ),
    ("demo, a seed beyond 64 bits", lambda w: ["demo", "--seed", str(2**63)], "2**63 - 1"),
    ("a query of 80 kB", lambda w: ["localize", w / "clip.wav", "-q", "dog " * 20000], "at most 500"),
    (
        "several audio files, none readable",
        lambda w: ["localize", w / "missing1.wav", w / "missing2.wav", "-q", "x"],
        "none of the 2 audio files",
    ),
    (
        "generate, a prompt of 100 kB",
        lambda w: ["generate", w / "clip.wav", "-q", "x", "--prompt", "x " * 50000],
        "at most 4000",
    ),
    ("--json name too long", lambda w: _loc(w, "--json", w / ("a" * 300 + ".json")), "too long for this"),
    ("--tsv in a missing folder", lambda w: _loc(w, "--tsv", w / "a" / "b" / "x.tsv"), "--mkdir"),
    ("generate --layers 99", lambda w: ["generate", w / "clip.wav", "-q", "x", "--layers", "99"], "range"),
    ("generate, a file too long", lambda w: ["generate", w / "long.wav", "-q", "x"], "at most 10 s"),
    (
        "generate --steer-answer at the audio positions",
        lambda w: ["generate", w / "clip.wav", "-q", "x", "--positions", "audio", "--steer-answer"],
        "do not include",
    ),
    (
        "vector build --positions audio",
        lambda w: [
            "vector",
            "build",
            w / "clip.wav",
            "-q",
            "x",
            "--out",
            w / "v.safetensors",
            "--positions",
            "audio",
        ],
        "vector would be zero",
    ),
    (
        "generate, a span too long",
        lambda w: ["generate", w / "long.wav", "-q", "x", "--start", "0.5", "--end", "11"],
        "10.50 s long",
    ),
    (
        "vector build, a file too long",
        lambda w: ["vector", "build", w / "long.wav", "-q", "x", "--out", w / "v.safetensors"],
        "at most 10 s",
    ),
    (
        "plot-alpha, a file too long",
        lambda w: ["plot-alpha", w / "long.wav", "-q", "x", "--out", w / "a.png"],
        "at most 10 s",
    ),
    (
        "plot-layers, a file too long",
        lambda w: ["plot-layers", w / "long.wav", "-q", "x", "--out", w / "l.png"],
        "at most 10 s",
    ),
    ("--threads 0", lambda w: _loc(w, "--threads", "0"), "--threads"),
    ("--threads far beyond the CPUs", lambda w: _loc(w, "--threads", "100000"), "at most"),
    ("a 1-ms span", lambda w: _loc(w, "--start", "0", "--end", "0.001"), "at least 0.1 s"),
    ("a huge layer range", lambda w: _loc(w, "--layers", "0-99999999999"), "out of range"),
    ("--alpha 1e300", lambda w: _loc(w, "--alpha", "1e300"), "between"),
    ("demo --seed -1", lambda w: ["demo", "--seed", "-1"], "from 0 to 2**63 - 1"),
    ("--segment-s 0.01", lambda w: _loc(w, "--segment-s", "0.01"), "at least 1 s"),
    (
        "scenes make, a 1e9-s scene",
        lambda w: ["scenes", "make", "--duration", "1e9", "--out", w / "s1"],
        "3600",
    ),
    (
        "scenes make, --event-s with slots",
        lambda w: ["scenes", "make", "--event-s", "1,2", "--out", w / "s4"],
        "--event-s",
    ),
    (
        "scenes make, --background-db without a background",
        lambda w: ["scenes", "make", "--background-db", "-20,-10", "--out", w / "s5"],
        "--background-db",
    ),
    ("scenes make, 1 Hz", lambda w: ["scenes", "make", "--sample-rate", "1", "--out", w / "s2"], "4000 to"),
    (
        "scenes make, 1e11 scenes",
        lambda w: ["scenes", "make", "--n", "100000000000", "--out", w / "s3"],
        "1000000",
    ),
    ("overlap longer than the segment", lambda w: _loc(w, "--overlap-s", "5", "--segment-s", "2"), "shorter"),
    ("--segment-s longer than the model takes", lambda w: _loc(w, "--segment-s", "1000"), "longer than"),
    (
        "bench sweep, missing scenes",
        lambda w: ["bench", "sweep", w / "noscenes", "--layers-grid", "1", "--out", w / "sweep"],
        "does not exist",
    ),
    (
        "bench sweep --layers-grid with an empty set",
        lambda w: ["bench", "sweep", w / "noscenes", "--layers-grid", "1;;2", "--out", w / "sweep"],
        "no empty layer set",
    ),
    (
        "bench sweep --layers-grid repeating a set",
        lambda w: ["bench", "sweep", w / "noscenes", "--layers-grid", "1,2;2,1", "--out", w / "sweep"],
        "repeats the layer set [1, 2]",
    ),
    (
        "bench sweep --layers-grid 99",
        lambda w: ["bench", "sweep", w / "noscenes", "--layers-grid", "1;99", "--out", w / "sweep"],
        "layer 99 is out of range",
    ),
    ("an empty query among others", lambda w: _loc(w, "-q", ""), "is empty"),
    (
        "plot-alpha, blank query",
        lambda w: ["plot-alpha", w / "clip.wav", "-q", " ", "--out", w / "a.png"],
        "empty",
    ),
    ("generate, empty prompt", lambda w: ["generate", w / "clip.wav", "-q", "x", "--prompt", ""], "empty"),
    ("--save-vector ''", lambda w: _loc(w, "--save-vector", ""), "file name"),
    (
        "vector build --out ''",
        lambda w: ["vector", "build", w / "clip.wav", "-q", "x", "--out", ""],
        "file name",
    ),
    ("generate silent", lambda w: ["generate", w / "silent.wav", "-q", "x"], "silent"),
    (
        "--tsv, two files of one name",
        lambda w: ["localize", w / "clip.wav", w / "a" / ".." / "clip.wav", "-q", "x", "--tsv", w / "d.tsv"],
        "both 'clip.wav'",
    ),
    (
        "--write-protocol onto a results file",
        lambda w: ["bench", "protocol", "--write-protocol", w / "r.jsonl"],
        "ends in .toml or .json",
    ),
    (
        "--write-protocol with --out and --shard",
        lambda w: ["bench", "protocol", "--write-protocol", w / "p.toml", "--out", w / "o", "--shard", "0/2"],
        "--out, --shard would be unused",
    ),
    ("report --out a results file", lambda w: ["report", w / "r.jsonl", "--out", w / "r.jsonl"], ".html"),
    (  # were refused only once the model had loaded (5.5 s)
        "bench protocol, a set's unknown scene option",
        lambda w: ["bench", "protocol", "--protocol", w / "badopt.toml", "--out", w / "po"],
        "'backgroundd_db'",
    ),
    (
        "bench protocol, a set's unknown bank",
        lambda w: ["bench", "protocol", "--protocol", w / "badbank.toml", "--out", w / "po"],
        "nosuchbank",
    ),
    (
        "a protocol set of clips longer than the model takes",
        lambda w: ["bench", "protocol", "--protocol", w / "longclips.toml", "--out", w / "po"],
        "clips of 20 s are longer than",
    ),
    (
        "a protocol set with more events than its bank has sounds",
        lambda w: ["bench", "protocol", "--protocol", w / "badevents.toml", "--out", w / "po"],
        "fewer than n_events=40",
    ),
    (
        "bench protocol, a folder of another protocol",
        lambda w: ["bench", "protocol", "--out", w / "prun"],
        "another",
    ),
    (
        "bench run, --alpha with model-free conditions",
        lambda w: [
            "bench",
            "run",
            w,
            "--out",
            w / "r2.jsonl",
            "--conditions",
            "random,energy",
            "--alpha",
            "3",
        ],
        "not read by the conditions random, energy",
    ),
    (
        "bench summary --format csv --wide",
        lambda w: ["bench", "summary", w / "r.jsonl", "--format", "csv", "--wide"],
        "--wide",
    ),
    ("scenes make --out ''", lambda w: ["scenes", "make", "--n", "1", "--out", ""], "--out is empty"),
    ("bench summary ''", lambda w: ["bench", "summary", ""], "an argument is empty"),
    ("--layers=", lambda w: _loc(w, "--layers="), "--layers is empty"),
    (
        "make-tiny-model, unknown family",
        lambda w: ["make-tiny-model", "--family", "qwen9-audio", "--out", w / "tiny"],
        "unknown family",
    ),
    (
        "bench run --ray-timeout without --ray",
        lambda w: ["bench", "run", w, "--out", w / "r.jsonl", "--ray-timeout", "5"],
        "--ray-timeout needs --ray",
    ),
    (
        "bench run --energy-min-db without energy-det",
        lambda w: [
            "bench",
            "run",
            w,
            "--out",
            w / "r.jsonl",
            "--conditions",
            "random",
            "--energy-min-db",
            "30",
        ],
        "add energy-det to --conditions",
    ),
    (
        "vector build into a missing folder",
        lambda w: ["vector", "build", w / "clip.wav", "-q", "x", "--out", w / "nodir" / "v.safetensors"],
        "--mkdir",
    ),
    (
        "plot-layers --end before --start",
        lambda w: [
            "plot-layers",
            w / "clip.wav",
            "-q",
            "x",
            "--out",
            w / "f.png",
            "--start",
            "2",
            "--end",
            "1",
        ],
        "before --end",
    ),
]


def _run(
    args: list[str | Path], cwd: Path, extra: dict[str, str] | None = None
) -> tuple[dict[str, object], str]:
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "COLUMNS": "200", **(extra or {})}
    env.pop("HF_HUB_OFFLINE", None)
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


@pytest.mark.parametrize(("name", "build", "word"), CASES, ids=[c[0] for c in CASES])
def test_refused_before_torch(
    name: str, build: Callable[[Path], list[str | Path]], word: str, work: Path
) -> None:
    before = sorted(p.relative_to(work) for p in work.rglob("*"))
    report, err = _run(build(work), work)
    lines = [line for line in err.splitlines() if line.strip()]
    assert report["code"] == 2, (name, report, err)
    assert len(lines) == 1 and lines[0].startswith("wheretolisten: error: "), (name, err)
    assert word in lines[0], (name, lines[0])
    assert report["torch"] is False and report["transformers"] is False, (name, report)
    assert sorted(p.relative_to(work) for p in work.rglob("*")) == before  # no folder was created


def test_a_bad_thread_variable_is_refused_before_torch(work: Path) -> None:
    report, err = _run(_loc(work), work, {"WHERETOLISTEN_THREADS": "many"})
    assert report == {"code": 2, "torch": False, "transformers": False}, err
    assert "WHERETOLISTEN_THREADS" in err and len(err.strip().splitlines()) == 1


def test_the_runner_sees_torch_when_the_model_loads(work: Path, tmp_path: Path) -> None:
    """The sys.modules report is not vacuous: a check that needs torch does import it (whether CUDA is
    there; a misspelt device name is refused before, above)."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this check needs a machine without CUDA")
    report, err = _run(_loc(work, "--device", "cuda"), work)
    assert report["code"] == 2 and report["torch"] is True, (report, err)


def test_mkdir_creates_the_folder(work: Path, tmp_path: Path) -> None:
    from wheretolisten.errors import OutputError
    from wheretolisten.files import check_output

    target = tmp_path / "new" / "deeper" / "x.json"
    with pytest.raises(OutputError, match="mkdir=True"):
        check_output(target, mkdir=False)
    assert check_output(target, mkdir=True) == target and not target.parent.exists()


def test_config_layers_match_the_loaded_models(
    adapters: dict[str, object], tiny_dirs: dict[str, Path]
) -> None:
    """The layer count read from config.json and the parameter count read from the safetensors headers
    (before loading) are the loaded adapter's, for each core family."""
    from wheretolisten.models.base import Adapter

    for family, adapter in adapters.items():
        assert isinstance(adapter, Adapter)
        assert decoder_layers(read_config(tiny_dirs[family])) == adapter.num_layers
        assert parameter_count(tiny_dirs[family]) == sum(p.numel() for p in adapter.model.parameters())


def test_a_sharded_checkpoint_passes_the_checks_and_loads(work: Path) -> None:
    """Shards plus ``model.safetensors.index.json`` (what save_pretrained writes past max_shard_size) pass
    the folder checks, count the shipped model's parameters, and load to the same weights."""
    import torch

    from wheretolisten.models.registry import load_model

    sharded, shipped = work / "sharded", default_model_path()
    shards = weight_files(sharded)
    assert len(shards) > 1 and all(f.name.startswith("model-") for f in shards)
    assert (sharded / f"model{INDEX_SUFFIX}").is_file() and not (sharded / "model.safetensors").exists()
    check_folder(sharded)
    assert parameter_count(sharded) == parameter_count(shipped)
    assert decoder_layers(read_config(sharded)) == decoder_layers(read_config(shipped))
    one, many = load_model(shipped, "cpu", "float32"), load_model(sharded, "cpu", "float32")
    a, b = one.model.state_dict(), many.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_shard_from_another_download_is_refused(work: Path, tmp_path: Path) -> None:
    """An index whose tensors are not in the shard it names (mixed downloads) is one ModelError line."""
    from wheretolisten.errors import ModelError

    mixed = tmp_path / "mixed"
    shutil.copytree(work / "sharded", mixed)
    index = mixed / f"model{INDEX_SUFFIX}"
    data = json.loads(index.read_text())
    first, second = sorted(set(data["weight_map"].values()))[:2]
    data["weight_map"] = {k: (second if v == first else v) for k, v in data["weight_map"].items()}
    index.write_text(json.dumps(data))
    with pytest.raises(ModelError, match="different downloads"):
        check_folder(mixed)


def test_the_limit_read_from_files_is_the_loaded_models(
    adapters: dict[str, object], tiny_dirs: dict[str, Path], tmp_path: Path
) -> None:
    """``audio_limit_s`` (before torch) equals the loaded adapter's limit for the shipped model and each
    core family, and is never below it when the processor files disagree or lack a chunk length (the
    refusal before loading must not refuse what the model takes)."""
    from wheretolisten.models.base import Adapter
    from wheretolisten.models.checkpoint import audio_limit_s
    from wheretolisten.models.registry import load_model

    shipped = default_model_path()
    assert audio_limit_s(shipped) == load_model(shipped, device="cpu").max_audio_limit_s == 10.0
    for family, adapter in adapters.items():
        assert isinstance(adapter, Adapter)
        assert audio_limit_s(tiny_dirs[family]) == adapter.max_audio_limit_s, family
    edited = tmp_path / "edited"
    shutil.copytree(shipped, edited)
    processor = json.loads((edited / "processor_config.json").read_text())
    (edited / "preprocessor_config.json").write_text(json.dumps({"chunk_length": 20}))
    assert audio_limit_s(edited) == 20.0  # the files disagree: the larger, which the loader may read
    del processor["feature_extractor"]["chunk_length"]
    (edited / "processor_config.json").write_text(json.dumps(processor))
    (edited / "preprocessor_config.json").unlink()
    assert audio_limit_s(edited) == 30.0  # no chunk length: the family's limit
    config = json.loads((edited / "config.json").read_text())
    (edited / "config.json").write_text(json.dumps({**config, "model_type": "not_a_family"}))
    assert audio_limit_s(edited) is None


def test_the_torch_free_family_tables_are_the_adapters() -> None:
    """``families.MODEL_TYPES`` and ``MAX_AUDIO_S`` (read before torch) name every adapter's model types
    and limit, for the families that can run here and those that cannot."""
    from wheretolisten.models.families import LIMITED_BY_CHUNK, MAX_AUDIO_S, MODEL_TYPES
    from wheretolisten.models.registry import KNOWN

    assert {t: c.family for c in KNOWN for t in (c.model_type, *c.checkpoint_model_types)} == MODEL_TYPES
    assert {c.family: c.max_audio_s for c in KNOWN} == MAX_AUDIO_S
    assert set(MAX_AUDIO_S) >= LIMITED_BY_CHUNK


def test_explore_on_a_port_in_use_is_refused_before_torch(work: Path) -> None:
    """``explore --port P`` with P taken was refused only after the model loaded (5.8 s)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        report, err = _run(["explore", "--port", str(port)], work)
    assert report == {"code": 2, "torch": False, "transformers": False}, err
    assert "already in use" in err and len(err.strip().splitlines()) == 1


def test_a_checkpoints_unusable_settings_name_its_file(work: Path, tmp_path: Path) -> None:
    """A model folder whose wheretolisten.json holds settings resolve refuses (shifts 0) was refused with
    the bare setting's message ("shifts must be a whole number ..."), which named no file."""
    from wheretolisten.models.registry import RECOMMENDED_FILE

    folder = tmp_path / "badrec"
    shutil.copytree(default_model_path(), folder)
    recommended = json.loads((folder / RECOMMENDED_FILE).read_text())
    recommended["localize"]["shifts"] = 0
    (folder / RECOMMENDED_FILE).write_text(json.dumps(recommended))
    report, err = _run(_loc(work, "--model", folder), work)
    assert report["code"] == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{folder / RECOMMENDED_FILE}: shifts must be" in err
