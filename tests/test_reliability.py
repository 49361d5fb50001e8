"""Bad input, as a hostile user gives it: one stderr line, exit 2 (3 for memory), no traceback, nothing lost.

Every case runs a command in-process on a working folder and asserts: the exit status, exactly one
``wheretolisten: error:`` line on stderr, and that no file of the folder was created, changed or removed
(outputs are checked before any computation; inputs are never overwritten).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import SR, noise, run_cli
from wheretolisten.models.tiny import make_tiny_model
from wheretolisten.scenes import ProceduralBank, make_scenes

pytestmark = pytest.mark.slow  # end to end: run by the full suite and CI, skipped by -m "not slow"

ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with everything the commands read: audio, scenes, results, a vector, a tiny model."""
    root = tmp_path_factory.mktemp("reliability")
    sf.write(root / "clip.wav", noise(3.0, seed=1), SR)
    sf.write(root / "long.wav", noise(12.0, seed=2), SR)
    sf.write(root / "silent.wav", np.zeros(SR, dtype=np.float32), SR)
    sf.write(root / "empty.wav", np.zeros(0, dtype=np.float32), SR)
    (root / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt nothing here")
    (root / "afile").write_text("a regular file\n")
    make_scenes(ProceduralBank(), 2, root / "scenes", seed=0, progress=False)
    code = _run_ok(
        root, "bench", "run", root / "scenes", "--conditions", "random", "--out", root / "res.jsonl"
    )
    assert code == 0
    make_tiny_model("qwen2-audio", root / "tiny", seed=0)
    code = _run_ok(
        root, "vector", "build", root / "clip.wav", "-q", "a siren", "--out", root / "v.safetensors"
    )
    assert code == 0
    (root / "strong.tsv").write_text("filename\tonset\toffset\tevent_label\nclip.wav\t0.5\t1.5\tdog\n")
    (root / "readonly").mkdir()
    (root / "afolder.png").mkdir()
    (root / "afolder.safetensors").mkdir()
    return root


def _run_ok(root: Path, *args: str | Path) -> int:
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wheretolisten",
            *map(str, args),
            *(["--no-progress"] if args[0] == "bench" else []),
        ],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
    )
    return done.returncode


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with a hash of its bytes (and every folder)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
    return out


def unwritable(root: Path) -> Path:
    """A folder nobody may write into: a read-only one, or (as root, who writes anywhere) one under a file."""
    if ROOT_USER:
        return root / "afile" / "sub"
    ro = root / "readonly"
    ro.chmod(0o500)
    return ro


# (id, args builder given the work folder, expected words in the error line, exit status)
Case = tuple[str, Callable[[Path], list[str | Path]], tuple[str, ...], int]

CLIP = "clip.wav"


def _out_cases() -> list[Case]:
    """Every output option of every command, pointed at a folder, /proc, a path under a file, an unwritable
    folder."""
    outputs: list[tuple[str, Callable[[Path, Path], list[str | Path]]]] = [
        ("localize --json", lambda w, o: ["localize", w / CLIP, "-q", "x", "--json", o]),
        ("localize --plot", lambda w, o: ["localize", w / CLIP, "-q", "x", "--plot", o.with_suffix(".png")]),
        ("localize --save-vector", lambda w, o: ["localize", w / CLIP, "-q", "x", "--save-vector", o]),
        ("localize --jsonl", lambda w, o: ["localize", w / CLIP, "-q", "x", "--jsonl", o]),
        ("vector build", lambda w, o: ["vector", "build", w / CLIP, "-q", "x", "--out", o]),
        ("plot-layers", lambda w, o: ["plot-layers", w / CLIP, "-q", "x", "--out", o.with_suffix(".png")]),
        ("plot-alpha", lambda w, o: ["plot-alpha", w / CLIP, "-q", "x", "--out", o.with_suffix(".png")]),
        ("demo --out-dir", lambda w, o: ["demo", "--out-dir", o]),
        ("bench run", lambda w, o: ["bench", "run", w / "scenes", "--conditions", "random", "--out", o]),
        ("bench sweep", lambda w, o: ["bench", "sweep", w / "scenes", "--layers-grid", "1", "--out", o]),
        ("scenes make", lambda w, o: ["scenes", "make", "--out", o, "--n", "1"]),
        (
            "scenes import",
            lambda w, o: ["scenes", "import", "--tsv", w / "strong.tsv", "--audio", w, "--out", o],
        ),
        ("report", lambda w, o: ["report", w / "res.jsonl", "--out", o]),
        ("make-tiny-model", lambda w, o: ["make-tiny-model", "--family", "qwen2-audio", "--out", o]),
    ]
    folder_outputs = {"demo --out-dir", "bench sweep", "scenes make", "scenes import", "make-tiny-model"}
    cases: list[Case] = []
    for name, build in outputs:
        folder = name in folder_outputs
        targets: list[tuple[str, Callable[[Path], Path]]] = [
            ("under a file", lambda w: w / "afile" / "out.x"),
            ("in /proc", lambda w: Path("/proc/wheretolisten-test/out.x")),
            ("unwritable", lambda w: unwritable(w) / "out.x"),
        ]
        if folder:
            targets.append(("a file", lambda w: w / "afile"))
        else:
            natural = "afolder.safetensors" if "vector" in name else "afolder.png"
            targets.append(("a folder", lambda w, natural=natural: w / natural))
        for where, target in targets:
            cases.append(
                (
                    f"{name} -> {where}",
                    lambda w, build=build, target=target: build(w, target(w)),
                    (),
                    2,
                )
            )
    return cases


