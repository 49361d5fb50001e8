"""A protocol as TOML: the writer of ``bench protocol --write-protocol P.toml`` (read back with
``tomllib`` by ``protocol_file.load_protocol``): the standard library reads TOML but does not write it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .protocol_file import Protocol


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return "[" + ", ".join(_toml_value(v) for v in value) + "]"


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").isalnum() else json.dumps(key)


def _toml_table(header: str, table: Mapping[str, Any]) -> list[str]:
    """A table's plain values (None left out: absent is the default); sub-tables follow as
    ``[<header>.<key>]`` (for an array of tables, of its last element)."""
    lines = [header] if header else []
    lines += [
        f"{_toml_key(k)} = {_toml_value(v)}"
        for k, v in table.items()
        if v is not None and not isinstance(v, Mapping)
    ]
    name = header.strip("[]")
    for k, v in table.items():
        if isinstance(v, Mapping) and name:
            lines += ["", *_toml_table(f"[{name}.{_toml_key(k)}]", v)]
    return lines


def protocol_toml(protocol: Protocol) -> str:
    """The protocol as TOML (read back by :func:`load_protocol`)."""
    data = protocol.to_dict()
    tests, grids = data.pop("tests"), data.pop("grids")
    lines = _toml_table("", data)
    for name in ("dev", "intervals"):
        lines += ["", *_toml_table(f"[{name}]", data[name])]
    for t in tests:
        lines += ["", *_toml_table("[[tests]]", t)]
    for name, grid in grids.items():
        lines += ["", *_toml_table(f"[grids.{_toml_key(name)}]", grid)]
    return "\n".join(lines) + "\n"


__all__ = ["protocol_toml"]
