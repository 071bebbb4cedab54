"""Fairness of the disarm queue: one account floods it with the costliest files it may
send; how long does another account's small file take to be ready?

    .venv/bin/python -m bench.fairness            # about 2 minutes on 2 cores
    .venv/bin/python -m bench.fairness --quick    # shorter phases

Starts relayd (the real daemon on 127.0.0.1, bench config, two disarm workers).  An
internet account ("flood") keeps as many uploads in flight as its queue takes
(``auth.upload_queue_per_account``), each a zip of as many small CSVs as
``sanitize.archive_work_s`` lets in (the costliest file one may send: each holds a worker
until the archive's work deadline; answered 429 when its queue is full, and retried).
Another internet account ("small") uploads a 16-byte text file once a second and
waits until it is ready.  Printed: the small file's upload -> ready latency, p50/p99,
alone (the baseline, same run) and under the flood.  Target: p99 <= 2 s under the flood.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._client import bench_config, create_room, loadavg, pct_ms, setup_accounts, verdict  # noqa: E402
from tests.e2e.harness import HTTPClient, Relayd, start_relayd  # noqa: E402

TARGET_P99_S = 2.0
SETTINGS = {"sanitize": {"workers": 2},
            "auth": {"upload_burst": 100000, "upload_refill_s": 0.01}}


def costly_zip() -> bytes:
    """Members up to 90 % of what the archive work estimate admits, each a small CSV
    the engine opens and defuses: the estimate lets it in, the work takes a worker
    until the deadline (a zip of 9,999 is refused at once)."""
    from sanitize.config import SanitizeConfig
    from sanitize.formats.archive import MEMBER_COST_S
    n = int(SanitizeConfig().archive_work_s / MEMBER_COST_S * 0.9)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(n):
            z.writestr(f"data/{i:04}.csv", f"id,name,amount\n{i},名前{i},{i * 7}\n" * 3)
    return out.getvalue()


async def upload(client: HTTPClient, room: str, name: str, data: bytes) -> tuple[int, str | None]:
    try:
        reply = await client.request("POST", f"/api/v1/rooms/{room}/files?name={name}",
                                     body=data,
                                     headers={"content-type": "application/octet-stream"})
    except trio.BrokenResourceError:
        # Refused (429) before the body was read, and the connection closed while the
        # client was still sending it: the answer was "come back later".
        await client.aclose()
        return 429, None
    if reply.status != 201:
        return reply.status, None
    return 201, reply.json()["attachments"][0]["id"]


async def ready(client: HTTPClient, file_id: str) -> str:
    while True:
        status = (await client.request("GET", f"/api/v1/files/{file_id}")).json()["status"]
        if status != "pending":
            return str(status)
        await trio.sleep(0.02)


async def flood(r: Relayd, token: str, room: str, data: bytes, stop: trio.Event,
                counts: dict[str, int]) -> None:
    async def one(k: int) -> None:
        client = HTTPClient(r.endpoint("internet"), token)
        while not stop.is_set():
            status, file_id = await upload(client, room, f"bomb{k}.zip", data)
            counts[str(status)] = counts.get(str(status), 0) + 1
            if file_id is None:
                await trio.sleep(0.5)  # 429: the queue is full, as it should be
            else:
                await ready(client, file_id)
        await client.aclose()

    async with trio.open_nursery() as nursery:
        for k in range(12):  # more than the queue takes: it stays full
            nursery.start_soon(one, k)


async def small_files(r: Relayd, token: str, room: str, seconds: float) -> list[float]:
    client = HTTPClient(r.endpoint("internet"), token)
    out: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        status, file_id = await upload(client, room, "memo.txt", b"kakehashi memo 1")
        assert status == 201 and file_id, status
        assert await ready(client, file_id) == "ready"
        out.append(time.monotonic() - t0)
        await trio.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
    await client.aclose()
    return out


async def run(r: Relayd, seconds: float) -> tuple[list[float], list[float], dict[str, int]]:
    accounts = await setup_accounts(r, ["internet", "internet", "lgwan"])
    flooder, small, reader = accounts
    room_f = await create_room(r, "受付 flood", [flooder, reader])
    room_s = await create_room(r, "受付 small", [small, reader])
    alone = await small_files(r, small.token, room_s, seconds / 2)
    data = costly_zip()
    counts: dict[str, int] = {}
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(flood, r, flooder.token, room_f, data, stop, counts)
        await trio.sleep(3)  # the queue fills
        loaded = await small_files(r, small.token, room_s, seconds)
        stop.set()
        nursery.cancel_scope.cancel()
    return alone, loaded, counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="small uploads under the flood")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    seconds = 20.0 if args.quick else args.seconds
    start_load = loadavg()
    with tempfile.TemporaryDirectory(prefix="kakehashi-bench-fair-") as tmp:
        r = start_relayd(Path(tmp), bench_config(SETTINGS))
        try:
            alone, loaded, counts = trio.run(run, r, seconds)
        finally:
            r.stop()
    p99 = pct_ms(loaded, .99) / 1000
    print(f"Fairness benchmark — load average at start: {start_load}; end: {loadavg()}")
    print("  relayd: 2 disarm workers; flood: zips of small CSVs at the archive work limit, "
          "queue kept full; "
          f"flood uploads by answer: {counts}")
    print(f"  {'small file: upload -> ready':<32} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for label, xs in (("alone (baseline)", alone), ("under the flood", loaded)):
        print(f"  {label:<32} {len(xs):>5} {pct_ms(xs, .5):>8.0f} {pct_ms(xs, .99):>8.0f} "
              f"{pct_ms(xs, 1):>8.0f}")
    print(f"  target: p99 under the flood <= {TARGET_P99_S:.0f} s  {verdict(p99 <= TARGET_P99_S)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
