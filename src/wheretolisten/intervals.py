"""The audio's own span around a peak: a clip's energy per token and its active (sounding) spans.

The ``snap`` and ``edges`` intervals of a :class:`~wheretolisten.readout.ReadoutRule` are read here: the
span of the audio that sounds around the peak, over the whole clip's quiet level or (adaptive) the local
background; or Δ's own interval with its edges moved to the audio's nearest onset and offset.
"""

from __future__ import annotations

import itertools

import numpy as np

#: adaptive snap: a peak less than this far above its local background gives no audio span (Δ's is used).
_MIN_RISE_DB = 3.0
#: Levels under this are treated as silence when a clip's energy is measured (dB re full scale).
_FLOOR_DB = -120.0


def energy_db(audio: np.ndarray, sample_rate: int, token_s: float, n_tokens: int) -> np.ndarray:
    """Mean power in dB of each token's span of ``audio`` ([n_tokens]); NaN for tokens that start after the
    audio ends (the encoder's padding: never active, and left out of the clip's quiet level)."""
    hop = max(1, int(round(token_s * sample_rate)))
    x = np.zeros(n_tokens * hop)
    take = min(x.size, audio.size)
    x[:take] = np.asarray(audio[:take], dtype=np.float64)
    power = np.mean(np.square(x.reshape(n_tokens, hop)), axis=1)
    level = np.maximum(10.0 * np.log10(np.maximum(power, 1e-30)), _FLOOR_DB)
    level[np.arange(n_tokens) * hop >= audio.size] = np.nan
    return level


