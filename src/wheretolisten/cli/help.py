"""Short help: ``COMMAND --help`` lists the options most runs need; ``--help-all`` lists every option.

The options each command shows by default are named here (:data:`SHOWN`); the rest are hidden from
``--help`` only (they work the same) and shown, grouped in panels (:data:`PANELS`), by ``--help-all``,
which the entry point turns into a full ``--help``. The command's help is cut to its first paragraph
unless ``--help-all`` is given.
"""

from __future__ import annotations

from typing import Any

#: The flag that shows every option.
HELP_ALL = "--help-all"
#: Per command path (below ``wheretolisten``), the options ``--help`` shows; other commands show all.
SHOWN: dict[tuple[str, ...], frozenset[str]] = {
    ("localize",): frozenset(
        {"query", "model", "alpha", "start", "end", "json_out", "tsv", "min_score", "threads"}
    ),
    ("generate",): frozenset({"query", "prompt", "model", "alpha", "start", "end", "threads"}),
}
#: Option name -> the help panel it is listed in (options not named stay under "Options").
PANELS: dict[str, str] = {
    **dict.fromkeys(("query", "vector", "model", "start", "end", "prompt"), "What to find"),
    **dict.fromkeys(
        ("alpha", "layers", "probe", "positions", "interval", "window_s", "shifts", "steer_answer"),
        "Steering",
    ),
    **dict.fromkeys(("min_score", "min_gap_s", "top_k", "segment_s", "overlap_s"), "Detections"),
    **dict.fromkeys(
        ("json_out", "tsv", "jsonl", "plot", "save_vector", "gt_manifest", "mkdir", "out", "out_dir"),
        "Outputs",
    ),
    **dict.fromkeys(("threads", "device", "dtype", "progress", "max_new_tokens"), "Running"),
}


def wants_all(args: list[str]) -> tuple[list[str], bool]:
    """``args`` with ``--help-all`` turned into ``--help``, and whether it was given."""
    if HELP_ALL not in args:
        return args, False
    return [("--help" if a == HELP_ALL else a) for a in args], True


def arrange(command: Any, short: bool, path: tuple[str, ...] = ()) -> None:
    """Put the options of ``command`` (a click command tree) in their panels; with ``short``, hide those
    :data:`SHOWN` leaves out and keep the help's first paragraph, pointing to ``--help-all``."""
    for name, sub in getattr(command, "commands", {}).items():
        arrange(sub, short, (*path, name))
    for param in command.params:
        if param.name in PANELS and hasattr(param, "rich_help_panel"):
            param.rich_help_panel = PANELS[param.name]
    shown = SHOWN.get(path)
    if not short or shown is None:
        return
    hidden = 0
    for param in command.params:
        option = getattr(param, "param_type_name", "") == "option"
        if option and param.name not in shown and param.name != "help":
            param.hidden = True
            hidden += 1
    if command.help:
        command.help = command.help.strip().split("\n\n")[0]
    command.epilog = f"{hidden} more options (layers, windows, device, plots, ...) and details: {HELP_ALL}"
