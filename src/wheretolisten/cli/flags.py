"""The one table from the library's parameter names to the command line's flags.

Library errors and warnings name the Python parameter (``start_s must be >= 0 and before end_s``); the
command line prints the same sentence with its flags (``--start must be >= 0 and before --end``).
"""

from __future__ import annotations

import re

#: Words the library writes for a parameter → the flag the command line takes for it. Plain-word
#: parameters (``out``, ``model``, ``overwrite``) are written by the library in a form no other sentence
#: uses (``out folder``, ``model=``, ``overwrite=True``), so that no ordinary word is rewritten.
FLAGS: dict[str, str] = {
    "start_s": "--start",
    "end_s": "--end",
    "segment_s": "--segment-s",
    "overlap_s": "--overlap-s",
    "top_k": "--top-k",
    "min_score": "--min-score",
    "min_gap_s": "--min-gap-s",
    "overwrite=True": "--overwrite",
    "mkdir=True": "--mkdir",
    "out folder": "--out",
    "jsonl log": "--jsonl",
    "model=": "--model",
    "dtype='bfloat16'": "--dtype bfloat16",
    "layers_grid and alphas": "--layers-grid and --alphas",
    "dev_fraction": "--dev-fraction",
    "direct_prompt": "--direct-prompt",
    "queries mode": "--queries",
    "fmt": "--format",
    "the scene limit": "--limit",
    "the Ray runner": "--ray",
    "RaySpec.workers": "--workers",
    "RaySpec.timeout_s": "--ray-timeout",
    "RaySpec.device": "--device",
    "label_map": "--label-map",
    "event_s": "--event-s",
    "background_db": "--background-db",
    "max_overlap": "--max-overlap",
    "level_db": "--level-db",
}

_WORDS = re.compile(
    r"(?<![\w\-'\"])(" + "|".join(re.escape(k) for k in sorted(FLAGS, key=len, reverse=True)) + r")(?![\w])"
)


def as_flags(text: str) -> str:
    """A library message in the command line's words: every parameter named by its flag (a name in
    quotes is a file's field, as in a manifest's ``'max_overlap'``, and stays)."""
    return _WORDS.sub(lambda m: FLAGS[m.group(1)], text)
