"""``python -m wheretolisten``: the same command line as ``wheretolisten``."""

from .cli import main

main()
