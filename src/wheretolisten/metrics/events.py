"""DCASE event-based F1 with onset/offset collars: one-to-one matching of detected and reference events."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

__all__ = ["event_f1"]

Event = tuple[str, float, float, str]


def _event_key(ev: Mapping[str, Any]) -> Event:
    """(filename, onset, offset, label) of an event dict, accepting sed_eval's event_onset/event_offset."""
    if not isinstance(ev, Mapping):
        raise ValueError(f"an event must be a dict with onset, offset and event_label, got {ev!r}")
    missing = [
        k
        for k, alt in (("onset", "event_onset"), ("offset", "event_offset"))
        if k not in ev and alt not in ev
    ]
    if missing or "event_label" not in ev:
        raise ValueError(
            f"an event needs onset, offset and event_label; {ev!r} has no {(missing or ['event_label'])[0]}"
        )
    onset = ev["onset"] if "onset" in ev else ev["event_onset"]
    offset = ev["offset"] if "offset" in ev else ev["event_offset"]
    return (str(ev.get("filename", "")), float(onset), float(offset), str(ev["event_label"]))


def _matches(
    refs: list[Event], preds: list[Event], t_collar: float, percentage_of_length: float, offsets: bool = True
) -> int:
    """Size of a maximum one-to-one matching of the events of one file (scipy's Hopcroft–Karp)."""
    r_on, r_off = np.array([e[1] for e in refs]), np.array([e[2] for e in refs])
    p_on, p_off = np.array([e[1] for e in preds]), np.array([e[2] for e in preds])
    r_lab = np.array([e[3] for e in refs], dtype=object)
    p_lab = np.array([e[3] for e in preds], dtype=object)
    off_collar = np.maximum(t_collar, percentage_of_length * (r_off - r_on))
    adj = (r_lab[:, None] == p_lab[None, :]) & (np.abs(r_on[:, None] - p_on[None, :]) <= t_collar)
    if offsets:
        adj &= np.abs(r_off[:, None] - p_off[None, :]) <= off_collar[:, None]
    matched = maximum_bipartite_matching(csr_matrix(np.asarray(adj, dtype=np.int8)), perm_type="column")
    return int(np.count_nonzero(matched >= 0))


def event_f1(
    pred_events: Iterable[Mapping[str, Any]],
    ref_events: Iterable[Mapping[str, Any]],
    t_collar: float = 0.2,
    percentage_of_length: float = 0.2,
    evaluate_offset: bool = True,
) -> dict[str, float | int]:
    """DCASE event-based F1 (micro-averaged over all events) with onset and offset collars.

    A predicted event matches a reference of the same label in the same file when
    |onset difference| <= t_collar and |offset difference| <= max(t_collar, percentage_of_length *
    reference length). Matching is one-to-one and maximal per file, as sed_eval's "optimal" mode.
    Precision (recall) is 0 when there are no predictions (references), instead of sed_eval's NaN.
    ``evaluate_offset=False`` matches on the onset alone (sed_eval's ``evaluate_offset=False``).
    """
    if not (t_collar >= 0 and percentage_of_length >= 0):  # a negative collar matched nothing, silently
        raise ValueError(
            f"t_collar and percentage_of_length must be >= 0, got {t_collar}, {percentage_of_length}"
        )
    preds = [_event_key(e) for e in pred_events]
    refs = [_event_key(e) for e in ref_events]
    by_file: dict[str, tuple[list[Event], list[Event]]] = {}
    for e in refs:
        by_file.setdefault(e[0], ([], []))[0].append(e)
    for e in preds:
        by_file.setdefault(e[0], ([], []))[1].append(e)
    pairs = [(r, p) for r, p in by_file.values() if r and p]
    tp = sum(_matches(r, p, t_collar, percentage_of_length, evaluate_offset) for r, p in pairs)
    n_sys, n_ref = len(preds), len(refs)
    prec = tp / n_sys if n_sys else 0.0
    rec = tp / n_ref if n_ref else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0
    return {"f1": f1, "precision": prec, "recall": rec, "tp": tp, "fp": n_sys - tp, "fn": n_ref - tp}
