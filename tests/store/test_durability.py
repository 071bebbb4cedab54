"""kill -9 while writing loses no acknowledged message.

(kill -9 cannot tell synchronous=NORMAL from FULL: that needs a filesystem that drops
unsynced writes, see SECURITY.md.  It does catch acknowledging before COMMIT.)
"""

from __future__ import annotations

import time

import os
import signal
import subprocess
import sys
from pathlib import Path

import trio

from store.facade import Store
from tests.store.conftest import TEST_TIMEOUT_S, config

_CHILD = r"""
import sys, time, trio
from store.config import StoreConfig
from store.facade import Store
from tests.audits import SETUP

async def main(state_dir):
    store = await Store.open(StoreConfig(state_dir=state_dir, password_memory_kib=64))
    a = await store.create_account("a", None, "staff", "", audit=SETUP, now=time.time())
    room = await store.create_room("r", "group", [], a.id, time.time(), audit=SETUP)
    print("room", room.id, flush=True)

    async def sender(k):
        i = 0
        while True:
            m, _ = await store.post_message(room.id, a.id, f"{k}-{i}", "lgwan", None, time.time())
            print("ack", m.id, flush=True)  # acknowledged only after COMMIT returned
            i += 1

    async with trio.open_nursery() as nursery:
        for k in range(20):
            nursery.start_soon(sender, k)

trio.run(main, sys.argv[1])
"""


async def test_kill_9_loses_no_acknowledged_message(state_dir: Path) -> None:
    with trio.fail_after(TEST_TIMEOUT_S):
        repo = Path(__file__).resolve().parents[2]
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(state_dir)], cwd=repo,
                                stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(repo)})
        acked: set[str] = set()
        room_id = ""
        try:
            assert proc.stdout is not None
            while len(acked) < 2000:
                line = await trio.to_thread.run_sync(proc.stdout.readline)
                assert line, "the writer process ended early"
                kind, value = line.split()
                if kind == "room":
                    room_id = value
                else:
                    acked.add(value)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        store = await Store.open(config(state_dir))
        try:
            stored: set[str] = set()
            before = None
            while page := await store.history(room_id, before, 200):
                stored.update(m.id for m in page)
                before = page[0].id
            assert acked <= stored
        finally:
            await store.aclose()
