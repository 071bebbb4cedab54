"""End to end: relayd's defences over real sockets on 127.0.0.1 (SECURITY.md "Network
edges").  A normal client must keep working while others misbehave: TOTP at the
internet login, login floods and message floods answered 429, slowloris connections
trickling their headers, a WebSocket client that never reads, TLS policy, and a
certificate reload on SIGHUP.

Misbehaving clients bind their own source address in 127.0.0.0/8 (Linux routes all
of it to lo), so the per-address connection cap and login limits apply to them and
not to the normal client on 127.0.0.1.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h11
import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from relay import tlsconf
from tests.e2e.harness import REPO, Endpoint, HTTPClient, Relayd, Reply, relayd, ws_recv_json, ws_send_json
from tests.e2e.test_chat import FAST_KDF, PASSWORDS, login, next_event, ok, setup_accounts

pytestmark = pytest.mark.e2e


def merged(*tables: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for t in tables:
        for k, v in t.items():
            out[k] = {**out.get(k, {}), **v}
    return out


async def metrics(r: Relayd) -> dict[str, float]:
    """/metrics (LGWAN) as {'name{labels}': value}."""
    reply = await r.client("lgwan").request("GET", "/metrics")
    assert reply.status == 200
    out = {}
    for line in reply.body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


async def open_connections(r: Relayd) -> float:
    m = await metrics(r)
    return m['kakehashi_open_connections{zone="lgwan"}'] + m['kakehashi_open_connections{zone="internet"}']


async def connect_from(source: str, ep: Endpoint, tls: bool = True) -> trio.abc.Stream:
    """A client connection from ``source`` (an address in 127/8)."""
    stream = await trio.open_tcp_stream(ep.host, ep.port, local_address=source)
    if not tls or ep.ssl_context is None:
        return stream
    s = trio.SSLStream(stream, ep.ssl_context, server_hostname=ep.host, https_compatible=True)
    await s.do_handshake()
    return s


@dataclass
class SourcedClient(HTTPClient):
    """The harness client, connecting from a chosen source address."""

    source: str = "127.0.0.1"

    async def _reconnect(self) -> None:
        await self.aclose()
        self._stream = await connect_from(self.source, self.endpoint)
        self._conn = h11.Connection(h11.CLIENT)
        self.connections_opened += 1


async def request_from(source: str, ep: Endpoint, method: str, path: str, **kw: Any) -> Reply:
    client = SourcedClient(ep, source=source)
    try:
        return await client.request(method, path, **kw)
    finally:
        await client.aclose()


async def audit(admin: HTTPClient, action: str) -> list[dict[str, Any]]:
    entries = ok(await admin.request("GET", "/api/v1/admin/audit?limit=1000"))["entries"]
    return [e["data"] for e in entries if e["action"] == action]


# --------------------------------------------------------------------------- TOTP, TLS


def relayctl(r: Relayd, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relay.ctl", "--config", str(r.config_path), *args],
                          capture_output=True, text=True, cwd=REPO, timeout=60)


def tls12_only(cafile: Path) -> ssl.SSLContext:
    ctx = tlsconf.client_context(cafile)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def handshake_sync(address: str, ctx: ssl.SSLContext) -> tuple[str | None, str | None, bytes]:
    """A blocking ssl-module handshake: (version, cipher, server certificate DER)."""
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            cipher = s.cipher()
            return s.version(), cipher[0] if cipher else None, s.getpeercert(binary_form=True) or b""


async def test_internet_staff_login_with_totp_and_tls13_only(tmp_path: Path) -> None:
    with trio.fail_after(120):
        with relayd(tmp_path, merged(FAST_KDF, {"auth": {"totp_required_internet_staff": True}})) as r:
            # TLS 1.3 only by default: a TLS 1.2-only client is refused in the handshake.
            assert handshake_sync(r.internet, tlsconf.client_context(r.cafile))[0] == "TLSv1.3"
            with pytest.raises(ssl.SSLError):
                handshake_sync(r.internet, tls12_only(r.cafile))

            await setup_accounts(r)
            creds = {"login": "suzuki", "password": PASSWORDS["suzuki"]}
            phone = r.client("internet")
            not_enrolled = await phone.request("POST", "/api/v1/login", json=creds)
            assert not_enrolled.status == 403 and not_enrolled.error_code == "totp_not_enrolled"

            out = relayctl(r, "account", "totp", "suzuki")  # while relayd runs
            assert out.returncode == 0, out.stderr
            fields = dict(line.split(": ", 1) for line in out.stdout.splitlines()
                          if line.startswith(("secret: ", "uri: ")))
            assert fields["uri"].startswith("otpauth://totp/Kakehashi:suzuki?")
            secret = base64.b32decode(fields["secret"] + "=" * (-len(fields["secret"]) % 8))

            asked = await phone.request("POST", "/api/v1/login", json=creds)
            assert asked.status == 401 and asked.error_code == "totp_required"
            assert " / " in asked.json()["error"]["message"]
            code = TOTP(secret, 6, SHA1(), 30).generate(int(time.time())).decode()
            good = await phone.request("POST", "/api/v1/login", json={**creds, "totp": code})
            token = ok(good)["token"]
            assert ok(await phone.request("GET", "/api/v1/me", token=token))["login"] == "suzuki"
            replay = await phone.request("POST", "/api/v1/login", json={**creds, "totp": code})
            assert replay.status == 401 and replay.error_code == "totp_invalid"
            # The LGWAN listener asks an enrolled account for its code too; an
            # unenrolled staff member there needs none.
            office = await r.client("lgwan").request(
                "POST", "/api/v1/login", json={"login": "tanaka", "password": PASSWORDS["tanaka"]})
            assert office.status == 200
            await phone.aclose()


# --------------------------------------------------------------------------- floods

SLOW_REFILL = {"auth": {"login_refill_s_account": 600.0, "login_refill_s_ip": 600.0,
                        "message_burst": 5, "message_refill_s": 600.0}}


async def test_login_and_message_floods_get_429_and_the_lockout_is_audited(tmp_path: Path) -> None:
    # Default bursts (3 per account, 5 per address); refills slowed down so that the
    # counts below do not depend on how fast this machine is.
    with trio.fail_after(120):
        with relayd(tmp_path, merged(FAST_KDF, SLOW_REFILL)) as r:
            ids = await setup_accounts(r)
            admin, _ = await login(r, "lgwan", "admin", r.admin_password or "")
            inet = r.endpoint("internet")

            # 30 guesses at one account from six addresses at once.
            results: list[Reply] = []

            async def guess(i: int) -> None:
                results.append(await request_from(
                    f"127.0.0.{10 + i % 6}", inet, "POST", "/api/v1/login",
                    json={"login": "suzuki", "password": f"guess-{i}-xxxxxx"}))

            async with trio.open_nursery() as nursery:
                for i in range(30):
                    nursery.start_soon(guess, i)
            statuses = sorted(x.status for x in results)
            assert statuses == [401] * 3 + [429] * 27, statuses
            for x in results:
                if x.status == 429:
                    assert x.error_code == "rate_limited" and int(x.headers["retry-after"]) >= 1
            # Locked: even the right password waits.
            right = await request_from("127.0.0.20", inet, "POST", "/api/v1/login",
                                       json={"login": "suzuki", "password": PASSWORDS["suzuki"]})
            assert right.status == 429

            # One address trying many logins: five attempts, then it waits.
            per_ip = [await request_from("127.0.0.30", inet, "POST", "/api/v1/login",
                                         json={"login": f"user{i}", "password": "whatever-123"})
                      for i in range(8)]
            assert [x.status for x in per_ip] == [401] * 5 + [429] * 3

            locked = await audit(admin, "login.locked")
            assert {(e["by"], e["key"]) for e in locked} == {("account", "suzuki"),
                                                             ("ip", "127.0.0.30")}
            assert len(await audit(admin, "login.failed")) == 3 + 5

            # Messages: a burst of 5 per account, then 429 (HTTP) / an error frame (stream).
            office, _ = await login(r, "lgwan", "tanaka", PASSWORDS["tanaka"])
            room = ok(await office.request("POST", "/api/v1/rooms", json={
                "name": "連絡", "members": [ids["suzuki"]]}), 201)["id"]
            sent = [await office.request("POST", f"/api/v1/rooms/{room}/messages",
                                         json={"body": f"m{i}"}) for i in range(6)]
            assert [x.status for x in sent] == [201] * 5 + [429]
            assert sent[-1].error_code == "rate_limited" and int(sent[-1].headers["retry-after"]) >= 1
            async with r.ws("lgwan", office.token) as ws:
                await ws_send_json(ws, {"type": "send", "room_id": room, "body": "x",
                                        "client_id": "c1"})
                err = await next_event(ws, "error")
                assert err["client_id"] == "c1" and err["error"]["code"] == "rate_limited"
            await office.aclose()
            await admin.aclose()


# --------------------------------------------------------------------------- slow clients

SLOW_ADDRESSES = [f"127.0.0.{n}" for n in (40, 41, 42, 43)]
SLOW_PER_ADDRESS = 50  # under the default cap of 64 per address: all are admitted


def client_hello() -> bytes:
    """A real TLS ClientHello, to be trickled one byte at a time."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


