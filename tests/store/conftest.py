"""Fixtures for the store tests: a real state directory in tmp_path, nothing mocked."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import pytest

from store.config import StoreConfig
from store.facade import Store

# Generous: every test stops by itself well before this.
TEST_TIMEOUT_S = 30


def config(state_dir: Path, **overrides: object) -> StoreConfig:
    # The smallest password cost the config accepts keeps account creation cheap.
    return StoreConfig(state_dir=str(state_dir), password_memory_kib=64,
                       **overrides)  # type: ignore[arg-type]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
async def store(state_dir: Path) -> AsyncIterator[Store]:
    s = await Store.open(config(state_dir, group_commit_ms=1.0))
    try:
        yield s
    finally:
        await s.aclose()