def active_mask(envelope_db: np.ndarray, margin_db: float, bridge: int) -> np.ndarray:
    """Tokens more than ``margin_db`` above the clip's quiet level (5th percentile; NaN tokens left out),
    pauses of up to ``bridge`` tokens between active tokens filled."""
    known = envelope_db[~np.isnan(envelope_db)]
    if known.size == 0:
        return np.zeros(envelope_db.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        active = envelope_db > np.percentile(known, 5) + margin_db
    on = np.flatnonzero(active)
    for a, b in itertools.pairwise(on):
        if 1 < b - a <= bridge + 1:
            active[a:b] = True
    return active


def _run_around(mask: np.ndarray, k: int) -> tuple[int, int]:
    """[start, end) of the run of True in ``mask`` containing ``k``."""
    start, end = k, k + 1
    while start > 0 and mask[start - 1]:
        start -= 1
    while end < mask.size and mask[end]:
        end += 1
    return start, end


def snap_span(envelope_db: np.ndarray, k: int, margin_db: float, bridge: int) -> tuple[int, int]:
    """The active span holding token ``k`` (or the nearest one); ``k`` alone when nothing is active."""
    active = active_mask(envelope_db, margin_db, bridge)
    on = np.flatnonzero(active)
    if on.size == 0:
        return k, k + 1
    return _run_around(active, k if active[k] else int(on[np.argmin(np.abs(on - k))]))


def _active_level(near: np.ndarray, peak: float, margin_db: float) -> float | None:
    """The level above which a token is active, from the background levels ``near`` and the peak's level
    (None: the peak hardly stands out over that background)."""
    floor = float(np.percentile(near, 10))
    quiet = near[near <= np.median(near)]
    spread = float(np.std(quiet)) if quiet.size > 1 else 0.0  # how much the background itself moves
    if peak - floor < max(_MIN_RISE_DB, 6 * spread):  # the sound hardly stands out: no audio span to trust
        return None
    return floor + max(min(margin_db, (peak - floor) / 2), 3 * spread)


def _local_active(
    envelope_db: np.ndarray, k: int, margin_db: float, bridge: int, local: int
) -> np.ndarray | None:
    """Tokens that sound above the background around token ``k`` (None: the peak hardly stands out).

    The floor is the 10th percentile of the level over ``k ± local`` tokens (not the clip's quietest part: a
    noise floor or another sound raises it); a token is active above floor + min(margin, half the peak's rise
    over the floor), but never within 3 spreads of the background's own fluctuation. A peak that rises less
    than 3 dB (or 6 spreads) over the floor gives None; then, when the neighbourhood holds digital silence
    beside other sound, the background is measured once more without the silent tokens. Pauses up to
    ``bridge`` tokens are bridged.
    """
    n = envelope_db.size
    near = envelope_db[max(0, k - local) : min(n, k + local + 1)]
    near = near[~np.isnan(near)]
    top = envelope_db[max(0, k - 1) : min(n, k + 2)]
    top = top[~np.isnan(top)]
    if near.size == 0 or top.size == 0:
        return None
    peak = float(np.max(top))
    level = _active_level(near, peak, margin_db)
    sounding = near[near > _FLOOR_DB]
    if level is None and 0 < sounding.size < near.size:
        # Digital silence (a muted stretch, padding) beside a noise floor made the background look like it
        # moves by tens of dB: measure the background on the tokens that are not digital silence.
        level = _active_level(sounding, peak, margin_db)
    if level is None:
        return None
    with np.errstate(invalid="ignore"):
        active = envelope_db > level
    on = np.flatnonzero(active)
    for a, b in itertools.pairwise(on):
        if 1 < b - a <= bridge + 1:
            active[a:b] = True
    return active


def sound_around(
    envelope_db: np.ndarray, k: int, margin_db: float, bridge: int, local: int
) -> tuple[int, int] | None:
    """[start, end) of the sound holding token ``k`` (active as :func:`_local_active` finds it, pauses up
    to ``bridge`` bridged); None when ``k`` is not inside one or the peak hardly stands out."""
    active = _local_active(envelope_db, k, margin_db, bridge, local)
    if active is None or not active[min(max(k, 0), active.size - 1)]:
        return None
    return _run_around(active, min(max(k, 0), active.size - 1))


def adaptive_snap(
    envelope_db: np.ndarray,
    k: int,
    margin_db: float,
    bridge: int,
    local: int,
    within: tuple[int, int] | None = None,
    reach: int = 0,
) -> tuple[int, int]:
    """The audio's active span around token ``k``, measured against the local background.

    Active tokens as :func:`_local_active` finds them. With ``within`` (Δ's threshold interval and how far
    the span may reach beyond it), the span is cut to the widened interval, and when the audio gives no
    span wider than one token, Δ's interval is the answer: over loud overlapping sounds or in noise the
    rule stays near Δ instead of covering the clip or one token.
    """
    n = envelope_db.size
    active = _local_active(envelope_db, k, margin_db, bridge, local)
    if active is None:
        return within or (k, k + 1)
    if within is not None:
        active[: max(0, within[0] - reach)] = False
        active[within[1] + reach :] = False
    if not active[min(max(k, 0), n - 1)]:
        return within or (k, k + 1)
    start, end = _run_around(active, k)
    if within is not None and end - start <= 1:
        return within
    return start, end


def snap_edges(
    envelope_db: np.ndarray,
    k: int,
    within: tuple[int, int],
    margin_db: float,
    bridge: int,
    local: int,
    reach: int,
) -> tuple[int, int]:
    """Δ's interval ``within`` with each edge moved to the audio's nearest onset (start) or offset (end)
    within ``reach`` tokens; an edge with no such transition stays where Δ put it.

    Active tokens as :func:`_local_active` finds them. Unlike :func:`adaptive_snap`, the audio never
    replaces Δ's extent: a sound with pauses longer than the bridge (a knock) keeps Δ's extent, each edge on
    the nearest blow's, instead of shrinking to one blow; a neighbouring sound whose onset or offset lies
    more than ``reach`` from Δ's edge cannot pull the edge to it.
    Δ's interval is the answer when the peak hardly stands out or the moved edges would leave ``k`` out.
    """
    active = _local_active(envelope_db, k, margin_db, bridge, local)
    if active is None:
        return within
    step = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
    onsets, offsets = np.flatnonzero(step == 1), np.flatnonzero(step == -1)  # [start, end) of each run

    def nearest(marks: np.ndarray, edge: int) -> int:
        if marks.size == 0:
            return edge
        best = int(marks[np.argmin(np.abs(marks - edge))])  # the first of two equally near wins
        return best if abs(best - edge) <= reach else edge

    start, end = nearest(onsets, within[0]), nearest(offsets, within[1])
    if not start <= k < end:
        return within
    return start, end


__all__ = ["active_mask", "adaptive_snap", "energy_db", "snap_edges", "snap_span"]
