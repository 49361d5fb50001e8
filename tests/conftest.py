"""Shared fixtures: tiny random-weight models of the paper's two families, saved to disk like checkpoints.

The general suite runs on these two; ``tests/test_families.py`` runs the family conformance checks on every
registered family.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from browser import new_driver
from helpers import CORE_FAMILIES
from wheretolisten.models import Adapter, load_model
from wheretolisten.models.tiny import make_tiny_model

FAMILIES = CORE_FAMILIES


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {family: make_tiny_model(family, root / family, seed=0) for family in FAMILIES}


@pytest.fixture(scope="session")
def adapters(tiny_dirs: dict[str, Path]) -> dict[str, Adapter]:
    return {family: load_model(path, device="cpu", dtype="float32") for family, path in tiny_dirs.items()}


@pytest.fixture(params=FAMILIES)
def adapter(request: pytest.FixtureRequest, adapters: dict[str, Adapter]) -> Adapter:
    return adapters[request.param]


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread for a module (tiny models run faster so, sharing the cores); restored after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def chrome() -> Iterator[Any]:
    """A headless Chromium for a module's browser tests (skips, saying what to install, without one)."""
    driver = new_driver()
    try:
        yield driver
    finally:
        driver.quit()
