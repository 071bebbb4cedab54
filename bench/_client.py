"""Load generation shared by the relay benchmarks (bench/chat.py, bench/files.py).

* ``bench_config`` / ``BENCH_NOTES``: what the benches change in relayd's config so
  that the bench measures the relay, not its abuse limits (printed with the figures);
* ``setup_accounts`` / ``create_room``: accounts, sessions and rooms through the real
  admin and user API (relayd is started with ``tests.e2e.harness.start_relayd``);
* ``WS``: a minimal RFC 6455 client (one ``receive_some`` yields every complete
  frame; masking by one integer XOR; no task per connection besides its reader).
  With a few hundred clients in one process on the same two cores as relayd, every
  microsecond the client spends per frame is taken from the server it measures;
* ``LoadProcesses``: client processes, each owning a share of the connections.  The
  main process tells them to connect, to run a ``Phase`` (open-loop or closed-loop
  chat senders, file uploaders) and returns their ``PhaseResult``\\ s merged.  The
  timestamps in message bodies are CLOCK_MONOTONIC, which every process shares.

Nothing here asserts: benches print figures.
"""

from __future__ import annotations

import base64
import json
import multiprocessing as mp
import os
import resource
import shutil
import subprocess
import ssl
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
import sys
from typing import Any, Callable

import trio

from tests.e2e.harness import Endpoint, HTTPClient, Relayd
from relay.tlsconf import client_context

# ------------------------------------------------------------------ config and small helpers

BENCH_PASSWORD = "bench-password-0123"

# Each entry: (config path, value, why).  Printed by the benches.
BENCH_SETTINGS: list[tuple[str, Any, str]] = [
    ("store.password_memory_kib", 64, "bench setting: fast logins for hundreds of accounts "
     "(shipped default 65536)"),
    ("auth.login_burst_ip", 1000, "all clients log in from 127.0.0.1"),
    ("auth.login_refill_s_ip", 0.01, "idem"),
    ("auth.login_burst_account", 1000, "idem"),
    ("auth.message_burst", 100000, "the per-account send limit (default 30 then 10/s) "
     "would cap closed-loop senders"),
    ("auth.message_refill_s", 0.0001, "idem"),
    ("http.max_connections_per_ip", 100000, "every client connects from 127.0.0.1 "
     "(default 64)"),
]


