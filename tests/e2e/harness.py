"""End-to-end harness: a real ``relayd`` process on 127.0.0.1, and tiny clients.

Usage (in a pytest-trio test)::

    from tests.e2e.harness import relayd

    async def test_login(tmp_path):
        with relayd(tmp_path) as r:                       # starts, waits for READY
            client = r.client("lgwan")                    # HTTP over h11 (keep-alive)
            reply = await client.request("POST", "/api/v1/login",
                                         json={"login": "admin", "password": r.admin_password})
            token = reply.json()["token"]
            async with r.ws("internet", token) as ws:     # wss:// with the self-signed cert
                await ws.send_message('{"type": "ping"}')
            await client.aclose()
        # leaving the block sends SIGTERM and waits for a clean exit

* Config: ``relayd(tmp_path, {"http": {"header_timeout_s": 1}})`` merges the given
  tables over the harness defaults (state in ``tmp_path/state``, both ports 0).
* Ports: relayd prints ``relayd: listening lgwan=HOST:PORT internet=HOST:PORT`` on
  stderr; the harness reads it from the process log (``r.log_path``, ``r.log()``).
* Restart on the same state: ``start_relayd(tmp_path, state_dir=r.state_dir)``.
* ``r.stop()`` (SIGTERM, graceful) or ``r.kill()`` (SIGKILL, for durability tests).
* ``Endpoint``, ``HTTPClient`` and ``ws_connect`` work against any address, so
  in-process server tests use them too.
* A full disk: ``mount_tmpfs(path, mib)`` (root) for the state, ``DiskFiller(path)``
  to fill it under load and ``free()`` it again.
"""

from __future__ import annotations

import errno
import http.client
import itertools
import json as _json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Iterator, Mapping

import h11
import trio
import trio_websocket

from relay.tlsconf import client_context

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
LISTENING_RE = re.compile(r"^relayd: listening lgwan=(\S+) internet=(\S+)$", re.M)
FIRST_ADMIN_RE = re.compile(r"^relayd: first admin account created", re.M)

_starts = itertools.count(1)


# --------------------------------------------------------------------------- config


def toml_dumps(tables: Mapping[str, Any]) -> str:
    """TOML for relayd's config shape: nested tables of strings, numbers, booleans and
    lists of strings (the standard library reads TOML but does not write it)."""
    lines: list[str] = []

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return _json.dumps(v, ensure_ascii=False)  # JSON strings are TOML basic strings
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        raise TypeError(f"cannot write {type(v).__name__} as TOML")

    def table(prefix: str, t: Mapping[str, Any]) -> None:
        scalars = {k: v for k, v in t.items() if not isinstance(v, Mapping)}
        if prefix and scalars:
            lines.append(f"[{prefix}]")
        for k, v in scalars.items():
            lines.append(f"{k} = {value(v)}")
        for k, v in t.items():
            if isinstance(v, Mapping):
                table(f"{prefix}.{k}" if prefix else k, v)

    table("", tables)
    return "\n".join(lines) + "\n"


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def default_config(state_dir: Path) -> dict[str, Any]:
    return {
        "listeners": {"lgwan": {"host": "127.0.0.1", "port": 0},
                      "internet": {"host": "127.0.0.1", "port": 0}},
        "store": {"state_dir": str(state_dir)},
    }