class Slowloris:
    """Connections that trickle a request head (or a TLS ClientHello) one byte every
    ``gap`` seconds and, when the server cuts them off, come back until ``stop``."""

    def __init__(self, r: Relayd, gap: float = 0.05) -> None:
        self.r = r
        self.gap = gap
        self.stop = trio.Event()
        self.open = 0
        self.cut = 0  # connections the server ended
        self.answers: dict[int, int] = {}  # HTTP status -> count (plain connections)
        self.all_connected = trio.Event()
        self._connected_once = 0
        self._total = 0

    async def run(self, nursery: trio.Nursery) -> None:
        hello = client_hello()
        head = b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 100_000
        lg, inet = self.r.endpoint("lgwan"), self.r.endpoint("internet")
        for source in SLOW_ADDRESSES:
            for i in range(SLOW_PER_ADDRESS):
                self._total += 1
                if i % 2:
                    nursery.start_soon(self._one, source, inet, hello, False)
                else:
                    nursery.start_soon(self._one, source, lg, head, True)

    async def _one(self, source: str, ep: Endpoint, data: bytes, http: bool) -> None:
        first = True
        while first or not self.stop.is_set():
            stream = await trio.open_tcp_stream(ep.host, ep.port, local_address=source)
            self.open += 1
            if first:
                first = False
                self._connected_once += 1
                if self._connected_once == self._total:
                    self.all_connected.set()
            try:
                for i in range(len(data)):
                    await stream.send_all(data[i:i + 1])
                    await trio.sleep(self.gap)
                raise AssertionError("the server let a trickled head run to its end")
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # cut off while sending
            finally:
                answer = b""
                try:
                    with trio.move_on_after(5):
                        while chunk := await stream.receive_some(65536):
                            answer += chunk
                except trio.BrokenResourceError:
                    pass
                self.open -= 1
                self.cut += 1
                if http and answer:
                    status = int(answer.split(b" ", 2)[1])
                    self.answers[status] = self.answers.get(status, 0) + 1
                await trio.aclose_forcefully(stream)


