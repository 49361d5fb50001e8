"""The run folder's layout: the name of every file ``bench run``, ``bench sweep`` and ``bench protocol``
write in ``--out`` (the formats are in :mod:`.rows`, :mod:`.sweep` and :mod:`.documents`)."""

from __future__ import annotations

from pathlib import Path

#: ``bench run``/``bench sweep``: the result rows (shards add ``.K-of-N``).
RESULTS_NAME = "results.jsonl"
#: ``bench protocol``: the protocol and model the folder holds.
PROTOCOL_NAME = "protocol.json"
#: ``bench protocol``: every tunable condition's dev-chosen settings.
TUNED_NAME = "tuned.json"
#: ``bench protocol``: each condition's dev-chosen readout and the interval study's facts.
READOUTS_NAME = "readouts.json"
#: ``bench protocol``: the summary, as text and as data, and the HTML report.
SUMMARY_NAME = "summary.md"
SUMMARY_JSON_NAME = "summary.json"
REPORT_NAME = "report.html"
#: ``bench protocol``: the folders of each set's rows and scenes.
RESULTS_DIR = "results"
SCENES_DIR = "scenes"


def results_path(out: Path, set_name: str) -> Path:
    """Where a protocol set's rows go (one file per set; shards add ``.K-of-N``)."""
    return out / RESULTS_DIR / f"{set_name}.jsonl"


__all__ = [
    "PROTOCOL_NAME",
    "READOUTS_NAME",
    "REPORT_NAME",
    "RESULTS_DIR",
    "RESULTS_NAME",
    "SCENES_DIR",
    "SUMMARY_JSON_NAME",
    "SUMMARY_NAME",
    "TUNED_NAME",
    "results_path",
]
