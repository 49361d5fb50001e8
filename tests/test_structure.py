"""The code base keeps its shape: import contracts, small modules, one of each plumbing idea."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "wheretolisten"
MAX_LINES = 450


def modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_import_contracts_hold() -> None:
    """``.importlinter``: layers point down, models and figures import nothing above them, no cycles.

    Run through Python in a fresh interpreter (no PATH lookup of the ``lint-imports`` script)."""
    pytest.importorskip("importlinter")
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        f"sys.exit(lint_imports(config_filename={str(ROOT / '.importlinter')!r}, no_cache=True))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout and "Contracts:" in done.stdout


def test_no_module_is_a_grab_bag() -> None:
    long = {
        str(p.relative_to(SRC)): n for p in modules() if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long


def _calls(path: Path) -> set[str]:
    """Dotted names called or imported in a module (``tempfile.mkstemp``, ``rich.progress``, ...)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            names.add(f"{node.value.id}.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


@pytest.mark.parametrize(
    ("marker", "owner"),
    [
        ("tempfile.mkstemp", {"files.py"}),  # the one atomic writer
        ("os.replace", {"files.py"}),
        ("rich.progress", {"progress.py"}),  # the one progress display
        ("sf.read", {"audio.py"}),  # the one audio loader
        ("sf.info", {"audio.py"}),
        (
            "json.loads",
            {
                "records/jsonl.py",
                "vectors.py",
                "models/registry.py",
                "models/checkpoint.py",
                "models/tiny/tokenizer.py",
                "models/tiny/voxtral.py",
                "scenes/annotations.py",
                "bench/protocol_file.py",
                "records/documents.py",  # one JSON document (a protocol record, tuning choices)
                "records/localize_log.py",  # the localize --jsonl settings check
                "explore/server.py",  # one request body
            },
        ),
    ],
)
def test_one_implementation_of_each_plumbing_idea(marker: str, owner: set[str]) -> None:
    """Writers, progress bars, audio reads and JSON-lines parsing live in one module each.

    ``json.loads`` elsewhere parses one JSON document (a header, a config, a query map), never lines.
    """
    users = {str(p.relative_to(SRC)) for p in modules() if marker in _calls(p)}
    assert users <= owner, users - owner