def _input_as_output_cases() -> list[Case]:
    return [
        (
            "localize --json is the audio",
            lambda w: ["localize", w / CLIP, "-q", "x", "--json", w / CLIP],
            ("input",),
            2,
        ),
        (
            "localize --jsonl is the audio",
            lambda w: ["localize", w / CLIP, "-q", "x", "--jsonl", w / CLIP],
            ("input",),
            2,
        ),
        (
            "localize --save-vector is the --vector",
            lambda w: [
                "localize",
                w / CLIP,
                "--vector",
                w / "v.safetensors",
                "--save-vector",
                w / "v.safetensors",
            ],
            ("input",),
            2,
        ),
        (
            "report --out is the results",  # refused for its name: a page ends in .html
            lambda w: ["report", w / "res.jsonl", "--out", w / "res.jsonl"],
            (".html",),
            2,
        ),
        (
            "bench run --out is the manifest",
            lambda w: ["bench", "run", w / "scenes", "--out", w / "scenes" / "manifest.jsonl"],
            ("input",),
            2,
        ),
        (
            "bench run --out is a scene wav",
            lambda w: ["bench", "run", w / "scenes", "--out", w / "scenes" / "audio" / "scene_00000.wav"],
            ("input",),
            2,
        ),
    ]


def _bad_input_cases() -> list[Case]:
    loc = ["localize", CLIP, "-q", "a siren"]
    return [
        ("missing audio", lambda w: ["localize", w / "nope.wav", "-q", "x"], ("no such file",), 2),
        ("audio is a folder", lambda w: ["localize", w / "scenes", "-q", "x"], ("directory",), 2),
        ("corrupt audio", lambda w: ["localize", w / "corrupt.wav", "-q", "x"], ("cannot read audio",), 2),
        ("empty audio", lambda w: ["localize", w / "empty.wav", "-q", "x"], ("empty",), 2),
        ("silent audio", lambda w: ["localize", w / "silent.wav", "-q", "x"], ("silent",), 2),
        (
            "--plot of a windowed recording",
            lambda w: ["localize", w / "long.wav", "-q", "x", "--plot", w / "l.png"],
            ("--start/--end",),
            2,
        ),
        ("--start past the end", lambda w: [*_abs(w, loc), "--start", "9"], ("past its end",), 2),
        (
            "--end before --start",
            lambda w: [*_abs(w, loc), "--start", "2", "--end", "1"],
            ("before --end",),
            2,
        ),
        ("--start nan", lambda w: [*_abs(w, loc), "--start", "nan"], ("--start",), 2),
        ("reversed --layers", lambda w: [*_abs(w, loc), "--layers", "12-8"], ("increasing",), 2),
        ("garbage --layers", lambda w: [*_abs(w, loc), "--layers", "a-b"], ("cannot parse",), 2),
        ("--layers out of range", lambda w: [*_abs(w, loc), "--layers", "99"], ("out of range",), 2),
        ("--alpha nan", lambda w: [*_abs(w, loc), "--alpha", "nan"], ("--alpha",), 2),
        ("--alpha inf", lambda w: [*_abs(w, loc), "--alpha", "inf"], ("--alpha",), 2),
        ("--window-s 0", lambda w: [*_abs(w, loc), "--window-s", "0"], ("--window-s",), 2),
        ("--window-s -1", lambda w: [*_abs(w, loc), "--window-s", "-1"], ("--window-s",), 2),
        ("--window-s nan", lambda w: [*_abs(w, loc), "--window-s", "nan"], ("--window-s",), 2),
        ("--probe unknown", lambda w: [*_abs(w, loc), "--probe", "magic"], ("'magic'",), 2),
        ("--device meta", lambda w: [*_abs(w, loc), "--device", "meta"], ("meta",), 2),
        ("--device bogus", lambda w: [*_abs(w, loc), "--device", "bogus"], ("bogus",), 2),
        ("--dtype bogus", lambda w: [*_abs(w, loc), "--dtype", "float8"], ("float8",), 2),
        ("no query", lambda w: ["localize", w / CLIP], ("--query",), 2),
        ("--plot unknown format", lambda w: [*_abs(w, loc), "--plot", w / "x.bmp"], ("format",), 2),
        ("model dir missing", lambda w: [*_abs(w, loc), "--model", w / "nope"], ("no such model",), 2),
        ("model dir is a file", lambda w: [*_abs(w, loc), "--model", w / "afile"], (), 2),
        ("pickle-only model", lambda w: [*_abs(w, loc), "--model", _pickle_model(w)], ("pickle",), 2),
        ("truncated weights", lambda w: [*_abs(w, loc), "--model", _truncated_model(w)], ("weights",), 2),
        ("hub id, no network", lambda w: [*_abs(w, loc), "--model", "nobody/not-a-model"], ("Hub",), 2),
        ("vector missing", lambda w: [*_abs(w, loc), "--vector", w / "nope.safetensors"], ("no such",), 2),
        ("vector not safetensors", lambda w: [*_abs(w, loc), "--vector", w / "afile"], ("safetensors",), 2),
        ("vector meta not JSON", lambda w: ["vector", "show", _vector(w, "notjson", "{x")], ("JSON",), 2),
        ("vector meta a list", lambda w: ["vector", "show", _vector(w, "list", "[1, 2]")], ("object",), 2),
        (
            "vector key layer.x",
            lambda w: ["vector", "show", _vector(w, "keyx", "{}", key="layer.x")],
            ("layer.x",),
            2,
        ),
        (
            "vector with NaN",
            lambda w: ["vector", "show", _vector(w, "nan", "{}", value=math.nan)],
            ("finite",),
            2,
        ),
        (
            "vector of another size",
            lambda w: [*_abs(w, loc), "--vector", _vector(w, "size", "{}", dim=7)],
            ("dimensions",),
            2,
        ),
        (
            "scenes make --events 0",
            lambda w: ["scenes", "make", "--out", w / "new", "--events", "0"],
            ("events",),
            2,
        ),
        (
            "scenes make --duration inf",
            lambda w: ["scenes", "make", "--out", w / "new", "--duration", "inf"],
            ("duration",),
            2,
        ),
        (
            "scenes make --duration nan",
            lambda w: ["scenes", "make", "--out", w / "new", "--duration", "nan"],
            ("duration",),
            2,
        ),
        ("scenes make --n 0", lambda w: ["scenes", "make", "--out", w / "new", "--n", "0"], ("--n",), 2),
        (
            "scenes make unknown bank",
            lambda w: ["scenes", "make", "--out", w / "new", "--bank", "nope"],
            ("bank",),
            2,
        ),
        (
            "scenes import non-UTF-8",
            lambda w: ["scenes", "import", "--tsv", _latin1(w), "--audio", w, "--out", w / "imp"],
            ("UTF-8",),
            2,
        ),
        (
            "bench run missing scenes",
            lambda w: ["bench", "run", w / "nope", "--out", w / "r2.jsonl"],
            ("does not exist",),
            2,
        ),
        (
            "bench run non-UTF-8 manifest",
            lambda w: ["bench", "run", _bad_manifest(w), "--out", w / "r2.jsonl"],
            ("UTF-8",),
            2,
        ),
        (
            "bench run unknown condition",
            lambda w: ["bench", "run", w / "scenes", "--conditions", "bogus", "--out", w / "r2.jsonl"],
            ("bogus",),
            2,
        ),
        (
            "bench run bad --direct-prompt",
            lambda w: [
                "bench",
                "run",
                w / "scenes",
                "--direct-prompt",
                "{x} {query}",
                "--out",
                w / "r2.jsonl",
            ],
            ("direct-prompt",),
            2,
        ),
        (
            "bench run bad --shard",
            lambda w: ["bench", "run", w / "scenes", "--shard", "3/2", "--out", w / "r2.jsonl"],
            ("shard",),
            2,
        ),
        (
            "bench run --limit 0",
            lambda w: [
                "bench",
                "run",
                w / "scenes",
                "--conditions",
                "random",
                "--limit",
                "0",
                "--out",
                w / "r2.jsonl",
            ],
            ("--limit",),
            2,
        ),
        (
            "bench run other seed resumes",
            lambda w: [
                "bench",
                "run",
                w / "scenes",
                "--conditions",
                "random",
                "--seed",
                "9",
                "--out",
                w / "res.jsonl",
            ],
            ("another configuration",),
            2,
        ),
        (
            "bench sweep empty grid",
            lambda w: ["bench", "sweep", w / "scenes", "--out", w / "sw"],
            ("--layers-grid",),
            2,
        ),
        (
            "bench sweep bad --alphas",
            lambda w: [
                "bench",
                "sweep",
                w / "scenes",
                "--layers-grid",
                "1",
                "--alphas",
                "1,x",
                "--out",
                w / "sw",
            ],
            ("--alphas",),
            2,
        ),
        ("bench summary missing", lambda w: ["bench", "summary", w / "nope.jsonl"], ("does not exist",), 2),
        (
            "bench summary gt null",
            lambda w: ["bench", "summary", _results_with(w, "gtnull", gt=None)],
            ("'gt'",),
            2,
        ),
        (
            "bench summary mixed runs",
            lambda w: ["bench", "summary", _mixed_results(w)],
            ("different configurations",),
            2,
        ),
        (
            "report gt null",
            lambda w: ["report", _results_with(w, "gtnull2", gt=None), "--out", w / "r.html"],
            ("'gt'",),
            2,
        ),
        (
            "report --gallery -1",
            lambda w: ["report", w / "res.jsonl", "--out", w / "r.html", "--gallery", "-1"],
            ("--gallery",),
            2,
        ),
        (
            "make-tiny-model unknown family",
            lambda w: ["make-tiny-model", "--family", "nope", "--out", w / "m"],
            ("nope",),
            2,
        ),
        (
            "plot-alpha empty --alphas",
            lambda w: ["plot-alpha", w / CLIP, "-q", "x", "--out", w / "a.png", "--alphas", ","],
            ("--alphas",),
            2,
        ),
        (
            "plot-alpha nan --alphas",
            lambda w: ["plot-alpha", w / CLIP, "-q", "x", "--out", w / "a.png", "--alphas", "1,nan"],
            ("--alphas",),
            2,
        ),
        ("demo --alpha nan", lambda w: ["demo", "--alpha", "nan"], ("--alpha",), 2),
        (
            "generate --max-new-tokens 0",
            lambda w: ["generate", w / CLIP, "-q", "x", "--max-new-tokens", "0"],
            ("--max-new-tokens",),
            2,
        ),
        ("unknown command", lambda w: ["bogus"], ("bogus",), 2),
        ("missing argument", lambda w: ["localize"], ("Missing",), 2),
    ]


