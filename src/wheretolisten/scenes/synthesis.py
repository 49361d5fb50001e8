"""Controlled multi-event scene synthesis: the clips and exact ground truth of the benchmark.

A scene is a clip divided into ``n_events`` equal slots; each slot holds one event, shorter than its
slot and placed with gaps, so the ground truth (which event, where) is exact. Labels are distinct
unless ``repeats`` lets a label fill several slots (for long recordings).
"""

from __future__ import annotations

import logging
import math
import os
import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

from ..errors import AudioError, DataError, OptionError, OutputError
from ..files import atomic_path, check_output
from ..progress import track
from ..records import read_numbered
from .banks import Bank, active_span
from .manifest import (
    AUDIO_DIR_NAME,
    MANIFEST_NAME,
    Event,
    Scene,
    check_manifest_output,
    position_name,
    write_manifest,
)
from .procedural import ramp_envelope

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

TARGET_RMS = 0.05  # every event is normalized to this RMS over its active span (about -26 dBFS)
NOISE_FLOOR_DB = -45.0  # noise floor relative to the event RMS: never digitally silent
FADE_S = 0.010
PEAK_LIMIT = 0.9  # the mix is scaled down to this peak if it would exceed it
MIN_EVENT_S = 0.5
EVENT_FRACTION = (0.35, 0.75)  # event length as a fraction of the slot width
_TIME_DECIMALS = 6
#: The wavs make_scenes writes (manifest paths); only such files are ever removed as stale.
_SCENE_WAV = re.compile(rf"{AUDIO_DIR_NAME}/scene_\d+\.wav")

log = logging.getLogger("wheretolisten")


def _fade(x: F64, sample_rate: int, fade_s: float = FADE_S) -> F64:
    """Raised-cosine fade in and out so pasted events have no clicks at their edges."""
    return x * ramp_envelope(len(x), sample_rate, fade_s, fade_s)


def _t(samples: int | float, sample_rate: int) -> float:
    return round(samples / sample_rate, _TIME_DECIMALS)


def check_request(bank: Bank, n_events: int, duration_s: float, sample_rate: int, repeats: int = 1) -> None:
    """Refuse settings no scene can be made with (one OptionError line), before anything is computed."""
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise OptionError(f"repeats must be an integer of at least 1, got {repeats!r}")
    if n_events < 1:
        raise OptionError(f"n_events must be at least 1, got {n_events}")
    if n_events > len(bank.labels) * repeats:
        each = f" used at most {repeats} times each" if repeats > 1 else ""
        raise OptionError(
            f"bank {bank.name!r} has {len(bank.labels)} labels{each}, fewer than n_events={n_events}"
        )
    if sample_rate <= 0:
        raise OptionError(f"sample_rate must be positive, got {sample_rate}")
    if not math.isfinite(duration_s) or duration_s <= 0:
        raise OptionError(f"duration_s must be a positive finite number of seconds, got {duration_s}")
    if duration_s / n_events * EVENT_FRACTION[1] < MIN_EVENT_S:
        raise OptionError(
            f"duration_s={duration_s} is too short for n_events={n_events}: each slot must be at least "
            f"{MIN_EVENT_S / EVENT_FRACTION[1]:.2f} s"
        )


