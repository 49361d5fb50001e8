"""Hub ids without a network: fail in a second with one line, instead of minutes of retries.

Before transformers is asked for a hub id, the cache and the hub's reachability are checked once: a model
already downloaded loads offline, a missing one with no way to reach the hub is one ``ModelError`` that
says what to do (check the network, or set ``HF_HUB_OFFLINE=1`` to use only downloaded models).
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

from ..errors import ModelError

#: Seconds to wait for a TCP connection to the hub before calling it unreachable.
CONNECT_TIMEOUT_S = 3.0


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _cached(name: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(name, "config.json")
    except Exception:  # an id the hub library rejects is simply not cached
        return False
    return isinstance(found, str)


def _reachable(endpoint: str) -> bool:
    """Whether a TCP connection to the hub opens (a proxy, if configured, is left to decide)."""
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False


def local_files_only(name: str) -> bool:
    """Whether ``name`` (a hub id) must load from the local cache; raises when it cannot load at all."""
    from huggingface_hub import constants

    if _offline():
        if not _cached(name):
            raise ModelError(
                f"{name!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set: download it "
                "once with a network, or give a local model directory"
            )
        return True
    if _reachable(constants.ENDPOINT):
        return False
    if _cached(name):
        return True
    raise ModelError(
        f"cannot reach the Hugging Face Hub ({constants.ENDPOINT}) to download {name!r}: check the network, "
        "set HF_HUB_OFFLINE=1 to use only models already downloaded, or give a local model directory"
    )