def _abs(w: Path, args: list[str]) -> list[str | Path]:
    return [w / a if a == CLIP else a for a in args]


def _pickle_model(w: Path) -> Path:
    d = w / "pickled"
    if not d.exists():
        shutil.copytree(w / "tiny", d)
        (d / "model.safetensors").rename(d / "pytorch_model.bin")
    return d


def _truncated_model(w: Path) -> Path:
    d = w / "truncated"
    if not d.exists():
        shutil.copytree(w / "tiny", d)
        data = (d / "model.safetensors").read_bytes()
        (d / "model.safetensors").write_bytes(data[: len(data) // 2])
    return d


def _vector(
    w: Path, name: str, meta: str, key: str = "layer.1", value: float = 1.0, dim: int | None = None
) -> Path:
    import torch
    from safetensors.torch import save_file

    path = w / f"bad_{name}.safetensors"
    if not path.exists():
        size = dim if dim is not None else 64
        save_file({key: torch.full((size,), value)}, str(path), metadata={"wheretolisten": meta})
    return path


def _latin1(w: Path) -> Path:
    path = w / "latin1.tsv"
    if not path.exists():
        path.write_bytes("filename\tonset\toffset\tevent_label\nclip.wav\t0.5\t1.5\tcafé\n".encode("latin-1"))
    return path


def _bad_manifest(w: Path) -> Path:
    path = w / "bad_manifest" / "manifest.jsonl"
    if not path.exists():
        path.parent.mkdir()
        path.write_bytes('{"scene_id": "caf\u00e9"}\n'.encode("latin-1"))
    return path


def _results_with(w: Path, name: str, **fields: object) -> Path:
    path = w / f"{name}.jsonl"
    if not path.exists():
        rows = [json.loads(line) for line in (w / "res.jsonl").read_text().splitlines()]
        rows[-1].update(fields)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _mixed_results(w: Path) -> Path:
    path = w / "mixed.jsonl"
    if not path.exists():
        rows = [json.loads(line) for line in (w / "res.jsonl").read_text().splitlines()]
        rows[-1]["config_hash"] = "somethingelse"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _round_three_cases() -> list[Case]:
    """Issue 25: outputs that are one file, files the command did not create, numbers read from files,
    protocol files of wrong types, a tiny --segment-s, a checkpoint's bad wheretolisten.json."""
    loc = ["localize", CLIP, "-q", "a siren"]
    cases: list[Case] = [
        (
            "--jsonl and --tsv are one existing file",
            lambda w: [*_abs(w, loc), "--jsonl", w / "res.jsonl", "--tsv", w / "res.jsonl"],
            ("same file",),
            2,
        ),
        (
            "--json and --jsonl are one new file",
            lambda w: [*_abs(w, loc), "--json", w / "x.out", "--jsonl", w / "x.out"],
            ("same file",),
            2,
        ),
        (
            "--jsonl and --tsv are one new file",
            lambda w: [*_abs(w, loc), "--jsonl", w / "x.out", "--tsv", w / "x.out"],
            ("same file",),
            2,
        ),
        (
            "--tsv is a symlink to --jsonl",
            lambda w: [*_abs(w, loc), "--jsonl", w / "res.jsonl", "--tsv", _link(w, "alias.tsv", False)],
            ("same file",),
            2,
        ),
        (
            "--tsv is a hard link to --jsonl",
            lambda w: [*_abs(w, loc), "--jsonl", w / "res.jsonl", "--tsv", _link(w, "hard.tsv", True)],
            ("same file",),
            2,
        ),
        (
            "--json is --save-vector's .json",
            lambda w: [*_abs(w, loc), "--json", w / "sv.json", "--save-vector", w / "sv"],
            ("same file",),
            2,
        ),
        (
            "--save-vector beside a user's .json",
            lambda w: [*_abs(w, loc), "--save-vector", _notes(w)],
            ("--overwrite",),
            2,
        ),
        (
            "vector build beside a user's .json",
            lambda w: [
                "vector",
                "build",
                w / CLIP,
                "-q",
                "x",
                "--out",
                _notes(w).with_suffix(".safetensors"),
            ],
            ("--overwrite",),
            2,
        ),
        (
            "scenes import into a scenes folder",
            lambda w: ["scenes", "import", "--tsv", w / "strong.tsv", "--audio", w, "--out", w / "scenes"],
            ("--overwrite",),
            2,
        ),
        (
            "scenes import nan onset",
            lambda w: ["scenes", "import", "--tsv", _tsv(w, "nan", "nan"), "--audio", w, "--out", w / "imp"],
            ("finite",),
            2,
        ),
        (
            "scenes import inf offset",
            lambda w: [
                "scenes",
                "import",
                "--tsv",
                _tsv(w, "inf", "0.5", "inf"),
                "--audio",
                w,
                "--out",
                w / "imp",
            ],
            ("finite",),
            2,
        ),
        ("--segment-s 0.01", lambda w: [*_abs(w, loc), "--segment-s", "0.01"], ("--segment-s",), 2),
        (
            "checkpoint layers 'abc'",
            lambda w: [*_abs(w, loc), "--model", _recommending(w, "abc", {"layers": "abc"})],
            ("layers",),
            2,
        ),
        (
            "checkpoint alpha NaN",
            lambda w: [*_abs(w, loc), "--model", _recommending(w, "nan", {"alpha": math.nan})],
            ("alpha",),
            2,
        ),
    ]
    protocols: list[tuple[str, dict[str, object], str]] = [
        ("dev.n 2.5", {"dev": {"name": "dev", "n": 2.5, "seed": 0}}, "dev.n"),
        ("dev.n true", {"dev": {"name": "dev", "n": True, "seed": 0}}, "dev.n"),
        ("random_draws 1.5", {"random_draws": 1.5}, "random_draws"),
        ("seed 'zero'", {"seed": "zero"}, "seed"),
        ("bank 7", {"bank": 7}, "bank"),
        ("unknown bank", {"bank": "nowhere"}, "bank"),
        ("alphas ['x']", {"grids": {"steered": {"alphas": ["x"]}}}, "grids.steered.alphas"),
        ("layers [1, 2]", {"grids": {"steered": {"layers": [1, 2]}}}, "grids.steered.layers"),
        ("budget 0", {"budget": 0}, "budget"),
        ("unknown condition", {"conditions": ["steered", "bogus"]}, "bogus"),
        ("fractions [2]", {"intervals": {"fractions": [2.0]}}, "fractions"),
        ("test set duration 0", {"tests": [{"name": "t", "n": 1, "seed": 0, "duration_s": 0}]}, "duration_s"),
    ]
    for name, content, words in protocols:
        cases.append(
            (
                f"bench protocol {name}",
                lambda w, name=name, content=content: [
                    "bench",
                    "protocol",
                    "--protocol",
                    _protocol(w, name, content),
                    "--out",
                    w / "run",
                    "--no-progress",
                ],
                (words,),
                2,
            )
        )
    cases.append(
        (
            "bench protocol layer out of range for the model",
            lambda w: [
                "bench",
                "protocol",
                "--protocol",
                _protocol(w, "layer 99", {"grids": {"steered": {"layers": [[99]]}}}),
                "--model",
                w / "tiny",
                "--device",
                "cpu",
                "--out",
                w / "run",
                "--no-progress",
            ],
            ("out of range",),
            2,
        )
    )
    return cases


def _link(w: Path, name: str, hard: bool) -> Path:
    """A symlink or hard link to res.jsonl."""
    path = w / name
    if not path.exists():
        if hard:
            os.link(w / "res.jsonl", path)
        else:
            path.symlink_to(w / "res.jsonl")
    return path


def _notes(w: Path) -> Path:
    """A user's notes.json (not a vector's metadata): --save-vector notes would replace it."""
    path = w / "notes.json"
    if not path.exists():
        path.write_text('{"my": "notes"}\n')
    return w / "notes"


def _tsv(w: Path, name: str, onset: str, offset: str = "1.5") -> Path:
    path = w / f"strong_{name}.tsv"
    if not path.exists():
        path.write_text(f"filename\tonset\toffset\tevent_label\nclip.wav\t{onset}\t{offset}\tdog\n")
    return path


def _recommending(w: Path, name: str, localize: dict[str, object]) -> Path:
    """A copy of the tiny model whose wheretolisten.json recommends ``localize`` settings."""
    d = w / f"rec_{name}"
    if not d.exists():
        shutil.copytree(w / "tiny", d)
        (d / "wheretolisten.json").write_text(json.dumps({"localize": localize}))
    return d


def _protocol(w: Path, name: str, content: dict[str, object]) -> Path:
    path = w / "protocols" / f"{name.replace(' ', '_').replace('/', '_')}.json"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(content))
    return path


CASES = _out_cases() + _input_as_output_cases() + _bad_input_cases() + _round_three_cases()


def test_there_are_at_least_sixty_cases() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize(("name", "build", "words", "status"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(
    name: str,
    build: Callable[[Path], list[str | Path]],
    words: tuple[str, ...],
    status: int,
    work: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # a closed port: the hub is unreachable, fast
    monkeypatch.chdir(work)
    args = build(work)  # may create the bad input files themselves, before the snapshot
    before = snapshot(work)
    try:
        code, _, err = (
            run_cli(monkeypatch, capsys, *args, "--device", "cpu")
            if _takes_device(args)
            else run_cli(monkeypatch, capsys, *args)
        )
    finally:
        (work / "readonly").chmod(0o700)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == status, (name, code, err)
    assert len(lines) == 1 and lines[0].startswith("wheretolisten: error: "), (name, err)
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (name, lines[0])
    assert snapshot(work) == before, name


def _takes_device(args: list[str | Path]) -> bool:
    command = str(args[0])
    return (
        command in ("localize", "plot-layers", "plot-alpha", "demo", "generate", "vector")
        and "--device" not in map(str, args)
        and not (command == "vector" and str(args[1]) == "show")
    )
