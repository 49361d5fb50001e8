"""The one way the organism scripts report: a JSON result printed, and written to ``--json`` when given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def emit(result: dict[str, Any], path: Path | None) -> int:
    """Print ``result`` as indented JSON and write it to ``path`` (if any); the script's exit status."""
    text = json.dumps(result, indent=1)
    print(text)
    if path:
        path.write_text(text + "\n")
    return 0
