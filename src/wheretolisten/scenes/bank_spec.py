"""Choose a sound bank from a command-line specification (procedural, a folder, or ESC-50)."""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .banks import Bank, ESC50Bank, FolderBank
from .procedural import ProceduralBank


def _parse_folds(text: str, spec: str) -> list[int]:
    try:
        folds = [int(f) for f in text.split(",") if f.strip()]
    except ValueError as exc:
        raise DataError(f"bank {spec!r}: folds must be comma-separated integers, got {text!r}") from exc
    if not folds:
        raise DataError(f"bank {spec!r}: empty fold list")
    return folds


def get_bank(spec: str) -> Bank:
    """'procedural', 'esc50:DIR[:folds=1,2,3]', 'folder:DIR', or an existing directory (ESC-50 if it has
    meta/esc50.csv, else a label-folder bank)."""
    if spec == "procedural":
        return ProceduralBank()
    if spec.startswith("esc50:"):
        rest = spec[len("esc50:") :]
        if ":folds=" in rest:
            root, fold_text = rest.rsplit(":folds=", 1)
            return ESC50Bank(root, folds=_parse_folds(fold_text, spec))
        return ESC50Bank(rest)
    if spec.startswith("folder:"):
        return FolderBank(spec[len("folder:") :])
    path = Path(spec)
    if path.is_dir():
        if (path / "meta" / "esc50.csv").is_file():
            return ESC50Bank(path)
        return FolderBank(path)
    raise DataError(
        f"unknown bank {spec!r}: expected 'procedural', 'esc50:DIR[:folds=1,2]', or an existing directory"
    )
