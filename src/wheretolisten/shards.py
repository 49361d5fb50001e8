"""Splitting a benchmark over several processes or GPUs, and merging what the shards wrote.

A shard ``K/N`` takes every N-th item starting at K (in manifest or grid order), so the N shards are
disjoint, cover everything, and every process computes the same split without talking to the others.
Each shard writes its own files; readers merge them (``records.merge_rows``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from .errors import WTLError

T = TypeVar("T")
Shard = tuple[int, int]


def parse_shard(text: str | None) -> Shard | None:
    """``"K/N"`` → (K, N) with 0 ≤ K < N; None → None (no sharding). An empty string is refused: it is a
    value given (an unset variable in a launch script), and taking it as "no shard" would run every item
    in each of the N processes."""
    if text is None:
        return None
    if not text.strip():
        raise WTLError(f"shard {text!r} is empty; give K/N, e.g. 0/4 for the first of four, or leave it out")
    try:
        k_text, n_text = text.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise WTLError(f"cannot parse shard {text!r}; use K/N, e.g. 0/4 for the first of four") from None
    if n < 1 or not 0 <= k < n:
        raise WTLError(f"shard {text!r} is out of range: K/N needs N >= 1 and 0 <= K < N")
    return k, n


def shard_of(items: Sequence[T], shard: Shard | None) -> list[T]:
    """The items of ``shard`` (every N-th from K); all of them when ``shard`` is None."""
    if shard is None:
        return list(items)
    k, n = shard
    return list(items[k::n])


def shard_path(path: Path, shard: Shard | None) -> Path:
    """``results.jsonl`` → ``results.K-of-N.jsonl`` for a shard (unchanged without one)."""
    if shard is None:
        return path
    return path.with_name(f"{path.stem}.{shard[0]}-of-{shard[1]}{path.suffix}")


def shard_files(path: Path) -> list[Path]:
    """``path`` and every shard file of it that exists (``stem.K-of-N.suffix``), sorted."""
    found = sorted(path.parent.glob(f"{path.stem}.*-of-*{path.suffix}"))
    return ([path] if path.is_file() else []) + found
