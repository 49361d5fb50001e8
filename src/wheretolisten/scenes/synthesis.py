"""Controlled multi-event scene synthesis: the clips and exact ground truth of the benchmark.

By default a scene is a clip divided into ``n_events`` equal slots; each slot holds one event, shorter
than its slot and placed with gaps. :class:`~.options.SceneOptions` can instead place events anywhere
(possibly overlapping), spread their levels and add a background; the ground truth (which event,
where, how loud) stays exact. Labels are distinct unless ``repeats`` lets a label recur.
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
from ..parsing import is_real_number, is_whole_number
from ..progress import track
from ..records import read_numbered
from .backgrounds import make_background
from .banks import Bank, active_span
from .manifest import (
    AUDIO_DIR_NAME,
    MANIFEST_NAME,
    Event,
    Scene,
    check_manifest_output,
    position_name,
    refuse_held_scenes,
    write_manifest,
)
from .options import SceneOptions
from .procedural import ramp_envelope
from .speech import espeak_binary

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

TARGET_RMS = 0.05  # every event is normalized to this RMS over its active span (about -26 dBFS)
NOISE_FLOOR_DB = -45.0  # noise floor relative to the event RMS: never digitally silent
FADE_S = 0.010
PEAK_LIMIT = 0.9  # the mix is scaled down to this peak if it would exceed it
MIN_EVENT_S = 0.5
EVENT_FRACTION = (0.35, 0.75)  # event length as a fraction of the slot width
_TIME_DECIMALS = 6
_PLACEMENT_TRIES = 200
#: The wavs make_scenes writes (manifest paths); only such files are ever removed as stale.
_SCENE_WAV = re.compile(rf"{AUDIO_DIR_NAME}/scene_\d+\.wav")

log = logging.getLogger("wheretolisten")


def _fade(x: F64, sample_rate: int, fade_s: float = FADE_S) -> F64:
    """Raised-cosine fade in and out so pasted events have no clicks at their edges."""
    return x * ramp_envelope(len(x), sample_rate, fade_s, fade_s)


def _t(samples: int | float, sample_rate: int) -> float:
    return round(samples / sample_rate, _TIME_DECIMALS)


#: The rate scenes are written at unless asked otherwise (the audio-language models' own).
SCENE_RATE = 16000
#: Sample rates a scene may be written at: far below 4 kHz the banks' sounds alias or vanish (the tests
#: use 4 kHz for speed); 192 kHz is studio audio.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 4000, 192_000
#: Longest scene (seconds): an hour, far beyond any window; longer recordings are joined from scenes.
MAX_SCENE_S = 3600.0
#: Most scenes one call writes (each a file; a million 10-s scenes are about 300 GB at 16 kHz).
MAX_SCENES = 1_000_000


def check_request(
    bank: Bank,
    n_events: int,
    duration_s: float,
    sample_rate: int,
    repeats: int = 1,
    options: SceneOptions | None = None,
) -> None:
    """Refuse settings no scene can be made with (one OptionError line), before anything is computed."""
    options = options or SceneOptions()
    if not isinstance(options, SceneOptions):
        raise OptionError(f"options must be a SceneOptions, got {type(options).__name__}")
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise OptionError(f"repeats must be an integer of at least 1, got {repeats!r}")
    if isinstance(n_events, bool) or not isinstance(n_events, (int, np.integer)) or n_events < 1:
        raise OptionError(f"n_events must be a whole number of at least 1, got {n_events!r}")
    if not is_real_number(duration_s) or not is_whole_number(sample_rate):  # "10" or 16000.5 were taken
        raise OptionError(
            f"duration_s must be a number and sample_rate a whole number, got {duration_s!r}, {sample_rate!r}"
        )
    if n_events > len(bank.labels) * repeats:
        each = f" used at most {repeats} times each" if repeats > 1 else ""
        raise OptionError(
            f"bank {bank.name!r} has {len(bank.labels)} labels{each}, fewer than n_events={n_events}"
        )
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise OptionError(
            f"sample_rate must be from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz, got {sample_rate}"
        )
    if not math.isfinite(duration_s) or duration_s <= 0:
        raise OptionError(f"duration_s must be a positive finite number of seconds, got {duration_s}")
    if duration_s > MAX_SCENE_S:
        raise OptionError(
            f"duration_s must be at most {MAX_SCENE_S:g} s (one hour) per scene, got {duration_s:g}"
        )
    if options.background == "babble":
        espeak_binary()  # babble speaks: refuse now, not after the first scenes were written
    if options.placement == "free":
        options.check(n_events, duration_s)
    elif duration_s / n_events * EVENT_FRACTION[1] < MIN_EVENT_S:
        raise OptionError(
            f"duration_s={duration_s} is too short for n_events={n_events}: each slot must be at least "
            f"{MIN_EVENT_S / EVENT_FRACTION[1]:.2f} s"
        )


def _level(x: F64, sample_rate: int) -> tuple[tuple[int, int], float]:
    """The active span of a faded event and its RMS over that span."""
    a0, a1 = active_span(x, sample_rate)
    return (a0, a1), float(np.sqrt(np.mean(x[a0:a1] ** 2))) if a1 > a0 else 0.0


def _render(bank: Bank, label: str, rng: np.random.Generator, sample_rate: int, want: int) -> F64:
    """``label`` rendered at most ``want`` samples long, faded, checked usable."""
    raw = np.asarray(bank.render(label, rng, sample_rate, want / sample_rate), dtype=np.float64)[:want]
    if raw.ndim != 1 or raw.size == 0 or not np.all(np.isfinite(raw)):
        raise AudioError(f"bank {bank.name!r} rendered unusable audio for label {label!r}")
    return _fade(raw, sample_rate)


def _gain_db(options: SceneOptions, rng: np.random.Generator) -> float:
    """Per-event gain: drawn only when the range is not a single value (so the default draws nothing)."""
    lo, hi = options.level_db
    return float(rng.uniform(lo, hi)) if hi > lo else lo


def _free_lengths(
    options: SceneOptions, rng: np.random.Generator, n_events: int, total: int, sr: int
) -> list[int]:
    """Event lengths (samples) drawn from ``event_s``, shrunk towards its minimum when they cannot all fit
    side by side (SceneOptions.check guaranteed the minimums fit)."""
    lo = max(1, round(options.event_s[0] * sr))
    hi = max(lo, round(min(options.event_s[1], total / sr) * sr))
    lengths = [int(rng.integers(lo, hi + 1)) for _ in range(n_events)]
    spare, excess = total - n_events * lo, sum(lengths) - n_events * lo
    if sum(lengths) > total and excess > 0:
        lengths = [lo + (length - lo) * spare // excess for length in lengths]
    return lengths


def _overlap_ok(spans: list[tuple[int, int]], max_overlap: float) -> bool:
    """Whether no span is covered by the union of the others for more than ``max_overlap`` of its length."""
    for k, (s0, s1) in enumerate(spans):
        cuts = sorted(
            (max(s0, a), min(s1, b)) for j, (a, b) in enumerate(spans) if j != k and a < s1 and b > s0
        )
        covered, reach = 0, s0
        for a, b in cuts:
            if b > reach:
                covered += b - max(a, reach)
                reach = b
        if covered > max_overlap * (s1 - s0):
            return False
    return True


def _free_starts(lengths: list[int], total: int, max_overlap: float, rng: np.random.Generator) -> list[int]:
    """Start samples anywhere in the clip: uniform draws until the overlap limit holds (up to 200 tries),
    else the events side by side in random order with random gaps (always possible: they fit)."""
    for _ in range(_PLACEMENT_TRIES):
        starts = [int(rng.integers(0, total - length + 1)) for length in lengths]
        if _overlap_ok([(s, s + n) for s, n in zip(starts, lengths, strict=True)], max_overlap):
            return starts
    order = rng.permutation(len(lengths))
    gaps = np.diff(np.sort(rng.integers(0, total - sum(lengths) + 1, len(lengths))), prepend=0)
    starts = [0] * len(lengths)
    at = 0
    for k, gap in zip(order, gaps, strict=True):
        at += int(gap)
        starts[int(k)] = at
        at += lengths[int(k)]
    return starts


def make_scene(
    bank: Bank,
    rng: np.random.Generator,
    scene_id: str,
    n_events: int = 3,
    duration_s: float = 10.0,
    sample_rate: int = SCENE_RATE,
    target: int | None = None,
    *,
    seed: int = 0,
    repeats: int = 1,
    options: SceneOptions | None = None,
) -> tuple[Scene, F32]:
    """Synthesize one scene of ``n_events`` labels laid out as ``options`` says (default: one per equal
    slot with gaps, all at TARGET_RMS over a -45 dB floor: the original scenes, bit for bit).

    Labels are distinct, or with ``repeats > 1`` each drawn at most ``repeats`` times. Events are listed
    in onset order (``position`` and ``target`` follow it). Returns the Scene (its ``path`` is
    ``audio/<scene_id>.wav``) and the mono float32 mix. ``seed`` is only recorded in the Scene (pass
    the integer that seeded ``rng`` so the scene can be regenerated).
    """
    options = options or SceneOptions()
    check_request(bank, n_events, duration_s, sample_rate, repeats, options)
    if not isinstance(rng, np.random.Generator):  # None gave an AttributeError deep inside
        raise OptionError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {rng!r}")
    if target is None:
        target = int(rng.integers(n_events))
    if not 0 <= target < n_events:
        raise OptionError(f"target={target} is not an index into {n_events} events")

    total = round(duration_s * sample_rate)
    mix = np.zeros(total)
    pool = np.array(bank.labels * repeats, dtype=object)
    labels = [str(x) for x in rng.choice(pool, n_events, replace=False)]
    # (label, start, audio, active span, slot in samples, level dB) per event
    placed: list[tuple[str, int, F64, tuple[int, int], tuple[int, int], float]] = []
    if options.placement == "slots":
        slot_s = duration_s / n_events
        for k, label in enumerate(labels):
            s0, s1 = round(k * total / n_events), round((k + 1) * total / n_events)
            frac = rng.uniform(*EVENT_FRACTION)
            length_s = min(max(frac * slot_s, MIN_EVENT_S), EVENT_FRACTION[1] * slot_s)
            x = _render(bank, label, rng, sample_rate, max(1, int(length_s * sample_rate)))
            span, rms = _level(x, sample_rate)
            if rms < 1e-7:
                raise AudioError(f"bank {bank.name!r} rendered silent audio for label {label!r}")
            x *= TARGET_RMS / rms
            slack = (s1 - s0) - len(x)
            margin = max(1, min(round(0.05 * sample_rate), slack // 4))
            start = s0 + int(rng.integers(margin, max(margin, slack - margin) + 1))
            level = _gain_db(options, rng)
            placed.append((label, start, x, span, (s0, s1), level))
    else:
        lengths = _free_lengths(options, rng, n_events, total, sample_rate)
        rendered: list[tuple[F64, tuple[int, int]]] = []
        for label, want in zip(labels, lengths, strict=True):
            x = _render(bank, label, rng, sample_rate, want)
            span, rms = _level(x, sample_rate)
            if rms < 1e-7:
                raise AudioError(f"bank {bank.name!r} rendered silent audio for label {label!r}")
            rendered.append((x * (TARGET_RMS / rms), span))
        starts = _free_starts([len(x) for x, _ in rendered], total, options.max_overlap, rng)
        for label, (x, span), start in zip(labels, rendered, starts, strict=True):
            placed.append((label, start, x, span, (0, total), _gain_db(options, rng)))
        placed.sort(key=lambda p: p[1])
    for _, start, x, _, _, level in placed:
        mix[start : start + len(x)] += x * 10 ** (level / 20) if level else x
    mix += rng.standard_normal(total) * TARGET_RMS * 10 ** (NOISE_FLOOR_DB / 20)
    background_db = None
    if options.background != "none":
        background_db = float(rng.uniform(*options.background_db))
        floor = make_background(options.background, bank, labels, rng, total, sample_rate)
        mix += floor * TARGET_RMS * 10 ** (background_db / 20)
    peak = float(np.max(np.abs(mix)))
    gain = PEAK_LIMIT / peak if peak > PEAK_LIMIT else 1.0
    if gain < 1.0:
        mix *= gain
    recorded = not options.is_default
    events = [
        Event(
            label=label,
            onset_s=_t(start, sample_rate),
            offset_s=_t(start + len(x), sample_rate),
            slot=(_t(slot[0], sample_rate), _t(slot[1], sample_rate)),
            active=(_t(start + span[0], sample_rate), _t(start + span[1], sample_rate)),
            position=position_name(k, n_events),
            query=bank.query_text(label),
            level_db=round(level, 3) if recorded else None,
        )
        for k, (label, start, x, span, slot, level) in enumerate(placed)
    ]
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
    if recorded:
        scene.placement = options.placement
        scene.max_overlap = options.max_overlap
        scene.background = options.background
        scene.background_db = None if background_db is None else round(background_db, 3)
        scene.gain_db = round(20 * math.log10(gain), 3)
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
    sample_rate: int = SCENE_RATE,
    progress: bool = True,
    repeats: int = 1,
    options: SceneOptions | None = None,
    overwrite: bool = False,
) -> list[Scene]:
    """Write ``n`` scenes to ``out_dir`` (audio/*.wav, manifest.jsonl, events.tsv), deterministically.

    Scene ``i`` is seeded from (seed, i) and its target index is ``i % n_events`` (balanced positions);
    ``options`` lays every scene out (see :class:`SceneOptions`; default: the original slot scenes).
    Settings and the output are checked before anything is written. An ``out_dir`` that is, lies inside
    or holds a folder the bank reads is refused (its scenes would become sounds of the bank). An
    ``out_dir`` that holds a manifest, an events.tsv or audio files is refused unless ``overwrite``; with
    it, the wavs the old manifest listed that the new one does not are removed afterwards.
    """
    if not isinstance(bank, Bank):
        raise OptionError(
            f"bank must be a Bank such as ProceduralBank() (scenes.get_bank makes one from a name), got "
            f"{type(bank).__name__}"
        )
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise OptionError(f"number of scenes must be a whole number, got {n!r}")
    if not 1 <= n <= MAX_SCENES:
        raise OptionError(f"number of scenes must be at least 1 and at most {MAX_SCENES}, got {n}")
    check_request(bank, n_events, duration_s, sample_rate, repeats, options)
    if not is_whole_number(seed) or seed < 0:  # numpy's SeedSequence refused -1 with a bare ValueError
        raise OptionError(f"seed must be a whole number >= 0, got {seed!r}")
    check_output(out_dir, directory=True, input_folders=bank.folders())
    out = check_manifest_output(out_dir)
    check_output(out / AUDIO_DIR_NAME, directory=True)
    refuse_held_scenes(out, overwrite, audio=True)
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
            options=options,
        )
        _write_wav(scene.audio_path(out), audio, sample_rate)
        scenes.append(scene)
    write_manifest(scenes, out)
    _remove_stale(previous - {scene.audio_path(out) for scene in scenes})
    return scenes