async def test_slowloris_does_not_stop_a_normal_client(tmp_path: Path) -> None:
    config = merged(FAST_KDF, {"http": {"header_timeout_s": 2.0}})
    with trio.fail_after(120):
        with relayd(tmp_path, config) as r:
            ids = await setup_accounts(r)
            attack = Slowloris(r)
            async with trio.open_nursery() as nursery:
                await attack.run(nursery)
                await attack.all_connected.wait()
                total = len(SLOW_ADDRESSES) * SLOW_PER_ADDRESS
                under_attack = [await open_connections(r)]

                # The normal client: log in on both listeners, chat, read history.
                office, _ = await login(r, "lgwan", "tanaka", PASSWORDS["tanaka"])
                phone, _ = await login(r, "internet", "suzuki", PASSWORDS["suzuki"])
                room = ok(await office.request("POST", "/api/v1/rooms", json={
                    "name": "連絡", "members": [ids["suzuki"]]}), 201)["id"]
                async with r.ws("internet", phone.token) as ws:
                    sent = ok(await office.request("POST", f"/api/v1/rooms/{room}/messages",
                                                   json={"body": "攻撃中でも届く"}), 201)
                    got = await next_event(ws, "message.created")
                    assert got["message"]["id"] == sent["id"]
                    await ws_send_json(ws, {"type": "send", "room_id": room, "body": "返信",
                                            "client_id": "r1"})
                    assert (await next_event(ws, "ack"))["message"]["body"] == "返信"
                history = ok(await office.request("GET", f"/api/v1/rooms/{room}/messages"))
                assert [m["body"] for m in history["messages"]][-2:] in (
                    ["攻撃中でも届く", "返信"], ["返信", "攻撃中でも届く"])
                under_attack.append(await open_connections(r))
                await office.aclose()
                await phone.aclose()
                attack.stop.set()
            # Every slow connection was ended by the server (408 for plain HTTP; TLS
            # handshakes are just closed), none ran to the end of its trickle.
            assert attack.cut >= total and attack.open == 0
            assert set(attack.answers) == {408}, attack.answers
            # The attack was real: the attackers were connected (the cut-off ones come
            # back) before and after the client's work.
            assert min(under_attack) >= total // 2, under_attack