def make_scene(
    bank: Bank,
    rng: np.random.Generator,
    scene_id: str,
    n_events: int = 3,
    duration_s: float = 10.0,
    sample_rate: int = 16000,
    target: int | None = None,
    *,
    seed: int = 0,
    repeats: int = 1,
) -> tuple[Scene, F32]:
    """Synthesize one scene: ``n_events`` labels, one per equal slot, gaps between them.

    Labels are distinct, or with ``repeats > 1`` each drawn at most ``repeats`` times. Returns the Scene
    (its ``path`` is ``audio/<scene_id>.wav``) and the mono float32 mix. ``seed`` is only recorded in
    the Scene (pass the integer that seeded ``rng`` so the scene can be regenerated).
    """
    check_request(bank, n_events, duration_s, sample_rate, repeats)
    slot_s = duration_s / n_events
    if target is None:
        target = int(rng.integers(n_events))
    if not 0 <= target < n_events:
        raise OptionError(f"target={target} is not an index into {n_events} events")

    total = round(duration_s * sample_rate)
    mix = np.zeros(total)
    pool = np.array(bank.labels * repeats, dtype=object)
    labels = [str(x) for x in rng.choice(pool, n_events, replace=False)]
    events: list[Event] = []
    for k, label in enumerate(labels):
        s0, s1 = round(k * total / n_events), round((k + 1) * total / n_events)
        frac = rng.uniform(*EVENT_FRACTION)
        length_s = min(max(frac * slot_s, MIN_EVENT_S), EVENT_FRACTION[1] * slot_s)
        want = max(1, int(length_s * sample_rate))
        raw = np.asarray(bank.render(label, rng, sample_rate, want / sample_rate), dtype=np.float64)[:want]
        if raw.ndim != 1 or raw.size == 0 or not np.all(np.isfinite(raw)):
            raise AudioError(f"bank {bank.name!r} rendered unusable audio for label {label!r}")
        x = _fade(raw, sample_rate)
        a0, a1 = active_span(x, sample_rate)
        rms = float(np.sqrt(np.mean(x[a0:a1] ** 2))) if a1 > a0 else 0.0
        if rms < 1e-7:
            raise AudioError(f"bank {bank.name!r} rendered silent audio for label {label!r}")
        x *= TARGET_RMS / rms
        slack = (s1 - s0) - len(x)
        margin = max(1, min(round(0.05 * sample_rate), slack // 4))
        start = s0 + int(rng.integers(margin, max(margin, slack - margin) + 1))
        mix[start : start + len(x)] += x
        events.append(
            Event(
                label=label,
                onset_s=_t(start, sample_rate),
                offset_s=_t(start + len(x), sample_rate),
                slot=(_t(s0, sample_rate), _t(s1, sample_rate)),
                active=(_t(start + a0, sample_rate), _t(start + a1, sample_rate)),
                position=position_name(k, n_events),
                query=bank.query_text(label),
            )
        )
    mix += rng.standard_normal(total) * TARGET_RMS * 10 ** (NOISE_FLOOR_DB / 20)
    peak = float(np.max(np.abs(mix)))
    if peak > PEAK_LIMIT:
        mix *= PEAK_LIMIT / peak
    scene = Scene(
        scene_id=scene_id,
        path=f"{AUDIO_DIR_NAME}/{scene_id}.wav",
        duration_s=_t(total, sample_rate),
        sample_rate=sample_rate,
        events=events,
        target=target,
        seed=seed,
        bank=bank.name,
    )
    return scene, mix.astype(np.float32)


def scene_seed(seed: int, index: int) -> int:
    """Integer seed of scene ``index``: depends only on (seed, index), never on how many scenes are made."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


# ---- writing a scenes directory -------------------------------------------------------------------


def _write_wav(path: Path, audio: F32, sample_rate: int) -> None:
    """16-bit PCM wav, written atomically; a libsndfile failure is one OutputError line."""
    with atomic_path(path) as tmp:
        try:
            sf.write(str(tmp), audio, sample_rate, format="WAV", subtype="PCM_16")
        except RuntimeError as exc:  # soundfile's errors derive from RuntimeError
            raise OutputError(f"{path}: cannot write audio ({' '.join(str(exc).split())})") from None


def _scene_wavs_listed(out: Path) -> set[Path]:
    """The wavs of synthesized scenes (``audio/scene_N.wav``) that an existing ``out/manifest.jsonl`` lists.

    A manifest that cannot be read lists nothing; rows of imported recordings are never included.
    """
    manifest = out / MANIFEST_NAME
    if not manifest.is_file():
        return set()
    try:
        rows, _ = read_numbered(manifest, what="manifest", allow_torn=False)
    except DataError:
        return set()  # a manifest we cannot read lists nothing: delete nothing
    wavs: set[Path] = set()
    for _, row in rows:
        path, bank = row.get("path"), row.get("bank", "")
        if isinstance(path, str) and _SCENE_WAV.fullmatch(path) and not str(bank).startswith("import:"):
            wavs.add(out / path)
    return wavs


def _remove_stale(stale: set[Path]) -> None:
    """Delete wavs the previous manifest listed and the new one does not; a failure is only a warning."""
    for path in sorted(stale):
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove %s, which the new manifest no longer lists (%s)", path, exc)


def make_scenes(
    bank: Bank,
    n: int,
    out_dir: str | os.PathLike[str],
    n_events: int = 3,
    duration_s: float = 10.0,
    seed: int = 0,
    sample_rate: int = 16000,
    progress: bool = True,
    repeats: int = 1,
) -> list[Scene]:
    """Write ``n`` scenes to ``out_dir`` (audio/*.wav, manifest.jsonl, events.tsv), deterministically.

    Scene ``i`` is seeded from (seed, i) and its target index is ``i % n_events`` (balanced positions).
    Settings and the output are checked before anything is written. When ``out_dir`` held scenes
    already, the wavs its old manifest listed that the new one does not are removed afterwards.
    """
    if n < 1:
        raise OptionError(f"number of scenes must be at least 1, got {n}")
    check_request(bank, n_events, duration_s, sample_rate, repeats)
    out = check_manifest_output(out_dir)
    check_output(out / AUDIO_DIR_NAME, directory=True)
    previous = _scene_wavs_listed(out)
    scenes: list[Scene] = []
    for i in track(range(n), "Synthesizing scenes", enabled=progress, unit="scene"):
        child = scene_seed(seed, i)
        scene, audio = make_scene(
            bank,
            np.random.default_rng(child),
            f"scene_{i:05d}",
            n_events=n_events,
            duration_s=duration_s,
            sample_rate=sample_rate,
            target=i % n_events,
            seed=child,
            repeats=repeats,
        )
        _write_wav(scene.audio_path(out), audio, sample_rate)
        scenes.append(scene)
    write_manifest(scenes, out)
    _remove_stale(previous - {scene.audio_path(out) for scene in scenes})
    return scenes