# --------------------------------------------------------------------------- clients


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a listener is, and how to talk TLS to it (None: plain HTTP)."""

    host: str
    port: int
    ssl_context: ssl.SSLContext | None = None

    @classmethod
    def parse(cls, address: str, ssl_context: ssl.SSLContext | None = None) -> "Endpoint":
        host, _, port = address.rpartition(":")
        return cls(host.strip("[]"), int(port), ssl_context)

    def url(self, path: str, ws: bool = False) -> str:
        scheme = ("wss" if ws else "https") if self.ssl_context else ("ws" if ws else "http")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}{path}"

    async def connect(self) -> trio.abc.Stream:
        stream = await trio.open_tcp_stream(self.host, self.port)
        if self.ssl_context is None:
            return stream
        tls = trio.SSLStream(stream, self.ssl_context, server_hostname=self.host,
                             https_compatible=True)
        await tls.do_handshake()
        return tls


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes

    def json(self) -> Any:
        return _json.loads(self.body)

    @property
    def error_code(self) -> str | None:
        try:
            return str(self.json()["error"]["code"])
        except (ValueError, KeyError, TypeError):
            return None


@dataclass
class HTTPClient:
    """A small HTTP/1.1 client (h11 over trio) that keeps its connection alive."""

    endpoint: Endpoint
    token: str | None = None
    _stream: trio.abc.Stream | None = field(default=None, repr=False)
    _conn: h11.Connection | None = field(default=None, repr=False)
    connections_opened: int = 0

    async def request(self, method: str, path: str, *, json: Any = None, body: bytes | None = None,
                      headers: Mapping[str, str] | None = None, token: str | None = None,
                      timeout: float = 20.0) -> Reply:
        if json is not None:
            body = _json.dumps(json, ensure_ascii=False).encode("utf-8")
        hdrs = {"host": f"{self.endpoint.host}:{self.endpoint.port}"}
        if json is not None:
            hdrs["content-type"] = "application/json"
        if token or self.token:
            hdrs["authorization"] = f"Bearer {token or self.token}"
        hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
        if body is not None:
            hdrs["content-length"] = str(len(body))
        with trio.fail_after(timeout):
            if self._conn is None or self._conn.our_state is not h11.IDLE:
                await self._reconnect()
            assert self._conn is not None and self._stream is not None
            conn, stream = self._conn, self._stream
            await stream.send_all(conn.send(h11.Request(method=method, target=path,
                                                        headers=list(hdrs.items()))))
            if body:
                await stream.send_all(conn.send(h11.Data(data=body)))
            await stream.send_all(conn.send(h11.EndOfMessage()))
            resp: h11.Response | None = None
            chunks: list[bytes] = []
            while True:
                ev = conn.next_event()
                if ev is h11.NEED_DATA:
                    conn.receive_data(bytes(await stream.receive_some(65536)))
                elif isinstance(ev, h11.Response):
                    resp = ev
                elif isinstance(ev, h11.Data):
                    chunks.append(bytes(ev.data))
                elif isinstance(ev, h11.EndOfMessage):
                    break
                elif isinstance(ev, h11.InformationalResponse):
                    continue
                else:
                    raise RuntimeError(f"unexpected {ev!r}")
            assert resp is not None
            if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                conn.start_next_cycle()
            else:
                await self.aclose()
        return Reply(resp.status_code,
                     {k.decode(): v.decode("latin-1") for k, v in resp.headers},
                     b"".join(chunks))

    async def _reconnect(self) -> None:
        await self.aclose()
        self._stream = await self.endpoint.connect()
        self._conn = h11.Connection(h11.CLIENT)
        self.connections_opened += 1

    async def aclose(self) -> None:
        if self._stream is not None:
            await trio.aclose_forcefully(self._stream)
        self._stream = self._conn = None


def request_sync(endpoint: Endpoint, method: str, path: str, *, json: Any = None,
                 body: bytes | None = None, headers: Mapping[str, str] | None = None,
                 token: str | None = None, timeout: float = 20.0) -> Reply:
    """The same, blocking (http.client), for tests that are not async."""
    if endpoint.ssl_context is not None:
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            endpoint.host, endpoint.port, timeout=timeout, context=endpoint.ssl_context)
    else:
        conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=timeout)
    hdrs = dict(headers or {})
    if json is not None:
        body = _json.dumps(json, ensure_ascii=False).encode("utf-8")
        hdrs.setdefault("Content-Type", "application/json")
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


@asynccontextmanager
async def ws_connect(endpoint: Endpoint, token: str | None = None, *, origin: str | None = None,
                     path: str = "/api/v1/stream", query_token: bool = False,
                     max_message_size: int = 16 * 1024 * 1024,
                     timeout: float = 20.0) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """A WebSocket client on ``path``; the token goes in the Authorization header (or
    in ``?token=`` like a browser when ``query_token``)."""
    headers: list[tuple[bytes, bytes]] = []
    if token and not query_token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    if token and query_token:
        path += ("&" if "?" in path else "?") + f"token={token}"
    if origin:
        headers.append((b"origin", origin.encode()))
    async with trio_websocket.open_websocket_url(
            endpoint.url(path, ws=True), endpoint.ssl_context, extra_headers=headers,
            max_message_size=max_message_size, connect_timeout=timeout,
            disconnect_timeout=timeout) as ws:
        yield ws


async def ws_send_json(ws: trio_websocket.WebSocketConnection, obj: Any) -> None:
    await ws.send_message(_json.dumps(obj, ensure_ascii=False))


async def ws_recv_json(ws: trio_websocket.WebSocketConnection, timeout: float = 10.0) -> Any:
    with trio.fail_after(timeout):
        return _json.loads(await ws.get_message())


# --------------------------------------------------------------------------- a full disk


def mount_tmpfs(mountpoint: Path, mib: int) -> str | None:
    """Mount a tmpfs of ``mib`` MiB on ``mountpoint`` (made here); None when done, else
    why it could not be (not root, no mount).  ``umount_tmpfs`` takes it away."""
    if os.geteuid() != 0:
        return "mounting a small tmpfs needs root"
    mountpoint.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mib}m,mode=0700", "tmpfs",
                           str(mountpoint)], capture_output=True, text=True)
    return None if done.returncode == 0 else f"cannot mount a tmpfs: {done.stderr.strip()}"


def umount_tmpfs(mountpoint: Path) -> None:
    subprocess.run(["umount", "-l", str(mountpoint)], check=False, capture_output=True)


class DiskFiller:
    """Fills a file system with one placeholder file and keeps it full (taking
    whatever is freed meanwhile, e.g. a discarded upload) until ``free()`` deletes it."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "placeholder"
        self.full = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="disk-filler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while not self._stop.is_set():
                # Big chunks, then ever smaller ones, until not a byte more fits.
                for size in (1 << 20, 1 << 16, 4096, 512):
                    while not self._stop.is_set():
                        try:
                            os.write(fd, b"\0" * size)
                        except OSError as exc:
                            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                                raise
                            break
                self.full.set()
                self._stop.wait(0.02)
        finally:
            os.close(fd)

    def free(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.path.unlink(missing_ok=True)
        self.full.clear()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="disk-filler", daemon=True)