async def test_connections_over_the_per_address_cap_are_refused(tmp_path: Path) -> None:
    with trio.fail_after(60):
        with relayd(tmp_path, {"http": {"max_connections_per_ip": 8}}) as r:
            lg = r.endpoint("lgwan")
            held = [await connect_from("127.0.0.50", lg) for _ in range(8)]
            extra = await connect_from("127.0.0.50", lg)
            answer = b""
            with trio.fail_after(10):
                while chunk := await extra.receive_some(65536):
                    answer += chunk
            assert answer.startswith(b"HTTP/1.1 429 ") and b"too_many_connections" in answer
            assert b"\r\nretry-after: " in answer.lower()
            # Another address is unaffected, and so are the held connections.
            assert (await request_from("127.0.0.51", lg, "GET", "/healthz")).status == 200
            await held[0].send_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            reply = b""
            with trio.fail_after(10):
                while chunk := await held[0].receive_some(65536):
                    reply += chunk
            assert reply.startswith(b"HTTP/1.1 200 ")
            for s in [extra, *held]:
                await trio.aclose_forcefully(s)


# --------------------------------------------------------------------------- WebSocket


async def raw_ws(ep: Endpoint, token: str, rcvbuf: int | None = None) -> trio.socket.SocketType:
    """A WebSocket client made by hand that, after the handshake, reads only what
    the test tells it to (a small receive buffer makes it fill up fast)."""
    sock = trio.socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    await sock.connect((ep.host, ep.port))
    key = base64.b64encode(os.urandom(16))
    request = (b"GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
               b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key
               + b"\r\nAuthorization: Bearer " + token.encode() + b"\r\n\r\n")
    view = memoryview(request)
    while view:
        view = view[await sock.send(view):]
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = await sock.recv(1)  # one at a time: no frame is read by accident
        assert byte, head
        head += byte
    assert head.startswith(b"HTTP/1.1 101 "), head
    return sock


async def read_until_closed(sock: trio.socket.SocketType) -> bytes:
    data = b""
    try:
        while chunk := await sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


async def test_a_stream_client_that_never_reads_is_cut_off_and_others_keep_receiving(
        tmp_path: Path) -> None:
    config = merged(FAST_KDF, {"http": {"ws_send_queue": 4},
                               "auth": {"message_burst": 100_000, "message_refill_s": 0.0001}})
    with trio.fail_after(120):
        with relayd(tmp_path, config) as r:
            ids = await setup_accounts(r)
            office, _ = await login(r, "lgwan", "tanaka", PASSWORDS["tanaka"])
            phone, _ = await login(r, "internet", "suzuki", PASSWORDS["suzuki"])
            desk, _ = await login(r, "lgwan", "suzuki", PASSWORDS["suzuki"])
            room = ok(await office.request("POST", "/api/v1/rooms", json={
                "name": "連絡", "members": [ids["suzuki"]]}), 201)["id"]
            stuck = await raw_ws(r.endpoint("lgwan"), desk.token or "", rcvbuf=4096)
            received: list[str] = []
            posted: list[str] = []
            async with r.ws("internet", phone.token) as ws:
                with trio.fail_after(10):
                    while (await metrics(r))["kakehashi_stream_sessions"] < 2:
                        await trio.sleep(0.05)

                async def read() -> None:
                    while True:
                        ev = await ws_recv_json(ws, timeout=30)
                        if ev["type"] == "message.created":
                            received.append(ev["message"]["body"])

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(read)
                    # Big messages until the stuck client's buffers and queue are full.
                    for batch in range(200):
                        for i in range(10):
                            text = f"{batch * 10 + i:05d} " + "連絡事項" * 2000
                            ok(await office.request("POST", f"/api/v1/rooms/{room}/messages",
                                                    json={"body": text}), 201)
                            posted.append(text)
                        if (await metrics(r))["kakehashi_stream_overflows_total"] >= 1:
                            break
                    with trio.fail_after(30):
                        while len(received) < len(posted):
                            await trio.sleep(0.05)
                    nursery.cancel_scope.cancel()
                m = await metrics(r)
                assert m["kakehashi_stream_overflows_total"] == 1
                assert m["kakehashi_stream_sessions"] == 1  # the reader is still there
                assert received == posted  # everything, in order
                await ws_send_json(ws, {"type": "ping"})
                assert await next_event(ws, "pong") == {"type": "pong"}
            # The stuck client was dropped, not closed with a handshake it would not read.
            with trio.fail_after(10):
                await read_until_closed(stuck)
            stuck.close()
            assert "stream cut off (client not reading); dropped" in r.log()
            await office.aclose()
            await phone.aclose()
            await desk.aclose()


