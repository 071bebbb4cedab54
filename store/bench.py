"""Quick measurement of durable message throughput through the facade (not a test).

    .venv/bin/python -m store.bench [--senders 200] [--messages 20000] [--dir DIR]

Opens a store in a temporary directory (real file, WAL, synchronous=FULL), then
``--senders`` concurrent tasks post ``--messages`` in total, each awaiting its
acknowledgement (after COMMIT) before sending the next, and prints acknowledged
messages per second, latency percentiles and how many operations shared a COMMIT.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import trio

from store.config import StoreConfig
from store.facade import Store
from store.records import Audit


# The audit entry the bench's own set-up is recorded with.
BENCH_SETUP = Audit("bench.setup", None, None, {})


async def bench(state_dir: str, senders: int, total: int, group_ms: float) -> None:
    store = await Store.open(StoreConfig(state_dir=state_dir, password_memory_kib=64,
                                         group_commit_ms=group_ms))
    people = [await store.create_account(f"u{i}", None, "staff", "", audit=BENCH_SETUP, now=time.time()) for i in range(10)]
    room = await store.create_room("bench", "group", [p.id for p in people[1:]], people[0].id, time.time(), audit=BENCH_SETUP)
    per = total // senders
    latencies: list[float] = []
    g0, o0 = store.commit_stats

    async def sender(k: int) -> None:
        who = people[k % len(people)].id
        for j in range(per):
            t = time.perf_counter()
            await store.post_message(room.id, who, f"message {k}/{j} 本文", "lgwan",
                                     f"{k}-{j}", time.time())
            latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for k in range(senders):
            nursery.start_soon(sender, k)
    elapsed = time.perf_counter() - start
    g1, o1 = store.commit_stats
    await store.aclose()
    latencies.sort()
    n = len(latencies)
    print(f"{n} durable messages in {elapsed:.2f} s = {n / elapsed:,.0f} msg/s "
          f"({senders} senders, group_commit_ms={group_ms})")
    print(f"ack latency p50 {latencies[n // 2] * 1000:.1f} ms, "
          f"p99 {latencies[int(n * 0.99)] * 1000:.1f} ms; "
          f"{(o1 - o0) / max(1, g1 - g0):.1f} ops per COMMIT over {g1 - g0} commits")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--senders", type=int, default=200)
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--group-ms", type=float, default=2.0)
    ap.add_argument("--dir", default="", help="state directory (default: a temporary one)")
    args = ap.parse_args()
    if args.dir:
        trio.run(bench, args.dir, args.senders, args.messages, args.group_ms)
    else:
        with tempfile.TemporaryDirectory() as d:
            trio.run(bench, d, args.senders, args.messages, args.group_ms)


if __name__ == "__main__":
    main()
