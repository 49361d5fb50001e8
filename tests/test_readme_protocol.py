"""The README's protocol tables are exactly what ``organism/protocol_tables.py`` prints from the committed
run (``organism/protocol_summary.json``), so no README figure of that section is typed by hand."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _tables_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("protocol_tables", REPO / "organism" / "protocol_tables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _blocks(text: str) -> dict[str, str]:
    """Each '<!-- protocol table: NAME -->' marker and the markdown table right under it."""
    found = {}
    for match in re.finditer(r"<!-- protocol table: (\w+) -->\n((?:\|.*\n)+)", text):
        found[match.group(1)] = match.group(2).rstrip("\n")
    return found


def test_readme_protocol_tables_come_from_the_committed_run() -> None:
    module = _tables_module()
    data = json.loads((REPO / "organism" / "protocol_summary.json").read_text())
    expected = _blocks(module.tables(data))
    readme = _blocks((REPO / "README.md").read_text())
    assert expected and set(readme) == set(expected)
    for name, table in expected.items():
        assert readme[name] == table, f"README's protocol table {name!r} differs from the run's"


def test_every_set_shows_each_of_its_draws() -> None:
    module = _tables_module()
    data = json.loads((REPO / "organism" / "protocol_summary.json").read_text())
    groups = module._groups(data)
    assert all(len(draws) >= 2 for draws in groups.values())
    first_row = module.hit_table(data).splitlines()[2]
    assert first_row.count(" / ") >= len(groups)