async def test_a_stream_client_that_does_not_answer_pings_is_closed(tmp_path: Path) -> None:
    config = merged(FAST_KDF, {"http": {"ws_ping_interval_s": 1.0, "ws_ping_timeout_s": 1.0}})
    with trio.fail_after(60):
        with relayd(tmp_path, config) as r:
            await setup_accounts(r)
            desk, _ = await login(r, "lgwan", "tanaka", PASSWORDS["tanaka"])
            silent = await raw_ws(r.endpoint("lgwan"), desk.token or "")
            # It reads (so it sees the pings) but never answers with a pong.
            data = await read_until_closed(silent)
            silent.close()
            assert data[:1] == b"\x89"  # a server ping frame (FIN + opcode 9)
            # A client that answers pings (trio-websocket does) stays connected.
            async with r.ws("lgwan", desk.token) as ws:
                await trio.sleep(2.5)
                await ws_send_json(ws, {"type": "ping"})
                assert await next_event(ws, "pong") == {"type": "pong"}
            await desk.aclose()


# --------------------------------------------------------------------------- TLS reload


def cert_der(path: Path) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding
    return x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(Encoding.DER)


async def wait_for_log(r: Relayd, text: str, count: int) -> None:
    with trio.fail_after(20):
        while r.log().count(text) < count:
            await trio.sleep(0.05)


async def test_tls12_option_and_certificate_reload_on_sighup(tmp_path: Path) -> None:
    old_cert, old_key = tlsconf.ensure_self_signed(tmp_path / "old")
    new_cert, new_key = tlsconf.ensure_self_signed(tmp_path / "new")
    live = tmp_path / "live"
    live.mkdir()
    shutil.copy(old_cert, live / "cert.pem")
    shutil.copy(old_key, live / "key.pem")
    config = {"tls": {"cert_file": str(live / "cert.pem"), "key_file": str(live / "key.pem"),
                      "min_version": "1.2"}}
    # Both self-signed certificates have the same subject, so each client trusts one.
    trust_old, trust_new = tlsconf.client_context(old_cert), tlsconf.client_context(new_cert)
    with trio.fail_after(60):
        with relayd(tmp_path, config) as r:
            # tls.min_version = "1.2": a TLS 1.2-only client gets in, with an
            # "intermediate" cipher.
            version, cipher, der = handshake_sync(r.internet, tls12_only(old_cert))
            assert version == "TLSv1.2" and cipher in tlsconf.INTERMEDIATE_CIPHERS.split(":")
            assert der == cert_der(old_cert)
            assert handshake_sync(r.internet, trust_old)[0] == "TLSv1.3"

            ep = Endpoint.parse(r.internet, trust_old)
            before = HTTPClient(ep)
            assert (await before.request("GET", "/healthz")).status == 200

            # Renewal: new files in place, SIGHUP.
            shutil.copy(new_cert, live / "cert.pem")
            shutil.copy(new_key, live / "key.pem")
            r.signal(signal.SIGHUP)
            await wait_for_log(r, "TLS certificate reloaded", 1)
            assert handshake_sync(r.internet, trust_new)[2] == cert_der(new_cert)
            # The connection made before the reload carries on.
            assert (await before.request("GET", "/healthz")).status == 200
            assert before.connections_opened == 1

            # A certificate that does not match the key (a renewal copied half-way),
            # then an unreadable one: each reload is refused and the current pair
            # keeps serving new connections.
            shutil.copy(old_cert, live / "cert.pem")
            r.signal(signal.SIGHUP)
            await wait_for_log(r, "TLS reload failed", 1)
            assert handshake_sync(r.internet, trust_new)[2] == cert_der(new_cert)
            (live / "cert.pem").write_text("not a certificate\n")
            r.signal(signal.SIGHUP)
            await wait_for_log(r, "TLS reload failed", 2)
            assert handshake_sync(r.internet, trust_new)[2] == cert_der(new_cert)
            assert (await before.request("GET", "/healthz")).status == 200
            await before.aclose()
