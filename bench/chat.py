"""Chat throughput and latency: relayd against a bare broadcast server, in one run.

    .venv/bin/python -m bench.chat                  # defaults: a few minutes on 2 cores
    .venv/bin/python -m bench.chat --quick          # smaller, under a minute
    .venv/bin/python -m bench.chat --client-procs 2 # two client processes

Starts relayd (the real daemon, a subprocess on 127.0.0.1, state in a temp dir),
creates staff accounts through the admin API, logs each in once through its zone
(half LGWAN over plain HTTP, half internet over TLS with the self-signed
certificate) and opens one WebSocket stream per account.  Then:

(a) one big room (500 members) at a fixed offered load (20 messages/s, open loop,
    spread over 10 senders): end-to-end latency send -> ``message.created`` at every
    other member.  Target p99 <= 250 ms.
(b) throughput: 200 accounts in small rooms (5 members), each sending over its stream
    as fast as its acks come back (an ack comes only after COMMIT).  Target >= 2,000
    durable messages/s.
(c) fan-out deliveries/s of (b) against the bare server.  Target >= 0.5 of it.

Plus relayd's RSS per idle WebSocket (VmRSS before/after opening the connections,
per zone).  The same clients and workloads then run against a bare trio-websocket
broadcast server (in this file: no store, no auth; a frame is sent on to the room's
other members, then acked to the sender) over the same plain / TLS split.

Latency is measured by the clients: each message body carries its send time
(CLOCK_MONOTONIC, shared by every process); open-loop sends use their scheduled time,
so a send held up by back-pressure counts its delay.  Deliveries and latencies count
members other than the sender (relayd also sends the sender its own copy: "echoes").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._client import (  # noqa: E402
    Account, ClientSpec, LoadProcesses, cpu_s, PhaseResult, SenderSpec, Target, bench_config,
    create_room, loadavg, py_spy, pct_ms, relayd_target, rss_kib, settings_lines, setup_accounts,
    start_phase, verdict,
)
from tests.e2e.harness import Relayd, start_relayd  # noqa: E402

TARGET_P99_MS = 250.0
TARGET_MSGS_S = 2000.0
TARGET_RATIO = 0.5


# --------------------------------------------------------------------------- bare server


async def _bare_server(cert_dir: str, ready_file: str) -> None:
    """No store, no auth: ``/bare?rooms=A,B``; a frame naming ``room_id`` goes on to
    the room's other members, then ``{"type": "ack"}`` to the sender."""
    import trio_websocket
    from relay.config import TLSConfig
    from relay.tlsconf import server_context

    rooms: dict[str, set[Any]] = defaultdict(set)

    async def handler(request: Any) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
        mine = [r for r in query.get("rooms", [""])[0].split(",") if r]
        ws = await request.accept()
        for r in mine:
            rooms[r].add(ws)
        try:
            while True:
                text = await ws.get_message()
                obj = json.loads(text)
                for other in tuple(rooms.get(obj["room_id"], ())):
                    if other is not ws:
                        try:
                            await other.send_message(text)
                        except trio_websocket.ConnectionClosed:
                            pass
                await ws.send_message(json.dumps({"type": "ack", "client_id": obj["client_id"]},
                                                 separators=(",", ":")))
        except trio_websocket.ConnectionClosed:
            pass
        finally:
            for r in mine:
                rooms[r].discard(ws)

    tls = server_context(TLSConfig(), Path(cert_dir))
    async with trio.open_nursery() as nursery:
        plain = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
        secure = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, tls)
        Path(ready_file).write_text(f"{plain.port} {secure.port}")


@dataclass
class Bare:
    proc: subprocess.Popen[bytes]
    plain: Target
    tls: Target