def bench_config(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    cfg: dict[str, Any] = {}
    for path, value, _why in BENCH_SETTINGS:
        section, key = path.split(".")
        cfg.setdefault(section, {})[key] = value
    for section, table in (extra or {}).items():
        cfg.setdefault(section, {}).update(table)
    return cfg


def settings_lines() -> list[str]:
    return [f"  {path} = {value!r}  ({why})" for path, value, why in BENCH_SETTINGS]


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def children_cpu_s(pid: int) -> float:
    """CPU seconds of a process's children: the reaped ones (cutime + cstime, so
    re-spawned workers still count) and the live ones."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    for c in children(pid):
        try:
            total += cpu_s(c)
        except OSError:
            pass  # gone (a worker re-spawned)
    return total


def py_spy(out_dir: str | None, pid: int, name: str, start_at: float,
            seconds: float) -> subprocess.Popen[bytes] | None:
    """py-spy on the server for one phase, if asked for: collapsed stacks of whichever
    thread holds the GIL (so the counts are where CPU goes, all threads together)."""
    if not out_dir:
        return None
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    seconds += max(0.0, start_at - time.monotonic())  # the phase starts a little later
    return subprocess.Popen([spy, "record", "-p", str(pid), "-d", str(int(seconds + 1)),
                             "-r", "200", "-f", "raw", "--threads", "--gil", "--nonblocking", "-o",
                             str(Path(out_dir) / f"{name}.txt")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pct_ms(values: list[float], q: float) -> float:
    """The q-quantile of seconds, in milliseconds (nan when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# ------------------------------------------------------------------ setup over the API


@dataclass(frozen=True, slots=True)
class Target:
    """Where a client connects, in a form that crosses process boundaries."""

    host: str
    port: int
    cafile: str | None  # TLS when set

    def endpoint(self) -> Endpoint:
        return Endpoint(self.host, self.port, client_context(self.cafile) if self.cafile else None)


def relayd_target(r: Relayd, zone: str) -> Target:
    ep = r.endpoint(zone)
    return Target(ep.host, ep.port, str(r.cafile) if ep.ssl_context else None)


@dataclass(frozen=True, slots=True)
class Account:
    idx: int
    id: str
    login: str
    zone: str
    token: str


async def _bounded(n: int, jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run async thunks with at most ``n`` at once; results in order."""
    out: list[Any] = [None] * len(jobs)
    limit = trio.Semaphore(n)

    async def one(i: int) -> None:
        async with limit:
            out[i] = await jobs[i]()

    async with trio.open_nursery() as nursery:
        for i in range(len(jobs)):
            nursery.start_soon(one, i)
    return out


async def setup_accounts(r: Relayd, zones: list[str], prefix: str = "u",
                         concurrency: int = 8) -> list[Account]:
    """One staff account per entry of ``zones``, created through the admin API and
    logged in once through its zone's listener."""
    assert r.admin_password
    admin_http = r.client("lgwan")
    reply = await admin_http.request("POST", "/api/v1/login",
                                     json={"login": "admin", "password": r.admin_password})
    assert reply.status == 200, reply.body
    admin_token = reply.json()["token"]
    await admin_http.aclose()
    pools: dict[str, list[HTTPClient]] = {
        z: [r.client(z) for _ in range(concurrency)] for z in ("lgwan", "internet")}
    free: dict[str, trio.MemorySendChannel[HTTPClient]] = {}
    take: dict[str, trio.MemoryReceiveChannel[HTTPClient]] = {}
    for z, clients in pools.items():
        free[z], take[z] = trio.open_memory_channel[HTTPClient](concurrency)
        for c in clients:
            free[z].send_nowait(c)

    async def make(i: int, zone: str) -> Account:
        login = f"{prefix}{i:05d}"
        c = await take["lgwan"].receive()
        try:
            rep = await c.request("POST", "/api/v1/admin/accounts", token=admin_token, json={
                "login": login, "password": BENCH_PASSWORD, "kind": "staff",
                "display_name": f"職員 {i}"})
        finally:
            free["lgwan"].send_nowait(c)
        assert rep.status == 201, rep.body
        account_id = rep.json()["id"]
        c = await take[zone].receive()
        try:
            rep = await c.request("POST", "/api/v1/login",
                                  json={"login": login, "password": BENCH_PASSWORD})
        finally:
            free[zone].send_nowait(c)
        assert rep.status == 200, rep.body
        return Account(i, account_id, login, zone, rep.json()["token"])

    accounts = await _bounded(concurrency, [
        (lambda i=i, z=z: make(i, z)) for i, z in enumerate(zones)])
    for clients in pools.values():
        for c in clients:
            await c.aclose()
    return accounts


async def create_room(r: Relayd, name: str, members: list[Account]) -> str:
    """A group room created by its first member (through that member's zone)."""
    creator = members[0]
    c = r.client(creator.zone, creator.token)
    try:
        rep = await c.request("POST", "/api/v1/rooms", json={
            "name": name, "kind": "group", "members": [m.id for m in members[1:]]})
    finally:
        await c.aclose()
    assert rep.status == 201, rep.body
    return str(rep.json()["id"])


# ------------------------------------------------------------------ a small WebSocket client


class WSClosed(Exception):
    pass


def _mask(payload: bytes) -> bytes:
    key = os.urandom(4)
    n = len(payload)
    if n == 0:
        return key
    m = int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return key + (int.from_bytes(payload, "big") ^ m).to_bytes(n, "big")


def client_frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + _mask(payload)


class WS:
    """A WebSocket client connection: ``send_text`` and ``frames`` (text payloads of
    every complete frame in the next read).  Pings are answered, a close ends it."""

    def __init__(self, stream: trio.abc.Stream, leftover: bytes) -> None:
        self.stream = stream
        self.buf = bytearray(leftover)
        self.send_lock = trio.Lock()
        self._partial: list[bytes] = []
        self.closed = False

    @classmethod
    async def connect(cls, target: Target, path: str, token: str | None,
                      ssl_ctx: ssl.SSLContext | None = None) -> "WS":
        ep = Endpoint(target.host, target.port, ssl_ctx)
        stream = await ep.connect()
        key = base64.b64encode(os.urandom(16)).decode()
        head = [f"GET {path} HTTP/1.1", f"Host: {target.host}:{target.port}",
                "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                "Sec-WebSocket-Version: 13"]
        if token:
            head.append(f"Authorization: Bearer {token}")
        await stream.send_all(("\r\n".join(head) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive_some(65536)
            if not chunk:
                raise WSClosed("closed during the handshake")
            data += chunk
        response, _, rest = data.partition(b"\r\n\r\n")
        if b" 101 " not in response.split(b"\r\n", 1)[0]:
            raise WSClosed(f"upgrade refused: {response[:200]!r}")
        return cls(stream, rest)

    async def send_text(self, text: str) -> None:
        await self._send(client_frame(0x1, text.encode()))

    async def _send(self, frame: bytes) -> None:
        async with self.send_lock:
            await self.stream.send_all(frame)

    async def frames(self) -> list[str]:
        """Text frames parsed from what is buffered, reading once if nothing is."""
        while True:
            out = self._parse()
            if out or self._pong_due:  # an idle stream must still answer pings
                return out
            chunk = await self.stream.receive_some(262144)
            if not chunk:
                self.closed = True
                raise WSClosed("connection closed")
            self.buf += chunk

    def _parse(self) -> list[str]:
        out: list[str] = []
        buf = self.buf
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            n, off = b1 & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, off = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, off = int.from_bytes(buf[2:10], "big"), 10
            if b1 & 0x80:
                off += 4  # a masked server frame is a protocol error; read past it
            if len(buf) < off + n:
                break
            payload = bytes(buf[off:off + n])
            del buf[:off + n]
            opcode, fin = b0 & 0x0F, b0 & 0x80
            if opcode in (0x1, 0x2, 0x0):
                self._partial.append(payload)
                if fin:
                    out.append(b"".join(self._partial).decode("utf-8", "replace"))
                    self._partial = []
            elif opcode == 0x9:  # ping: answered from the reading task, in order
                self._pending_pong = payload
                self._pong_due = True
            elif opcode == 0x8:
                self.closed = True
                raise WSClosed(f"closed by server: {payload[:2].hex()} {payload[2:]!r}")
        return out

    _pong_due = False
    _pending_pong = b""

    async def answer_pings(self) -> None:
        if self._pong_due:
            self._pong_due = False
            await self._send(client_frame(0xA, self._pending_pong))

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            with trio.move_on_after(1):
                try:
                    await self._send(client_frame(0x8, (1000).to_bytes(2, "big")))
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
        await trio.aclose_forcefully(self.stream)


# ------------------------------------------------------------------ phases and results


@dataclass(frozen=True, slots=True)
class ClientSpec:
    idx: int
    target: Target
    path: str
    token: str | None


@dataclass(frozen=True, slots=True)
class SenderSpec:
    idx: int  # the client (its WebSocket) that sends
    room_id: str
    rate: float  # messages/s, open loop; 0 = closed loop
    window: int = 1  # closed loop: messages in flight
    offset: float = 0.0  # open loop: phase of the first send, seconds


@dataclass(frozen=True, slots=True)
class UploadSpec:
    idx: int  # the client whose session uploads (its stream gets file.ready)
    target: Target
    room_id: str
    files: tuple[tuple[str, str], ...]  # (name, path on disk)
    gap_s: float = 0.0  # pause before the next upload
    wait_ready: bool = True  # closed loop: the next upload after file.ready/blocked
    ready_timeout_s: float = 120.0


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    start_at: float  # CLOCK_MONOTONIC
    warmup: float
    duration: float
    grace: float
    senders: tuple[SenderSpec, ...] = ()
    uploads: tuple[UploadSpec, ...] = ()
    body: str = "お疲れさまです。明日の会議資料の確認をお願いします。"

    @property
    def window(self) -> tuple[float, float]:
        t0 = self.start_at + self.warmup
        return t0, t0 + self.duration


@dataclass
class Upload:
    name: str
    size: int
    t_start: float
    t_201: float
    status: int
    attachment_id: str | None
    initial: str | None  # attachment status in the 201
    kind: str | None  # as detected by relayd


@dataclass
class PhaseResult:
    sent: int = 0  # sends whose time was in the window
    acked: int = 0  # acks received in the window
    ack_lat: list[float] = field(default_factory=list)
    e2e_lat: list[float] = field(default_factory=list)  # to members other than the sender
    deliveries: int = 0  # received in the window, by members other than the sender
    echoes: int = 0  # the sender's own copy (relayd sends one; the bare server does not)
    errors: Counter[str] = field(default_factory=Counter)
    closed: int = 0
    cpu_s: float = 0.0  # client processes' CPU in the phase
    uploads: list[Upload] = field(default_factory=list)
    file_events: dict[str, tuple[float, str]] = field(default_factory=dict)
    processes: int = 0

    def merge(self, other: "PhaseResult") -> None:
        self.sent += other.sent
        self.acked += other.acked
        self.ack_lat += other.ack_lat
        self.e2e_lat += other.e2e_lat
        self.deliveries += other.deliveries
        self.echoes += other.echoes
        self.errors.update(other.errors)
        self.closed += other.closed
        self.cpu_s += other.cpu_s
        self.uploads += other.uploads
        for k, v in other.file_events.items():
            if k not in self.file_events or v[0] < self.file_events[k][0]:
                self.file_events[k] = v
        self.processes += other.processes


# ------------------------------------------------------------------ the client process


class _Collector:
    """Where the reading tasks put what they see during one phase."""

    def __init__(self, phase: Phase | None) -> None:
        self.phase = phase
        self.w0, self.w1 = phase.window if phase else (float("inf"), float("-inf"))
        self.result = PhaseResult()


def _body_fields(obj: dict[str, Any]) -> tuple[float, int] | None:
    """(send time, sender idx) from a delivered message body: relayd's
    ``message.created`` or the bare server's relayed ``send`` frame."""
    msg = obj.get("message") if obj.get("type") == "message.created" else obj
    body = msg.get("body") if isinstance(msg, dict) else None
    if not isinstance(body, str):
        return None
    parts = body.split(" ", 3)
    try:
        return float(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        return None  # not one of ours (e.g. a file message has an empty body)


def _file_event_id(obj: dict[str, Any]) -> str | None:
    for key in ("attachment", "file"):
        v = obj.get(key)
        if isinstance(v, dict) and "id" in v:
            return str(v["id"])
    for key in ("attachment_id", "file_id"):
        if key in obj:
            return str(obj[key])
    msg = obj.get("message")
    if isinstance(msg, dict) and msg.get("attachments"):
        return str(msg["attachments"][0]["id"])
    return None


class _Client:
    def __init__(self, spec: ClientSpec, ws: WS, proc: "_LoadProcess") -> None:
        self.spec = spec
        self.ws = ws
        self.proc = proc
        self.waiting: dict[str, tuple[float, trio.Event | None]] = {}  # client_id -> (t, done)

    async def read_forever(self) -> None:
        try:
            while True:
                texts = await self.ws.frames()
                now = time.monotonic()
                await self.ws.answer_pings()
                for text in texts:
                    self._on_text(text, now)
        except (WSClosed, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            if not self.proc.closing:
                self.proc.collector.result.closed += 1

    def _on_text(self, text: str, now: float) -> None:
        c = self.proc.collector
        r = c.result
        head = text[:40]
        if '"type":"ack"' in head or '"type":"error"' in head or '"type": "ack"' in head:
            obj = json.loads(text)
            cid = obj.get("client_id")
            entry = self.waiting.pop(cid, None) if isinstance(cid, str) else None
            if obj["type"] == "error":
                r.errors[obj.get("error", {}).get("code", "?")] += 1
            elif entry is not None and c.w0 <= now <= c.w1:
                r.acked += 1
            if entry is not None:
                t_send, done = entry
                if obj["type"] == "ack" and c.w0 <= t_send <= c.w1:
                    r.ack_lat.append(now - t_send)
                if done is not None:
                    done.set()
            return
        if '"type":"message.created"' in head or '"type":"send"' in head \
                or '"type": "send"' in head:
            fields = _body_fields(json.loads(text))
            if fields is None:
                return
            t_send, sender = fields
            if sender == self.spec.idx:
                r.echoes += 1
                return
            if c.w0 <= now <= c.w1:
                r.deliveries += 1
            if c.w0 <= t_send <= c.w1:
                r.e2e_lat.append(now - t_send)
            return
        if '"type":"file.' in head:
            obj = json.loads(text)
            fid = _file_event_id(obj)
            if fid is not None and fid not in r.file_events:
                r.file_events[fid] = (now, obj["type"])
                waiter = self.proc.file_waiters.pop(fid, None)
                if waiter is not None:
                    waiter.set()


class _LoadProcess:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.clients: dict[int, _Client] = {}
        self.collector = _Collector(None)
        self.closing = False
        self.ssl: dict[str, ssl.SSLContext] = {}
        self.file_waiters: dict[str, trio.Event] = {}

    def _ssl(self, target: Target) -> ssl.SSLContext | None:
        if target.cafile is None:
            return None
        if target.cafile not in self.ssl:
            self.ssl[target.cafile] = client_context(target.cafile)
        return self.ssl[target.cafile]

    async def main(self) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            while True:
                cmd, arg = await trio.to_thread.run_sync(self.conn.recv)
                if cmd == "connect":
                    await self.connect(arg)
                    self.conn.send(("ok", len(self.clients)))
                elif cmd == "run":
                    self.conn.send(("ok", await self.run(arg)))
                elif cmd == "close":
                    self.closing = True
                    for c in self.clients.values():
                        await c.ws.aclose()
                    self.clients.clear()
                    self.conn.send(("ok", None))
                elif cmd == "exit":
                    nursery.cancel_scope.cancel()
                    return

    async def connect(self, specs: list[ClientSpec]) -> None:
        self.closing = False

        async def one(spec: ClientSpec) -> None:
            for attempt in range(3):
                try:
                    ws = await WS.connect(spec.target, spec.path, spec.token,
                                          self._ssl(spec.target))
                    break
                except (OSError, trio.BrokenResourceError, WSClosed):
                    if attempt == 2:
                        raise
                    await trio.sleep(0.5)
            client = _Client(spec, ws, self)
            self.clients[spec.idx] = client
            self.nursery.start_soon(client.read_forever)

        await _bounded(32, [(lambda s=s: one(s)) for s in specs])

    async def run(self, phase: Phase) -> PhaseResult:
        self.collector = c = _Collector(phase)
        cpu0 = _cpu()
        end = phase.start_at + phase.warmup + phase.duration
        async with trio.open_nursery() as nursery:
            for s in phase.senders:
                client = self.clients[s.idx]
                if s.rate > 0:
                    nursery.start_soon(self._open_loop, client, s, phase, end)
                else:
                    for w in range(s.window):
                        nursery.start_soon(self._closed_loop, client, s, phase, end, w)
            for u in phase.uploads:
                nursery.start_soon(self._uploader, u, phase, end)
        await trio.sleep_until(_trio_time(end + phase.grace))
        c.result.cpu_s = _cpu() - cpu0
        c.result.processes = 1
        self.collector = _Collector(None)
        for client in self.clients.values():
            client.waiting.clear()
        return c.result

    def _body(self, client: _Client, seq: int, t: float, phase: Phase) -> tuple[str, str]:
        return f"{client.spec.idx}-{seq}-{t:.6f}", f"{t:.6f} {client.spec.idx} {seq} {phase.body}"

    async def _send(self, client: _Client, s: SenderSpec, phase: Phase, seq: int, t: float,
                    done: trio.Event | None) -> bool:
        cid, body = self._body(client, seq, t, phase)
        client.waiting[cid] = (t, done)
        c = self.collector
        if c.w0 <= t <= c.w1:
            c.result.sent += 1
        try:
            await client.ws.send_text(json.dumps(
                {"type": "send", "room_id": s.room_id, "body": body, "client_id": cid},
                ensure_ascii=False, separators=(",", ":")))
            return True
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            client.waiting.pop(cid, None)
            return False

    async def _open_loop(self, client: _Client, s: SenderSpec, phase: Phase, end: float) -> None:
        # The scheduled time is the send time: a send delayed by back-pressure counts
        # its delay (no coordinated omission).
        k = 0
        while True:
            t = phase.start_at + s.offset + k / s.rate
            if t >= end:
                return
            await trio.sleep_until(_trio_time(t))
            if not await self._send(client, s, phase, k, t, None):
                return
            k += 1

    async def _closed_loop(self, client: _Client, s: SenderSpec, phase: Phase, end: float,
                           lane: int) -> None:
        await trio.sleep_until(_trio_time(phase.start_at + s.offset))
        k = lane
        while time.monotonic() < end:
            done = trio.Event()
            if not await self._send(client, s, phase, k, time.monotonic(), done):
                return
            with trio.move_on_after(10):
                await done.wait()
            k += s.window

    async def _uploader(self, u: UploadSpec, phase: Phase, end: float) -> None:
        http = HTTPClient(u.target.endpoint(), self.clients[u.idx].spec.token)
        await trio.sleep_until(_trio_time(phase.start_at))
        try:
            for name, path in _cycle(u.files):
                if time.monotonic() >= end:
                    break
                data = await trio.Path(path).read_bytes()
                t0 = time.monotonic()
                q = urllib.parse.quote(name)
                try:
                    rep = await http.request("POST", f"/api/v1/rooms/{u.room_id}/files?name={q}",
                                             body=data, timeout=120,
                                             headers={"content-type": "application/octet-stream"})
                except (OSError, trio.BrokenResourceError, trio.TooSlowError) as exc:
                    self.collector.result.errors[f"upload:{type(exc).__name__}"] += 1
                    await http.aclose()
                    continue
                t1 = time.monotonic()
                att_id = initial = kind = None
                if rep.status == 201:
                    atts = rep.json().get("attachments") or [{}]
                    att_id, initial, kind = (atts[0].get(k) for k in ("id", "status", "kind"))
                else:
                    self.collector.result.errors[f"upload:{rep.status}:{rep.error_code}"] += 1
                self.collector.result.uploads.append(
                    Upload(name, len(data), t0, t1, rep.status, att_id, initial, kind))
                if u.wait_ready and att_id and initial == "pending" \
                        and att_id not in self.collector.result.file_events:
                    waiter = self.file_waiters[att_id] = trio.Event()
                    with trio.move_on_after(u.ready_timeout_s):
                        await waiter.wait()
                    self.file_waiters.pop(att_id, None)
                if u.gap_s:
                    await trio.sleep(u.gap_s)
        finally:
            await http.aclose()


def _cycle(items: tuple[Any, ...]) -> Any:
    while items:
        yield from items


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _trio_time(monotonic_t: float) -> float:
    """trio's clock for a CLOCK_MONOTONIC instant (trio's clock has its own offset)."""
    return trio.current_time() + (monotonic_t - time.monotonic())


def _process_main(conn: Connection) -> None:
    trio.run(_LoadProcess(conn).main)


class ClientProcesses:
    """``n`` spawned client processes each running ``target(conn)``, asked in turn:
    ``_all(cmd, args)`` sends each its argument and returns their answers in order."""

    def __init__(self, n: int, target: Callable[[Connection], None]) -> None:
        ctx = mp.get_context("spawn")
        self.n = n
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        for _ in range(n):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=target, args=(child,), daemon=True)
            p.start()
            self.conns.append(parent)
            self.procs.append(p)

    def _all(self, cmd: str, args: list[Any]) -> list[Any]:
        for conn, arg in zip(self.conns, args):
            conn.send((cmd, arg))
        out = []
        for conn in self.conns:
            status, value = conn.recv()
            assert status == "ok", value
            out.append(value)
        return out


class LoadProcesses(ClientProcesses):
    """Client processes; client ``idx`` lives in process ``idx % n``."""

    def __init__(self, n: int) -> None:
        super().__init__(n, _process_main)

    def connect(self, specs: list[ClientSpec]) -> None:
        self._all("connect", [[s for s in specs if s.idx % self.n == i] for i in range(self.n)])

    def run(self, phase: Phase) -> PhaseResult:
        def share(i: int) -> Phase:
            return Phase(phase.name, phase.start_at, phase.warmup, phase.duration, phase.grace,
                         tuple(s for s in phase.senders if s.idx % self.n == i),
                         tuple(u for u in phase.uploads if u.idx % self.n == i), phase.body)
        total = PhaseResult()
        for r in self._all("run", [share(i) for i in range(self.n)]):
            total.merge(r)
        return total

    def close_clients(self) -> None:
        self._all("close", [None] * self.n)

    def shutdown(self) -> None:
        for conn in self.conns:
            try:
                conn.send(("exit", None))
            except (OSError, BrokenPipeError):
                pass
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.kill()


def start_phase(name: str, *, warmup: float, duration: float, grace: float,
                lead_s: float = 1.0, **kw: Any) -> Phase:
    """A phase that starts ``lead_s`` from now (time for the command to reach every
    client process)."""
    return Phase(name, time.monotonic() + lead_s, warmup, duration, grace, **kw)
