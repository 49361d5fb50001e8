"""Results on disk: the typed result row, the one JSON-lines store, and the rules for mixing files."""

from .jsonl import Appender, open_jsonl, read_jsonl, read_numbered
from .rows import REQUIRED_FIELDS, ResultRow, RowKey, check_row, row_key
from .runs import check_one_run, check_resumable, merge_rows, other_scene_version, read_results

__all__ = [
    "REQUIRED_FIELDS",
    "Appender",
    "ResultRow",
    "RowKey",
    "check_one_run",
    "check_resumable",
    "check_row",
    "merge_rows",
    "open_jsonl",
    "other_scene_version",
    "read_jsonl",
    "read_numbered",
    "read_results",
    "row_key",
]