def start_bare(tmp: Path, state_dir: Path) -> Bare:
    ready = tmp / "bare.ports"
    proc = subprocess.Popen([sys.executable, "-m", "bench.chat", "--bare-server",
                             str(state_dir), str(ready)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "bare.log", "wb"))
    deadline = time.monotonic() + 30
    while not ready.exists() or not ready.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("bare server did not start:\n" + (tmp / "bare.log").read_text())
        time.sleep(0.05)
    p, s = map(int, ready.read_text().split())
    return Bare(proc, Target("127.0.0.1", p, None),
                Target("127.0.0.1", s, str(state_dir / "tls" / "cert.pem")))


# --------------------------------------------------------------------------- the workload


@dataclass
class World:
    accounts: list[Account]
    big_room: str
    small_rooms: list[tuple[str, list[Account]]]
    rooms_of: dict[int, list[str]]


async def build_world(r: Relayd, args: argparse.Namespace) -> World:
    n = max(args.big_room, args.tp_accounts)
    zones = ["lgwan" if i % 2 == 0 else "internet" for i in range(n)]
    t0 = time.monotonic()
    accounts = await setup_accounts(r, zones)
    big = await create_room(r, "全庁連絡", accounts[:args.big_room])
    small = []
    tp = accounts[:args.tp_accounts]
    for k in range(0, len(tp), args.small_room):
        members = tp[k:k + args.small_room]
        small.append((await create_room(r, f"係 {k // args.small_room}", members), members))
    rooms_of: dict[int, list[str]] = defaultdict(list)
    for a in accounts[:args.big_room]:
        rooms_of[a.idx].append(big)
    for room_id, members in small:
        for a in members:
            rooms_of[a.idx].append(room_id)
    print(f"  setup: {n} accounts created and logged in, {1 + len(small)} rooms "
          f"({time.monotonic() - t0:.1f} s)")
    return World(accounts, big, small, rooms_of)


def phase_a(args: argparse.Namespace, world: World) -> Any:
    each = args.big_rate / args.big_senders
    senders = tuple(SenderSpec(a.idx, world.big_room, each, offset=i / args.big_rate)
                    for i, a in enumerate(world.accounts[:args.big_senders]))
    return start_phase("a", warmup=args.warmup, duration=args.duration_a, grace=args.grace,
                       senders=senders)


def phase_b(args: argparse.Namespace, world: World) -> Any:
    senders = tuple(SenderSpec(a.idx, room_id, 0.0, args.window)
                    for room_id, members in world.small_rooms for a in members)
    return start_phase("b", warmup=args.warmup, duration=args.duration_b, grace=args.grace,
                       senders=senders)


@dataclass
class Figures:
    server: str
    rss_conn_kib: dict[str, float]
    a: PhaseResult
    b: PhaseResult
    cpu: dict[str, float]  # server CPU seconds per phase


def drive(server: str, pid: int, specs: list[ClientSpec], world: World, zones: dict[int, str],
          args: argparse.Namespace) -> Figures:
    lp = LoadProcesses(args.client_procs)
    try:
        rss = {"before": rss_kib(pid)}
        per_conn: dict[str, float] = {}
        for zone in ("lgwan", "internet"):
            mine = [s for s in specs if zones[s.idx] == zone]
            lp.connect(mine)
            time.sleep(1.0)
            rss[zone] = rss_kib(pid)
            prev = rss["before"] if zone == "lgwan" else rss["lgwan"]
            per_conn[zone] = (rss[zone] - prev) / max(1, len(mine))
        print(f"  {server}: {len(specs)} streams open (RSS {rss['before'] / 1024:.0f} -> "
              f"{rss['internet'] / 1024:.0f} MiB); load {loadavg()}")
        cpu: dict[str, float] = {}
        results: dict[str, PhaseResult] = {}
        for key, make in (("a", phase_a), ("b", phase_b)):
            phase = make(args, world)
            spy = py_spy(args.py_spy, pid, f"{server}-{key}", phase.start_at,
                          phase.warmup + phase.duration)
            c0 = cpu_s(pid)
            results[key] = lp.run(phase)
            cpu[key] = cpu_s(pid) - c0
            if spy is not None:
                spy.wait(30)
            print(f"  {server}: ({key}) done; load {loadavg()}")
        a, b = results["a"], results["b"]
        lp.close_clients()
    finally:
        lp.shutdown()
    return Figures(server, per_conn, a, b, cpu)


