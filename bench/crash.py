"""Crash loop: a fault under load (SIGKILL, a full disk), again and again, and count
what survives.

    .venv/bin/python -m bench.crash                # 200 kill cycles, a few minutes
    .venv/bin/python -m bench.crash --cycles 20 --seed 7 --keep
    .venv/bin/python -m bench.crash --fault disk-full --cycles 20   # root: a tmpfs

The faults (``FAULTS``, ``--fault``):

``kill`` (the default):
Each cycle starts relayd (127.0.0.1 only, port 0, state in a temporary directory
that every cycle reuses), first resends every message whose acknowledgement it never
got (same ``client_id``: relayd must answer with the message it may already have
committed, never a second copy), then lets clients send new messages, some over HTTP
and some over the WebSocket stream with several sends in flight, and SIGKILLs relayd
at a random moment.  After each restart ``PRAGMA integrity_check`` runs on the
database (next to the running relayd, read-only).  At the end a last relayd resends
whatever is still unacknowledged, every account's room history is read back over the
API, and the figures are printed:

    cycles, acknowledged, present (acked and found exactly once, with the acked id),
    duplicates (a body seen more than once), lost (acked, not found), unknown
    (found but never sent), integrity (all checks "ok"), wall time.

``disk-full``: the state lives on a small tmpfs (root only; anything else would
fill a real file system).  One relayd runs every cycle, never restarted: each cycle
resends what is unacknowledged, lets the clients send, then fills the file system
with a placeholder file at a random moment and keeps it full for a random while (the
clients keep sending: a refused write must be ``503 storage_full``, and is sent again
with the same ``client_id`` after a short pause), then deletes the placeholder.  The
figures add: writes refused, the time from freeing the space to the next
acknowledged message (median and max), and the audit chain's check at the end.  Any
other answer (a 500, another code) stops the run.

Exit status 0 when nothing was lost or duplicated and every check was ok.  Not a
test: it takes minutes and kill timing is random (``--seed`` repeats a run's kill
times, not the scheduling around them).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from store.config import StoreConfig  # noqa: E402
from store.db import DB_NAME  # noqa: E402
from store.facade import Store  # noqa: E402
from store.records import Audit  # noqa: E402
from tests.e2e.harness import (  # noqa: E402
    DiskFiller, HTTPClient, Relayd, RelaydFailed, mount_tmpfs, start_relayd, umount_tmpfs,
    ws_connect,
)

PASSWORD = "crash-loop-password-1"
CONFIG: dict[str, Any] = {
    "listeners": {"lgwan": {"host": "127.0.0.1", "port": 0},
                  "internet": {"host": "127.0.0.1", "port": 0}},
    "store": {"password_memory_kib": 64},
    "sanitize": {"workers": 1},
    # Neither limit is under test; both would only slow the senders down.
    "auth": {"message_burst": 100_000, "message_refill_s": 0.0001,
             "login_burst_ip": 1000, "login_burst_account": 1000, "login_refill_s_ip": 0.01,
             "login_refill_s_account": 0.01},
}
CYCLE_TIMEOUT_S = 60.0  # a cycle that takes longer than this is a hang: stop and say so
TMPFS_MIB = 16  # the disk-full fault's file system
# A client told storage_full sends again this soon (a real one honours Retry-After;
# the bench wants to see the recovery as soon as it happens).
REFUSED_PAUSE_S = 0.05
RECOVERY_TIMEOUT_S = 30.0  # no ack this long after the space returned: a wedged writer


@dataclass
class Sender:
    """One account sending messages whose body is its client_id."""

    login: str
    zone: str  # "lgwan" or "internet"
    via: str   # "http" or "stream"
    next_n: int = 0
    token: str | None = None
    acked: dict[str, str] = field(default_factory=dict)   # client_id -> message id
    pending: set[str] = field(default_factory=set)        # sent, no ack seen
    retry: list[str] = field(default_factory=list)        # refused (storage_full): again
    refused: int = 0

    def next_cid(self) -> str:
        return self.retry.pop() if self.retry else self.new_cid()

    def new_cid(self) -> str:
        cid = f"{self.login}-{self.next_n}"
        self.next_n += 1
        self.pending.add(cid)
        return cid

    def ack(self, cid: str, message: dict[str, Any]) -> None:
        if message["body"] != cid:
            raise AssertionError(f"ack for {cid} carries body {message['body']!r}")
        known = self.acked.get(cid)
        if known is not None and known != message["id"]:
            raise AssertionError(f"{cid} acked twice with different ids: {known}, {message['id']}")
        self.acked[cid] = message["id"]
        self.pending.discard(cid)


@dataclass
class Totals:
    cycles: int = 0
    resent: int = 0
    resent_already_committed: int = 0
    integrity: list[str] = field(default_factory=list)
    start_s: list[float] = field(default_factory=list)
    recovery_s: list[float] = field(default_factory=list)  # disk-full: free -> next ack
    full_s: float = 0.0


# The audit entry the bench's own set-up is recorded with.
BENCH_SETUP = Audit("bench.setup", None, None, {})


async def setup(state_dir: Path, senders: list[Sender]) -> str:
    store = await Store.open(StoreConfig(state_dir=str(state_dir), password_memory_kib=64))
    try:
        ids = [(await store.create_account(s.login, PASSWORD, "staff", "", audit=BENCH_SETUP, now=time.time())).id for s in senders]
        room = await store.create_room("crash loop", "group", ids, ids[0], time.time(), audit=BENCH_SETUP)
        return room.id
    finally:
        await store.aclose()


async def login(r: Relayd, s: Sender) -> HTTPClient:
    client = r.client(s.zone, s.token)
    if s.token:
        me = await client.request("GET", "/api/v1/me")
        if me.status == 200:
            return client
    reply = await client.request("POST", "/api/v1/login",
                                 json={"login": s.login, "password": PASSWORD})
    if reply.status != 200:
        raise RuntimeError(f"login {s.login}: {reply.status} {reply.body[:200]!r}")
    s.token = client.token = reply.json()["token"]
    return client


async def resend_pending(r: Relayd, s: Sender, room: str, totals: Totals) -> None:
    """Every client_id without an ack, again, until relayd answers 201."""
    client = await login(r, s)
    try:
        for cid in sorted(s.pending, key=lambda c: int(c.rsplit("-", 1)[1])):
            while (reply := await client.request(
                    "POST", f"/api/v1/rooms/{room}/messages",
                    json={"body": cid, "client_id": cid})).error_code == "storage_full":
                await trio.sleep(REFUSED_PAUSE_S)
            if reply.status != 201:
                raise RuntimeError(f"resend {cid}: {reply.status} {reply.body[:200]!r}")
            totals.resent += 1
            s.ack(cid, reply.json())
    finally:
        await client.aclose()


async def send_http(r: Relayd, s: Sender, room: str) -> None:
    client = await login(r, s)
    try:
        while True:
            cid = s.next_cid()
            reply = await client.request("POST", f"/api/v1/rooms/{room}/messages",
                                         json={"body": cid, "client_id": cid})
            if reply.status == 429:
                s.retry.append(cid)
                await trio.sleep(float(reply.headers.get("retry-after", "0.1")))
                continue
            if (reply.status, reply.error_code) == (503, "storage_full"):
                if not reply.headers.get("retry-after"):
                    raise RuntimeError(f"send {cid}: storage_full without Retry-After")
                s.refused += 1
                s.retry.append(cid)
                await trio.sleep(REFUSED_PAUSE_S)
                continue
            if reply.status != 201:
                raise RuntimeError(f"send {cid}: {reply.status} {reply.body[:200]!r}")
            s.ack(cid, reply.json())
    finally:
        await client.aclose()


async def send_stream(r: Relayd, s: Sender, room: str, window: int) -> None:
    client = await login(r, s)
    await client.aclose()
    in_flight = trio.Semaphore(window)
    async with ws_connect(r.endpoint(s.zone), s.token) as ws:
        async def receive() -> None:
            while True:
                ev = json.loads(await ws.get_message())
                if ev["type"] == "ack":
                    s.ack(ev["client_id"], ev["message"])
                    in_flight.release()
                elif ev["type"] == "error" and ev["error"]["code"] == "storage_full":
                    s.refused += 1
                    s.retry.append(ev["client_id"])
                    await trio.sleep(REFUSED_PAUSE_S)
                    in_flight.release()
                elif ev["type"] == "error":
                    raise RuntimeError(f"stream error: {ev}")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            while True:
                await in_flight.acquire()
                cid = s.next_cid()
                await ws.send_message(json.dumps({"type": "send", "room_id": room,
                                                  "body": cid, "client_id": cid}))


async def run_senders(r: Relayd, senders: list[Sender], room: str, window: int,
                      kill_after: float) -> None:
    """Send until relayd is killed ``kill_after`` seconds in; connection errors after
    the kill are expected, any before it are not."""
    killed = False

    async def guarded(s: Sender) -> None:
        try:
            if s.via == "http":
                await send_http(r, s, room)
            else:
                await send_stream(r, s, room, window)
        except BaseException as exc:
            # After the kill every kind of error may come out of a cut connection
            # (OSError, h11, trio, trio-websocket), also in an exception group mixed
            # with the Cancelled of the stop below: this task is done either way.
            if killed:
                return
            if not isinstance(exc, Exception):
                raise  # a cancellation from outside (the cycle timeout)
            alive = "alive" if r.proc.poll() is None else f"exited {r.proc.returncode}"
            raise RuntimeError(f"{s.login} failed before the kill (relayd {alive}): "
                               f"{exc!r}\n{r.log()[-3000:]}") from exc

    async with trio.open_nursery() as nursery:
        for s in senders:
            nursery.start_soon(guarded, s)
        await trio.sleep(kill_after)
        killed = True
        r.kill()
        # Give the senders a moment to notice the dead connections, then stop them.
        await trio.sleep(0.02)
        nursery.cancel_scope.cancel()


def committed(state_dir: Path, senders: list[Sender]) -> int:
    """How many unacked client_ids are already in the database (their ack was lost in
    the kill): the resends that idempotency has to answer with the existing message."""
    conn = sqlite3.connect(f"file:{state_dir / DB_NAME}?mode=ro", uri=True, timeout=10)
    try:
        cids = [cid for s in senders for cid in s.pending]
        n = 0
        for i in range(0, len(cids), 500):
            chunk = cids[i:i + 500]
            n += conn.execute(f"SELECT count(*) FROM messages WHERE client_id IN "
                              f"({','.join('?' * len(chunk))})", chunk).fetchone()[0]
        return int(n)
    finally:
        conn.close()


def integrity(state_dir: Path) -> str:
    conn = sqlite3.connect(f"file:{state_dir / DB_NAME}?mode=ro", uri=True, timeout=10)
    try:
        return "; ".join(str(row[0]) for row in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


async def history(r: Relayd, s: Sender, room: str) -> list[dict[str, Any]]:
    client = await login(r, s)
    out: list[dict[str, Any]] = []
    before: str | None = None
    try:
        while True:
            q = "?limit=200" + (f"&before={before}" if before else "")
            reply = await client.request("GET", f"/api/v1/rooms/{room}/messages{q}")
            page = reply.json()["messages"]
            out[:0] = page
            if len(page) < 200:
                return out
            before = page[0]["id"]
    finally:
        await client.aclose()


async def kill_cycles(args: argparse.Namespace, rng: random.Random, work: Path, state: Path,
                      senders: list[Sender], room: str, totals: Totals) -> str | None:
    """The ``kill`` fault: start, resend, send, SIGKILL; again.  The first admin's
    password (from the first start), for the audit check at the end."""
    admin_password: str | None = None
    started = time.monotonic()
    for cycle in range(1, args.cycles + 1):
        with trio.fail_after(CYCLE_TIMEOUT_S):
            t0 = time.monotonic()
            r = await trio.to_thread.run_sync(lambda: start_relayd(work, CONFIG, state_dir=state))
            totals.start_s.append(time.monotonic() - t0)
            admin_password = admin_password or r.admin_password
            try:
                totals.integrity.append(await trio.to_thread.run_sync(integrity, state))
                totals.resent_already_committed += committed(state, senders)
                for s in senders:
                    await resend_pending(r, s, room, totals)
                await run_senders(r, senders, room, args.window,
                                  rng.uniform(args.min_run, args.max_run))
            finally:
                if r.proc.poll() is None:
                    r.kill()
        totals.cycles = cycle
        if cycle % 20 == 0 or cycle == args.cycles:
            acked = sum(len(s.acked) for s in senders)
            pending = sum(len(s.pending) for s in senders)
            print(f"  cycle {cycle}: acked {acked}, unacked in flight at the kill {pending}, "
                  f"{time.monotonic() - started:.0f} s", flush=True)
    return admin_password


async def disk_full_cycles(args: argparse.Namespace, rng: random.Random, work: Path,
                           state: Path, senders: list[Sender], room: str,
                           totals: Totals) -> str | None:
    """The ``disk-full`` fault: one relayd; send, fill the file system, keep it full,
    free it, time the recovery; again."""
    filler = DiskFiller(state.parent)
    started = time.monotonic()
    r = await trio.to_thread.run_sync(lambda: start_relayd(work, CONFIG, state_dir=state))
    totals.start_s.append(time.monotonic() - started)
    try:
        for cycle in range(1, args.cycles + 1):
            with trio.fail_after(CYCLE_TIMEOUT_S):
                for s in senders:
                    await resend_pending(r, s, room, totals)
                await full_disk_under_load(r, senders, room, args, rng, filler, totals)
                totals.integrity.append(await trio.to_thread.run_sync(integrity, state))
            totals.cycles = cycle
            if cycle % 5 == 0 or cycle == args.cycles:
                acked = sum(len(s.acked) for s in senders)
                refused = sum(s.refused for s in senders)
                print(f"  cycle {cycle}: acked {acked}, refused {refused}, recovery max "
                      f"{max(totals.recovery_s):.3f} s, {time.monotonic() - started:.0f} s",
                      flush=True)
    finally:
        r.stop()
    return r.admin_password


async def full_disk_under_load(r: Relayd, senders: list[Sender], room: str,
                               args: argparse.Namespace, rng: random.Random,
                               filler: DiskFiller, totals: Totals) -> None:
    def acks() -> int:
        return sum(len(s.acked) for s in senders)

    async def guarded(s: Sender) -> None:
        try:
            if s.via == "http":
                await send_http(r, s, room)
            else:
                await send_stream(r, s, room, args.window)
        except Exception as exc:
            raise RuntimeError(f"{s.login} failed on a full disk: {exc!r}\n"
                               f"{r.log()[-3000:]}") from exc

    async with trio.open_nursery() as nursery:
        for s in senders:
            nursery.start_soon(guarded, s)
        await trio.sleep(rng.uniform(args.min_run, args.max_run))
        t0 = time.monotonic()
        filler.start()
        if not await trio.to_thread.run_sync(filler.full.wait, 10.0):
            raise RuntimeError("the filler could not fill the file system")
        await trio.sleep(rng.uniform(args.min_run, args.max_run))
        before = acks()
        freed = time.monotonic()
        totals.full_s += freed - t0
        await trio.to_thread.run_sync(filler.free)
        with trio.fail_after(RECOVERY_TIMEOUT_S):
            while acks() == before:
                await trio.sleep(0.002)
        totals.recovery_s.append(time.monotonic() - freed)
        await trio.sleep(0.05)
        nursery.cancel_scope.cancel()


async def audit_verify(r: Relayd, password: str | None) -> str:
    if not password:
        return "n/a (no admin password)"
    client = r.client("lgwan")
    try:
        reply = await client.request("POST", "/api/v1/login",
                                     json={"login": "admin", "password": password})
        if reply.status != 200:
            return f"n/a (admin login {reply.status})"
        client.token = reply.json()["token"]
        v = (await client.request("GET", "/api/v1/admin/audit/verify")).json()
        return "ok" if v.get("ok") else f"BROKEN at {v.get('first_bad')}"
    finally:
        await client.aclose()


FAULTS = {
    "kill": ("SIGKILL relayd at a random moment, restart it", kill_cycles),
    "disk-full": ("fill the state's file system, free it, no restart", disk_full_cycles),
}


async def main_async(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="kakehashi-crash-"))
    work.mkdir(parents=True, exist_ok=True)
    state = work / "state"
    mnt: Path | None = None
    if args.fault == "disk-full":
        mnt = work / "small"
        why_not = mount_tmpfs(mnt, TMPFS_MIB)
        if why_not:
            print(f"crash loop: the disk-full fault needs a file system of its own: {why_not}",
                  file=sys.stderr)
            return 2
        state = mnt / "state"
    try:
        return await run_fault(args, rng, work, state)
    finally:
        if mnt is not None:
            umount_tmpfs(mnt)
        if not args.keep and not args.dir:
            shutil.rmtree(work, ignore_errors=True)


async def run_fault(args: argparse.Namespace, rng: random.Random, work: Path,
                    state: Path) -> int:
    senders = ([Sender(f"http{i}", "lgwan" if i % 2 == 0 else "internet", "http")
                for i in range(args.http_clients)] +
               [Sender(f"ws{i}", "internet" if i % 2 == 0 else "lgwan", "stream")
                for i in range(args.ws_clients)])
    room = await setup(state, senders)
    totals = Totals()
    started = time.monotonic()
    print(f"crash loop: fault {args.fault} ({FAULTS[args.fault][0]}), {args.cycles} cycles, "
          f"{len(senders)} clients, state in {state}", flush=True)
    admin_password = await FAULTS[args.fault][1](args, rng, work, state, senders, room, totals)

    # The last start: resend what is still unacked, then read everything back.
    r = await trio.to_thread.run_sync(lambda: start_relayd(work, CONFIG, state_dir=state))
    try:
        totals.integrity.append(await trio.to_thread.run_sync(integrity, state))
        totals.resent_already_committed += committed(state, senders)
        for s in senders:
            await resend_pending(r, s, room, totals)
        seen = await history(r, senders[0], room)
        audit = await audit_verify(r, admin_password)
    finally:
        r.stop()
    totals.integrity.append(await trio.to_thread.run_sync(integrity, state))
    wall = time.monotonic() - started

    acked = {cid: mid for s in senders for cid, mid in s.acked.items()}
    sent = {f"{s.login}-{n}" for s in senders for n in range(s.next_n)}
    bodies: dict[str, list[str]] = {}
    for m in seen:
        bodies.setdefault(m["body"], []).append(m["id"])
    present = sum(1 for cid, mid in acked.items() if bodies.get(cid) == [mid])
    duplicates = sum(len(ids) - 1 for ids in bodies.values() if len(ids) > 1)
    lost = sum(1 for cid in acked if cid not in bodies)
    wrong_id = sum(1 for cid, mid in acked.items() if cid in bodies and mid not in bodies[cid])
    unknown = sum(1 for b in bodies if b not in sent)
    never_acked = len(sent - set(acked))
    bad_checks = [c for c in totals.integrity if c != "ok"]
    result = {
        "cycles": totals.cycles, "sent": len(sent), "acknowledged": len(acked),
        "present": present, "duplicates": duplicates, "lost": lost, "wrong_id": wrong_id,
        "unknown": unknown, "never_acked": never_acked, "resent": totals.resent,
        "resent_already_committed": totals.resent_already_committed,
        "messages_in_history": len(seen),
        "integrity": "ok" if not bad_checks else bad_checks[:3],
        "integrity_checks": len(totals.integrity),
        "audit_chain": audit,
        "relayd_start_s_median": sorted(totals.start_s)[len(totals.start_s) // 2],
        "wall_s": round(wall, 1),
    }
    if args.fault == "disk-full":
        rec = sorted(totals.recovery_s)
        result.update({
            "refused_storage_full": sum(s.refused for s in senders),
            "full_s_total": round(totals.full_s, 1),
            "recovery_s_median": round(rec[len(rec) // 2], 3) if rec else None,
            "recovery_s_max": round(rec[-1], 3) if rec else None,
        })
    print(json.dumps(result, ensure_ascii=False) if args.json else
          "\n".join(f"  {k:24} {v}" for k, v in result.items()))
    if args.keep or args.dir:
        print(f"state kept in {state}" + (" (on a tmpfs, gone when unmounted)"
                                          if args.fault == "disk-full" else ""))
    good = (not bad_checks and present == len(acked) and duplicates == lost == wrong_id
            == unknown == never_acked == 0 and audit in ("ok", "n/a (no admin password)"))
    return 0 if good else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fault", choices=sorted(FAULTS), default="kill",
                   help="; ".join(f"{k}: {v[0]}" for k, v in FAULTS.items()) + " (kill)")
    p.add_argument("--cycles", type=int, default=200, help="fault cycles (200)")
    p.add_argument("--http-clients", type=int, default=2, help="accounts sending over HTTP (2)")
    p.add_argument("--ws-clients", type=int, default=2, help="accounts sending over the stream (2)")
    p.add_argument("--window", type=int, default=8, help="stream sends in flight per client (8)")
    p.add_argument("--min-run", type=float, default=0.05,
                   help="shortest time before the fault (and a disk stays full), s")
    p.add_argument("--max-run", type=float, default=0.6,
                   help="longest time before the fault (and a disk stays full), s")
    p.add_argument("--seed", type=int, default=None, help="random seed for the kill times")
    p.add_argument("--dir", help="work directory (default: a new temporary one, removed)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    args = p.parse_args()
    try:
        return trio.run(main_async, args)
    except (RelaydFailed, trio.TooSlowError) as exc:
        print(f"crash loop stopped: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