# --------------------------------------------------------------------------- the process


class RelaydFailed(Exception):
    """relayd exited or did not become ready; the message carries its log."""


@dataclass
class Relayd:
    proc: subprocess.Popen[bytes]
    state_dir: Path
    config_path: Path
    log_path: Path
    lgwan: str  # "127.0.0.1:PORT"
    internet: str
    lgwan_tls: bool
    admin_password: str | None

    @property
    def cafile(self) -> Path:
        """The self-signed certificate relayd made (the embedded-default case)."""
        return self.state_dir / "tls" / "cert.pem"

    def ssl_context(self) -> ssl.SSLContext:
        return client_context(self.cafile)

    def endpoint(self, zone: str) -> Endpoint:
        if zone == "internet":
            return Endpoint.parse(self.internet, self.ssl_context())
        if zone == "lgwan":
            return Endpoint.parse(self.lgwan, self.ssl_context() if self.lgwan_tls else None)
        raise ValueError(f"unknown zone {zone!r}")

    def client(self, zone: str, token: str | None = None) -> HTTPClient:
        return HTTPClient(self.endpoint(zone), token)

    def ws(self, zone: str, token: str | None = None, **kw: Any) -> Any:
        """``async with r.ws("lgwan", token) as ws: ...``"""
        return ws_connect(self.endpoint(zone), token, **kw)

    def request_sync(self, zone: str, method: str, path: str, **kw: Any) -> Reply:
        return request_sync(self.endpoint(zone), method, path, **kw)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM and wait for the graceful exit; SIGKILL if it does not come."""
        self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise RelaydFailed(f"relayd did not stop within {timeout} s\n{self.log()}") from None

    def kill(self) -> int:
        """SIGKILL: no drain, no close (durability tests)."""
        self.proc.kill()
        return self.proc.wait(10)


def first_admin_ready(r: "Relayd", one_time: str) -> str:
    """Log in as the first admin with the one-time password and change it, as the
    admin is made to; the new password."""
    new = f"admin-{os.getpid()}-chosen-password"
    login = request_sync(r.endpoint("lgwan"), "POST", "/api/v1/login",
                         json={"login": "admin", "password": one_time})
    assert login.status == 200, login.body
    changed = request_sync(r.endpoint("lgwan"), "POST", "/api/v1/me/password",
                           json={"old_password": one_time, "new_password": new},
                           token=login.json()["token"])
    assert changed.status == 200, changed.body
    return new


def start_relayd(tmp_path: Path, config: Mapping[str, Any] | None = None, *,
                 state_dir: Path | None = None, env: Mapping[str, str] | None = None,
                 timeout: float = START_TIMEOUT_S, pass_fds: tuple[int, ...] = (),
                 launcher: tuple[str, ...] = (sys.executable,),
                 change_admin_password: bool = True) -> Relayd:
    """Start relayd and wait until it reports its listeners.

    On a first start the admin's one-time password must be changed before the admin can
    do anything; the harness does that (as the admin would, through the API) and hands
    the new password on as ``admin_password``, unless ``change_admin_password=False``.

    ``launcher`` runs ``-m relay.main --config PATH`` (a wrapper may set up socket
    activation first); ``env`` adds variables (NOTIFY_SOCKET, WATCHDOG_USEC, ...).
    """
    n = next(_starts)
    state_dir = state_dir or tmp_path / "state"
    cfg = merge(default_config(state_dir), config or {})
    config_path = tmp_path / f"relayd-{n}.toml"
    config_path.write_text(toml_dumps(cfg), encoding="utf-8")
    log_path = tmp_path / f"relayd-{n}.log"
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    for var in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
        if var not in (env or {}):
            full_env.pop(var, None)
    cmd = [*launcher, "-m", "relay.main", "--config", str(config_path)]
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen(cmd, cwd=REPO, env=full_env, stdin=subprocess.DEVNULL,
                                stdout=logf, stderr=subprocess.STDOUT, pass_fds=pass_fds)
    deadline = time.monotonic() + timeout
    while True:
        text = log_path.read_text(encoding="utf-8", errors="replace")
        m = LISTENING_RE.search(text)
        if m:
            # relayd writes the first admin's one-time password to a root-only file
            # and logs only where it is.
            pw_file = state_dir / "initial-admin-password"
            pw = pw_file.read_text(encoding="utf-8").strip() if (
                FIRST_ADMIN_RE.search(text) and pw_file.exists()) else None
            lgwan_tls = bool(cfg.get("listeners", {}).get("lgwan", {}).get("tls")
                             or cfg.get("tls", {}).get("lgwan"))
            r = Relayd(proc, state_dir, config_path, log_path, m.group(1), m.group(2),
                       lgwan_tls, pw)
            if r.admin_password and change_admin_password:
                r.admin_password = first_admin_ready(r, r.admin_password)
            return r
        if proc.poll() is not None:
            raise RelaydFailed(f"relayd exited with {proc.returncode}\n{text}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait(5)
            raise RelaydFailed(f"relayd not ready within {timeout} s\n{text}")
        time.sleep(0.05)


@contextmanager
def relayd(tmp_path: Path, config: Mapping[str, Any] | None = None, **kw: Any) -> Iterator[Relayd]:
    """A running relayd for the block; stopped gracefully (SIGTERM) at its end."""
    r = start_relayd(tmp_path, config, **kw)
    try:
        yield r
    finally:
        if r.proc.poll() is None:
            r.stop()