def run_relayd(tmp: Path, args: argparse.Namespace) -> tuple[Figures, World, Path]:
    r = start_relayd(tmp, bench_config())
    try:
        world = trio.run(build_world, r, args)
        targets = {z: relayd_target(r, z) for z in ("lgwan", "internet")}
        specs = [ClientSpec(a.idx, targets[a.zone], "/api/v1/stream", a.token)
                 for a in world.accounts]
        zones = {a.idx: a.zone for a in world.accounts}
        figures = drive("relayd", r.proc.pid, specs, world, zones, args)
    finally:
        r.stop()
    return figures, world, r.state_dir


def run_bare(tmp: Path, state_dir: Path, world: World, args: argparse.Namespace) -> Figures:
    bare = start_bare(tmp, state_dir)
    try:
        specs = [ClientSpec(a.idx, bare.plain if a.zone == "lgwan" else bare.tls,
                            "/bare?rooms=" + ",".join(world.rooms_of[a.idx]), None)
                 for a in world.accounts]
        zones = {a.idx: a.zone for a in world.accounts}
        return drive("bare", bare.proc.pid, specs, world, zones, args)
    finally:
        bare.proc.terminate()
        bare.proc.wait(10)


# --------------------------------------------------------------------------- report


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds else 0.0


def report(args: argparse.Namespace, relayd: Figures, bare: Figures, start_load: str) -> None:
    def row(label: str, rv: str, bv: str, target: str = "", ok: bool | None = None) -> None:
        mark = "" if ok is None else verdict(ok)
        print(f"  {label:<34} {rv:>12} {bv:>12}   {target:<12} {mark}")

    def phase_rows(key: str, dur: float) -> None:
        rf, bf = getattr(relayd, key), getattr(bare, key)
        row("acked messages/s (durable)", f"{_rate(rf.acked, dur):.0f}", f"{_rate(bf.acked, dur):.0f}",
            *((f">= {TARGET_MSGS_S:.0f}", _rate(rf.acked, dur) >= TARGET_MSGS_S) if key == "b" else ()))
        row("fan-out deliveries/s (others)", f"{_rate(rf.deliveries, dur):.0f}",
            f"{_rate(bf.deliveries, dur):.0f}")
        p99 = pct_ms(rf.e2e_lat, 0.99)
        row("end-to-end p50 ms", f"{pct_ms(rf.e2e_lat, 0.5):.1f}", f"{pct_ms(bf.e2e_lat, 0.5):.1f}")
        row("end-to-end p99 ms", f"{p99:.1f}", f"{pct_ms(bf.e2e_lat, 0.99):.1f}",
            *((f"<= {TARGET_P99_MS:.0f}", p99 <= TARGET_P99_MS) if key == "a" else ()))
        row("ack p50 / p99 ms", f"{pct_ms(rf.ack_lat, .5):.1f}/{pct_ms(rf.ack_lat, .99):.1f}",
            f"{pct_ms(bf.ack_lat, .5):.1f}/{pct_ms(bf.ack_lat, .99):.1f}")
        row("latency samples", str(len(rf.e2e_lat)), str(len(bf.e2e_lat)))
        row("server CPU, % of 1 core (sending)", f"{relayd.cpu[key] / (dur + args.warmup):.0%}",
            f"{bare.cpu[key] / (dur + args.warmup):.0%}")
        row("client CPU, % of 1 core (sending)", f"{rf.cpu_s / (dur + args.warmup):.0%}",
            f"{bf.cpu_s / (dur + args.warmup):.0%}")
        row("errors / lost streams", f"{sum(rf.errors.values())}/{rf.closed}",
            f"{sum(bf.errors.values())}/{bf.closed}")
        if rf.errors or bf.errors:
            print(f"    error codes: relayd {dict(rf.errors)} bare {dict(bf.errors)}")

    n = max(args.big_room, args.tp_accounts)
    print()
    print(f"Chat benchmark — load average at start: {start_load}; end: {loadavg()}")
    print(f"  {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; {n} accounts, one stream "
          f"each, half LGWAN (plain ws) half internet (wss, TLS 1.3);")
    print(f"  client: {args.client_procs} process(es), a minimal RFC 6455 client (bench/_client.py)")
    print("  relayd bench config (differs from conf/relayd.toml):")
    for line in settings_lines():
        print("  " + line)
    print(f"  {'':<34} {'relayd':>12} {'bare':>12}   {'target':<12}")
    print(f"(a) {args.big_room}-member room, {args.big_rate:g} msg/s offered by "
          f"{args.big_senders} senders, {args.duration_a:g} s")
    phase_rows("a", args.duration_a)
    print(f"(b) {args.tp_accounts} senders in rooms of {args.small_room}, closed loop "
          f"(window {args.window}), {args.duration_b:g} s")
    phase_rows("b", args.duration_b)
    rd, bd = relayd.b.deliveries, bare.b.deliveries
    ratio = rd / bd if bd else float("nan")
    print("(c) fan-out deliveries/s of (b), relayd / bare")
    row("ratio", f"{ratio:.2f}", "1", f">= {TARGET_RATIO}", ratio >= TARGET_RATIO)
    print("RSS per idle WebSocket (server VmRSS delta / connections)")
    for zone, label in (("lgwan", "LGWAN (plain ws) KiB"), ("internet", "internet (wss) KiB")):
        row(label, f"{relayd.rss_conn_kib[zone]:.1f}", f"{bare.rss_conn_kib[zone]:.1f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--big-room", type=int, default=500, help="members of the room of (a)")
    p.add_argument("--big-rate", type=float, default=20.0, help="(a) offered messages/s")
    p.add_argument("--big-senders", type=int, default=10)
    p.add_argument("--tp-accounts", type=int, default=200, help="(b) senders")
    p.add_argument("--small-room", type=int, default=5, help="(b) members per room")
    p.add_argument("--window", type=int, default=1, help="(b) messages in flight per sender")
    p.add_argument("--duration-a", type=float, default=15.0)
    p.add_argument("--duration-b", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--grace", type=float, default=3.0)
    p.add_argument("--client-procs", type=int, default=1)
    p.add_argument("--py-spy", metavar="DIR", help="profile the server in each phase "
                   "with py-spy (collapsed stacks in DIR/<server>-<phase>.txt)")
    p.add_argument("--no-bare", action="store_true",
                   help="relayd only (for profiling; no baseline, no ratio)")
    p.add_argument("--quick", action="store_true", help="smaller sizes, shorter phases")
    p.add_argument("--bare-server", nargs=2, metavar=("STATE_DIR", "READY_FILE"),
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.bare_server:
        trio.run(_bare_server, *args.bare_server)
        return 0
    if args.quick:
        args.big_room, args.tp_accounts, args.duration_a, args.duration_b = 100, 60, 5.0, 5.0
    start_load = loadavg()
    print(f"load average at start: {start_load}")
    with tempfile.TemporaryDirectory(prefix="kakehashi-bench-chat-") as tmp_s:
        tmp = Path(tmp_s)
        relayd, world, state_dir = run_relayd(tmp, args)
        bare = (run_bare(tmp, state_dir, world, args) if not args.no_bare else
                Figures("bare", {"lgwan": 0.0, "internet": 0.0}, PhaseResult(), PhaseResult(),
                        {"a": 0.0, "b": 0.0}))
    report(args, relayd, bare, start_load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
