"""A synchronous entry for command-line tools (relayctl): open, run, close.

``run(cfg, fn)`` starts trio, opens the store on ``cfg`` (the same state directory
relayd uses; both can have it open, SQLite's locking and busy timeout serialise their
writes), awaits ``fn(store)`` and closes the store even if ``fn`` fails::

    account = store.cli_helpers.run(cfg.store,
                                    lambda s: s.create_account(login, pw, "admin"))

Backup needs no event loop: call ``store.backup.backup(cfg.store.state_dir, dest)``.
"""

from __future__ import annotations

from typing import Awaitable, Callable, TypeVar

import trio

from store.config import StoreConfig
from store.facade import Store

T = TypeVar("T")


def run(cfg: StoreConfig, fn: Callable[[Store], Awaitable[T]]) -> T:
    async def main() -> T:
        store = await Store.open(cfg)
        try:
            return await fn(store)
        finally:
            await store.aclose()
    return trio.run(main)
